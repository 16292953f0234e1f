"""Run a source only while somebody consumes its feed (a camera's sub stream, a
transcoder for the live view).

The feed's ``on_demand`` hook says when the first subscriber arrives and the
last one leaves. The source starts at once on demand and is stopped ``linger``
seconds after the last subscriber left (a viewer flipping between pages does
not make the camera reconnect). While nobody watches, the source reads
``offline`` with a ``last_error`` that says so.
"""

from __future__ import annotations

import asyncio

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.source import Source

IDLE_NOTE = "not pulled: nobody is watching this stream"


class OnDemand:
    def __init__(self, source: Source, linger: float = 10.0, clock: Clock = SYSTEM_CLOCK,
                 idle_note: str = IDLE_NOTE) -> None:
        self.source = source
        self.linger = linger
        self.clock = clock
        self.idle_note = idle_note  # the source's last_error while nobody consumes it
        self._changed = asyncio.Event()
        self._wanted = bool(source.feed.subscribers)
        source.feed.on_demand = self._on_demand
        source.state.fail("offline", idle_note)

    def _on_demand(self, wanted: bool) -> None:
        self._wanted = wanted
        self._changed.set()

    async def _until_wanted(self, wanted: bool) -> None:
        while self._wanted != wanted:
            self._changed.clear()
            await self._changed.wait()

    async def run(self) -> None:
        """Until cancelled: pull while wanted, rest while not."""
        while True:
            await self._until_wanted(True)
            task = asyncio.create_task(self.source.run(), name=f"{self.source.name} (on demand)")
            try:
                while True:
                    ended = asyncio.ensure_future(self._until_wanted(False))
                    done, _ = await asyncio.wait([task, ended], return_when=asyncio.FIRST_COMPLETED)
                    if task in done:
                        ended.cancel()
                        task.result()  # a bug in the source: let the supervisor see it
                        return
                    linger = asyncio.ensure_future(self.clock.sleep(self.linger))
                    back = asyncio.ensure_future(self._until_wanted(True))
                    await asyncio.wait([linger, back], return_when=asyncio.FIRST_COMPLETED)
                    linger.cancel()
                    back.cancel()
                    if not self._wanted:
                        break
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self.source.state.fail("offline", self.idle_note)
