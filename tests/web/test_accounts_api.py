"""The account API, tokens, the audit log, per-camera rights and served files."""

from __future__ import annotations

import hashlib

import pytest
from authkit import PASSWORDS, basic, make_site
from sqlalchemy import select

from nvr.db.models import ApiToken
from nvr.recording.index import SegmentInfo


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


@pytest.fixture
def admin(site):
    return site.client(headers=basic("admin", PASSWORDS["admin"]))


def test_admin_adds_changes_and_removes_users(site, admin):
    answer = admin.post("/api/users", json={"username": "guard", "password": "night-shift-1",
                                            "role": "viewer", "cameras": ["cam2"]})
    assert answer.status_code == 201
    assert answer.json()["cameras"] == ["cam2"] and "password" not in answer.text
    assert "night-shift-1" not in answer.text
    guard = site.client(headers=basic("guard", "night-shift-1"))
    assert [c["name"] for c in guard.get("/api/cameras").json()] == ["cam2"]
    assert admin.post("/api/users", json={"username": "guard", "password": "night-shift-1"}
                      ).status_code == 409
    changed = admin.patch("/api/users/guard", json={"cameras": ["cam1", "cam2"]})
    assert changed.json()["cameras"] == ["cam1", "cam2"]
    assert [c["name"] for c in guard.get("/api/cameras").json()] == ["cam1", "cam2"]
    assert admin.delete("/api/users/guard").status_code == 204
    assert guard.get("/api/cameras").status_code == 401
    assert "guard" not in [u["username"] for u in admin.get("/api/users").json()]


@pytest.mark.parametrize("body", [
    {"username": "x y", "password": "long-enough-1"},
    {"username": "' OR 1=1 --", "password": "long-enough-1"},
    {"username": "ok", "password": "short"},
    {"username": "ok", "password": "long-enough-1", "role": "root"},
    {"username": "ok", "password": "long-enough-1", "cameras": "cam1"},
    {"username": "ok", "password": "long-enough-1", "extra": 1},
])
def test_bad_new_users_are_refused_without_echoing_the_password(admin, body):
    answer = admin.post("/api/users", json=body)
    assert answer.status_code == 422
    assert body["password"] not in answer.text
    assert answer.json()["detail"]


def test_the_last_admin_cannot_be_removed_disabled_or_demoted(admin):
    for call in (lambda: admin.delete("/api/users/admin"),
                 lambda: admin.patch("/api/users/admin", json={"disabled": True}),
                 lambda: admin.patch("/api/users/admin", json={"role": "viewer"})):
        answer = call()
        assert answer.status_code == 409 and "last enabled admin" in answer.json()["detail"]
    assert admin.get("/api/me").json()["role"] == "admin"


def test_tokens_shown_once_stored_hashed_expire_and_revoke(site, admin):
    created = admin.post("/api/tokens", json={"name": "clips", "user": "viewer1",
                                              "expires": "2h"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert created.json()["user"] == "viewer1" and created.json()["expires"]
    listed = admin.get("/api/tokens").json()
    assert [t["name"] for t in listed] == ["clips"] and token not in str(listed)
    with site.accounts._sessions() as session:
        stored = session.scalar(select(ApiToken.token_hash))
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    bearer = site.client(headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/me").json() == {
        "username": "viewer1", "role": "viewer", "cameras": ["cam1"], "auth": "token",
        "csrf_token": None}
    assert [c["name"] for c in bearer.get("/api/cameras").json()] == ["cam1"]
    site.clock.skip(2 * 3600 + 1)
    assert bearer.get("/api/me").status_code == 401
    again = admin.post("/api/tokens", json={"name": "clips2", "user": "viewer1"}).json()["token"]
    bearer = site.client(headers={"Authorization": f"Bearer {again}"})
    assert bearer.get("/api/me").status_code == 200
    assert admin.delete("/api/tokens", params={"name": "clips2"}).status_code == 204
    assert bearer.get("/api/me").status_code == 401
    assert admin.delete("/api/tokens/clips2").status_code == 404


def test_viewers_manage_only_their_own_tokens(site, admin):
    admin.post("/api/tokens", json={"name": "admins"})
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert viewer.post("/api/tokens", json={"name": "v", "user": "admin"}).status_code == 403
    assert viewer.post("/api/tokens", json={"name": "v"}).status_code == 201
    assert [t["name"] for t in viewer.get("/api/tokens").json()] == ["v"]
    assert viewer.delete("/api/tokens/admins").status_code == 404
    assert viewer.delete("/api/tokens/v").status_code == 204


def _segment(site, camera: str, path: str) -> int:
    file = site.data_dir / path
    if ".." not in path:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"\0\0\0\x08free")
    return site.services.index.add(SegmentInfo(
        camera=camera, start_us=1_000_000, end_us=2_000_000, duration=1.0, bytes=8, path=path,
        video_codec="h264", audio_codec=None, width=64, height=64))


def test_a_viewer_sees_recordings_of_their_cameras_only(site, admin):
    mine = _segment(site, "cam1", "recordings/cam1/a.mp4")
    other = _segment(site, "cam2", "recordings/cam2/b.mp4")
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert [r["camera"] for r in viewer.get("/api/recordings").json()] == ["cam1"]
    assert viewer.get("/api/recordings", params={"camera": "cam2"}).status_code == 404
    assert viewer.get(f"/api/recordings/{other}/download").status_code == 404
    assert viewer.get(f"/api/recordings/{mine}/download").content == b"\0\0\0\x08free"
    assert {r["camera"] for r in admin.get("/api/recordings").json()} == {"cam1", "cam2"}
    audit = admin.get("/api/audit", params={"action": "download"}).json()
    assert [(e["user"], e["target"]) for e in audit] == [("viewer1", f"cam1/{mine}")]


def test_a_path_outside_data_dir_is_refused_and_audited(site, admin, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.mp4"
    outside.write_bytes(b"secret")
    bad = _segment(site, "cam1", f"../{outside.parent.name}/secret.mp4")
    answer = admin.get(f"/api/recordings/{bad}/download")
    assert answer.status_code == 404 and b"secret" not in answer.content
    audit = admin.get("/api/audit", params={"action": "path_refused"}).json()
    assert audit and audit[0]["user"] == "admin"


def test_security_headers_on_every_answer(site, admin):
    for answer in (site.client().get("/login"), admin.get("/api/me"),
                   site.client().get("/api/me"), site.client().get("/static/css/app.css")):
        headers = answer.headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in headers
    assert admin.get("/api/me").headers["cache-control"] == "no-store"
    assert admin.get("/").headers["cache-control"] == "no-store"  # pages too
    assert "no-store" not in site.client().get("/static/css/app.css").headers.get(
        "cache-control", "")
    assert "<script" not in site.client().get("/login").text  # no inline scripts


def test_hsts_when_served_over_tls(tmp_path):
    site = make_site(tmp_path)
    site.services.tls = True
    from nvr.web.app import create_app

    app = create_app(site.services)
    from fastapi.testclient import TestClient

    answer = TestClient(app, base_url="https://nvr.test").get("/login")
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_audit_log_is_for_admins(site, admin):
    admin.post("/api/users", json={"username": "kid", "password": "long-enough-1"})
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert viewer.get("/api/audit").status_code == 403
    entries = admin.get("/api/audit", params={"limit": 1}).json()
    assert len(entries) == 1 and entries[0]["action"] == "user_add"
    assert entries[0]["target"] == "kid" and "long-enough-1" not in str(entries)
    older = admin.get("/api/audit", params={"before": entries[0]["id"]}).json()
    assert all(e["id"] < entries[0]["id"] for e in older)


def test_pages_answer_errors_with_a_page_and_the_api_with_json(site):
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    page = viewer.get("/cameras/cam2")  # not theirs: as if it did not exist
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "No such camera." in page.text and "<script" not in page.text
    api = viewer.get("/api/cameras/cam2/timeline")
    assert api.status_code == 404 and api.json() == {"detail": "no such camera"}
