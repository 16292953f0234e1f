"""Own every long-lived task: start it, watch it, restart it, stop it.

A task that raises unexpectedly is logged once with its traceback, reported
through ``on_error`` (a camera then shows status ``error`` with the reason) and
restarted with backoff (1 s doubling to 60 s; back to 1 s after a run of a
minute). The same failure again is logged without a traceback only as a
reminder every few minutes, so a broken camera cannot flood the log. A task
that returns normally is done and not restarted. :meth:`stop` cancels and
awaits every task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nvr.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("nvr.supervisor")

BACKOFF_START = 1.0
BACKOFF_CAP = 60.0
STABLE_AFTER = 60.0
REMIND_EVERY = 300.0

Factory = Callable[[], Awaitable[None]]
OnError = Callable[[BaseException], None]


def describe(exc: BaseException) -> str:
    """A one-line reason for a status field."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Supervised:
    name: str
    factory: Factory
    on_error: OnError | None
    task: asyncio.Task[None] | None = None
    failures: int = 0
    last_failure: str | None = None
    last_logged: float = field(default=-1e18)


class Supervisor:
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._tasks: dict[str, Supervised] = {}

    def start(self, name: str, factory: Factory, on_error: OnError | None = None) -> None:
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        entry = Supervised(name, factory, on_error)
        entry.task = asyncio.create_task(self._guard(entry), name=name)
        self._tasks[name] = entry

    def failures(self, name: str) -> int:
        entry = self._tasks.get(name)
        return entry.failures if entry else 0

    def running(self, name: str) -> bool:
        entry = self._tasks.get(name)
        return bool(entry and entry.task and not entry.task.done())

    def names(self, prefix: str = "") -> list[str]:
        return [n for n in self._tasks if n.startswith(prefix)]

    async def finish(self, names: list[str], within: float) -> bool:
        """Let the named tasks end by themselves (their input was closed), then cancel
        what is left; False if some had to be cancelled."""
        tasks = [t for n in names if (e := self._tasks.get(n)) and (t := e.task)]
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=within)
        await self.stop(names)
        return not pending

    async def stop(self, names: list[str] | None = None) -> None:
        """Cancel and await the named tasks (all when None)."""
        chosen = [self._tasks.pop(n) for n in (names or list(self._tasks)) if n in self._tasks]
        tasks = [e.task for e in chosen if e.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _guard(self, entry: Supervised) -> None:
        delay = BACKOFF_START
        while True:
            started = self.clock.monotonic()
            try:
                await entry.factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the point of a supervisor
                entry.failures += 1
                if self.clock.monotonic() - started > STABLE_AFTER:
                    delay = BACKOFF_START
                self._log(entry, exc, delay)
                if entry.on_error is not None:
                    try:
                        entry.on_error(exc)
                    except Exception:  # noqa: BLE001
                        log.exception("%s: error handler failed", entry.name)
            await self.clock.sleep(delay)
            delay = min(BACKOFF_CAP, delay * 2)

    def _log(self, entry: Supervised, exc: Exception, delay: float) -> None:
        reason = describe(exc)
        now = self.clock.monotonic()
        if reason != entry.last_failure:
            log.error("%s failed (%s); restarting in %.0f s", entry.name, reason, delay,
                      exc_info=exc)
        elif now - entry.last_logged >= REMIND_EVERY:
            log.error("%s still failing (%s, %d times so far); restarting in %.0f s",
                      entry.name, reason, entry.failures, delay)
        else:
            return
        entry.last_failure = reason
        entry.last_logged = now
