"""Clocks for tests: simulated time, and real time that can be skipped forward."""

from __future__ import annotations

import asyncio

from nvr.clock import ManualClock, SkippableClock


async def test_manual_clock_sleep_returns_only_when_advanced_past_it():
    clock = ManualClock()
    sleeper = asyncio.ensure_future(clock.sleep(10))
    await asyncio.sleep(0)  # the sleep starts at time 0
    await clock.advance(9.5)
    assert not sleeper.done()
    await clock.advance(0.5)
    assert sleeper.done() and clock.monotonic() == 10.0


async def test_skippable_clock_wakes_sleepers_a_skip_passes():
    clock = SkippableClock()
    short = asyncio.ensure_future(clock.sleep(30))
    long = asyncio.ensure_future(clock.sleep(300))
    await asyncio.sleep(0)
    start = clock.monotonic()
    clock.skip(31)
    await asyncio.wait_for(short, 1)
    assert clock.monotonic() - start >= 31 and not long.done()
    long.cancel()
