"""The caller's own account: ``GET /api/me``, ``POST /api/me/password``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from nvr.auth import audit
from nvr.auth.authenticator import Throttled
from nvr.auth.passwords import InvalidInput, check_password, hash_password
from nvr.auth.principal import SESSION
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.guard import SESSION_COOKIE, client_address
from nvr.web.pages.render import set_cookie, set_csrf_cookie

router = APIRouter()


class MePublic(BaseModel):
    username: str
    role: str
    cameras: list[str]  # empty: every camera
    auth: str  # how this request was authenticated: session, basic or token
    csrf_token: str | None  # the session's CSRF token (session only)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@router.get("/api/me", response_model=MePublic)
def me(user: UserDep) -> MePublic:
    return MePublic(username=user.username, role=user.role, cameras=list(user.cameras),
                    auth=user.method, csrf_token=user.csrf)


@router.post("/api/me/password", status_code=204)
async def change_password(body: PasswordChange, request: Request, services: ServicesDep,
                          user: UserDep) -> Response:
    """Needs the current password. Ends every session of the user; a browser
    that asked gets a fresh session in the answer."""
    auth = services.auth
    address = client_address(request.scope)
    try:
        ok = await auth.verify(user, body.current_password, address)
    except Throttled as exc:
        raise HTTPException(429, "too many failed attempts; try again later",
                            headers={"Retry-After": str(exc.retry_after)}) from None
    if not ok:
        raise HTTPException(403, "the current password is wrong")
    try:
        new_hash = await asyncio.to_thread(hash_password, check_password(body.new_password))
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    await asyncio.to_thread(auth.accounts.change_user, user.username, auth.now_us(),
                            password_hash=new_hash)
    auth.changed()
    await auth.record(audit.PASSWORD_CHANGE, actor=user.username, address=address,
                      target=user.username)
    response = Response(status_code=204)
    if user.method == SESSION:
        fresh, cookie = await auth.new_session(user, address,
                                               request.headers.get("user-agent"))
        set_cookie(response, request, SESSION_COOKIE, cookie, http_only=True,
                   same_site="lax", max_age=int(auth.settings.session_max))
        set_csrf_cookie(response, request, fresh.csrf or "")
    return response
