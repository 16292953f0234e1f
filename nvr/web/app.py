"""The FastAPI application, built from the services it is given.

Middleware, outermost first: security headers on every answer, then the guard
(authentication, CSRF, body limits; ``nvr.web.guard``). Errors answer short
JSON that never echoes the input (it may hold a password).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from nvr import __version__
from nvr.web import system as system_routes
from nvr.web.api import alerts as alert_api
from nvr.web.api import audit, cameras, live, me, recordings, tokens, users
from nvr.web.api import events as event_api
from nvr.web.api import images as image_api
from nvr.web.api import motion as motion_api
from nvr.web.api import playback as playback_api
from nvr.web.api import rtmp as rtmp_api
from nvr.web.api import timeline as timeline_api
from nvr.web.api.deps import PublicDep
from nvr.web.guard import Guard
from nvr.web.pages import cameras as camera_pages
from nvr.web.pages import events as event_pages
from nvr.web.pages import login
from nvr.web.pages import recordings as recording_pages
from nvr.web.security import SecurityHeaders
from nvr.web.services import Services

STATIC = Path(__file__).resolve().parent / "static"


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where
                        else str(error.get("msg", "invalid")))
    return JSONResponse({"detail": "; ".join(problems)[:500] or "invalid request"},
                        status_code=422)


TITLES = {403: "Not allowed", 404: "Not found"}


async def _page_error(request: Request, exc: Exception) -> Response:
    """Pages answer errors with a page; the API (and WebSockets) with short JSON."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/api/") or request.scope["type"] != "http":
        return await http_exception_handler(request, exc)
    from nvr.web.pages.render import render

    detail = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
    if exc.status_code == 403:
        detail = "This page is for administrators."
    return render(request, "error.html", status=exc.status_code,
                  headers=dict(exc.headers or {}),
                  title=TITLES.get(exc.status_code, "Something went wrong"),
                  detail=detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else "."))


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="nvr", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.services = services
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _page_error)

    @app.get("/healthz")
    def healthz(_: PublicDep) -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(login.router)
    app.include_router(camera_pages.router)
    app.include_router(cameras.router)
    app.include_router(live.router)
    app.include_router(recordings.router)
    app.include_router(users.router)
    app.include_router(tokens.router)
    app.include_router(me.router)
    app.include_router(audit.router)
    app.include_router(alert_api.router)
    app.include_router(rtmp_api.router)
    app.include_router(playback_api.router)
    app.include_router(timeline_api.router)
    app.include_router(motion_api.router)
    app.include_router(image_api.router)
    app.include_router(recording_pages.router)
    app.include_router(event_api.router)
    app.include_router(event_pages.router)
    app.include_router(system_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard)
    app.add_middleware(SecurityHeaders, hsts=services.tls)
    return app
