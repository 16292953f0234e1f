"""LiveStream: what one live viewer of a Feed receives."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from fmp4_media import FPS, decode_errors, encode_video, video_frames

from nvr.feed import VIDEO_CLOCK, AccessUnit, Feed
from nvr.live import LiveStream, Status


@pytest.fixture(scope="module")
def h264():
    return encode_video("h264", frames=3 * FPS, gop=FPS)


def _au(params, frame, t0=1_700_000_000.0):
    return AccessUnit(params, frame.pts, frame.dts, frame.keyframe,
                      t0 + frame.pts / VIDEO_CLOCK, frame.data)


async def _take(stream: LiveStream, count: int, within: float = 5) -> list[str | bytes]:
    out: list[str | bytes] = []

    async def run() -> None:
        async for message in stream.messages():
            out.append(message)
            if len(out) == count:
                return

    await asyncio.wait_for(run(), within)
    return out


async def test_a_late_joiner_starts_at_once_from_the_last_keyframe(h264, tmp_path):
    params, frames = h264
    feed = Feed("cam")
    feed.begin(None)
    for frame in frames[: FPS + 10]:  # the second GOP is 10 frames in
        feed.publish(_au(params, frame))
    viewer = LiveStream(feed)
    messages = await _take(viewer, 2 + 10)  # mime, init, the cached 10 frames
    assert json.loads(messages[0]) == {"mime": f'video/mp4; codecs="avc1.{params.sps[1:4].hex()}"'}
    path = tmp_path / "live.mp4"
    path.write_bytes(b"".join(m for m in messages[1:] if isinstance(m, bytes)))
    assert decode_errors(path) == ""
    assert len(video_frames(path)) == 10


async def test_frames_flow_as_published_and_a_new_session_restarts(h264):
    params, frames = h264
    feed = Feed("cam")
    feed.begin(None)
    viewer = LiveStream(feed)
    got: list[str | bytes] = []

    async def watch() -> None:
        async for message in viewer.messages():
            got.append(message)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)
    for frame in frames[:5]:
        feed.publish(_au(params, frame))
        await asyncio.sleep(0.01)
    assert len(got) == 2 + 5  # one fragment per frame, as it arrives
    second = replace(params)  # a new session: new parameters
    feed.begin(None)
    for frame in frames[:3]:
        feed.publish(_au(second, frame))
        await asyncio.sleep(0.01)
    assert isinstance(got[7], str) and "mime" in json.loads(got[7])
    assert isinstance(got[8], bytes) and got[8][4:8] == b"ftyp"
    assert len(got) == 7 + 2 + 3
    feed.close()
    await asyncio.wait_for(task, 2)  # the stream ends with the feed


async def test_a_slow_viewer_skips_to_a_keyframe_and_slows_no_one(h264, tmp_path):
    params, frames = h264
    feed = Feed("cam")
    feed.begin(None)
    fast = feed.subscribe(maxsize=1000)
    slow = LiveStream(feed, max_queue=8)
    messages = slow.messages()
    feed.publish(_au(params, frames[0]))
    assert "mime" in json.loads(await asyncio.wait_for(anext(messages), 5))
    # the slow viewer reads nothing while two GOPs and three frames arrive
    shown = frames[1: 2 * FPS + 3]
    for frame in shown:
        feed.publish(_au(params, frame))
    assert len(fast.drain()) == 1 + len(shown)  # the others got everything
    rest = []
    # init, the first keyframe, then the third GOP's keyframe and the two after it
    while sum(isinstance(m, bytes) for m in rest) < 1 + 1 + 3:
        rest.append(await asyncio.wait_for(anext(messages), 5))
    await messages.aclose()
    assert slow.dropped > 0
    assert feed.stats.dropped == slow.dropped
    assert slow.dropped == len(shown) - 3
    path = tmp_path / "slow.mp4"
    path.write_bytes(b"".join(m for m in rest if isinstance(m, bytes)))
    assert decode_errors(path) == ""


async def test_status_changes_are_said(h264):
    params, frames = h264
    feed = Feed("cam")
    feed.begin(None)
    state = {"now": Status("online")}
    viewer = LiveStream(feed, status=lambda: state["now"])
    messages = viewer.messages()
    feed.publish(_au(params, frames[0]))
    assert "mime" in json.loads(await anext(messages))
    await anext(messages)  # init
    await anext(messages)  # the keyframe
    state["now"] = Status("offline", "cam1: connection refused")
    assert json.loads(await anext(messages)) == {
        "status": "offline", "error": "cam1: connection refused"}
    await messages.aclose()
    assert feed.subscribers == []  # closing the stream unsubscribes


async def test_the_viewers_of_a_feed_get_the_same_fragments(h264, tmp_path):
    params, frames = h264
    feed = Feed("cam")
    feed.begin(None)
    first = LiveStream(feed).messages()
    feed.publish(_au(params, frames[0]))
    early = [await asyncio.wait_for(anext(first), 5) for _ in range(3)]  # mime, init, key
    for frame in frames[1: FPS + 5]:  # the second GOP is 5 frames in
        feed.publish(_au(params, frame))
    late = LiveStream(feed).messages()
    joined = [await asyncio.wait_for(anext(late), 5) for _ in range(2 + 5)]
    early += [await asyncio.wait_for(anext(first), 5) for _ in range(FPS + 4)]
    assert joined[0] == early[0] and joined[1] == early[1]  # mime, init
    # the same frame is the same bytes for both: muxed once
    assert all(a is b for a, b in zip(joined[2:], early[-5:], strict=True))
    path = tmp_path / "late.mp4"
    path.write_bytes(b"".join(m for m in joined[1:] if isinstance(m, bytes)))
    assert decode_errors(path) == ""
    assert len(video_frames(path)) == 5
    await first.aclose()
    await late.aclose()
    assert feed.subscribers == []  # the shared muxer leaves with the last viewer
