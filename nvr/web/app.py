"""The FastAPI application, built from the services it is given."""

from __future__ import annotations

from fastapi import FastAPI

from nvr import __version__
from nvr.web.api import cameras, recordings
from nvr.web.services import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="nvr", version=__version__)
    app.state.services = services

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(cameras.router)
    app.include_router(recordings.router)
    return app
