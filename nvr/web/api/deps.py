"""Shared dependencies: the services and HTTP Basic authentication.

Every dependency takes an ``HTTPConnection``, not a ``Request``, so the same
ones serve WebSocket routes (the live view) as well as HTTP routes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasicCredentials
from starlette.requests import HTTPConnection

from nvr.web.services import Services

ADMIN_USER = "admin"


def get_services(conn: HTTPConnection) -> Services:
    """Works in HTTP and WebSocket routes alike."""
    return conn.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def basic_credentials(conn: HTTPConnection) -> HTTPBasicCredentials | None:
    """The user and password of an ``Authorization: Basic`` header (None: none or
    malformed)."""
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return HTTPBasicCredentials(username=user, password=password) if sep else None


def require_admin(
    services: ServicesDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(basic_credentials)],
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
