"""Push a Feed to another RTMP server (YouTube, Twitch, nginx-rtmp, ...): one target.

A :class:`Pusher` owns one outgoing connection at a time: TCP (or TLS for
``rtmps://``), :class:`~nvr.rtmp.client.ClientConnection` through ``connect`` and
``publish``, then the feed from its cached keyframe: ``onMetaData`` (only the
tracks it sends), the sequence headers, then every frame with timestamps of this
push's own :class:`~nvr.rtmp.flv.Timeline` (starting at 0). New sequence headers
go out whenever the camera's parameters change.

Slow networks: the queue between the feed and the socket is the feed
:class:`~nvr.feed.Subscription` (bounded); the pusher waits for the socket to
drain, so a network slower than the stream fills that queue, which then drops
frames up to the next keyframe (counted in ``state.skipped``) instead of
growing or stalling the camera.

A target connects only once the camera has a picture (a platform drops a publisher
that sends nothing). Failures: any error or a closed connection → ``retrying`` (``error`` when the
server refused the stream, e.g. a wrong key), wait 1 s doubling to 60 s with
±25 % jitter, and connect again; a push that ran for a minute starts again at
1 s. ``state.last_error`` never holds the stream key: the URL is shown as the
caller's ``label`` and the key is masked out of any text a server sends back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.feed import CodecParams, Feed, Subscription
from nvr.rtmp import flv
from nvr.rtmp.client import ClientConnection, PublishStarted, Refused
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.events import ConnectionFailed, Event

__all__ = ["PushState", "PushTarget", "Pusher", "parse_target"]

log = logging.getLogger(__name__)

PushStatus = Literal["connecting", "pushing", "retrying", "error", "stopped"]
BACKOFF_START, BACKOFF_CAP, JITTER = 1.0, 60.0, 0.25
STABLE_SECONDS = 60.0  # a push that lasted this long retries from BACKOFF_START again
CONNECT_TIMEOUT = 10.0
QUEUE_FRAMES = 300  # the send queue (feed subscription), in access units
VIDEO_POLL = 0.5  # seconds between looks for the camera's first keyframe
WRITE_BUFFER_HIGH = 1 << 20  # socket buffer above which the pusher waits for it to drain
_FOURCC_ID = int.from_bytes(b"hvc1", "big")  # Enhanced RTMP: videocodecid is the FourCC


class PushRefused(Exception):
    """The server refused the connection or the stream (``NetStream.Publish.BadName``...)."""


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where to push: host, port, TLS, the RTMP application, the stream key."""

    host: str
    port: int
    tls: bool
    app: str
    stream_key: str
    tc_url: str


def parse_target(url: str) -> PushTarget:
    """``rtmp[s]://host[:port]/app/KEY[?query]`` → :class:`PushTarget`; the application
    is the first path segment, the stream key everything after it (with the query, as
    ffmpeg sends it). ValueError without the URL (it holds the key)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("rtmp", "rtmps") or not parts.hostname:
        raise ValueError("not an rtmp:// or rtmps:// URL with a host")
    app, _, key = parts.path.strip("/").partition("/")
    if not app or not key:
        raise ValueError("the URL needs an application and a stream key: rtmp://host/app/KEY")
    tls = scheme == "rtmps"
    port = parts.port or (443 if tls else 1935)
    key = unquote(key) + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    return PushTarget(host, port, tls, app, key, f"{scheme}://{netloc}:{port}/{app}")


@dataclass
class PushState:
    """What the API shows of one push target (never the stream key)."""

    url: str  # redacted
    status: PushStatus = "connecting"
    last_error: str | None = None
    bytes_sent: int = 0
    reconnects: int = 0  # connections made after the first
    skipped: int = 0  # frames dropped: the network was slower (updated as frames go out)
    since: float = 0.0  # when ``status`` last changed (epoch seconds)


class Pusher:
    """Push ``feed`` to ``url`` until cancelled (see the module docstring).

    ``label`` is how the URL appears in state and logs (the caller redacts it);
    ``ssl_context`` overrides the default verifying context for ``rtmps://``.
    """

    def __init__(self, feed: Feed, url: str, *, label: str = "rtmp://***",
                 clock: Clock = SYSTEM_CLOCK, ssl_context: ssl.SSLContext | None = None,
                 rng: Callable[[], float] = random.random,
                 queue_frames: int = QUEUE_FRAMES) -> None:
        self.feed = feed
        self.target = parse_target(url)
        self.clock = clock
        self.state = PushState(url=label, since=clock.time())
        self._ssl = ssl_context
        self._rng = rng
        self._queue_frames = queue_frames
        self._connections = 0

    # --- the retry loop --------------------------------------------------------------

    async def run(self) -> None:
        """Connect, push, and on any failure wait and connect again, until cancelled or
        the feed ends."""
        failures = 0
        while not self.feed.closed:
            started = self.clock.monotonic()
            try:
                await self._session()
                self._set("stopped")
                return  # the feed ended
            except PushRefused as exc:
                self._fail("error", str(exc))
            except (OSError, EOFError, ProtocolError, TimeoutError) as exc:
                self._fail("retrying", _describe(exc))
            failures = 0 if self.clock.monotonic() - started > STABLE_SECONDS else failures + 1
            delay = min(BACKOFF_CAP, BACKOFF_START * 2 ** (failures - 1))
            delay *= 1 + JITTER * (2 * self._rng() - 1)
            await self.clock.sleep(delay)
        self._set("stopped")

    def _set(self, status: PushStatus) -> None:
        if status != self.state.status:
            self.state.status = status
            self.state.since = self.clock.time()

    def _fail(self, status: PushStatus, reason: str) -> None:
        reason = self._mask(reason)
        self.state.last_error = reason
        self._set(status)
        log.warning("push %s of %s: %s", self.state.url, self.feed.name, reason)

    def _mask(self, text: str) -> str:
        key = self.target.stream_key
        for secret in {key, key.partition("?")[0]}:
            if secret:
                text = text.replace(secret, "***")
        return text

    # --- one connection --------------------------------------------------------------

    async def _session(self) -> None:
        t = self.target
        self._set("connecting")
        while self.feed.video is None and not self.feed.closed:
            # no picture yet (camera offline): a platform drops a publisher that sends
            # nothing, so connect only once there is a keyframe to start from
            await self.clock.sleep(VIDEO_POLL)
        if self._connections:
            self.state.reconnects += 1
        self._connections += 1
        context: ssl.SSLContext | None = None
        if t.tls:
            context = self._ssl or ssl.create_default_context()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(t.host, t.port, ssl=context,
                                    server_hostname=t.host if context else None),
            CONNECT_TIMEOUT)
        try:
            writer.transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
            video = self.feed.video
            conn = ClientConnection(t.app, t.tc_url, t.stream_key, four_cc_list=(
                ["hvc1"] if video is not None and video.codec == "h265" else None))
            self._write(writer, conn)
            await asyncio.wait_for(self._until_publishing(reader, writer, conn),
                                   CONNECT_TIMEOUT)
            self._set("pushing")
            log.info("push %s of %s: publishing", self.state.url, self.feed.name)
            sub = self.feed.subscribe(self._queue_frames, start="keyframe")
            listen = asyncio.create_task(self._listen(reader, writer, conn))
            send = asyncio.create_task(self._send(sub, writer, conn))
            try:
                done, _ = await asyncio.wait([listen, send],
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (listen, send):
                    task.cancel()
                await asyncio.gather(listen, send, return_exceptions=True)
                sub.close()
            for task in done:
                if not task.cancelled():
                    task.result()  # raises the failure
            if not conn.closed:
                conn.unpublish()
                self._write(writer, conn)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (OSError, TimeoutError):
                pass

    def _write(self, writer: asyncio.StreamWriter, conn: ClientConnection) -> None:
        data = conn.data_to_send()
        if data:
            writer.write(data)
            self.state.bytes_sent += len(data)

    def _events(self, conn: ClientConnection, data: bytes) -> list[Event]:
        events = conn.receive_data(data)
        for event in events:
            if isinstance(event, Refused):
                raise PushRefused(f"refused by the server: {event.code} {event.description}"
                                  .strip())
            if isinstance(event, ConnectionFailed):
                raise ProtocolError(event.reason)
        return events

    async def _until_publishing(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter, conn: ClientConnection) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the server closed the connection before publishing started")
            events = self._events(conn, data)
            self._write(writer, conn)
            if any(isinstance(e, PublishStarted) for e in events):
                return

    async def _listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      conn: ClientConnection) -> None:
        """The server's side while pushing: acknowledgements, pings, a late refusal."""
        while True:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self._events(conn, data)
            self._write(writer, conn)

    async def _send(self, sub: Subscription, writer: asyncio.StreamWriter,
                    conn: ClientConnection) -> None:
        timeline = flv.Timeline()
        sent_video: CodecParams | None = None
        sent_audio: CodecParams | None = None
        skipped = self.state.skipped
        while True:
            au = await sub.get()
            self.state.skipped = skipped + sub.dropped
            if au is None:
                return  # the feed ended
            if au.kind == "video":
                if au.params is not sent_video:
                    if not au.keyframe:
                        continue  # start (or restart) at a keyframe
                    ts = timeline.timestamp(au)
                    self._headers(conn, au.params, ts)
                    sent_video = au.params
                else:
                    ts = timeline.timestamp(au)
                conn.send_media("video", ts, flv.video_tag(au))
            elif au.params.codec == "aac" and sent_video is not None:
                ts = timeline.timestamp(au)
                if au.params is not sent_audio:
                    conn.send_media("audio", ts, flv.audio_sequence_header(au.params))
                    sent_audio = au.params
                conn.send_media("audio", ts, flv.audio_tag(au))
            else:
                continue
            self._write(writer, conn)
            await writer.drain()

    def _headers(self, conn: ClientConnection, video: CodecParams, ts: int) -> None:
        """onMetaData and the video sequence header (a new stream or new parameters)."""
        audio = self.feed.audio if self.feed.audio and self.feed.audio.codec == "aac" else None
        conn.send_metadata(_metadata(video, audio))
        conn.send_media("video", ts, flv.video_sequence_header(video))


def _metadata(video: CodecParams, audio: CodecParams | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "width": float(video.width), "height": float(video.height),
        "videocodecid": float(flv.CODEC_AVC if video.codec == "h264" else _FOURCC_ID),
        "encoder": "nvr"}
    if audio is not None:
        meta.update(audiocodecid=float(flv.SOUND_AAC), audiosamplerate=float(audio.sample_rate),
                    audiochannels=float(audio.channels), stereo=audio.channels > 1)
    return meta


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
