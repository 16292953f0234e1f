"""Transcoders for the live view, made on first use and run only while watched.

``open("<feed>")`` gives the :class:`~nvr.live.transcode.Transcoder` of that
feed: the first call makes it, registers its derived feed ``<feed>/h264`` in the
:class:`~nvr.registry.FeedRegistry` (with the transcoder as its Source, so its
state says what the transcoder does) and starts it under
:class:`~nvr.ondemand.OnDemand`, the mechanism that pulls a camera's sub stream
only while it is consumed: the transcoder starts when the first viewer of the
derived feed arrives and stops ``linger`` seconds after the last one leaves.
Later calls return the same transcoder, so every viewer of a feed shares one
encoder. The runtime skips derived feeds when it attaches recorders; the
camera list never shows them (it lists configured cameras).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.live.transcode import Transcoder, derived_name, is_derived
from nvr.ondemand import OnDemand
from nvr.registry import FeedRegistry

__all__ = ["IDLE_NOTE", "LINGER", "Transcoders"]

LINGER = 10.0
IDLE_NOTE = "not running: nobody is watching this transcoded stream"

# Supervisor.start: (task name, factory, on_error)
Start = Callable[[str, Callable[[], Awaitable[None]], Callable[[BaseException], None]], None]


class Transcoders:
    def __init__(self, registry: FeedRegistry, start: Start, linger: float = LINGER,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.registry = registry
        self.start = start
        self.linger = linger
        self.clock = clock
        self._made: dict[str, Transcoder] = {}

    def open(self, name: str) -> Transcoder | None:
        """The transcoder of feed ``name`` (made and started on first use); None when
        there is no such feed or it is itself a transcoder's."""
        made = self._made.get(name)
        if made is not None:
            return made
        upstream = self.registry.get(name)
        if upstream is None or is_derived(name) or derived_name(name) in self.registry:
            return None
        transcoder = Transcoder(upstream, clock=self.clock)
        pull = OnDemand(transcoder, linger=self.linger, clock=self.clock, idle_note=IDLE_NOTE)
        self.registry.add(transcoder.feed, transcoder)
        self._made[name] = transcoder
        self.start(f"transcoder {transcoder.name}", pull.run, transcoder.fail_unexpectedly)
        return transcoder

    def __iter__(self) -> Iterator[Transcoder]:
        return iter(list(self._made.values()))
