"""GET /api/alerts/deliveries and the System page's Alerts section (admins only): each
delivery's state, attempts and last error, and never a token from a target's URL."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest
from authkit import PASSWORDS, basic, make_site

from nvr.alerts.mqtt import MqttState
from nvr.alerts.outbox import OutboxWorker
from nvr.clock import ManualClock
from nvr.config.notify import NotifyConfig
from nvr.config.webhooks import WebhookConfig
from nvr.events.store import EventStore

TOKEN = "hookT0kenQ9"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("alerts"))
    sessions = site.services.sessions
    port = closed_port()
    hook = WebhookConfig(url=f"http://127.0.0.1:{port}/hooks/{TOKEN}", secret="s" * 16)
    phone = NotifyConfig(name="phone", urls=[f"json://127.0.0.1:{port}/{TOKEN}"])
    clock = ManualClock(start=1_800_000_000)
    store = EventStore(sessions, [hook], clock, notify=[phone])
    store.open("cam1", "camera_offline", 1_800_000_000_000_000)
    worker = OutboxWorker(sessions, [hook], clock, notify=[phone], timeout=2, notify_timeout=5)
    asyncio.run(worker.deliver_due())  # both refused: attempts 1, an error each
    store.open("cam1", "camera_online", 1_800_000_060_000_000)
    return site


def test_admin_sees_deliveries_without_secrets(site) -> None:
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    answer = admin.get("/api/alerts/deliveries")
    assert answer.status_code == 200
    rows = answer.json()
    assert [(r["event_id"], r["phase"], r["state"], r["attempts"]) for r in rows] == [
        (2, "start", "pending", 0), (2, "start", "pending", 0),
        (1, "start", "pending", 1), (1, "start", "pending", 1)]
    assert set(rows[0]) == {"id", "target", "event_id", "phase", "state", "attempts",
                            "next_attempt", "last_error", "created", "delivered"}
    targets = {r["target"] for r in rows}
    assert "notify:phone" in targets and len(targets) == 2
    assert all(r["last_error"] for r in rows[2:]) and rows[0]["last_error"] is None
    assert rows[2]["created"] == "2027-01-15T08:00:00.000000Z"
    assert TOKEN not in answer.text
    only = admin.get("/api/alerts/deliveries", params={"state": "delivered", "limit": 5})
    assert only.status_code == 200 and only.json() == []
    assert admin.get("/api/alerts/deliveries", params={"state": "lost"}).status_code == 422


def test_system_page_lists_them(site) -> None:
    answer = site.login("admin").get("/system")
    assert answer.status_code == 200
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))
    assert "Alerts" in page and "4 pending · 0 delivered · 0 failed" in page
    assert "notify:phone" in page and "#1 Start" in page
    assert TOKEN not in answer.text


def test_viewers_get_403(site) -> None:
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert viewer.get("/api/alerts/deliveries").status_code == 403


def test_no_database_answers_503(site, monkeypatch) -> None:
    monkeypatch.setattr(site.services, "sessions", None)
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    assert admin.get("/api/alerts/deliveries").status_code == 503
    assert admin.get("/system").status_code == 200  # the page goes without the section


def test_system_page_shows_the_mqtt_connection(site, monkeypatch) -> None:
    down = MqttState(enabled=True, broker="10.0.0.5:1883", connected=False,
                     last_error="connection refused", queued=12, dropped=3, sent=40,
                     connects=1)
    monkeypatch.setattr(site.services, "mqtt", lambda: down)
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", site.login("admin").get("/system").text))
    assert "MQTT Not connected to 10.0.0.5:1883 · 40 sent · 12 queued · 3 dropped" in page
    assert "connection refused" in page
    up = MqttState(enabled=True, broker="10.0.0.5:1883", connected=True, last_error=None,
                   queued=0, dropped=0, sent=41, connects=2)
    monkeypatch.setattr(site.services, "mqtt", lambda: up)
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", site.login("admin").get("/system").text))
    assert "MQTT Connected to 10.0.0.5:1883 · 41 sent · 0 queued" in page
