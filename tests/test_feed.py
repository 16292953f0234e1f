"""The Feed's fan-out: bounded queues, skip-to-keyframe, wake-ups."""

from __future__ import annotations

import asyncio

from nvr.feed import AccessUnit, CodecParams, Feed

VIDEO = CodecParams(kind="video", codec="h264", clock_rate=90000)
AUDIO = CodecParams(kind="audio", codec="aac", clock_rate=48000)


def _au(pts: int, key: bool = False, params: CodecParams = VIDEO) -> AccessUnit:
    return AccessUnit(params, pts, pts, key, 0.0, b"x")


async def test_publish_reaches_every_subscriber_in_order():
    feed = Feed("cam")
    a, b = feed.subscribe(), feed.subscribe()
    for i in range(5):
        feed.publish(_au(i, key=i == 0))
    assert [au.pts for au in a.drain()] == [0, 1, 2, 3, 4]
    assert [(await b.get()).pts for _ in range(5)] == [0, 1, 2, 3, 4]
    assert feed.stats.frames == 5


async def test_slow_subscriber_skips_to_next_keyframe_without_blocking_others():
    feed = Feed("cam")
    slow, fast = feed.subscribe(maxsize=4), feed.subscribe(maxsize=100)
    feed.publish(_au(0, key=True))
    for i in range(1, 10):  # overflow the slow queue
        feed.publish(_au(i))
    assert len(slow) == 0 and slow.dropped == 10  # the 4 queued, then 6 until a keyframe
    feed.publish(_au(10, key=True))
    feed.publish(_au(11))
    assert [au.pts for au in slow.drain()] == [10, 11]
    assert [au.pts for au in fast.drain()] == list(range(12))
    assert fast.dropped == 0


async def test_keyframe_wake_mode_waits_for_keyframe_or_timeout():
    feed = Feed("cam")
    sub = feed.subscribe(maxsize=100, wake_on="keyframe")
    loop = asyncio.get_running_loop()
    feed.publish(_au(1))
    feed.publish(_au(2, params=AUDIO))
    start = loop.time()
    await sub.wait(0.3)  # nothing worth waking for: the timeout ends the wait
    assert loop.time() - start >= 0.29 and len(sub) == 2
    waiter = asyncio.ensure_future(sub.wait(5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    feed.publish(_au(3, key=True))
    await asyncio.wait_for(waiter, 1)
    assert [au.pts for au in sub.drain()] == [1, 2, 3]


async def test_wait_returns_at_once_when_a_keyframe_is_already_queued():
    feed = Feed("cam")
    sub = feed.subscribe(wake_on="keyframe")
    feed.publish(_au(1, key=True))
    await asyncio.wait_for(sub.wait(10), 0.1)


async def test_close_ends_get_and_wait():
    feed = Feed("cam")
    sub = feed.subscribe()
    feed.publish(_au(1, key=True))
    feed.close()
    assert (await sub.get()).pts == 1
    assert await sub.get() is None
    await asyncio.wait_for(sub.wait(10), 0.1)
    assert sub.closed


async def test_subscribe_at_keyframe_starts_with_cached_gop():
    feed = Feed("cam")
    feed.publish(_au(0, key=True))
    feed.publish(_au(1))
    feed.publish(_au(2, key=True))
    feed.publish(_au(3, params=AUDIO))
    feed.publish(_au(4))
    late = feed.subscribe(start="keyframe")
    now = feed.subscribe()
    feed.publish(_au(5))
    assert [au.pts for au in late.drain()] == [2, 3, 4, 5]
    assert [au.pts for au in now.drain()] == [5]
    assert feed.video is VIDEO


async def test_gop_cache_over_its_byte_bound_is_dropped_until_next_keyframe():
    feed = Feed("cam", gop_cache_bytes=3)
    for i in range(5):
        feed.publish(_au(i, key=i == 0))
    assert feed.gop == []
    assert [au.pts for au in feed.subscribe(start="keyframe").drain()] == []
    feed.publish(_au(5, key=True))
    assert [au.pts for au in feed.gop] == [5]


async def test_begin_forgets_the_previous_session():
    feed = Feed("cam")
    feed.publish(_au(0, key=True))
    feed.begin(audio=AUDIO)
    assert feed.gop == [] and feed.video is None and feed.audio is AUDIO


async def test_feed_stats_count_dropped_frames_of_closed_subscribers_too():
    feed = Feed("cam")
    slow = feed.subscribe(maxsize=2)
    for i in range(6):
        feed.publish(_au(i, key=i == 0))
    slow.close()
    assert feed.stats.dropped == slow.dropped == 6


async def test_on_demand_hook_follows_first_and_last_subscriber():
    feed = Feed("cam")
    calls: list[bool] = []
    feed.on_demand = calls.append
    a = feed.subscribe()
    b = feed.subscribe()
    a.close()
    assert calls == [True]
    b.close()
    assert calls == [True, False]


async def test_subscribe_to_closed_feed_returns_closed_subscription():
    feed = Feed("cam")
    feed.close()
    sub = feed.subscribe()
    assert sub.closed and await sub.get() is None
