"""An RTSP 1.0 server (asyncio) serving simulated cameras from one process.

Each camera plays a pre-encoded loop (`nvr.sim.media`) whose RTP packets are
laid out once (`nvr.sim.packetize.ClipPackets`); a playing session
(`nvr.sim.session`) only patches the 16 bytes of interleaved framing + RTP
header of each packet and writes a whole frame at once. Requests are handled
per connection by `nvr.sim.connection`, authentication by `nvr.sim.auth`.

Supported: OPTIONS, DESCRIBE, SETUP (RTP/AVP/TCP interleaved, RTP/AVP UDP
unicast), PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN; Basic and
Digest (RFC 2617, with and without qop=auth) authentication; RTCP sender
reports every few seconds. Cameras misbehave as their `SimCamera` fields say
(malformed SDP, noise, refused transports, ...) and as faults injected at run
time say (`SimServer.fault`, see nvr.sim.faults).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Coroutine, Iterable
from typing import Any
from urllib.parse import quote

from nvr.sim.auth import Nonces, digest_response, parse_auth_params
from nvr.sim.camera import CameraState, SimCamera
from nvr.sim.connection import RtspConnection
from nvr.sim.faults import CameraFaults
from nvr.sim.packetize import DEFAULT_MTU

__all__ = ["SimCamera", "SimServer", "digest_response", "parse_auth_params"]

log = logging.getLogger(__name__)

SESSION_TIMEOUT = 60


class _UdpSink(asyncio.DatagramProtocol):
    """Server-side RTP/RTCP socket; what clients send to it is ignored."""


def _bind_udp_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on an even port and the next one (RTP, RTCP)."""
    for _ in range(50):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((host, 0))
        port = rtp.getsockname()[1]
        if port % 2 == 0 and port < 65535:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((host, port + 1))
            except OSError:
                rtcp.close()
            else:
                return rtp, rtcp
        rtp.close()
    raise OSError("no free even/odd UDP port pair")


class SimServer:
    """RTSP server for many simulated cameras in one process.

    Usage: ``server = SimServer(cameras=[SimCamera("cam1")])``, ``await server.start()``,
    ``server.url("cam1")``, ``server.fault("cam1").stall(3)``, ``await server.stop()``.
    Constructor options: `mtu` (max RTP payload), `rtcp_interval` (seconds between
    sender reports), `max_write_buffer` (bytes queued per TCP client before frames
    are dropped until a keyframe), `realm`, `udp` (offer UDP transport), `sndbuf`,
    `session_timeout`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        cameras: Iterable[SimCamera] = (),
        *,
        mtu: int = DEFAULT_MTU,
        rtcp_interval: float = 5.0,
        max_write_buffer: int = 2 * 1024 * 1024,
        realm: str = "nvr-sim",
        udp: bool = True,
        sndbuf: int = 0,
        session_timeout: int = SESSION_TIMEOUT,
    ) -> None:
        self.host = host
        # announced in the Session header and enforced: a session without any request
        # for this long is dropped with its connection, as cameras do
        self.session_timeout = session_timeout
        self._port = port
        self.mtu = mtu
        self.rtcp_interval = rtcp_interval
        self.max_write_buffer = max_write_buffer
        self.realm = realm
        self._udp_enabled = udp
        self.sndbuf = sndbuf  # kernel send buffer per RTSP connection; 0: system default
        self._cameras: dict[str, CameraState] = {}
        for cam in cameras:
            if cam.name in self._cameras:
                raise ValueError(f"duplicate camera name {cam.name!r}")
            cam.check()
            self._cameras[cam.name] = CameraState(cam)
        self._server: asyncio.Server | None = None
        self._udp_rtp: asyncio.DatagramTransport | None = None
        self._udp_rtcp: asyncio.DatagramTransport | None = None
        self.udp_port = 0
        self._connections: set[RtspConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.nonces = Nonces()

    @property
    def port(self) -> int:
        return self._port

    @property
    def cameras(self) -> list[SimCamera]:
        return [c.camera for c in self._cameras.values()]

    def url(self, name: str, user: str | None = None, password: str | None = None) -> str:
        """rtsp://[user[:password]@]host:port/<name>."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        cred = ""
        if user is not None:
            cred = quote(user, safe="")
            if password is not None:
                cred += ":" + quote(password, safe="")
            cred += "@"
        return f"rtsp://{cred}{host}:{self._port}/{name}"

    def clients(self, name: str) -> int:
        """How many RTSP connections camera `name` has now."""
        return len(self._cameras[name].connections)

    def fault(self, name: str) -> CameraFaults:
        """The fault-injection handle of camera `name` (see nvr.sim.faults)."""
        return self._cameras[name].faults

    async def start(self) -> None:
        """Encode the clips (once per distinct setting), then listen."""
        for cam in self._cameras.values():
            await asyncio.to_thread(cam.prepare, self.mtu)
        loop = asyncio.get_running_loop()
        if self._udp_enabled:
            rtp_sock, rtcp_sock = _bind_udp_pair(self.host or "0.0.0.0")
            self.udp_port = rtp_sock.getsockname()[1]
            self._udp_rtp, _ = await loop.create_datagram_endpoint(_UdpSink, sock=rtp_sock)
            self._udp_rtcp, _ = await loop.create_datagram_endpoint(_UdpSink, sock=rtcp_sock)
        self._server = await loop.create_server(
            lambda: RtspConnection(self), self.host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("sim: serving %d cameras on port %d", len(self._cameras), self._port)

    async def stop(self) -> None:
        """Stop listening, close every connection and end every session."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for udp in (self._udp_rtp, self._udp_rtcp):
            if udp is not None:
                udp.close()
        self._udp_rtp = self._udp_rtcp = None

    # internals used by connections and sessions

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sim: session task failed", exc_info=task.exception())
