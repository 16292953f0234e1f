"""Supervisor: a failing task is logged once, reported, restarted with backoff."""

from __future__ import annotations

import asyncio
import logging

from nvr.clock import ManualClock
from nvr.supervisor import Supervisor


async def test_failing_task_is_restarted_with_backoff_and_logged_once(caplog):
    clock = ManualClock()
    sup = Supervisor(clock)
    runs: list[float] = []
    reports: list[str] = []

    async def broken() -> None:
        runs.append(clock.monotonic())
        raise ValueError("bad AAC config")

    caplog.set_level(logging.ERROR, logger="nvr.supervisor")
    sup.start("camera door", broken, lambda exc: reports.append(str(exc)))
    await asyncio.sleep(0)
    await clock.advance(20)
    assert runs[:5] == [0.0, 1.0, 3.0, 7.0, 15.0]  # 1, 2, 4, 8 s apart
    assert reports and set(reports) == {"bad AAC config"}
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "camera door" in tracebacks[0].getMessage()
    assert len(caplog.records) == 1  # the same failure is not logged again within minutes
    await clock.advance(300)
    assert any("still failing" in r.getMessage() for r in caplog.records)
    await sup.stop()
    assert not sup.running("camera door")


async def test_task_that_returns_is_not_restarted():
    sup = Supervisor(ManualClock())
    runs = []

    async def once() -> None:
        runs.append(1)

    sup.start("once", once)
    await sup.finish(["once"], within=1)
    assert runs == [1]


async def test_other_tasks_keep_running_when_one_fails():
    clock = ManualClock()
    sup = Supervisor(clock)
    ticks: list[int] = []

    async def steady() -> None:
        while True:
            await clock.sleep(1)
            ticks.append(1)

    async def broken() -> None:
        raise RuntimeError("boom")

    sup.start("steady", steady)
    sup.start("broken", broken)
    await asyncio.sleep(0)  # both tasks reach their first await
    await clock.advance(5)
    assert len(ticks) == 5 and sup.running("steady") and sup.failures("broken") >= 3
    await sup.stop()

