"""Time, passed in: the system clock in production, a manual one in tests.

Everything that waits for time to pass (camera backoff and stall detection,
the recorder's idle close, retention rounds) takes a :class:`Clock`, so fault
tests advance simulated time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` on this clock."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """Simulated time: :meth:`sleep` returns only when :meth:`advance` passes its deadline."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = 0.0
        self._wall0 = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._wall0 + self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (cancelled ones included until their deadline)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float, step: float = 0.25) -> None:
        """Move time forward in steps, letting woken tasks run after each step."""
        target = self._now + seconds
        while self._now < target:
            self._now = min(target, self._now + step)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            for _ in range(5):  # let woken tasks reach their next await
                await asyncio.sleep(0)


class SkippableClock:
    """Real time plus an offset that a test moves forward with :meth:`skip`.

    Everything runs in real time (network peers, the simulator), but what waits
    for *time to pass* (a 30 s retry after refused credentials, the 5 s stall
    timeout) can be skipped over instead of slept through: sleepers whose
    deadline the skip passes wake at once.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (self.monotonic() + seconds, fut)
        self._sleepers.append(entry)
        timer = loop.call_later(max(0.0, seconds), _wake_future, fut)
        try:
            await fut
        finally:
            timer.cancel()
            self._sleepers.remove(entry)

    def skip(self, seconds: float) -> None:
        """Move time forward now; sleeps that end within the skip return."""
        self.offset += seconds
        now = self.monotonic()
        for deadline, fut in list(self._sleepers):
            if deadline <= now:
                _wake_future(fut)


def _wake_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
