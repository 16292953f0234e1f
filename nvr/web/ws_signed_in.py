"""Long-lived WebSockets (live view, playback) end when their viewer is signed out.

The guard checks credentials once, at the handshake; a live view may then stay
open for days. :func:`close_when_signed_out` runs beside such a socket and looks
again every :data:`RECHECK_SECONDS` (``Authenticator.still_valid``: the session
ended by a logout, "log out everywhere" or a password change, the user disabled
or their role or cameras changed); then it closes the socket with
:data:`SIGNED_OUT`, and the page goes to the login page.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketState

from nvr.auth.principal import Principal
from nvr.web.services import Services

__all__ = ["RECHECK_SECONDS", "SIGNED_OUT", "close_when_signed_out"]

SIGNED_OUT = 4401  # close code: the viewer's session or account no longer allows this
RECHECK_SECONDS = 5.0


async def close_when_signed_out(websocket: WebSocket, services: Services,
                                user: Principal) -> None:
    """Return once ``user`` may no longer watch, after closing ``websocket``."""
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        if not await services.auth.still_valid(user):
            break
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(SIGNED_OUT, "signed out")
