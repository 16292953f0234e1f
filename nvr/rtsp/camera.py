"""Keep one camera's RTSP session running and its frames flowing onto a Feed.

States (``CameraState.status``): ``connecting`` (first try, or reconnecting
after a session ended without error), ``online`` (frames arriving), ``offline``
(the last try failed; retrying), ``auth_failed`` (the camera refused the
credentials; retrying slowly, since cameras lock accounts out after repeated
failures). A failed state stays until a session succeeds.

Reconnect policy: 1 s, 2 s, 4 s, then every 5 s (each with up to 20 % jitter
below the value, so a rebooted camera is back within 5 s however long it was
away); 30 s between tries after an authentication failure. A session that got
no RTP for ``stall_seconds`` is dropped and reopened.

Transport "auto" tries UDP first and falls back to TCP (and stays on TCP) when
the camera refuses UDP or no packet arrives over it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from nvr.feed import Feed
from nvr.rtsp.session import AuthFailed, CameraError, RtspSession, TransportRefused
from nvr.rtsp.stream import TrackReceiver, make_receiver

BACKOFF_START = 1.0
BACKOFF_CAP = 5.0
AUTH_RETRY = 30.0


@dataclass
class CameraState:
    status: str = "connecting"
    last_error: str | None = None
    codec: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    bitrate_kbps: float = 0.0
    audio_codec: str | None = None
    attempts: int = 0  # connection attempts
    sessions: int = 0  # sessions that reached PLAY
    lost_packets: int = 0


class _Stalled(CameraError):
    pass


class CameraClient:
    """Owns the connect/reconnect loop of one camera. Run :meth:`run` as a task."""

    def __init__(self, name: str, url: str, feed: Feed, *, transport: str = "tcp",
                 audio: bool = False, stall_seconds: float = 5.0,
                 first_data_seconds: float = 10.0, connect_timeout: float = 10.0) -> None:
        self.name = name
        self.url = url
        self.feed = feed
        self.transport = transport
        self.audio = audio
        self.stall_seconds = stall_seconds
        self.first_data_seconds = first_data_seconds
        self.connect_timeout = connect_timeout
        self.state = CameraState()
        self.log = logging.LoggerAdapter(logging.getLogger("nvr.camera"), {"camera": name})
        self._udp_failed = False

    async def run(self) -> None:
        failures = 0
        while True:
            if self.state.status == "online":
                self.state.status = "connecting"
            self.state.attempts += 1
            started = time.monotonic()
            try:
                await self._session_once()
            except AuthFailed as exc:
                self.state.status = "auth_failed"
                self.state.last_error = f"camera {self.name}: {exc}"
                self.log.warning("camera %s: %s; next try in %.0f s", self.name, exc, AUTH_RETRY)
                await asyncio.sleep(AUTH_RETRY)
                continue
            except CameraError as exc:
                self.state.status = "offline"
                self.state.last_error = f"camera {self.name}: {exc}"
                self.log.warning("camera %s: %s", self.name, exc)
            except OSError as exc:
                self.state.status = "offline"
                self.state.last_error = f"camera {self.name}: {exc.strerror or exc}"
                self.log.warning("camera %s: %s", self.name, self.state.last_error)
            self.state.fps = self.state.bitrate_kbps = 0.0
            failures = 0 if time.monotonic() - started > 30 else failures + 1
            delay = min(BACKOFF_CAP, BACKOFF_START * 2 ** max(0, failures - 1))
            delay *= random.uniform(0.8, 1.0)
            await asyncio.sleep(delay)

    def _transport_now(self) -> str:
        if self.transport == "auto":
            return "tcp" if self._udp_failed else "udp"
        return self.transport

    async def _session_once(self) -> None:
        transport = self._transport_now()
        receivers: list[TrackReceiver] = []

        def on_rtp(index: int, data: bytes) -> None:
            if index < len(receivers):
                receivers[index].on_rtp(data)

        session = RtspSession(self.url, transport=transport, want_audio=self.audio,
                              on_rtp=on_rtp, logger=self.log)
        session.rtp_state = lambda i: (receivers[i].last_ssrc, receivers[i].last_seq)
        try:
            try:
                tracks = await asyncio.wait_for(session.start(), self.connect_timeout)
            except TimeoutError:
                raise CameraError("camera did not complete the RTSP setup in time") from None
            except TransportRefused:
                if self.transport == "auto":
                    self._udp_failed = True
                raise
            receivers.extend(make_receiver(t, self.feed.publish) for t in tracks)
            self.feed.audio = receivers[1].params if len(receivers) > 1 else None
            self.state.sessions += 1
            video = tracks[0]
            self.state.codec = video.codec
            self.state.audio_codec = tracks[1].codec if len(tracks) > 1 else None
            self.log.info("camera %s: playing %s over %s", self.name,
                          "+".join(t.codec for t in tracks), transport)
            try:
                await self._watch(session, receivers)
            except _Stalled:
                if transport == "udp" and self.transport == "auto" and not receivers[0].packets:
                    self._udp_failed = True
                raise
        finally:
            await session.stop()

    async def _watch(self, session: RtspSession, receivers: list[TrackReceiver]) -> None:
        """Return or raise when the session ends; update the live figures every second."""
        video = receivers[0]
        last_packets, last_bytes, last_frames = 0, 0, 0
        last_change = time.monotonic()
        opened = last_change
        rate_t = last_change
        closed = session.closed
        while True:
            done, _ = await asyncio.wait([closed], timeout=1.0)
            if done:
                exc = closed.exception() if not closed.cancelled() else None
                raise CameraError(f"connection closed by camera{f' ({exc})' if exc else ''}")
            now = time.monotonic()
            if video.packets != last_packets:
                if self.state.status != "online":
                    self.state.status = "online"
                    self.state.last_error = None
                    self.log.info("camera %s: online", self.name)
                last_change = now
            elif video.packets == 0 and now - opened > self.first_data_seconds:
                raise _Stalled(f"no video received within {self.first_data_seconds:.0f} s")
            elif video.packets and now - last_change > self.stall_seconds:
                raise _Stalled(f"camera stopped sending (no data for {self.stall_seconds:.0f} s)")
            if now - rate_t >= 2.0:
                span = now - rate_t
                self.state.fps = round((video.frames - last_frames) / span, 1)
                total = sum(r.bytes for r in receivers)
                self.state.bitrate_kbps = round((total - last_bytes) * 8 / span / 1000, 1)
                last_bytes, last_frames, rate_t = total, video.frames, now
            last_packets = video.packets
            params = video.params
            if params is not None:
                self.state.width, self.state.height = params.width, params.height
            self.state.lost_packets = sum(r.lost for r in receivers)
