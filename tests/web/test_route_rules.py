"""Every route has an access rule, and the server enforces it for every role.

The table below lists every route of the app with its rule. A route added
later without an entry (or without a rule dependency) fails
``test_every_route_has_the_rule_in_the_table``; then each route is called as
nobody, as a viewer and as an admin, with Basic and with a session.
"""

from __future__ import annotations

import pytest
from authkit import PASSWORDS, basic, make_site
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, Route
from starlette.websockets import WebSocketDisconnect

from nvr.web.api.deps import RULES

# (method, path) → rule: "public", "user" (any signed-in user), "admin".
EXPECTED = {
    ("GET", "/healthz"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "user",
    ("GET", "/"): "user",
    ("GET", "/cameras/{name}"): "user",
    ("GET", "/account"): "user",
    ("GET", "/api/cameras"): "user",
    ("GET", "/api/recordings"): "user",
    ("GET", "/api/recordings/{segment_id}/download"): "user",
    ("GET", "/api/users"): "admin",
    ("POST", "/api/users"): "admin",
    ("PATCH", "/api/users/{username}"): "admin",
    ("DELETE", "/api/users/{username}"): "admin",
    ("GET", "/api/tokens"): "user",
    ("POST", "/api/tokens"): "user",
    ("DELETE", "/api/tokens/{name}"): "user",
    ("DELETE", "/api/tokens"): "user",
    ("GET", "/api/me"): "user",
    ("POST", "/api/me/password"): "user",
    ("GET", "/api/audit"): "admin",
    ("GET", "/api/alerts/deliveries"): "admin",
    ("GET", "/api/rtmp/streams"): "admin",
    ("WEBSOCKET", "/api/cameras/{name}/live"): "user",
    ("WEBSOCKET", "/api/cameras/{name}/playback"): "user",
    ("GET", "/api/cameras/{name}/export.mp4"): "user",
    ("GET", "/api/cameras/{name}/timeline"): "user",
    ("GET", "/api/cameras/{name}/motion"): "user",
    ("GET", "/api/cameras/{name}/snapshot.jpg"): "user",
    ("GET", "/api/cameras/{name}/frame.jpg"): "user",
    ("GET", "/api/system"): "admin",
    ("GET", "/recordings"): "user",
    ("GET", "/recordings/{name}"): "user",
    ("GET", "/system"): "admin",
    ("GET", "/api/events"): "user",
    ("GET", "/api/events/{event_id}"): "user",
    ("GET", "/api/events/{event_id}/snapshot.jpg"): "user",
    ("GET", "/api/events/{event_id}/clip.mp4"): "user",
    ("GET", "/events"): "user",
}
# FastAPI's own route: no dependency, but behind the guard like every route.
GUARD_ONLY = {("GET", "/api/openapi.json"): "user"}
SAMPLES = {"segment_id": "999", "event_id": "999", "username": "nobody", "name": "nothing"}


def _rules(dependant) -> set[str]:
    found = {RULES[dependant.call]} if dependant.call in RULES else set()
    for sub in dependant.dependencies:
        found |= _rules(sub)
    return found


def _walk(routes_, prefix: str = "", extra: frozenset[str] = frozenset()):
    """(path, route, rules from enclosing routers) of every route, through included
    routers (FastAPI keeps an ``include_router`` as one lazily expanded entry)."""
    for route in routes_:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = route.include_context
            rules = frozenset(RULES[d.dependency] for d in context.dependencies
                              if d.dependency in RULES)
            yield from _walk(included.routes, prefix + context.prefix, extra | rules)
        else:
            yield prefix + getattr(route, "path", ""), route, extra


def routes(app) -> dict[tuple[str, str], str]:
    table = {}
    for path, route, extra in _walk(app.routes):
        if isinstance(route, (APIRoute, APIWebSocketRoute)):
            rules = _rules(route.dependant) | extra
            assert len(rules) == 1, f"{path}: needs exactly one rule, has {rules}"
            methods = route.methods if isinstance(route, APIRoute) else {"WEBSOCKET"}
            rule = rules.pop()
            for method in methods - {"HEAD"}:
                table[(method, path)] = rule
        elif isinstance(route, Route):
            assert not extra
            for method in (route.methods or set()) - {"HEAD"}:
                table[(method, path)] = "guard"
        elif isinstance(route, Mount):
            assert path == "/static", f"unexpected mount {path}"
        else:  # pragma: no cover - a new kind of route needs a rule here
            raise AssertionError(f"unknown route type {route!r}")
    return table


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("rules"))


def test_every_route_has_the_rule_in_the_table(site):
    table = routes(site.app)
    guard_only = {k for k, v in table.items() if v == "guard"}
    assert guard_only == set(GUARD_ONLY), "a route without a rule dependency"
    assert {k: v for k, v in table.items() if v != "guard"} == EXPECTED


def _url(path: str) -> str:
    for key, value in SAMPLES.items():
        path = path.replace("{" + key + "}", value)
    return path


ALL = sorted({**EXPECTED, **GUARD_ONLY}.items())


@pytest.mark.parametrize(("route", "rule"), ALL, ids=[f"{m} {p}" for (m, p), _ in ALL])
def test_each_role_gets_what_the_rule_says(site, route, rule):
    method, path = route
    url = _url(path)
    if method == "WEBSOCKET":
        _check_websocket(site, url, rule)
        return
    anonymous = site.client().request(method, url, follow_redirects=False)
    viewer = site.client().request(method, url, headers=basic("viewer1", PASSWORDS["viewer1"]),
                                   follow_redirects=False)
    admin = site.client().request(method, url, headers=basic("admin", PASSWORDS["admin"]),
                                  follow_redirects=False)
    for answer in (anonymous, viewer, admin):
        assert answer.status_code < 500, answer.text
    if rule == "public":
        assert anonymous.status_code != 401 and "location" not in anonymous.headers
        if method == "POST":  # the login form without its csrf_token
            assert anonymous.json() == {
                "detail": "the login form expired; reload the page and try again"}
        return
    if path.startswith("/api/"):
        assert anonymous.status_code == 401
        assert anonymous.json() == {"detail": "authentication required"}
    else:
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login?next=")
    assert admin.status_code not in (401, 403), admin.text
    if rule == "admin":
        assert viewer.status_code == 403
    else:
        assert viewer.status_code not in (401, 403), viewer.text


def _ws_accepted(site, url: str, headers: dict[str, str]) -> bool:
    """Whether the WebSocket handshake got through (the route may close it at once)."""
    try:
        with site.client().websocket_connect(url, headers=headers) as ws:
            ws.receive()  # the route's first message or its close
    except WebSocketDisconnect as exc:
        return exc.code != 1008  # 1008: refused by the guard before accept
    return True


def _check_websocket(site, url: str, rule: str) -> None:
    assert not _ws_accepted(site, url, {})
    assert _ws_accepted(site, url, basic("admin", PASSWORDS["admin"]))
    viewer = _ws_accepted(site, url, basic("viewer1", PASSWORDS["viewer1"]))
    assert viewer is (rule != "admin")


UNSAFE = [r for r in ALL if r[0][0] not in ("GET", "HEAD") and r[1] != "public"]


@pytest.mark.parametrize(("route", "rule"), UNSAFE, ids=[f"{m} {p}" for (m, p), _ in UNSAFE])
def test_state_changes_by_session_need_the_csrf_token(site, route, rule):
    method, path = route
    client = site.login("admin")
    answer = client.request(method, _url(path), json={}, follow_redirects=False)
    assert answer.status_code == 403
    assert answer.json() == {"detail": "CSRF token missing or wrong"}
    answer = client.request(method, _url(path), json={}, headers=site.csrf(client),
                            follow_redirects=False)
    assert answer.status_code != 403


def test_static_files_are_public(site):
    answer = site.client().get("/static/css/app.css")
    assert answer.status_code == 200 and "text/css" in answer.headers["content-type"]
