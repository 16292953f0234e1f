"""Shared dependencies: the services and HTTP Basic authentication."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.requests import HTTPConnection

from nvr.web.services import Services

ADMIN_USER = "admin"
_basic = HTTPBasic(realm="nvr", auto_error=False)


def get_services(conn: HTTPConnection) -> Services:
    """Works in HTTP and WebSocket routes alike."""
    return conn.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_admin(
    services: ServicesDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> str:
    expected = services.admin_password
    ok = (
        credentials is not None
        and expected
        and secrets.compare_digest(credentials.username.encode(), ADMIN_USER.encode())
        and secrets.compare_digest(credentials.password.encode(), expected.encode())
    )
    if not ok:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="authentication required" if expected else
            "API disabled: set NVR_ADMIN_PASSWORD to enable it",
            headers={"WWW-Authenticate": 'Basic realm="nvr"'},
        )
    return ADMIN_USER


AdminDep = Annotated[str, Depends(require_admin)]
