"""Every request is authenticated here, before any route runs (pure ASGI).

- Public: ``/login``, ``/healthz`` and ``/static/...``. Everything else needs a
  session cookie, ``Authorization: Bearer <token>`` or HTTP Basic; without one
  an API path (``/api/...``) or WebSocket gets 401 JSON, a page a redirect to
  ``/login?next=...``. Roles are checked by the routes' dependencies
  (``nvr.web.api.deps``); ``tests/web/test_route_rules.py`` walks the route table.
- CSRF: a state-changing request authenticated by the session cookie must carry
  the session's CSRF token, as header ``X-CSRF-Token`` (equal to the
  ``nvr_csrf`` cookie) or as form field ``csrf_token``. ``POST /login``
  double-submits the pre-login ``nvr_csrf`` cookie the form was served with.
  A cross-site ``Origin`` (or ``Sec-Fetch-Site: cross-site``) is refused for
  every state-changing request and for WebSockets; same-site is the request's
  own scheme and ``Host``, or ``[server] public_url``'s origin (a reverse proxy
  may rewrite both; with ``trusted_proxies`` uvicorn takes the scheme and the
  client's address from the proxy's ``X-Forwarded-*`` headers).
- Bodies of state-changing requests are read here, at most :data:`MAX_BODY`
  bytes (413 past it), and handed on unchanged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nvr.auth.authenticator import Authenticator, Throttled
from nvr.auth.principal import SESSION, Principal

log = logging.getLogger(__name__)

SESSION_COOKIE = "nvr_session"
CSRF_COOKIE = "nvr_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
PUBLIC_PREFIX = "/static/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 * 1024
MAX_FORM_FIELDS = 20


class BadForm(ValueError):
    pass


def parse_form(body: bytes) -> dict[str, str]:
    """A urlencoded form body as a dict (UTF-8 only; the first value of a field)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadForm("the form is not valid UTF-8 urlencoded data") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of ``url`` (the form browsers send as ``Origin``)."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(scope: Scope, headers: Headers, public_url: str | None = None) -> bool:
    """False when the browser says the request comes from another site: its
    ``Origin`` is neither this request's scheme and Host nor ``public_url``'s origin
    (what users reach nvr at through a reverse proxy, which may change both)."""
    if headers.get("sec-fetch-site", "") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"),
                                                  scope.get("scheme", "http"))
    return (origin == f"{scheme}://{headers.get('host', '')}"
            or origin.lower() == origin_of(public_url))


def _equal(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(
        a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))  # type: ignore[union-attr]


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _public_url(scope: Scope) -> str | None:
    config = scope["app"].state.services.config
    return config.server.public_url if config is not None else None


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        auth: Authenticator = scope["app"].state.services.auth
        headers = Headers(scope=scope)
        path: str = scope["path"]
        websocket = scope["type"] == "websocket"
        method = "GET" if websocket else scope["method"]
        unsafe = method not in SAFE_METHODS
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)

        original = b""
        if unsafe:
            read = await self._read_body(scope, receive, headers)
            if isinstance(read, Response):
                await read(scope, receive, send)
                return
            body = original = read

            async def replay() -> Message:
                nonlocal body
                chunk, body = body, b""
                return {"type": "http.request", "body": chunk, "more_body": False}

            receive = replay  # the app reads the buffered body
        cookies = cookie_parser(headers.get("cookie", ""))
        try:
            principal = await self._authenticate(auth, scope, headers, cookies)
        except Throttled as exc:
            denial: Response = _error(429, "too many failed logins; try again later",
                                      {"Retry-After": str(exc.retry_after)})
            await denial(scope, receive, send)
            return
        problem = None
        if principal is None and not public:
            problem = self._unauthenticated(scope, headers, cookies, path)
        elif (unsafe or websocket) and not same_origin(scope, headers, _public_url(scope)):
            problem = _error(403, "cross-site request refused")
        elif unsafe and principal is not None and principal.method == SESSION:
            problem = self._check_csrf(principal, headers, cookies, original)
        elif unsafe and public and principal is None:
            problem = self._check_login_csrf(headers, cookies, original)
        if problem is not None:
            if websocket:
                await send({"type": "websocket.close", "code": 1008})
                return
            await problem(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    @staticmethod
    async def _read_body(scope: Scope, receive: Receive, headers: Headers) -> bytes | Response:
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return _error(413, f"request body over {MAX_BODY} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _error(400, "client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return _error(413, f"request body over {MAX_BODY} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _authenticate(auth: Authenticator, scope: Scope, headers: Headers,
                            cookies: dict[str, str]) -> Principal | None:
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer":
                return await auth.from_bearer(value.strip())
            if scheme == "basic":
                return await auth.from_basic(value.strip(), client_address(scope))
            return None
        cookie = cookies.get(SESSION_COOKIE)
        return await auth.from_cookie(cookie) if cookie else None

    @staticmethod
    def _unauthenticated(scope: Scope, headers: Headers, cookies: dict[str, str],
                         path: str) -> Response:
        if path.startswith("/api/") or scope["type"] == "websocket" or "authorization" in headers:
            extra = {} if SESSION_COOKIE in cookies else {"WWW-Authenticate": 'Basic realm="nvr"'}
            return _error(401, "authentication required", extra)
        target = path + (f"?{scope['query_string'].decode('latin-1')}"
                         if scope.get("query_string") else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @staticmethod
    def _check_csrf(principal: Principal, headers: Headers, cookies: dict[str, str],
                    body: bytes) -> Response | None:
        sent = headers.get(CSRF_HEADER)
        if sent is not None:
            if _equal(sent, principal.csrf) and _equal(cookies.get(CSRF_COOKIE), sent):
                return None
            return _error(403, "CSRF token missing or wrong")
        if _equal(_form_token(headers, body), principal.csrf):
            return None
        return _error(403, "CSRF token missing or wrong")

    @staticmethod
    def _check_login_csrf(headers: Headers, cookies: dict[str, str],
                          body: bytes) -> Response | None:
        if _equal(_form_token(headers, body), cookies.get(CSRF_COOKIE)):
            return None
        return _error(403, "the login form expired; reload the page and try again")


def _form_token(headers: Headers, body: bytes) -> str | None:
    if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        return parse_form(body).get(CSRF_FIELD)
    except BadForm:
        return None


def principal_of(scope: Mapping[str, Any]) -> Principal | None:
    return scope.get("state", {}).get("principal")
