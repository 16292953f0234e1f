"""The Pusher against nvr's own RTMP server core in-process (fast, no outside peer):
target URLs, a refusal shown without the stream key, the retry schedule, and a
network slower than the stream (frames skipped up to the next keyframe, counted,
the connection kept). The real second server (nginx-rtmp) is test_push_nginx.py.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fmp4.fmp4_media import encode_video

from nvr.feed import AccessUnit, Feed
from nvr.rtmp.events import ConnectRequested, MediaReceived, PublishRequested
from nvr.rtmp.flv_parse import Ingest
from nvr.rtmp.protocol import ServerConnection
from nvr.rtmp.push import Pusher, parse_target

KEY = "topsecretkey99"
T0 = 1_700_000_000.0


class Server:
    """A one-connection-at-a-time RTMP server from ServerConnection: ``publish`` decides
    each publish; ``stalled`` (set) stops reading from the pusher."""

    def __init__(self, publish: Callable[[ServerConnection, PublishRequested], None],
                 tls: ssl.SSLContext | None = None) -> None:
        self.publish = publish
        self.tls = tls
        self.media: list[MediaReceived] = []
        self.reading = asyncio.Event()
        self.reading.set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.reading.set()

    def url(self, key: str = KEY) -> str:
        scheme = "rtmps" if self.tls else "rtmp"
        return f"{scheme}://127.0.0.1:{self.port}/live/{key}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConnection()
        try:
            while True:
                await self.reading.wait()
                data = await reader.read(65536)
                if not data:
                    return
                events = conn.receive_data(data)
                while events:
                    decided = False
                    for event in events:
                        if isinstance(event, ConnectRequested):
                            conn.accept_connect()
                            decided = True
                        elif isinstance(event, PublishRequested):
                            self.publish(conn, event)
                            decided = True
                        elif isinstance(event, MediaReceived):
                            self.media.append(event)
                    events = conn.receive_data(b"") if decided else []
                writer.write(conn.data_to_send())
                if conn.closed:
                    return
        finally:
            writer.close()


def accept(conn: ServerConnection, event: PublishRequested) -> None:
    conn.accept_publish(event.stream_id)


@pytest.mark.parametrize(("url", "expected"), [
    ("rtmp://a.rtmp.youtube.com/live2/abcd-efgh", ("a.rtmp.youtube.com", 1935, False, "live2",
                                                   "abcd-efgh")),
    ("rtmps://live-api-s.facebook.com:443/rtmp/FB-1?s=2", ("live-api-s.facebook.com", 443, True,
                                                          "rtmp", "FB-1?s=2")),
    ("rtmps://ingest.example/app/inst/KEY", ("ingest.example", 443, True, "app", "inst/KEY")),
    ("rtmp://[::1]:1940/live/k", ("::1", 1940, False, "live", "k")),
])
def test_push_urls_split_into_server_application_and_key(url: str, expected: tuple) -> None:
    t = parse_target(url)
    assert (t.host, t.port, t.tls, t.app, t.stream_key) == expected
    assert expected[4] not in t.tc_url


def test_a_url_without_a_stream_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as info:
        parse_target("rtmp://host/onlyonesegmentkey")
    assert "onlyonesegmentkey" not in str(info.value)


def _video(frames: int, gop: int = 10, size: int = 0) -> list[AccessUnit]:
    params, encoded = encode_video("h264", frames=frames, bframes=0, gop=gop)
    out = []
    for i, f in enumerate(encoded):
        data = i.to_bytes(4, "big") + f.data + bytes(size)  # index first: what arrived
        out.append(AccessUnit(params, f.pts, f.dts, f.keyframe, T0 + f.pts / 90000, data))
    return out


async def _until(check: Callable[[], Any], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - polling state another task changes
            await asyncio.sleep(0.02)


async def test_a_refusal_shows_as_error_without_the_stream_key() -> None:
    def refuse(conn: ServerConnection, event: PublishRequested) -> None:
        conn.reject_publish(event.stream_id, "NetStream.Publish.BadName",
                            f"stream {event.stream_key} is not allowed here")

    async with Server(refuse) as server:
        feed = Feed("cam")
        feed.publish(_video(1)[0])
        pusher = Pusher(feed, server.url(), label="rtmp://127.0.0.1/live/***")
        task = asyncio.create_task(pusher.run())
        try:
            await _until(lambda: pusher.state.status == "error")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    error = pusher.state.last_error or ""
    assert "NetStream.Publish.BadName" in error and "***" in error and KEY not in error


class _Sleeps:
    """A clock that records the retry waits and stops the pusher after a few."""

    def __init__(self, count: int) -> None:
        self.waits: list[float] = []
        self.count = count

    def time(self) -> float:
        return T0

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) >= self.count:
            raise asyncio.CancelledError


@pytest.mark.parametrize(("rng", "factor"), [(0.5, 1.0), (0.0, 0.75), (1.0, 1.25)])
async def test_retries_wait_1_s_doubling_to_60_s_with_jitter(rng: float, factor: float) -> None:
    async with Server(accept) as server:
        url = server.url()
    clock = _Sleeps(8)  # the server is gone: every connection is refused
    feed = Feed("cam")
    feed.publish(_video(1)[0])
    pusher = Pusher(feed, url, clock=clock, rng=lambda: rng)
    with pytest.raises(asyncio.CancelledError):
        await pusher.run()
    assert clock.waits == pytest.approx([w * factor for w in (1, 2, 4, 8, 16, 32, 60, 60)])
    assert pusher.state.status == "retrying" and pusher.state.reconnects == 7
    assert pusher.state.last_error and KEY not in pusher.state.last_error


async def test_a_network_slower_than_the_stream_skips_to_the_next_keyframe() -> None:
    async with Server(accept) as server:
        feed = Feed("cam")
        pusher = Pusher(feed, server.url(), queue_frames=20)
        task = asyncio.create_task(pusher.run())
        try:
            video = _video(60, gop=10, size=100_000)
            feed.publish(video[0])
            await _until(lambda: pusher.state.status == "pushing" and server.media)
            server.reading.clear()  # the network stops taking bytes
            for _ in range(6):  # 36 MB: more than the socket buffers and the queue hold
                for au in video:
                    feed.publish(au)
                    await asyncio.sleep(0)
            assert pusher.state.status == "pushing"
            server.reading.set()
            for au in video[:11]:
                feed.publish(au)
            await _until(lambda: len(server.media) > 2 and _index(server.media[-1]) == 10)
            assert pusher.state.skipped > 0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    frames = [m for m in server.media if m.kind == "video" and m.payload[1] == 1]
    indices = [_index(m) for m in frames]
    gaps = 0
    for before, after, message in zip(indices, indices[1:], frames[1:], strict=False):
        if after != (before + 1) % 60:  # a gap: what follows it is a keyframe
            gaps += 1
            assert message.payload[0] >> 4 == 1 and after % 10 == 0, (before, after)
    assert gaps > 0
    assert pusher.state.reconnects == 0


def _index(message: MediaReceived) -> int:
    return int.from_bytes(message.payload[5:9], "big") if message.payload[1] == 1 else -1


async def test_h265_goes_out_as_enhanced_rtmp_that_parses_back_to_the_same_frames() -> None:
    """Debian's nginx-rtmp 1.2.2 does not relay Enhanced RTMP video (tried: a player
    attached before the push, rtmpdump, got onMetaData only, where the same push of
    H.264 came through), so the H.265 push is checked against nvr's own parser: the
    hvc1 sequence start and every frame come back as sent."""
    async with Server(accept) as server:
        params, encoded = encode_video("h265", frames=20, bframes=0, gop=10)
        aus = [AccessUnit(params, f.pts, f.dts, f.keyframe, T0 + f.pts / 90000, f.data)
               for f in encoded]
        feed = Feed("cam")
        pusher = Pusher(feed, server.url())
        task = asyncio.create_task(pusher.run())
        try:
            feed.publish(aus[0])
            await _until(lambda: pusher.state.status == "pushing")
            for au in aus[1:]:
                feed.publish(au)
            await _until(lambda: sum(m.kind == "video" for m in server.media) >= 21)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    meta = next(m.metadata for m in server.media if m.kind == "data")
    assert meta is not None and meta["videocodecid"] == int.from_bytes(b"hvc1", "big")
    assert (meta["width"], meta["height"]) == (params.width, params.height)
    ingest = Ingest(T0)
    video = [m for m in server.media if m.kind == "video"]
    assert video[0].payload[0] & 0x80 and video[0].payload[1:5] == b"hvc1"
    got = [au for m in video if (au := ingest.video(m.timestamp, m.payload)) is not None]
    assert [au.data for au in got] == [au.data for au in aus]
    assert [au.keyframe for au in got] == [au.keyframe for au in aus]
    assert ingest.video_params is not None and ingest.video_params.codec == "h265"
    assert ingest.video_params.sps == params.sps


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


async def test_rtmps_pushes_over_tls_and_checks_the_certificate(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with Server(accept, tls=server_tls) as server:
        feed = Feed("cam")
        feed.publish(_video(1)[0])
        trusting = Pusher(feed, server.url(), ssl_context=ssl.create_default_context(
            cafile=str(cert)))
        default = Pusher(feed, server.url())  # the system's CAs: a self-signed cert fails
        tasks = [asyncio.create_task(p.run()) for p in (trusting, default)]
        try:
            await _until(lambda: trusting.state.status == "pushing" and any(
                m.kind == "video" for m in server.media))
            await _until(lambda: default.state.status == "retrying")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert "certificate" in (default.state.last_error or "").lower()
    assert KEY not in (default.state.last_error or "")


async def test_no_connection_before_the_camera_has_a_picture() -> None:
    """A platform drops a publisher that sends nothing: wait for the first keyframe."""
    connections: list[int] = []

    def count(conn: ServerConnection, event: PublishRequested) -> None:
        connections.append(event.stream_id)
        conn.accept_publish(event.stream_id)

    async with Server(count) as server:
        feed = Feed("cam")
        pusher = Pusher(feed, server.url())
        task = asyncio.create_task(pusher.run())
        try:
            await asyncio.sleep(0.3)
            assert connections == [] and pusher.state.status == "connecting"
            feed.publish(_video(1)[0])
            await _until(lambda: pusher.state.status == "pushing" and server.media)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert len(connections) == 1
