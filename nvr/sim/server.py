"""An RTSP 1.0 server (asyncio) serving simulated cameras from one process.

Each camera plays a pre-encoded loop (`nvr.sim.media`) whose RTP packets are
laid out once (`nvr.sim.packetize.ClipPackets`); a playing session only patches
the 16 bytes of interleaved framing + RTP header of each packet and writes a
whole frame at once. Sessions pace frames in real time from the wall clock and
keep RTP timestamps and sequence numbers running across loops.

Supported: OPTIONS, DESCRIBE, SETUP (RTP/AVP/TCP interleaved, RTP/AVP UDP
unicast), PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN; Basic and
Digest (RFC 2617, with and without qop=auth) authentication; RTCP sender
reports every few seconds; per-camera fault injection (`SimServer.fault`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import re
import secrets
import socket
import struct
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from nvr.sim.faults import CameraFaults
from nvr.sim.media import EncodedClip, MediaParams, encode_clip
from nvr.sim.packetize import DEFAULT_MTU, ClipPackets, FramePackets, make_sdp, pack_frame

log = logging.getLogger(__name__)

SESSION_TIMEOUT = 60
MAX_REQUEST = 64 * 1024
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"
NTP_EPOCH_OFFSET = 2208988800
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
class SimCamera:
    """One simulated camera, served at rtsp://host:port/<name>."""

    name: str
    codec: str = "h264"  # "h264" or "h265"
    width: int = 1280
    height: int = 720
    fps: int = 25
    bitrate_kbps: int = 4000
    audio: bool = False
    user: str | None = None
    password: str | None = None
    auth: str = "digest"  # "basic", "digest" or "both"
    audio_rate: int = 48000
    # First RTP timestamp of every track of every session (None: random, like a camera).
    # Near 2**32 it makes the timestamps wrap soon after PLAY.
    ts_start: int | None = None
    bframes: int = 0  # H.264 only

    def media_params(self) -> MediaParams:
        return MediaParams(
            codec=self.codec,
            width=self.width,
            height=self.height,
            fps=self.fps,
            bitrate_kbps=self.bitrate_kbps,
            audio=self.audio,
            audio_rate=self.audio_rate,
            bframes=self.bframes,
        )


_packets_cache: dict[tuple[int, int], ClipPackets] = {}


def _clip_packets(clip: EncodedClip, mtu: int) -> ClipPackets:
    key = (id(clip), mtu)  # clips live in the media cache for the process lifetime
    packets = _packets_cache.get(key)
    if packets is None:
        packets = _packets_cache[key] = ClipPackets.build(clip, mtu)
    return packets


# --- authentication ------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


def parse_auth_params(text: str) -> dict[str, str]:
    return {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(text)}


def digest_response(
    user: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The RFC 2617 Digest `response` value (MD5), with or without qop."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


# --- per-camera state ------------------------------------------------------------


class _Camera:
    def __init__(self, camera: SimCamera) -> None:
        self.camera = camera
        self.clip: EncodedClip | None = None
        self.packets: ClipPackets | None = None
        self.connections: set[_RtspConnection] = set()
        self.faults = CameraFaults(self._disconnect_all, self._set_password)

    def _disconnect_all(self) -> None:
        for conn in list(self.connections):
            conn.close()

    def _set_password(self, password: str | None) -> None:
        self.camera.password = password


# --- sessions -----------------------------------------------------------------------


@dataclass
class _Track:
    track_id: int
    clock: int
    channel: int = -1  # interleaved RTP channel (TCP), -1 for UDP
    udp_rtp: tuple[str, int] | None = None
    udp_rtcp: tuple[str, int] | None = None
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    ts0: int = field(default_factory=lambda: random.getrandbits(32))
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    packets: int = 0
    octets: int = 0


class _Session:
    def __init__(self, server: SimServer, cam: _Camera, conn: _RtspConnection) -> None:
        self.id = secrets.token_hex(8)
        self.server = server
        self.cam = cam
        self.conn = conn
        self.tracks: dict[int, _Track] = {}
        self.task: asyncio.Task[None] | None = None
        self.dropped_frames = 0
        self.expired = False
        self._ssrc_epoch = cam.faults.ssrc_epoch

    def play(self) -> None:
        if self.task is None:
            self.task = self.server._spawn(self._run(), f"sim {self.cam.camera.name} {self.id}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        assert self.cam.packets is not None and self.cam.clip is not None
        loop = asyncio.get_running_loop()
        clip, packets, faults = self.cam.clip, self.cam.packets, self.cam.faults
        video = self.tracks.get(0)
        audio = self.tracks.get(1) if packets.audio else None
        fps, rate = clip.fps, clip.audio_rate
        inf = float("inf")
        start = loop.time()
        vn = an = 0
        v_need_key = False
        n_video, shift = len(packets.video), 0
        keyframes = [i for i, f in enumerate(packets.video) if f.keyframe]
        next_sr = start
        sr_interval = self.server.rtcp_interval
        timeout = self.server.session_timeout
        while True:
            if time.monotonic() - self.conn.last_request > timeout:
                log.info("sim %s: session timed out (no keepalive)", self.cam.camera.name)
                self.expired = True
                self.conn.close()
                return
            tv = start + vn / fps if video else inf
            ta = start + an * 1024 / rate if audio else inf
            t = min(tv, ta, next_sr)
            now = loop.time()
            if t > now + 0.002:
                await asyncio.sleep(t - now)
                continue
            stalled = faults.stalled()
            if faults.ssrc_epoch != self._ssrc_epoch:
                self._ssrc_epoch = faults.ssrc_epoch
                for tr in self.tracks.values():
                    tr.ssrc = random.getrandbits(32)
            if t == tv:
                assert video is not None
                index = (vn + shift) % n_video
                sent = vn
                vn += 1
                if stalled or self._congested():
                    v_need_key = True
                    self.dropped_frames += 1
                    continue
                if v_need_key and not packets.video[index].keyframe:
                    # Like a camera forcing an IDR: jump the loop to its next keyframe.
                    key = next((k for k in keyframes if k > index), keyframes[0])
                    shift += (key - index) % n_video
                    index = key
                v_need_key = False
                # presentation time: decode position plus the frame's B-frame reordering
                shown = sent + clip.frames[index].reorder
                ts = (video.ts0 + shown * 90000 // fps + faults.ts_offset) & 0xFFFFFFFF
                self._send(video, packets.video[index], ts)
            elif t == ta:
                assert audio is not None
                frame = packets.audio[an % len(packets.audio)]
                ts = (audio.ts0 + an * 1024 + faults.ts_offset) & 0xFFFFFFFF
                an += 1
                if stalled or self._congested():
                    continue
                self._send(audio, frame, ts)
            else:
                next_sr = t + sr_interval
                if not stalled:
                    elapsed = loop.time() - start
                    for tr in self.tracks.values():
                        rtp_ts = tr.ts0 + int(elapsed * tr.clock) + faults.ts_offset
                        self._send_sr(tr, rtp_ts)

    def _congested(self) -> bool:
        return self.conn.write_buffer_size() > self.server.max_write_buffer

    def _send(self, track: _Track, frame: FramePackets, ts: int) -> None:
        buf, track.seq = pack_frame(frame, track.channel & 0xFF, track.seq, ts, track.ssrc)
        track.packets += len(frame.packets)
        track.octets += frame.payload_bytes
        if track.udp_rtp is None:
            self.conn.write(buf)
            return
        udp = self.server._udp_rtp
        if udp is None:
            return
        loss = self.cam.faults.loss
        view = memoryview(buf)
        for off, length, _ in frame.packets:
            if loss and random.random() < loss:
                continue
            udp.sendto(view[off + 4 : off + 4 + length], track.udp_rtp)

    def _send_sr(self, track: _Track, rtp_ts: int) -> None:
        now = time.time()
        secs = int(now)
        frac = int((now - secs) * (1 << 32)) & 0xFFFFFFFF
        sr = struct.pack(
            "!BBHIIIIII",
            0x80,
            200,
            6,
            track.ssrc,
            (secs + NTP_EPOCH_OFFSET) & 0xFFFFFFFF,
            frac,
            rtp_ts & 0xFFFFFFFF,
            track.packets & 0xFFFFFFFF,
            track.octets & 0xFFFFFFFF,
        )
        cname = b"nvr-sim"
        chunk = struct.pack("!IBB", track.ssrc, 1, len(cname)) + cname
        chunk += bytes(4 - len(chunk) % 4)  # end item + padding to 32 bits
        sdes = struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk
        packet = sr + sdes
        if track.udp_rtcp is None:
            self.conn.write(
                struct.pack("!BBH", 0x24, (track.channel + 1) & 0xFF, len(packet)) + packet
            )
        elif self.server._udp_rtcp is not None:
            self.server._udp_rtcp.sendto(packet, track.udp_rtcp)


# --- RTSP connection -------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


class _RtspConnection(asyncio.Protocol):
    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.session: _Session | None = None
        self.cam: _Camera | None = None
        self.peer_host = "127.0.0.1"

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
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
        if self.transport is not None and not self.transport.is_closing():
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
                self._reply(_Request("", "", headers, body), 400)
                continue
            self._handle(_Request(parts[0].upper(), parts[1], headers, body))

    def _reply(
        self,
        req: _Request,
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
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    # request handling

    def _handle(self, req: _Request) -> None:
        self.last_request = time.monotonic()
        path = urlsplit(req.url).path if "://" in req.url else req.url
        segments = [s for s in path.split("/") if s]
        cam = self.server._cameras.get(segments[0]) if segments else None
        if cam is not None and cam.faults.refusing():
            self.close()
            return
        if req.method == "OPTIONS":
            self._reply(req, 200, [("Public", PUBLIC)])
            return
        if cam is None:
            self._reply(req, 404)
            return
        if self.cam is None:
            self.cam = cam
            cam.connections.add(self)
        if not self._authorized(req, cam):
            realm = self.server.realm
            nonce = self.server._new_nonce()
            challenge = []
            if cam.camera.auth in ("digest", "both"):
                challenge.append(
                    ("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce}", qop="auth"')
                )
            if cam.camera.auth in ("basic", "both"):
                challenge.append(("WWW-Authenticate", f'Basic realm="{realm}"'))
            self._reply(req, 401, challenge)
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

    def _authorized(self, req: _Request, cam: _Camera) -> bool:
        user, password = cam.camera.user, cam.camera.password
        if password is None:
            return True
        user = user or ""
        header = req.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and cam.camera.auth in ("basic", "both"):
            try:
                decoded = base64.b64decode(rest.strip()).decode()
            except ValueError:
                return False
            return secrets.compare_digest(decoded, f"{user}:{password}")
        if scheme == "digest" and cam.camera.auth in ("digest", "both"):
            p = parse_auth_params(rest)
            if p.get("username") != user or p.get("realm") != self.server.realm:
                return False
            if p.get("nonce") not in self.server._nonces:
                return False
            expected = digest_response(
                user,
                self.server.realm,
                password,
                req.method,
                p.get("uri", ""),
                p.get("nonce", ""),
                p.get("qop"),
                p.get("nc", ""),
                p.get("cnonce", ""),
            )
            return secrets.compare_digest(expected, p.get("response", "").lower())
        return False

    def _base_url(self, req: _Request, cam: _Camera) -> str:
        url = req.url.rstrip("/")
        return url + "/"

    def _on_describe(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        assert cam.clip is not None
        sdp = make_sdp(
            cam.clip,
            host=self.server.host,
            session_id=random.getrandbits(31),
            name=cam.camera.name,
            audio=cam.camera.audio,
        )
        headers = [("Content-Base", self._base_url(req, cam)), ("Content-Type", "application/sdp")]
        self._reply(req, 200, headers, sdp.encode())

    def _on_setup(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        assert cam.packets is not None
        track_id = 0
        for seg in rest:
            if seg.lower().startswith("trackid="):
                try:
                    track_id = int(seg.split("=", 1)[1])
                except ValueError:
                    track_id = -1
        if track_id not in (0, 1) or (track_id == 1 and not cam.packets.audio):
            self._reply(req, 404)
            return
        if self.session is None:
            self.session = _Session(self.server, cam, self)
        elif self.session.task is not None:
            self._reply(req, 455)
            return
        clock = 90000 if track_id == 0 else cam.camera.audio_rate
        track = _Track(track_id, clock)
        if cam.camera.ts_start is not None:
            track.ts0 = cam.camera.ts_start & 0xFFFFFFFF
        reply = None
        for spec in req.headers.get("transport", "").split(","):
            fields = [f.strip() for f in spec.split(";") if f.strip()]
            if not fields or "multicast" in fields:
                continue
            proto = fields[0].upper()
            params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
            if proto == "RTP/AVP/TCP":
                channels = params.get("interleaved", f"{2 * track_id}-{2 * track_id + 1}")
                track.channel = int(channels.split("-")[0])
                reply = (
                    f"RTP/AVP/TCP;unicast;interleaved={track.channel}-{track.channel + 1};"
                    f"ssrc={track.ssrc:08X}"
                )
                break
            if proto in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in params:
                if self.server._udp_rtp is None:
                    continue
                ports = params["client_port"].split("-")
                rtp_port = int(ports[0])
                rtcp_port = int(ports[1]) if len(ports) > 1 else rtp_port + 1
                track.udp_rtp = (self.peer_host, rtp_port)
                track.udp_rtcp = (self.peer_host, rtcp_port)
                sp = self.server.udp_port
                reply = (
                    f"RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port};"
                    f"server_port={sp}-{sp + 1};ssrc={track.ssrc:08X}"
                )
                break
        if reply is None:
            self._reply(req, 461)
            return
        self.session.tracks[track_id] = track
        self._reply(req, 200, [("Transport", reply)])

    def _on_play(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        session = self.session
        if session is None or not session.tracks:
            self._reply(req, 455)
            return
        base = self._base_url(req, cam)
        if rest and rest[-1].lower().startswith("trackid="):
            base = base.rsplit("/", 2)[0] + "/"
        info = ",".join(
            f"url={base}trackID={t.track_id};seq={t.seq};rtptime={t.ts0}"
            for t in sorted(session.tracks.values(), key=lambda t: t.track_id)
        )
        self._reply(req, 200, [("Range", "npt=0.000-"), ("RTP-Info", info)])
        session.play()

    def _on_pause(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        if self.session is None:
            self._reply(req, 454)
            return
        self.session.stop()
        self._reply(req, 200)

    def _on_teardown(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        if self.session is not None:
            self.session.stop()
        self._reply(req, 200)
        self.session = None

    def _on_get_parameter(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        self._reply(req, 200)

    def _on_set_parameter(self, req: _Request, cam: _Camera, rest: list[str]) -> None:
        self._reply(req, 200)


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


# --- server ----------------------------------------------------------------------------


class SimServer:
    """RTSP server for many simulated cameras in one process.

    Usage: ``server = SimServer(cameras=[SimCamera("cam1")])``, ``await server.start()``,
    ``server.url("cam1")``, ``server.fault("cam1").stall(3)``, ``await server.stop()``.
    Constructor options: `mtu` (max RTP payload), `rtcp_interval` (seconds between
    sender reports), `max_write_buffer` (bytes queued per TCP client before frames
    are dropped until a keyframe), `realm`, `udp` (offer UDP transport), `sndbuf`.
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
        self._cameras: dict[str, _Camera] = {}
        for cam in cameras:
            if cam.name in self._cameras:
                raise ValueError(f"duplicate camera name {cam.name!r}")
            if cam.auth not in ("basic", "digest", "both"):
                raise ValueError(f"camera {cam.name}: auth must be basic, digest or both")
            self._cameras[cam.name] = _Camera(cam)
        self._server: asyncio.Server | None = None
        self._udp_rtp: asyncio.DatagramTransport | None = None
        self._udp_rtcp: asyncio.DatagramTransport | None = None
        self.udp_port = 0
        self._connections: set[_RtspConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._nonces: dict[str, float] = {}

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

    def fault(self, name: str) -> CameraFaults:
        """The fault-injection handle of camera `name` (see nvr.sim.faults)."""
        return self._cameras[name].faults

    async def start(self) -> None:
        """Encode the clips (once per distinct setting), then listen."""
        for cam in self._cameras.values():
            cam.clip = await asyncio.to_thread(encode_clip, cam.camera.media_params())
            cam.packets = _clip_packets(cam.clip, self.mtu)
        loop = asyncio.get_running_loop()
        if self._udp_enabled:
            rtp_sock, rtcp_sock = _bind_udp_pair(self.host or "0.0.0.0")
            self.udp_port = rtp_sock.getsockname()[1]
            self._udp_rtp, _ = await loop.create_datagram_endpoint(_UdpSink, sock=rtp_sock)
            self._udp_rtcp, _ = await loop.create_datagram_endpoint(_UdpSink, sock=rtcp_sock)
        self._server = await loop.create_server(
            lambda: _RtspConnection(self), self.host, self._port, reuse_address=True
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

    def _new_nonce(self) -> str:
        now = time.monotonic()
        if len(self._nonces) > 10000:
            self._nonces = {n: t for n, t in self._nonces.items() if now - t < 300}
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = now
        return nonce
