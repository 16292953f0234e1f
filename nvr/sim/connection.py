"""The RTSP 1.0 request handling of the simulated camera: one client connection.

Requests: OPTIONS, DESCRIBE, SETUP (RTP/AVP/TCP interleaved, RTP/AVP UDP
unicast), PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN. Interleaved data
from the client (RTCP receiver reports) is read and ignored. The first request
naming a camera ties the connection to it (its faults then apply to the
connection: `refuse` closes it, `hang` leaves requests unanswered, `big_header`
and `false_content_length` change the replies).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from nvr.sim.auth import authorized, challenges
from nvr.sim.camera import CameraState
from nvr.sim.packetize import make_sdp
from nvr.sim.quirks import apply_sdp_faults
from nvr.sim.session import RtpSession, Track

if TYPE_CHECKING:
    from nvr.sim.server import SimServer

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    501: "Not Implemented",
}


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


class RtspConnection(asyncio.Protocol):
    """One client's TCP connection: parses requests, answers them, carries its RTP."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.session: RtpSession | None = None
        self.cam: CameraState | None = None
        self.peer_host = "127.0.0.1"
        self.last_request = time.monotonic()
        self._corked: bytearray | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream protocol is given a Transport (uvloop's duck-types asyncio's class)
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.server.max_write_buffer * 2)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.server.sndbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.server.sndbuf)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_host = peer[0]
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None
        if self.cam is not None:
            self.cam.connections.discard(self)
        self.server._connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            self._parse()
        except Exception:  # a broken request must not take the server down
            log.exception("sim: bad RTSP request from %s", self.peer_host)
            self.close()

    # helpers

    def write(self, data: bytes | bytearray) -> None:
        if self._corked is not None:
            self._corked += data
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> None:
        buf = self.buf
        while buf and self.transport is not None:
            if buf[0] == 0x24:  # interleaved data from the client (RTCP receiver reports)
                if len(buf) < 4:
                    return
                size = 4 + int.from_bytes(buf[2:4], "big")
                if len(buf) < size:
                    return
                del buf[:size]
                continue
            if buf[0] in b"\r\n ":
                del buf[:1]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_REQUEST:
                    self.close()
                return
            lines = bytes(buf[:end]).decode("utf-8", "replace").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            parts = lines[0].split()
            if len(parts) != 3:
                self._reply(Request("", "", headers, body), 400)
                continue
            self._handle(Request(parts[0].upper(), parts[1], headers, body))

    def _reply(
        self,
        req: Request,
        code: int,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        lines = [f"RTSP/1.0 {code} {REASONS.get(code, 'Error')}", f"CSeq: {req.cseq}"]
        lines.append("Server: nvr-sim")
        for key, value in headers:
            lines.append(f"{key}: {value}")
        if self.session is not None and code == 200 and req.method not in ("OPTIONS",):
            lines.append(f"Session: {self.session.id};timeout={self.server.session_timeout}")
        faults = self.cam.faults if self.cam is not None else None
        if faults is not None and faults.filler_header is not None:
            lines.append(faults.filler_header)
        if body:
            claimed = faults.claimed_length if faults is not None else 0
            lines.append(f"Content-Length: {claimed or len(body)}")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    # request handling

    def _handle(self, req: Request) -> None:
        self.last_request = time.monotonic()
        path = urlsplit(req.url).path if "://" in req.url else req.url
        segments = [s for s in path.split("/") if s]
        cam = self.server._cameras.get(segments[0]) if segments else None
        if cam is not None and cam.faults.refusing():
            self.close()
            return
        if cam is not None and self.cam is None:
            self.cam = cam
            cam.connections.add(self)
        if cam is not None and cam.faults.hanging():
            cam.faults.unanswered += 1  # read, never answered
            return
        if req.method == "OPTIONS":
            self._reply(req, 200, [("Public", PUBLIC)])
            return
        if cam is None:
            self._reply(req, 404)
            return
        camera, server = cam.camera, self.server
        credentials = req.headers.get("authorization", "")
        user, password, scheme = camera.user, camera.password, camera.auth
        if not authorized(
            credentials, req.method, user, password, scheme, server.realm, server.nonces
        ):
            self._reply(req, 401, challenges(scheme, server.realm, server.nonces))
            return
        sid = req.headers.get("session", "").split(";")[0].strip()
        if sid and (self.session is None or sid != self.session.id):
            self._reply(req, 454)
            return
        handler = getattr(self, f"_on_{req.method.lower()}", None)
        if handler is None:
            self._reply(req, 501)
            return
        handler(req, cam, segments[1:])

    def _base_url(self, req: Request) -> str:
        return req.url.rstrip("/") + "/"

    def _on_describe(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        assert cam.clip is not None
        sdp = make_sdp(
            cam.clip,
            host=self.server.host,
            session_id=random.getrandbits(31),
            name=cam.camera.name,
            audio=cam.camera.audio,
        )
        if cam.camera.sdp_faults:
            sdp = apply_sdp_faults(sdp, cam.camera.sdp_faults)
        headers = [("Content-Base", self._base_url(req)), ("Content-Type", "application/sdp")]
        self._reply(req, 200, headers, sdp.encode())

    def _on_setup(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        assert cam.packets is not None
        track_id = 0
        for seg in rest:
            if seg.lower().startswith("trackid="):
                try:
                    track_id = int(seg.split("=", 1)[1])
                except ValueError:
                    track_id = -1
        no_video = "no-video" in cam.camera.sdp_faults
        if (
            track_id not in (0, 1)
            or (track_id == 1 and not cam.packets.audio)
            or (track_id == 0 and no_video)
        ):
            self._reply(req, 404)
            return
        if self.session is None:
            self.session = RtpSession(self.server, cam, self)
        elif self.session.task is not None:
            self._reply(req, 455)
            return
        clock = 90000 if track_id == 0 else cam.camera.audio_rate
        track = Track(track_id, clock)
        if cam.camera.ts_start is not None:
            track.ts0 = cam.camera.ts_start & 0xFFFFFFFF
        reply = self._transport(req.headers.get("transport", ""), cam, track)
        if reply is None:
            self._reply(req, 461)
            return
        self.session.tracks[track_id] = track
        self._reply(req, 200, [("Transport", reply)])

    def _transport(self, header: str, cam: CameraState, track: Track) -> str | None:
        """The first transport of the SETUP's list that the camera takes (None: 461)."""
        accepted = cam.camera.transports
        for spec in header.split(","):
            fields = [f.strip() for f in spec.split(";") if f.strip()]
            if not fields or "multicast" in fields:
                continue
            proto = fields[0].upper()
            params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
            if proto == "RTP/AVP/TCP" and "tcp" in accepted:
                tid = track.track_id
                channels = params.get("interleaved", f"{2 * tid}-{2 * tid + 1}")
                track.channel = int(channels.split("-")[0])
                return (
                    f"RTP/AVP/TCP;unicast;interleaved={track.channel}-{track.channel + 1};"
                    f"ssrc={track.ssrc:08X}"
                )
            if proto in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in params:
                if self.server._udp_rtp is None or "udp" not in accepted:
                    continue
                ports = params["client_port"].split("-")
                rtp_port = int(ports[0])
                rtcp_port = int(ports[1]) if len(ports) > 1 else rtp_port + 1
                track.udp_rtp = (self.peer_host, rtp_port)
                track.udp_rtcp = (self.peer_host, rtcp_port)
                sp = self.server.udp_port
                return (
                    f"RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port};"
                    f"server_port={sp}-{sp + 1};ssrc={track.ssrc:08X}"
                )
        return None

    def _on_play(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        session = self.session
        if session is None or not session.tracks:
            self._reply(req, 455)
            return
        base = self._base_url(req)
        if rest and rest[-1].lower().startswith("trackid="):
            base = base.rsplit("/", 2)[0] + "/"
        info = ",".join(
            f"url={base}trackID={t.track_id};seq={t.seq};rtptime={t.ts0}"
            for t in sorted(session.tracks.values(), key=lambda t: t.track_id)
        )
        # one write: the reply, then whatever the session sends at once (play_burst)
        self._corked = bytearray()
        try:
            self._reply(req, 200, [("Range", "npt=0.000-"), ("RTP-Info", info)])
            session.play()
        finally:
            data, self._corked = self._corked, None
            self.write(data)

    def _on_pause(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        if self.session is None:
            self._reply(req, 454)
            return
        self.session.stop()
        self._reply(req, 200)

    def _on_teardown(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        if self.session is not None:
            self.session.stop()
        self._reply(req, 200)
        self.session = None

    def _on_get_parameter(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        self._reply(req, 200)

    def _on_set_parameter(self, req: Request, cam: CameraState, rest: list[str]) -> None:
        self._reply(req, 200)
