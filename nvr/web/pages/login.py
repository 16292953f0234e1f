"""``GET/POST /login`` and ``POST /logout``."""

from __future__ import annotations

import math
import secrets

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from nvr.auth.authenticator import Throttled
from nvr.web.api.deps import PublicDep, ServicesDep, UserDep
from nvr.web.guard import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    BadForm,
    client_address,
    parse_form,
)
from nvr.web.pages.render import render, safe_next, set_cookie, set_csrf_cookie

router = APIRouter(include_in_schema=False)
MAX_FIELD = 1024


def _login_form(request: Request, *, next_: str, status: int = 200, error: str | None = None,
                username: str = "", headers: dict[str, str] | None = None) -> Response:
    token = request.cookies.get(CSRF_COOKIE, "")
    if not (20 <= len(token) <= 100 and token.replace("-", "").replace("_", "").isalnum()):
        token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status=status, headers=headers, csrf_token=token,
                      next=next_, error=error, username=username[:64])
    set_csrf_cookie(response, request, token)
    return response


@router.get("/login")
def login_page(request: Request, principal: PublicDep, next: str | None = None) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_=safe_next(next))


@router.post("/login")
async def login(request: Request, services: ServicesDep, _: PublicDep) -> Response:
    try:
        form = parse_form(await request.body())
    except BadForm as exc:
        raise HTTPException(400, str(exc)) from None
    username, password = form.get("username", ""), form.get("password", "")
    next_ = safe_next(form.get("next") or request.query_params.get("next"))
    if not username or not password or len(username) > MAX_FIELD or len(password) > MAX_FIELD:
        return _login_form(request, next_=next_, status=400, username=username,
                           error="Enter your username and password.")
    try:
        result = await services.auth.login(username, password, client_address(request.scope),
                                           request.headers.get("user-agent"))
    except Throttled as exc:
        minutes = math.ceil(exc.retry_after / 60)
        return _login_form(
            request, next_=next_, status=429, username=username,
            headers={"Retry-After": str(exc.retry_after)},
            error=f"Too many failed attempts. Try again in {minutes} minute"
                  f"{'s' if minutes != 1 else ''}.")
    if result is None:
        return _login_form(request, next_=next_, status=401, username=username,
                           error="Wrong username or password.")
    principal, cookie = result
    response = RedirectResponse(next_, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, cookie, http_only=True, same_site="lax",
               max_age=int(services.auth.settings.session_max))
    set_csrf_cookie(response, request, principal.csrf or "")
    return response


@router.post("/logout")
async def logout(request: Request, services: ServicesDep, user: UserDep) -> Response:
    try:
        form = parse_form(await request.body())
    except BadForm:
        form = {}
    everywhere = form.get("everywhere", request.query_params.get("everywhere", "")) in (
        "1", "true", "on", "yes")
    await services.auth.logout(user, client_address(request.scope), everywhere=everywhere)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
