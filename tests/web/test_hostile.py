"""Hostile input gets a clean 4xx: never a 500, a stack trace or a hint that a
user exists."""

from __future__ import annotations

import base64

import pytest
from authkit import PASSWORDS, basic, form_token, make_site
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvr.auth.authenticator import parse_basic
from nvr.web.guard import MAX_BODY, BadForm, parse_form


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("hostile"))


def _clean(answer, *statuses):
    assert answer.status_code in statuses, (answer.status_code, answer.text[:200])
    assert "Traceback" not in answer.text and "File \"" not in answer.text
    assert len(answer.content) < 5000


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


HOSTILE_REQUESTS = [
    ("forged cookie", "GET", "/api/me", {"Cookie": "nvr_session=forged"}, None, (401,)),
    ("empty cookie", "GET", "/api/me", {"Cookie": "nvr_session="}, None, (401,)),
    ("huge cookie", "GET", "/api/me", {"Cookie": "nvr_session=" + "a" * 8000}, None, (401,)),
    ("cookie garbage", "GET", "/api/me", {"Cookie": "nvr_session=\";;==\\x00;"}, None, (401,)),
    ("page forged cookie", "GET", "/", {"Cookie": "nvr_session=forged"}, None, (303,)),
    ("basic not base64", "GET", "/api/me", {"Authorization": "Basic %%%"}, None, (401,)),
    ("basic no colon", "GET", "/api/me", {"Authorization": "Basic " + _b64(b"admin")}, None,
     (401,)),
    ("basic not utf-8", "GET", "/api/me",
     {"Authorization": "Basic " + _b64(b"adm\xffin:pa\xfess")}, None, (401,)),
    ("basic huge", "GET", "/api/me", {"Authorization": "Basic " + "QUFB" * 3000}, None,
     (401,)),
    ("basic sql user", "GET", "/api/me", basic("' OR '1'='1", "' OR '1'='1"), None, (401,)),
    ("bearer garbage", "GET", "/api/me", {"Authorization": "Bearer \x7f\x01"}, None, (401,)),
    ("bearer empty", "GET", "/api/me", {"Authorization": "Bearer"}, None, (401,)),
    ("unknown scheme", "GET", "/api/me", {"Authorization": "Digest x"}, None, (401,)),
    ("body too big", "POST", "/api/tokens", {"Content-Length": str(MAX_BODY + 1)},
     b"x" * (MAX_BODY + 1), (413,)),
    ("bad content-length", "POST", "/api/tokens", {"Content-Length": "-5"}, b"", (400, 413)),
    ("login not utf-8", "POST", "/login",
     {"Content-Type": "application/x-www-form-urlencoded"}, b"username=\xff\xfe&password=x",
     (403,)),
    ("login huge form", "POST", "/login",
     {"Content-Type": "application/x-www-form-urlencoded"},
     b"username=" + b"a" * (MAX_BODY + 10), (413,)),
    ("json not json", "POST", "/api/users", {"Content-Type": "application/json"}, b"{",
     (401,)),
    ("path traversal", "GET", "/api/recordings/..%2f..%2fetc%2fpasswd/download", {}, None,
     (401, 404)),
]


@pytest.mark.parametrize(("what", "method", "url", "headers", "body", "statuses"),
                         HOSTILE_REQUESTS, ids=[r[0] for r in HOSTILE_REQUESTS])
def test_hostile_requests_get_clean_answers(site, what, method, url, headers, body, statuses):
    answer = site.client().request(method, url, headers=headers, content=body,
                                   follow_redirects=False)
    _clean(answer, *statuses)


def test_hostile_login_forms(site):
    client = site.client()
    token = form_token(client.get("/login").text)
    for fields, status in [
        ({"username": "' OR 1=1 --", "password": "x' --"}, 401),
        ({"username": "admin\x00", "password": PASSWORDS["admin"]}, 401),
        ({"username": "", "password": ""}, 400),
        ({"username": "a" * 5000, "password": "b"}, 400),
        ({"username": "admin", "password": "p" * 5000}, 400),
        ({"username": "ädmin", "password": "ü" * 10}, 401),
    ]:
        answer = client.post("/login", data={**fields, "csrf_token": token},
                             follow_redirects=False)
        _clean(answer, status)
        if len(fields["password"]) > 3:
            assert fields["password"] not in answer.text
    raw = client.post("/login", content=b"username=admin&password=%ff%fe&csrf_token=" +
                      token.encode(), headers={"Content-Type":
                                               "application/x-www-form-urlencoded"})
    _clean(raw, 400, 403)


def test_authenticated_hostile_json(site):
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    for body in (b"{", b"[]", b'{"username": 5}', b"\xff\xfe", b'{"name": "' + b"x" * 100 +
                 b'"}'):
        for url in ("/api/users", "/api/tokens", "/api/me/password"):
            _clean(admin.post(url, content=body, headers={"Content-Type": "application/json"}),
                   422)
    _clean(admin.patch("/api/users/%00", json={"role": "admin"}), 404, 422)
    for expires in ("99999999999d", "0", "-1d", "soon"):
        _clean(admin.post("/api/tokens", json={"name": f"t{expires}", "expires": expires}), 422)
    _clean(admin.get("/api/audit", params={"before": "x"}), 422)
    _clean(admin.get("/api/recordings", params={"start": "yesterday"}), 422)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(cookie=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xff),
                      max_size=300))
def test_any_cookie_header_is_a_clean_401(site, cookie):
    answer = site.client().get("/api/me", headers={"Cookie": cookie.encode("latin-1")})
    _clean(answer, 401)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(value=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xff),
                     max_size=300), scheme=st.sampled_from(["Basic", "Bearer", "basic", "x"]))
def test_any_authorization_header_is_a_clean_401(site, scheme, value):
    answer = site.client().get("/api/me", headers={
        "Authorization": f"{scheme} {value}".encode("latin-1")})
    _clean(answer, 401)


@given(st.binary(max_size=200))
def test_parsers_never_raise(raw):
    header = base64.b64encode(raw).decode()
    parsed = parse_basic(header)
    assert parsed is None or (":" not in parsed[0] and parsed[0])
    try:
        form = parse_form(raw)
    except BadForm:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())
