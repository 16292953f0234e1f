"""The role dependencies serve HTTP and WebSocket routes alike."""

from __future__ import annotations

import pytest
from authkit import PASSWORDS, basic, make_site
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from nvr.auth.principal import Principal
from nvr.web.api.deps import AdminDep, ServicesDep, UserDep


@pytest.fixture
def site(tmp_path):
    site = make_site(tmp_path)

    @site.app.get("/api/who")
    def who(user: AdminDep, services: ServicesDep) -> dict[str, str]:
        return {"user": user.username, "data": str(services.data_dir)}

    @site.app.websocket("/api/ws")
    async def ws(websocket: WebSocket, user: UserDep) -> None:
        assert isinstance(user, Principal)
        await websocket.accept()
        await websocket.send_json({"user": user.username})
        await websocket.close()

    return site


def test_admin_dependency_in_http_routes(site, tmp_path):
    client = site.client()
    answer = client.get("/api/who", headers=basic("admin", PASSWORDS["admin"]))
    assert answer.json() == {"user": "admin", "data": str(tmp_path)}
    assert client.get("/api/who", headers=basic("admin", "wrong")).status_code == 401
    assert client.get("/api/who", headers={"Authorization": "Basic %%%"}).status_code == 401
    assert client.get("/api/who", headers=basic("viewer1", PASSWORDS["viewer1"])
                      ).status_code == 403


def test_websocket_routes_take_sessions_and_basic(site):
    client = site.login("viewer1")
    # the test client's WebSocket requests go to host "testserver": pass the cookie on
    cookie = {"Cookie": f"nvr_session={client.cookies['nvr_session']}"}
    with client.websocket_connect("/api/ws", headers=cookie) as ws:
        assert ws.receive_json() == {"user": "viewer1"}
    other = site.client()
    with other.websocket_connect("/api/ws", headers=basic("admin", PASSWORDS["admin"])) as ws:
        assert ws.receive_json() == {"user": "admin"}


def test_websocket_without_credentials_is_refused(site):
    client = site.client()
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/ws") as ws:
        ws.receive_json()


def test_websocket_from_another_site_is_refused(site):
    client = site.login("viewer1")
    headers = {"Cookie": f"nvr_session={client.cookies['nvr_session']}",
               "Origin": "https://evil.example"}
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(
            "/api/ws", headers=headers) as ws:
        ws.receive_json()
