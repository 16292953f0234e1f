"""An RTSP session with a camera: video and (optionally) audio on one connection.

aiortsp's ``RTSPMediaSession`` sets up a single track; cameras need video and
audio SETUP on the same session (the second SETUP carries the Session header of
the first). This module does OPTIONS, DESCRIBE, SETUP per track, PLAY,
keepalive (GET_PARAMETER, else OPTIONS, well inside the session timeout),
RTCP receiver reports and TEARDOWN, over TCP interleaved or UDP, on top of
:class:`~nvr.rtsp.connection.CameraConnection`.

The tracks chosen from the SDP are announced to ``on_tracks(tracks)`` before
any SETUP, so the owner's receivers exist when the first RTP arrives: cameras
send it right behind the PLAY reply, often in the same TCP segment. It answers
with one sink per track (``sink(data)`` takes one RTP packet as bytes; None
drops the track's packets), which is registered on the channel or socket as it
is: no call in between on the per-packet path. An RTCP BYE from
the camera resolves :attr:`bye`: the stream ends now, not at the stall timeout.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aiortsp.rtcp.parser import RTCP, SR, ts_to_ntp
from aiortsp.rtsp.errors import RTSPConnectionError, RTSPError, RTSPResponseError, RTSPTimeoutError

from nvr.rtsp.connection import CameraConnection, OversizedMessage
from nvr.rtsp.sdp import Track, control_url, parse_tracks

RtpSink = Callable[[bytes], None]
TracksHandler = Callable[[list[Track]], list[RtpSink | None]]

RTCP_BYE = 203


class CameraError(Exception):
    """A camera problem worth one clear line in the status (no credentials in it)."""


class AuthFailed(CameraError):
    """The camera refused our credentials (or asked for some and we have none)."""


class Unsupported(CameraError):
    """The camera offers nothing we can record."""


class TransportRefused(CameraError):
    """The camera refused the RTP transport we asked for (461)."""


@dataclass
class SetupTrack:
    index: int
    track: Track
    rtp_channel: int = -1
    rtcp_channel: int = -1
    ssrc: int | None = None
    highest_seq: int = 0
    last_sr: int = 0  # middle 32 bits of the last SR's NTP time
    last_sr_at: float = 0.0


def split_url(url: str) -> tuple[str, int, str | None, str | None, str, bool]:
    """(host, port, user, password, url without credentials, tls) of an rtsp(s) URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "rtsps"
    port = parts.port or (322 if tls else 554)
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    netloc = host if ":" not in host else f"[{host}]"
    if parts.port:
        netloc += f":{parts.port}"
    clean = parts._replace(netloc=netloc).geturl()
    return host, port, user, password, clean, tls


class _UdpReceiver(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes], None]) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.handler(data)


class RtspSession:
    """Open with :meth:`start`, watch :attr:`closed`, end with :meth:`stop`."""

    def __init__(self, url: str, *, transport: str, want_audio: bool, on_tracks: TracksHandler,
                 logger: logging.Logger | logging.LoggerAdapter, timeout: float = 10) -> None:
        self.host, self.port, user, password, self.url, self.tls = split_url(url)
        self.transport = transport  # "tcp" | "udp"
        self.want_audio = want_audio
        self.on_tracks = on_tracks
        self.sinks: list[RtpSink | None] = []
        self.bye: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.log = logger
        self.conn = CameraConnection(self.host, self.port, user, password, logger, timeout)
        self._has_credentials = user is not None
        self.tracks: list[SetupTrack] = []
        self.session_id: str | None = None
        self.session_timeout = 60.0
        self.options: set[str] = set()
        self._udp: list[asyncio.DatagramTransport] = []
        self._tasks: list[asyncio.Task[None]] = []
        # (ssrc, highest seq) of a track's RTP, for receiver reports; set by the owner
        self.rtp_state: Callable[[int], tuple[int | None, int]] | None = None

    # -- lifecycle --------------------------------------------------------------
    async def start(self) -> list[Track]:
        """Connect, DESCRIBE, SETUP the tracks we want and PLAY. Returns them, in index order."""
        if self.tls:
            import ssl

            self.conn.ssl = ssl.create_default_context()
        try:
            await self.conn.prepare()
            await self._options()
            tracks, base, session_control = await self._describe()
            self.sinks = self.on_tracks(tracks)
            for i, track in enumerate(tracks):
                setup = SetupTrack(index=i, track=track)
                self.tracks.append(setup)
                await self._setup(setup, control_url(base, session_control, track.control))
            await self._request("PLAY", control_url(base, session_control, ""),
                                {"Range": "npt=0.000-"})
        except RTSPResponseError as exc:
            status = exc.response.status if exc.response is not None else 0
            if status == 401:
                raise AuthFailed("authentication failed (wrong user or password)" if
                                 self._has_credentials else
                                 "camera requires a user and password") from None
            if status == 461:
                raise TransportRefused(_refused_message(self.transport)) from None
            reason = exc.response.status_msg if exc.response is not None else ""
            raise CameraError(f"camera answered {status} {reason}".strip()) from None
        except RTSPTimeoutError:
            raise CameraError("camera did not answer in time") from None
        except OversizedMessage as exc:
            raise CameraError(str(exc)) from None
        except RTSPConnectionError as exc:
            raise CameraError(f"cannot connect to {self.host}:{self.port}: "
                              f"{exc.__cause__ or exc}") from None
        except RTSPError as exc:
            raise CameraError(f"RTSP error: {str(exc).splitlines()[0]}") from None
        self._tasks.append(asyncio.create_task(self._keepalive_loop(), name="rtsp-keepalive"))
        self._tasks.append(asyncio.create_task(self._receiver_report_loop(), name="rtcp-rr"))
        return [t.track for t in self.tracks]

    @property
    def closed(self) -> asyncio.Future:
        """Resolves when the camera closes the control connection."""
        return self.conn.result

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        try:
            # gather, not a try/except per task: a cancel of *our* caller must propagate
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.conn.running and self.session_id:
                try:
                    await asyncio.wait_for(self._request("TEARDOWN", self.url), 2)
                except (RTSPError, TimeoutError, OSError):
                    pass
        finally:
            self.conn.close()
            for udp in self._udp:
                udp.close()
            self._udp.clear()

    # -- requests ---------------------------------------------------------------
    async def _request(self, method: str, url: str, headers: dict | None = None):  # noqa: ANN202
        headers = dict(headers or {})
        if self.session_id:
            headers["Session"] = self.session_id
        return await self.conn.send_request(method, url, headers)

    async def _options(self) -> None:
        resp = await self._request("OPTIONS", self.url)
        public = resp.headers.get("public", "")
        if isinstance(public, list):
            public = ",".join(public)
        self.options = {o.strip().upper() for o in public.split(",") if o.strip()}

    async def _describe(self) -> tuple[list[Track], str, str]:
        resp = await self._request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = resp.headers.get("content-base") or resp.headers.get("content-location") or self.url
        if isinstance(base, list):
            base = base[0]
        all_tracks, session_control = parse_tracks(resp.content)
        video = [t for t in all_tracks if t.kind == "video" and t.supported]
        if not video:
            offered = ", ".join(f"{t.kind}/{t.codec or '?'}" for t in all_tracks) or "none"
            raise Unsupported(f"no H.264/H.265 video track (offered: {offered})")
        chosen = [video[0]]
        if self.want_audio:
            audio = [t for t in all_tracks if t.kind == "audio" and t.supported]
            if audio:
                chosen.append(audio[0])
            else:
                self.log.info("audio requested but the camera offers no AAC track; video only")
        return chosen, base, session_control

    async def _setup(self, setup: SetupTrack, url: str) -> None:
        if self.transport == "udp":
            rtp_port = await self._open_udp(setup)
            transport = f"RTP/AVP;unicast;client_port={rtp_port}-{rtp_port + 1}"
        else:
            channel = 2 * setup.index
            transport = f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}"
        resp = await self._request("SETUP", url, {"Transport": transport})
        session = resp.headers.get("session")
        if not session:
            raise CameraError("SETUP reply without a Session header")
        if isinstance(session, list):
            session = session[0]
        sid, *params = session.split(";")
        self.session_id = sid.strip()
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.lower() == "timeout":
                try:
                    self.session_timeout = max(5.0, float(value))
                except ValueError:
                    pass
        reply = resp.headers.get("transport", "")
        if isinstance(reply, list):
            reply = reply[0]
        fields = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (f.partition("=") for f in reply.split(";"))
        )
        if self.transport == "tcp":
            # Some cameras answer other channels than the ones we asked for: use theirs.
            rtp_ch, rtcp_ch = 2 * setup.index, 2 * setup.index + 1
            if "interleaved" in fields:
                a, _, b = fields["interleaved"].partition("-")
                try:
                    rtp_ch = int(a)
                    rtcp_ch = int(b) if b else rtp_ch + 1
                except ValueError:
                    pass
            setup.rtp_channel, setup.rtcp_channel = rtp_ch, rtcp_ch
            self.conn.channel_handlers[rtp_ch] = self._sink(setup.index)
            self.conn.channel_handlers[rtcp_ch] = lambda data: self._on_rtcp(setup, data)
        elif "server_port" in fields and self._udp:
            a, _, b = fields["server_port"].partition("-")
            try:
                setup.rtp_channel, setup.rtcp_channel = int(a), int(b or int(a) + 1)
            except ValueError:
                pass

    async def _open_udp(self, setup: SetupTrack) -> int:
        loop = asyncio.get_running_loop()
        sink = self._sink(setup.index)
        for _ in range(20):
            port = random.randrange(20000, 60000, 2)
            try:
                rtp_t, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpReceiver(sink),
                    local_addr=("0.0.0.0", port))
            except OSError:
                continue
            try:
                rtcp_t, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpReceiver(lambda data: self._on_rtcp(setup, data)),
                    local_addr=("0.0.0.0", port + 1))
            except OSError:
                rtp_t.close()
                continue
            sock = rtp_t.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
                except OSError:
                    pass
            self._udp += [rtp_t, rtcp_t]
            return port
        raise CameraError("no free UDP port pair for RTP")

    def _sink(self, index: int) -> RtpSink:
        sink = self.sinks[index] if index < len(self.sinks) else None
        return sink if sink is not None else _drop

    # -- keepalive and RTCP -----------------------------------------------------
    async def _keepalive_loop(self) -> None:
        method = "GET_PARAMETER" if "GET_PARAMETER" in self.options else "OPTIONS"
        interval = max(1.0, min(self.session_timeout * 0.5, 30.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._request(method, self.url)
            except RTSPResponseError as exc:
                if method == "GET_PARAMETER":  # some cameras only accept OPTIONS
                    self.log.debug("GET_PARAMETER refused (%s), keepalive by OPTIONS",
                                   exc.response.status if exc.response else "?")
                    method = "OPTIONS"
            except (TimeoutError, RTSPError):
                self.log.debug("keepalive got no answer")

    def _on_rtcp(self, setup: SetupTrack, data: bytes) -> None:
        if RTCP_BYE in _rtcp_types(data) and not self.bye.done():
            self.bye.set_result(None)
            return
        try:
            report = RTCP.unpack(data)
        except Exception:  # noqa: BLE001 - a malformed report must not stop the stream
            return
        for packet in getattr(report, "packets", []):
            if isinstance(packet, SR):
                sec, frac = ts_to_ntp(packet.ntp)
                setup.last_sr = ((sec & 0xFFFF) << 16) | (frac >> 16)
                setup.last_sr_at = time.monotonic()

    async def _receiver_report_loop(self) -> None:
        own_ssrc = random.getrandbits(32)
        while True:
            await asyncio.sleep(5)
            for setup in self.tracks:
                if self.rtp_state is not None:
                    setup.ssrc, setup.highest_seq = self.rtp_state(setup.index)
                if setup.ssrc is None:
                    continue
                dlsr = int((time.monotonic() - setup.last_sr_at) * 65536) if setup.last_sr else 0
                block = struct.pack("!IIIIII", setup.ssrc, 0, setup.highest_seq, 0,
                                    setup.last_sr, dlsr & 0xFFFFFFFF)
                packet = struct.pack("!BBHI", 0x81, 201, 7, own_ssrc) + block
                self._send_rtcp(setup, packet)

    def _send_rtcp(self, setup: SetupTrack, packet: bytes) -> None:
        if setup.rtcp_channel < 0:
            return
        if self.transport == "tcp":
            self.conn.send_interleaved(setup.rtcp_channel, packet)
        else:
            i = 2 * setup.index + 1
            rtcp_t = self._udp[i] if len(self._udp) > i else None
            if rtcp_t is not None:
                rtcp_t.sendto(packet, (self.host, setup.rtcp_channel))


def _refused_message(transport: str) -> str:
    if transport == "udp":
        return ('camera refuses RTP over UDP (461 Unsupported Transport): '
                'set transport = "tcp" for this camera')
    return ('camera refuses RTP over TCP (461 Unsupported Transport): '
            'set transport = "udp" or "auto" for this camera')


def _rtcp_types(data: bytes) -> list[int]:
    """The packet types of a compound RTCP packet (RFC 3550 6.1), as far as it parses."""
    types = []
    pos, end = 0, len(data)
    while pos + 4 <= end:
        types.append(data[pos + 1])
        pos += 4 * (int.from_bytes(data[pos + 2:pos + 4], "big") + 1)
    return types


def _drop(data: bytes) -> None:
    """The sink of a track nobody receives."""
