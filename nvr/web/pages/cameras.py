"""The signed-in pages: the dashboard (``/``), a camera (``/cameras/{name}``) and
the account page (``/account``).

The dashboard shows admins, below the camera tiles, the streams publishers push to
the RTMP server that no camera records ("Pushed streams": play URL, no live tile).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.pages.render import render
from nvr.web.rtmp_view import play_host, pushed_only, stream_rows

router = APIRouter(include_in_schema=False)


def camera_summary(services: Any, name: str) -> dict[str, Any]:
    registry = services.registry
    source = registry.source(name)
    return {
        "name": name,
        "status": source.state.status if source else "offline",
        "last_error": source.state.last_error if source else "disabled in the config",
        "sub_stream": registry.get(f"{name}/sub") is not None,
    }


@router.get("/")
def dashboard(request: Request, services: ServicesDep, user: UserDep) -> Response:
    cameras = [camera_summary(services, n) for n in user.visible(services.configured)]
    pushed = (pushed_only(stream_rows(services, play_host(request, services.config)))
              if user.is_admin else [])
    config = services.config
    return render(request, "dashboard.html", user=user, cameras=cameras, pushed=pushed,
                  rtmp_port=config.rtmp.listen_address[1] if config is not None else 1935,
                  csrf_token=user.csrf or "", section="cameras")


@router.get("/cameras/{name}")
def camera_page(name: str, request: Request, services: ServicesDep, user: UserDep,
                t: str | None = None) -> Response:
    camera_or_404(user, services, name)
    return render(request, "camera.html", user=user, camera=camera_summary(services, name),
                  csrf_token=user.csrf or "", section="cameras", at=t,
                  today=datetime.now(UTC).date().isoformat())


@router.get("/account")
def account(request: Request, user: UserDep) -> Response:
    return render(request, "account.html", user=user, csrf_token=user.csrf or "",
                  section="account")
