"""Browser sessions: login, cookies, next, logout, expiry, password change, disable."""

from __future__ import annotations

import asyncio

import pytest
from authkit import PASSWORDS, basic, form_token, make_site

from nvr.auth.authenticator import AuthSettings
from nvr.auth.principal import Principal


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path, settings=AuthSettings(session_idle=3600, session_max=4 * 3600))


def _cookie_attrs(answer, name):
    for header in answer.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            first, *rest = header.split(";")
            return [first.strip()] + [part.strip().lower() for part in rest]
    raise AssertionError(f"no {name} cookie set")


def test_login_form_has_the_fields_and_sets_the_csrf_cookie(site):
    answer = site.client().get("/login")
    assert answer.status_code == 200
    for field in ('name="username"', 'name="password"', 'type="submit"',
                  'type="hidden" name="csrf_token"'):
        assert field in answer.text
    attrs = _cookie_attrs(answer, "nvr_csrf")
    assert "samesite=strict" in attrs and "httponly" not in attrs
    assert attrs[0] == f"nvr_csrf={form_token(answer.text)}"


def test_login_sets_a_fresh_http_only_lax_session_each_time(site):
    client = site.client()
    values = []
    for _ in range(2):
        client.cookies.delete("nvr_session")
        token = form_token(client.get("/login").text)
        answer = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                             "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        attrs = _cookie_attrs(answer, "nvr_session")
        assert "httponly" in attrs and "samesite=lax" in attrs and "secure" not in attrs
        values.append(attrs[0])
    assert values[0] != values[1]


def test_cookies_are_secure_under_https(site):
    client = site.client(base_url="https://nvr.test")
    token = form_token(client.get("/login").text)
    answer = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                         "csrf_token": token}, follow_redirects=False)
    assert "secure" in _cookie_attrs(answer, "nvr_session")
    assert "secure" in _cookie_attrs(answer, "nvr_csrf")


@pytest.mark.parametrize(("next_", "lands"), [
    ("/cameras/cam1?day=2026-11-30", "/cameras/cam1?day=2026-11-30"),
    ("https://evil.example/", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/ok\r\nSet-Cookie: x=1", "/"),
])
def test_login_goes_to_next_only_on_this_site(site, next_, lands):
    client = site.client()
    token = form_token(client.get("/login", params={"next": next_}).text)
    answer = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                         "csrf_token": token, "next": next_},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == lands


def test_a_page_without_session_redirects_to_login_with_next(site):
    answer = site.client().get("/?a=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2F%3Fa%3D1"


def test_wrong_password_and_unknown_user_get_the_same_answer(site):
    client = site.client()
    token = form_token(client.get("/login").text)
    answers = [client.post("/login", data={"username": user, "password": "not-the-password",
                                           "csrf_token": token})
               for user in ("admin", "no-such-user")]
    assert [a.status_code for a in answers] == [401, 401]
    assert "Wrong username or password." in answers[0].text
    assert answers[0].text.replace("admin", "X") == answers[1].text.replace("no-such-user", "X")
    apis = [site.client().get("/api/me", headers=basic(u, "not-the-password"))
            for u in ("admin", "no-such-user")]
    assert [(a.status_code, a.json()) for a in apis] == [
        (401, {"detail": "authentication required"})] * 2


def test_logout_ends_the_session_on_the_server(site):
    client = site.login("viewer1")
    stolen = client.cookies["nvr_session"]
    answer = client.post("/logout", data={"csrf_token": client.cookies["nvr_csrf"]},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    replay = site.client()
    replay.cookies.set("nvr_session", stolen, domain="nvr.test")
    assert replay.get("/api/me").status_code == 401


def test_logout_everywhere_ends_every_session_of_the_user(site):
    phone, laptop, other = site.login("viewer1"), site.login("viewer1"), site.login("admin")
    answer = phone.post("/logout", data={"csrf_token": phone.cookies["nvr_csrf"],
                                         "everywhere": "1"}, follow_redirects=False)
    assert answer.status_code == 303
    assert laptop.get("/api/me").status_code == 401
    assert other.get("/api/me").json()["username"] == "admin"  # only that user's


def test_session_ends_after_idle_time_and_after_its_lifetime(site):
    idle = site.login("viewer1")
    site.clock.skip(3600 + 5)
    assert idle.get("/api/me").status_code == 401
    busy = site.login("viewer1")
    for _ in range(4):  # used every 59 minutes: never idle, but 4 h is the most
        site.clock.skip(59 * 60)
        assert busy.get("/api/me").status_code == 200
    site.clock.skip(59 * 60)
    assert busy.get("/api/me").status_code == 401


def test_password_change_needs_the_current_one_and_ends_other_sessions(site):
    client, other = site.login("viewer1"), site.login("viewer1")
    headers = site.csrf(client)
    wrong = client.post("/api/me/password", headers=headers, json={
        "current_password": "nope-nope", "new_password": "a-new-password"})
    assert wrong.status_code == 403
    short = client.post("/api/me/password", headers=headers, json={
        "current_password": PASSWORDS["viewer1"], "new_password": "short"})
    assert short.status_code == 422 and "short" not in short.text
    ok = client.post("/api/me/password", headers=headers, json={
        "current_password": PASSWORDS["viewer1"], "new_password": "a-new-password"})
    assert ok.status_code == 204
    assert client.get("/api/me").status_code == 200  # this browser got a fresh session
    assert other.get("/api/me").status_code == 401
    assert site.client().get("/api/me", headers=basic("viewer1", PASSWORDS["viewer1"])
                             ).status_code == 401
    assert site.client().get("/api/me", headers=basic("viewer1", "a-new-password")
                             ).status_code == 200


def test_disabling_a_user_ends_their_sessions_and_cached_basic(site):
    viewer = site.login("viewer1")
    scripted = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert scripted.get("/api/me").status_code == 200  # now cached
    admin = site.login("admin")
    answer = admin.patch("/api/users/viewer1", headers=site.csrf(admin), json={"disabled": True})
    assert answer.status_code == 200 and answer.json()["disabled"] is True
    assert viewer.get("/api/me").status_code == 401
    assert scripted.get("/api/me").status_code == 401
    assert site.login("admin").get("/api/me").status_code == 200


def test_a_deleted_users_session_and_token_stop_working(site):
    viewer = site.login("viewerall")
    token = viewer.post("/api/tokens", headers=site.csrf(viewer), json={"name": "t"}
                        ).json()["token"]
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    assert admin.delete("/api/users/viewerall").status_code == 204
    assert viewer.get("/api/me").status_code == 401
    assert site.client().get("/api/me", headers={"Authorization": f"Bearer {token}"}
                             ).status_code == 401


def test_housekeeping_prunes_expired_sessions_and_old_audit(site):
    import asyncio

    old = site.login("viewer1")
    site.clock.skip(3600 + 5)
    site.login("viewerall")
    site.clock.skip(2 * 86400)  # both logins long ago; a failure now
    site.client().get("/api/me", headers=basic("viewer1", "wrong-wrong"))
    assert len(site.auth.sessions.ids()) == 2
    asyncio.run(site.auth.prune(audit_days=1))
    assert site.auth.sessions.ids() == set()  # both idle for over an hour by now
    actions = [e.action for e in site.auth.audit.query()]
    assert actions == ["login_failed"]  # the two logins were over a day old
    assert old.get("/api/me").status_code == 401


def test_still_valid_tells_a_long_request_its_viewer_was_signed_out(site):
    """What live and playback WebSockets ask as they go on: a logout ends only that
    browser, "everywhere" every browser of the user, and so do losing a camera,
    being disabled, and the session's lifetime; idle time does not (watching is use)."""
    auth, accounts = site.auth, site.accounts

    async def scenario() -> None:
        async def browser(user: str) -> Principal:
            found = await auth.login(user, PASSWORDS[user], "192.0.2.1", None)
            assert found is not None
            return found[0]

        one, two, three = [await browser("viewer1") for _ in range(3)]
        other = await browser("viewerall")
        assert all([await auth.still_valid(p) for p in (one, two, three, other)])
        await auth.logout(one, "192.0.2.1")
        assert not await auth.still_valid(one) and await auth.still_valid(two)
        site.clock.skip(3600 + 60)  # past session_idle: a watched stream goes on
        assert await auth.still_valid(two)
        await auth.logout(two, "192.0.2.1", everywhere=True)
        assert not await auth.still_valid(three) and await auth.still_valid(other)
        four = await browser("viewer1")
        accounts.change_user("viewer1", auth.now_us(), cameras=("cam2",))
        auth.changed()
        assert not await auth.still_valid(four)  # its rights changed: ask again
        accounts.change_user("viewerall", auth.now_us(), disabled=True)
        auth.changed()
        assert not await auth.still_valid(other)
        five = await browser("admin")
        site.clock.skip(4 * 3600 + 60)  # past session_max
        assert not await auth.still_valid(five)

    asyncio.run(scenario())
