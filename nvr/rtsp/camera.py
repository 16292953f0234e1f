"""Keep one camera's RTSP session running and its frames flowing onto a Feed.

States (``state.status``, see :mod:`nvr.source`): ``connecting`` (first try),
``online`` (video frames are flowing), ``offline`` (the last try failed or the
stream stopped; retrying), ``auth_failed`` (the camera refused the credentials;
retrying slowly, since cameras lock accounts out after repeated failures),
``error`` (the camera sends packets but nothing of them is valid video, or
something failed unexpectedly). A failed state stays until frames flow again.

Reconnect policy: 1 s, 2 s, 4 s, then every 5 s (each with up to 20 % jitter
below the value, so a rebooted camera is back within 5 s however long it was
away); 30 s between tries after an authentication failure. A session that got
no RTP for ``stall_seconds`` is dropped and reopened; an RTCP BYE ends it at once.

Logging: the first failure is a warning; the same failure again is only
repeated as a reminder every few minutes while the camera stays down.

Transport "auto" tries UDP first and falls back to TCP (and stays on TCP) when
the camera refuses UDP or no packet arrives over it.
"""

from __future__ import annotations

import asyncio
import logging
import random

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.feed import Feed
from nvr.rtsp.sdp import Track
from nvr.rtsp.session import AuthFailed, CameraError, RtpSink, RtspSession, TransportRefused
from nvr.rtsp.stream import TrackReceiver, make_receiver
from nvr.source import SourceState, Status

BACKOFF_START = 1.0
BACKOFF_CAP = 5.0
AUTH_RETRY = 30.0
REMIND_EVERY = 300.0


class _Stalled(CameraError):
    pass


class _NoValidVideo(CameraError):
    pass


class CameraClient:
    """Owns the connect/reconnect loop of one camera. Run :meth:`run` as a task."""

    def __init__(self, name: str, url: str, feed: Feed, *, transport: str = "tcp",
                 audio: bool = False, stall_seconds: float = 5.0,
                 first_data_seconds: float = 10.0, connect_timeout: float = 10.0,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.name = name
        self.url = url
        self.feed = feed
        self.transport = transport
        self.audio = audio
        self.stall_seconds = stall_seconds
        self.first_data_seconds = first_data_seconds
        self.connect_timeout = connect_timeout
        self.clock = clock
        self.state = SourceState()
        self.log = logging.LoggerAdapter(logging.getLogger("nvr.camera"), {"camera": name})
        self._udp_failed = False
        self._reported: str | None = None
        self._reported_at = 0.0
        self._failures_since_report = 0
        self._note: str | None = None  # a lasting remark shown as last_error while online
        self._corrupt_before = 0  # corrupt frames of earlier sessions

    async def run(self) -> None:
        failures = 0
        while True:
            self.state.attempts += 1
            started = self.clock.monotonic()
            try:
                await self._session_once()
            except AuthFailed as exc:
                self._fail("auth_failed", str(exc))
                await self.clock.sleep(AUTH_RETRY)
                continue
            except _NoValidVideo as exc:
                self._fail("error", str(exc))
            except CameraError as exc:
                self._fail("offline", str(exc))
            except OSError as exc:
                self._fail("offline", exc.strerror or str(exc))
            failures = 0 if self.clock.monotonic() - started > 30 else failures + 1
            delay = min(BACKOFF_CAP, BACKOFF_START * 2 ** max(0, failures - 1))
            delay *= random.uniform(0.8, 1.0)
            await self.clock.sleep(delay)

    def fail_unexpectedly(self, exc: BaseException) -> None:
        """The supervisor's report of a bug in this camera's task (it restarts the task)."""
        text = str(exc).splitlines()[0] if str(exc) else ""
        self.state.fail("error", f"camera {self.name}: internal error "
                                 f"({type(exc).__name__}{': ' + text if text else ''}); "
                                 "restarting")

    def _fail(self, status: Status, reason: str) -> None:
        message = f"camera {self.name}: {reason}"
        self.state.fail(status, message)
        now = self.clock.monotonic()
        self._failures_since_report += 1
        if message != self._reported:
            extra = f"; next try in {AUTH_RETRY:.0f} s" if status == "auth_failed" else ""
            self.log.warning("%s%s", message, extra)
        elif now - self._reported_at >= REMIND_EVERY:
            self.log.warning("%s (still, %d tries since the last report)", message,
                             self._failures_since_report)
        else:
            self.log.debug("%s", message)
            return
        self._reported, self._reported_at = message, now
        self._failures_since_report = 0

    def _online(self) -> None:
        self.state.status = "online"
        self.state.last_error = self._note
        if self._reported is not None:
            self.log.info("camera %s: online again", self.name)
        else:
            self.log.info("camera %s: online", self.name)
        self._reported = None

    def _transport_now(self) -> str:
        if self.transport == "auto":
            return "tcp" if self._udp_failed else "udp"
        return self.transport

    def _make_receivers(self, tracks: list[Track], receivers: list[TrackReceiver | None]
                        ) -> list[RtpSink | None]:
        """Called before SETUP: receivers must exist when the first RTP arrives. Returns
        each track's packet sink."""
        self._note = None
        for track in tracks:
            try:
                receivers.append(make_receiver(track, self.feed.publish))
            except ValueError as exc:
                if track.kind == "video":
                    raise _NoValidVideo(f"malformed SDP: {exc}") from None
                self._note = f"camera {self.name}: audio ignored, malformed SDP: {exc}"
                self.log.warning("%s", self._note)
                receivers.append(None)
        audio = receivers[1] if len(receivers) > 1 else None
        self.feed.begin(audio.params if audio is not None else None)
        return [r.on_rtp if r is not None else None for r in receivers]

    async def _session_once(self) -> None:
        transport = self._transport_now()
        receivers: list[TrackReceiver | None] = []

        def rtp_state(index: int) -> tuple[int | None, int]:
            receiver = receivers[index] if index < len(receivers) else None
            return (receiver.last_ssrc, receiver.last_seq) if receiver else (None, 0)

        session = RtspSession(self.url, transport=transport, want_audio=self.audio,
                              on_tracks=lambda t: self._make_receivers(t, receivers),
                              logger=self.log)
        session.rtp_state = rtp_state
        try:
            try:
                tracks = await asyncio.wait_for(session.start(), self.connect_timeout)
            except TimeoutError:
                raise CameraError("camera did not complete the RTSP setup in time") from None
            except TransportRefused:
                if self.transport == "auto" and transport == "udp":
                    self._udp_failed = True
                raise
            video = receivers[0]
            assert video is not None
            self.state.codec = tracks[0].codec
            self.state.audio_codec = (tracks[1].codec if len(tracks) > 1 and receivers[1]
                                      else None)
            self.log.info("camera %s: playing %s over %s", self.name,
                          "+".join(t.codec for t in tracks), transport)
            try:
                await self._watch(session, video, [r for r in receivers if r is not None])
            except _Stalled:
                if transport == "udp" and self.transport == "auto" and not video.packets:
                    self._udp_failed = True
                raise
        finally:
            self._corrupt_before += sum(r.corrupt for r in receivers if r is not None)
            self.state.corrupt = self.feed.stats.corrupt = self._corrupt_before
            await session.stop()

    async def _watch(self, session: RtspSession, video: TrackReceiver,
                     receivers: list[TrackReceiver]) -> None:
        """Return or raise when the session ends; update the live figures every second."""
        clock = self.clock
        last_packets = last_frames = 0
        last_change = opened = rate_t = clock.monotonic()
        rate_bytes = rate_frames = 0
        ends = [session.closed, session.bye]
        while True:
            tick = asyncio.ensure_future(clock.sleep(1.0))
            try:
                await asyncio.wait([tick, *ends], return_when=asyncio.FIRST_COMPLETED)
            finally:
                tick.cancel()
            if session.bye.done():
                raise CameraError("camera ended the stream (RTCP BYE)")
            closed = session.closed
            if closed.done():
                exc = closed.exception() if not closed.cancelled() else None
                raise CameraError(f"connection closed by camera{f' ({exc})' if exc else ''}")
            now = clock.monotonic()
            self.state.lost_packets = sum(r.lost for r in receivers)
            self.state.corrupt = self._corrupt_before + sum(r.corrupt for r in receivers)
            self.feed.stats.corrupt = self.state.corrupt
            if video.frames != last_frames:
                if self.state.status != "online":
                    self.state.sessions += 1
                    span = max(now - rate_t, 1e-3)
                    self.state.fps = round((video.frames - rate_frames) / span, 1)
                    self._online()
                last_change = now
            elif video.packets != last_packets:
                if now - last_change > self.stall_seconds or (
                        not video.frames and now - opened > self.first_data_seconds):
                    raise _NoValidVideo(self._no_valid_video(video))
            elif video.packets == 0 and now - opened > self.first_data_seconds:
                raise _Stalled(f"no video received within {self.first_data_seconds:.0f} s")
            elif video.packets and now - last_change > self.stall_seconds:
                raise _Stalled(f"camera stopped sending (no data for {self.stall_seconds:.0f} s)")
            if now - rate_t >= 2.0:
                span = now - rate_t
                self.state.fps = round((video.frames - rate_frames) / span, 1)
                total = sum(r.bytes for r in receivers)
                self.state.bitrate_kbps = round((total - rate_bytes) * 8 / span / 1000, 1)
                rate_bytes, rate_frames, rate_t = total, video.frames, now
            last_packets, last_frames = video.packets, video.frames
            params = video.params
            if params is not None:
                self.state.width, self.state.height = params.width, params.height

    def _no_valid_video(self, video: TrackReceiver) -> str:
        if video.failure is not None:
            return f"camera sends video we cannot read ({video.failure})"
        if video.params is None:
            return ("camera sends RTP but no usable H.264/H.265 parameter sets (SPS/PPS); "
                    f"{video.corrupt} frames dropped")
        return f"camera sends RTP but no valid video frames ({video.corrupt} dropped as corrupt)"
