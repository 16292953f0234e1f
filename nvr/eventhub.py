"""Where the running NVR's events go: the database (with their outbox rows), then the
outbox worker is woken and MQTT is told.

:class:`EventHub` is the one door for every producer of events (motion watches,
the health watch, later the RTMP server). It runs :class:`~nvr.events.store.EventStore`
calls in threads (never on the event loop), so an event and its deliveries are
one transaction, and only then wakes the :class:`~nvr.alerts.outbox.OutboxWorker`
and hands the event to the listeners (MQTT): a listener that fails is logged
and never loses the stored event or its webhooks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from nvr.events.store import EventStore

__all__ = ["EventHub", "EventListener"]

log = logging.getLogger(__name__)


class EventListener(Protocol):
    """Told of each stored event change on the loop: its webhook body (JSON, schema
    ``docs/ref/webhooks.md``) and ``phase`` (start, update, end)."""

    def __call__(self, payload: str, phase: str) -> None: ...


class EventHub:
    def __init__(self, store: EventStore, wake: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self._wake = wake
        self._listeners: list[EventListener] = []
        self._lock = asyncio.Lock()  # one camera's start, updates and end stay in order

    def listen(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    async def open(self, camera: str, type: str, start_us: int, score: float | None = None,
                   zones: Sequence[str] = (), details: dict[str, Any] | None = None) -> int:
        """Store a new ongoing event; its ``start`` deliveries go out."""
        async with self._lock:
            event_id = await asyncio.to_thread(self.store.open, camera, type, start_us, score,
                                               zones, details)
        await self._tell(event_id, "start")
        return event_id

    async def update(self, event_id: int, score: float | None = None,
                     zones: Sequence[str] = ()) -> None:
        async with self._lock:
            changed = await asyncio.to_thread(self.store.update, event_id, score, zones)
        if changed:
            await self._tell(event_id, "update")

    async def close(self, event_id: int, end_us: int) -> None:
        async with self._lock:
            await asyncio.to_thread(self.store.close, event_id, end_us)
        await self._tell(event_id, "end")

    async def instant(self, camera: str, type: str, at_us: int, end_us: int | None = None,
                      details: dict[str, Any] | None = None) -> int:
        """An event that is over as it is reported (camera online, a recording gap)."""
        event_id = await self.open(camera, type, at_us, details=details)
        await self.close(event_id, end_us if end_us is not None else at_us)
        return event_id

    async def set_snapshot(self, event_id: int, path: str) -> None:
        await asyncio.to_thread(self.store.set_snapshot, event_id, path)
        self._wake()  # a notification waiting for its snapshot can go now

    async def _tell(self, event_id: int, phase: str) -> None:
        self._wake()
        if not self._listeners:
            return
        try:
            payload = await asyncio.to_thread(self.store.payload, event_id, phase)
        except Exception:  # noqa: BLE001 - the event is stored; only the listeners miss it
            log.exception("event %d: cannot read it back for MQTT", event_id)
            return
        for listener in self._listeners:
            try:
                listener(payload, phase)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the others
                log.exception("event %d: a listener failed", event_id)
