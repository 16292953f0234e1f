"""The web dependencies serve HTTP and WebSocket routes alike."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.services import Services


def _app(tmp_path: Path) -> FastAPI:
    app = FastAPI()
    app.state.services = Services(data_dir=tmp_path, index=None,  # type: ignore[arg-type]
                                  admin_password="s3cret")

    @app.get("/who")
    def who(user: AdminDep, services: ServicesDep) -> dict[str, str]:
        return {"user": user, "data": str(services.data_dir)}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: AdminDep, services: ServicesDep) -> None:
        await websocket.accept()
        await websocket.send_json({"user": user, "data": str(services.data_dir)})
        await websocket.close()

    return app


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_admin_dependency_in_http_and_websocket_routes(tmp_path):
    client = TestClient(_app(tmp_path))
    assert client.get("/who", headers=_basic("admin", "s3cret")).json()["user"] == "admin"
    assert client.get("/who", headers=_basic("admin", "wrong")).status_code == 401
    assert client.get("/who", headers={"Authorization": "Basic %%%"}).status_code == 401
    with client.websocket_connect("/ws", headers=_basic("admin", "s3cret")) as ws:
        assert ws.receive_json() == {"user": "admin", "data": str(tmp_path)}


def test_websocket_without_credentials_is_refused(tmp_path):
    client = TestClient(_app(tmp_path))
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_json()
