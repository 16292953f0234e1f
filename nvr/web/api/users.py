"""Accounts over the API (admins): ``GET/POST /api/users``, ``PATCH/DELETE
/api/users/{name}``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from nvr.auth import audit
from nvr.auth.accounts import Conflict, NotFound, UserInfo
from nvr.auth.passwords import InvalidInput, check_password, hash_password
from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.api.recordings import iso
from nvr.web.guard import client_address

router = APIRouter()


class UserPublic(BaseModel):
    username: str
    role: str
    cameras: list[str]  # empty: every camera
    disabled: bool
    created: str
    last_login: str | None


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: str = "viewer"
    cameras: list[str] = Field(default_factory=list, max_length=1000)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, max_length=1024)
    role: str | None = None
    cameras: list[str] | None = Field(None, max_length=1000)
    disabled: bool | None = None


def public_user(user: UserInfo) -> UserPublic:
    return UserPublic(username=user.username, role=user.role, cameras=list(user.cameras),
                      disabled=user.disabled, created=iso(user.created_us),
                      last_login=iso(user.last_login_us) if user.last_login_us else None)


@router.get("/api/users", response_model=list[UserPublic])
async def list_users(services: ServicesDep, _admin: AdminDep) -> list[UserPublic]:
    return [public_user(u) for u in await asyncio.to_thread(services.auth.accounts.users)]


@router.post("/api/users", response_model=UserPublic, status_code=201)
async def add_user(body: NewUser, request: Request, services: ServicesDep,
                   admin: AdminDep) -> UserPublic:
    auth = services.auth
    try:
        check_password(body.password)
        user = await asyncio.to_thread(auth.accounts.add_user, body.username, body.password,
                                       body.role, tuple(body.cameras), auth.now_us())
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    auth.changed()
    await auth.record(audit.USER_ADD, actor=admin.username,
                      address=client_address(request.scope), target=user.username,
                      details={"role": user.role, "cameras": list(user.cameras)})
    return public_user(user)


@router.patch("/api/users/{username}", response_model=UserPublic)
async def change_user(username: str, body: UserChange, request: Request,
                      services: ServicesDep, admin: AdminDep) -> UserPublic:
    auth = services.auth
    try:
        new_hash = None
        if body.password is not None:
            new_hash = await asyncio.to_thread(hash_password, check_password(body.password))
        user = await asyncio.to_thread(
            lambda: auth.accounts.change_user(
                username, auth.now_us(), password_hash=new_hash, role=body.role,
                cameras=tuple(body.cameras) if body.cameras is not None else None,
                disabled=body.disabled))
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None
    except NotFound:
        raise HTTPException(404, "no such user") from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    auth.changed()
    changed = sorted(k for k, v in body.model_dump(exclude_unset=True).items())
    await auth.record(audit.USER_CHANGE, actor=admin.username,
                      address=client_address(request.scope), target=username,
                      details={"changed": changed,
                               **({"role": body.role} if body.role else {}),
                               **({"disabled": body.disabled}
                                  if body.disabled is not None else {})})
    return public_user(user)


@router.delete("/api/users/{username}", status_code=204)
async def remove_user(username: str, request: Request, services: ServicesDep,
                      admin: AdminDep) -> Response:
    auth = services.auth
    try:
        await asyncio.to_thread(auth.accounts.remove_user, username)
    except NotFound:
        raise HTTPException(404, "no such user") from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    auth.changed()
    await auth.record(audit.USER_REMOVE, actor=admin.username,
                      address=client_address(request.scope), target=username)
    return Response(status_code=204)
