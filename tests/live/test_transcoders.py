"""Transcoders on demand: one per source feed, shared by its viewers, stopped after the
last one leaves; the live view says the video was transcoded."""

from __future__ import annotations

import asyncio
import json

import pytest
from fmp4_media import FPS, decode_errors, encode_video, video_frames

from nvr.clock import ManualClock
from nvr.feed import AccessUnit, Feed
from nvr.live import LiveStream
from nvr.registry import FeedRegistry
from nvr.supervisor import Supervisor
from nvr.transcoders import IDLE_NOTE, Transcoders

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def h265():
    return encode_video("h265", frames=4 * FPS, gop=FPS, width=320, height=240)


class Viewer:
    """A LiveStream read in its own task, as the WebSocket route does."""

    def __init__(self, stream: LiveStream) -> None:
        self.messages: list[str | bytes] = []
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: LiveStream) -> None:
        async for message in stream.messages():
            self.messages.append(message)

    async def leave(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    @property
    def texts(self) -> list[dict[str, object]]:
        return [json.loads(m) for m in self.messages if isinstance(m, str)]

    @property
    def media(self) -> bytes:
        return b"".join(m for m in self.messages if isinstance(m, bytes))


async def settle(until, within: float = 10.0) -> None:
    """Let the worker thread and the tasks run (real time) until ``until()`` holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not until():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_one_shared_transcoder_runs_only_while_watched(h265, tmp_path):
    params, frames = h265
    clock = ManualClock()
    registry = FeedRegistry()
    upstream = registry.add(Feed("cam"))
    upstream.begin(None)
    supervisor = Supervisor(clock)
    transcoders = Transcoders(registry, supervisor.start, linger=10, clock=clock)
    transcoder = transcoders.open("cam")
    assert transcoder is not None and transcoders.open("cam") is transcoder
    assert registry.get("cam/h264") is transcoder.feed
    assert registry.source("cam/h264") is transcoder
    assert transcoders.open("cam/h264") is None and transcoders.open("nope") is None
    state = transcoder.state
    assert (state.status, state.last_error) == ("offline", IDLE_NOTE)
    assert upstream.subscribers == []  # nobody watches: nothing runs
    try:
        viewers = [Viewer(LiveStream(transcoder.feed, describe=transcoder.describe))
                   for _ in range(2)]
        await settle(lambda: len(upstream.subscribers) == 1)  # one transcoder for both
        for i, frame in enumerate(frames[: 2 * FPS]):
            upstream.publish(AccessUnit(params, frame.pts, frame.dts, frame.keyframe,
                                        T0 + i / FPS, frame.data))
            await asyncio.sleep(0.002)
        await settle(lambda: all(len(v.messages) >= 3 + 2 * FPS for v in viewers))
        assert transcoder.encoders == 1 and state.status == "online"
        for i, viewer in enumerate(viewers):
            mime, note = viewer.texts[:2]
            assert str(mime["mime"]).startswith('video/mp4; codecs="avc1.')
            assert note == {"transcoded": True, "from": "h265"}
            assert viewer.messages[:2] == [json.dumps(mime), json.dumps(note)]
            path = tmp_path / f"viewer{i}.mp4"
            path.write_bytes(viewer.media)
            assert decode_errors(path) == ""
            assert len(video_frames(path)) == 2 * FPS

        await viewers[0].leave()
        await clock.advance(30)
        assert len(upstream.subscribers) == 1  # one viewer still watches
        await viewers[1].leave()
        await clock.advance(9)
        assert len(upstream.subscribers) == 1  # lingering: a viewer may come back
        await clock.advance(2)
        await settle(lambda: state.last_error == IDLE_NOTE)  # once the worker is done
        assert state.status == "offline" and not upstream.subscribers

        again = Viewer(LiveStream(transcoder.feed, describe=transcoder.describe))
        await settle(lambda: len(upstream.subscribers) == 1)
        await again.leave()
    finally:
        await supervisor.stop(supervisor.names())
    assert supervisor.failures(f"transcoder {transcoder.name}") == 0


async def test_derived_feed_of_a_sub_stream():
    registry = FeedRegistry()
    registry.add(Feed("cam/sub"))
    supervisor = Supervisor()
    try:
        transcoder = Transcoders(registry, supervisor.start).open("cam/sub")
        assert transcoder is not None and transcoder.feed.name == "cam/sub/h264"
        assert "cam/sub/h264" in registry
    finally:
        await supervisor.stop(supervisor.names())

