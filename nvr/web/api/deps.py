"""Shared dependencies: the services, and who may call a route.

Every route declares one rule, as a dependency: :data:`UserDep` (any signed-in
user; camera routes then check :meth:`Principal.may_see`), :data:`AdminDep`
(admins only), or :data:`PublicDep` (``/login``, ``/healthz``). The guard
middleware (``nvr.web.guard``) has already authenticated the request and
checked CSRF; these check the role. ``tests/web/test_route_rules.py`` fails for
a route without a rule.

Every dependency takes an ``HTTPConnection``, not a ``Request``, so the same
ones serve WebSocket routes (the live view) as well as HTTP routes; they are
``async`` only so that FastAPI does not hand each to its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection

from nvr.auth.principal import Principal
from nvr.web.guard import principal_of
from nvr.web.services import Services


async def get_services(conn: HTTPConnection) -> Services:
    """Works in HTTP and WebSocket routes alike."""
    return conn.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_user(conn: HTTPConnection) -> Principal:
    principal = principal_of(conn.scope)
    if principal is None:  # the guard lets no one through without; belt and braces
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required")
    return principal


async def require_admin(conn: HTTPConnection) -> Principal:
    principal = await require_user(conn)
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return principal


async def public(conn: HTTPConnection) -> Principal | None:
    """No sign-in needed; the principal when there is one."""
    return principal_of(conn.scope)


UserDep = Annotated[Principal, Depends(require_user)]
AdminDep = Annotated[Principal, Depends(require_admin)]
PublicDep = Annotated[Principal | None, Depends(public)]
RULES = {require_user: "user", require_admin: "admin", public: "public"}


def camera_or_404(principal: Principal, services: Services, camera: str) -> str:
    """``camera`` when it exists and the principal may see it; else 404, the same
    answer for both, so a viewer cannot learn the names of other cameras."""
    if camera not in services.known_cameras() or not principal.may_see(camera):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such camera")
    return camera
