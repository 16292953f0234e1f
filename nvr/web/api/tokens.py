"""API tokens: ``GET/POST/DELETE /api/tokens``. Admins manage every user's
tokens; a viewer only their own. A token's value appears once, in the answer
to the POST; only its SHA-256 is stored."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from nvr.auth import audit
from nvr.auth.accounts import Conflict, NotFound, TokenInfo
from nvr.auth.passwords import InvalidInput
from nvr.auth.principal import Principal
from nvr.config.types import parse_duration
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.api.recordings import iso
from nvr.web.guard import client_address

router = APIRouter()
MAX_EXPIRES = 36600 * 86400.0


class TokenPublic(BaseModel):
    name: str
    user: str
    created: str
    expires: str | None
    last_used: str | None


class NewTokenAnswer(TokenPublic):
    token: str  # shown this once


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    user: str | None = Field(None, max_length=64)  # default: the caller
    expires: str | None = Field(None, max_length=32)  # "30d", "12h"; null: never


class TokenName(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)


def public_token(info: TokenInfo) -> TokenPublic:
    return TokenPublic(name=info.name, user=info.username, created=iso(info.created_us),
                       expires=iso(info.expires_us) if info.expires_us else None,
                       last_used=iso(info.last_used_us) if info.last_used_us else None)


def _owner(principal: Principal, user: str | None) -> str:
    owner = user or principal.username
    if owner != principal.username and not principal.is_admin:
        raise HTTPException(403, "viewers manage only their own tokens")
    return owner


@router.get("/api/tokens", response_model=list[TokenPublic])
async def list_tokens(services: ServicesDep, user: UserDep) -> list[TokenPublic]:
    rows = await asyncio.to_thread(services.auth.accounts.tokens,
                                   None if user.is_admin else user.username)
    return [public_token(t) for t in rows]


@router.post("/api/tokens", response_model=NewTokenAnswer, status_code=201)
async def create_token(body: NewToken, request: Request, services: ServicesDep,
                       user: UserDep) -> NewTokenAnswer:
    auth = services.auth
    owner = _owner(user, body.user)
    now = auth.now_us()
    try:
        expires = None
        if body.expires:
            seconds = parse_duration(body.expires)
            if not 0 < seconds <= MAX_EXPIRES:
                raise InvalidInput("expires: more than 0 and at most 100 years")
            expires = now + int(seconds * 1e6)
        token, info = await asyncio.to_thread(auth.accounts.create_token, owner, body.name,
                                              now, expires)
    except (InvalidInput, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    except NotFound:
        raise HTTPException(404, "no such user") from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    auth.changed()
    await auth.record(audit.TOKEN_CREATE, actor=user.username,
                      address=client_address(request.scope), target=body.name,
                      details={"user": owner, "expires": body.expires})
    return NewTokenAnswer(**public_token(info).model_dump(), token=token)


async def _revoke(name: str, request: Request, services: ServicesDep,
                  user: Principal) -> Response:
    auth = services.auth
    try:
        await asyncio.to_thread(auth.accounts.revoke_token, name,
                                None if user.is_admin else user.username)
    except NotFound:
        raise HTTPException(404, "no such token") from None
    auth.changed()
    await auth.record(audit.TOKEN_REVOKE, actor=user.username,
                      address=client_address(request.scope), target=name)
    return Response(status_code=204)


@router.delete("/api/tokens/{name}", status_code=204)
async def revoke_token(name: str, request: Request, services: ServicesDep,
                       user: UserDep) -> Response:
    return await _revoke(name, request, services, user)


@router.delete("/api/tokens", status_code=204)
async def revoke_token_by_query(request: Request, services: ServicesDep, user: UserDep,
                                name: str | None = None) -> Response:
    """``DELETE /api/tokens?name=LABEL`` or with the JSON body ``{"name": LABEL}``."""
    if name is None:
        try:
            name = TokenName.model_validate_json(await request.body()).name
        except ValueError:
            raise HTTPException(422, "name: the token's name, as ?name= or JSON body") from None
    return await _revoke(name, request, services, user)
