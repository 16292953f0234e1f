"""CSRF, cross-site origins and the throttling of password guessing."""

from __future__ import annotations

import logging

import pytest
from authkit import PASSWORDS, basic, form_token, make_site

from nvr.auth.throttle import FIRST_DELAY, MAX_DELAY
from nvr.config import Config


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


NEW_TOKEN = {"name": "script"}


def test_session_state_change_needs_header_equal_to_cookie_and_session(site):
    client = site.login("admin")
    csrf = client.cookies["nvr_csrf"]
    assert client.post("/api/tokens", json=NEW_TOKEN).status_code == 403
    assert client.post("/api/tokens", json=NEW_TOKEN,
                       headers={"X-CSRF-Token": "x" + csrf}).status_code == 403
    client.cookies.delete("nvr_csrf")  # header without the matching cookie
    assert client.post("/api/tokens", json=NEW_TOKEN,
                       headers={"X-CSRF-Token": csrf}).status_code == 403
    client.cookies.set("nvr_csrf", csrf, domain="nvr.test")
    assert client.post("/api/tokens", json=NEW_TOKEN,
                       headers={"X-CSRF-Token": csrf}).status_code == 201


def test_another_sessions_csrf_token_does_not_work(site):
    mine, theirs = site.login("admin"), site.login("admin")
    stolen = theirs.cookies["nvr_csrf"]
    mine.cookies.set("nvr_csrf", stolen, domain="nvr.test")
    assert mine.post("/api/tokens", json=NEW_TOKEN,
                     headers={"X-CSRF-Token": stolen}).status_code == 403


def test_forms_post_the_hidden_token(site):
    client = site.login("viewer1")
    page = client.get("/")
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    answer = client.post("/logout", data={"csrf_token": form_token(page.text)},
                         follow_redirects=False)
    assert answer.status_code == 303


def test_cross_site_origin_is_refused_even_with_the_token(site):
    client = site.login("admin")
    for header in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = client.post("/api/tokens", json=NEW_TOKEN,
                             headers={**site.csrf(client), **header})
        assert answer.status_code == 403
        assert answer.json() == {"detail": "cross-site request refused"}
    same = client.post("/api/tokens", json=NEW_TOKEN,
                       headers={**site.csrf(client), "Origin": "http://nvr.test"})
    assert same.status_code == 201


def test_public_url_is_the_same_origin_behind_a_reverse_proxy(site):
    """A proxy at https://nvr.example.com forwards to http://127.0.0.1:8080: the
    browser's Origin is public_url's, not the scheme and Host nvr sees."""
    site.services.config = Config.model_validate(
        {"server": {"public_url": "https://NVR.example.com/"}})
    client = site.login("admin")
    proxied = client.post("/api/tokens", json=NEW_TOKEN, headers={
        **site.csrf(client), "Origin": "https://nvr.example.com", "Host": "127.0.0.1:8080"})
    assert proxied.status_code == 201
    for origin in ("http://nvr.example.com", "https://nvr.example.com.evil.example",
                   "https://nvr.example.com:8443"):
        answer = client.post("/api/tokens", json={"name": "other"}, headers={
            **site.csrf(client), "Origin": origin, "Host": "127.0.0.1:8080"})
        assert answer.status_code == 403, origin


def test_basic_and_bearer_need_no_csrf_token(site):
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    answer = admin.post("/api/tokens", json=NEW_TOKEN)
    assert answer.status_code == 201
    bearer = site.client(headers={"Authorization": f"Bearer {answer.json()['token']}"})
    assert bearer.post("/api/tokens", json={"name": "second"}).status_code == 201
    # a cross-site page cannot make a browser's cached Basic credentials change state
    refused = admin.post("/api/tokens", json={"name": "third"},
                         headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403


def test_login_form_needs_its_csrf_cookie(site):
    client = site.client()
    token = form_token(client.get("/login").text)
    creds = {"username": "admin", "password": PASSWORDS["admin"]}
    assert client.post("/login", data=creds).status_code == 403
    assert client.post("/login", data={**creds, "csrf_token": "forged-" + token}
                       ).status_code == 403
    client.cookies.delete("nvr_csrf")
    assert client.post("/login", data={**creds, "csrf_token": token}).status_code == 403


def _form_login(client, user, password):
    token = form_token(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def test_five_failures_then_429_growing_to_15_minutes(site, caplog):
    client = site.client()
    caplog.set_level(logging.WARNING, logger="nvr.auth")
    for _ in range(5):
        assert _form_login(client, "admin", "guess-guess").status_code == 401
    locked = _form_login(client, "admin", PASSWORDS["admin"])  # even the right one
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == FIRST_DELAY
    assert "Too many failed attempts" in locked.text
    basic_locked = site.client().get("/api/me", headers=basic("admin", PASSWORDS["admin"]))
    assert basic_locked.status_code == 429 and "Retry-After" in basic_locked.headers
    # another user from the same address is not locked out
    assert _form_login(client, "viewer1", PASSWORDS["viewer1"]).status_code == 303
    delays = []
    for _ in range(8):
        site.clock.skip(MAX_DELAY + 1)
        assert _form_login(client, "admin", "guess-guess").status_code == 401
        delays.append(int(_form_login(client, "admin", "x").headers["Retry-After"]))
    assert delays[0] == 2 * FIRST_DELAY and delays == sorted(delays)
    assert delays[-1] == MAX_DELAY
    site.clock.skip(MAX_DELAY + 1)
    assert _form_login(client, "admin", PASSWORDS["admin"]).status_code == 303
    # the count starts again after a success
    assert _form_login(site.client(), "admin", "guess-guess").status_code == 401
    assert _form_login(site.client(), "admin", PASSWORDS["admin"]).status_code == 303
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed form login for user 'admin' from testclient" in logged
    assert "guess-guess" not in logged and PASSWORDS["admin"] not in logged


def test_failures_are_audited_without_passwords(site):
    client = site.client()
    _form_login(client, "admin", "guess-guess")
    _form_login(client, "admin", PASSWORDS["admin"])
    entries = site.client(headers=basic("admin", PASSWORDS["admin"])).get("/api/audit").json()
    actions = [(e["action"], e["user"], e["address"]) for e in entries]
    assert ("login_failed", "admin", "testclient") in actions
    assert ("login", "admin", "testclient") in actions
    assert "guess-guess" not in str(entries) and PASSWORDS["admin"] not in str(entries)
