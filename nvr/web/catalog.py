"""A camera's recordings as playback, export, clips, frames and the timeline see them:
the index's segments, plus the segment being written.

A segment gets its index row when it is closed (``segment_seconds``, 60 s by
default), but its fragments are on disk, fsynced, a GOP at a time. So that the
last minute can be played, exported and scrubbed like the rest, the recorder's
:attr:`~nvr.recording.recorder.Recorder.open_segment` (``Services.open_segment``)
joins the index's rows here as an :class:`OpenRow`: its end is that of its last
fsynced fragment, and its id (:data:`OPEN_ID`) sorts it after any indexed segment
with the same start (once closed, the indexed row replaces it). Playback follows
it (``growing`` refs, :meth:`IndexCatalog.follow`); export, clips and frames read
the file as it is then (the segment reader keeps the whole samples of a fragment
still being written).

A time more than :data:`OPEN_SLACK_US` after the open segment's end is not in it
(the camera stopped sending: a gap, not the latest picture).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from nvr.auth import audit
from nvr.auth.principal import Principal
from nvr.playback.stream import SegmentRef
from nvr.recording.index import SegmentIndex
from nvr.web.files import resolve_under
from nvr.web.services import Services

__all__ = ["OPEN_ID", "IndexCatalog", "OpenRow", "Row", "open_row", "row_at", "with_open_range",
           "with_open_span"]

log = logging.getLogger(__name__)
PAGE = 32  # segments asked of the index at a time
OPEN_ID = 2**62  # sorts after every indexed segment
OPEN_SLACK_US = 10_000_000  # past the open segment's end by more: not in it


class Row(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def start_us(self) -> int: ...
    @property
    def end_us(self) -> int: ...
    @property
    def id(self) -> int: ...


class OpenRow(NamedTuple):
    """The segment being written, as a row: ``path`` relative to data_dir."""

    path: str
    start_us: int
    end_us: int
    id: int = OPEN_ID


def open_row(services: Services, camera: str) -> OpenRow | None:
    """The camera's segment being written, as far as it is on disk, if any."""
    if services.open_segment is None:
        return None
    found = services.open_segment(camera)
    return None if found is None else OpenRow(found.path, found.start_us, found.end_us)


def _open_in(services: Services, camera: str, starts: Iterable[int], start_us: int,
             end_us: int) -> OpenRow | None:
    """The segment being written if it overlaps ``[start_us, end_us)`` and is not one
    of the indexed segments starting at ``starts``."""
    found = open_row(services, camera)
    if (found is None or found.start_us >= end_us or found.end_us <= start_us
            or found.start_us in starts):
        return None
    return found


def with_open_range(services: Services, camera: str, rows: Sequence[Row], start_us: int,
                    end_us: int) -> list[Row]:
    """``rows`` (the index's, overlapping ``[start_us, end_us)``, by start) and the
    segment being written where it overlaps too and is not indexed yet."""
    found = _open_in(services, camera, {r.start_us for r in rows}, start_us, end_us)
    return [*rows, found] if found is not None else list(rows)


def with_open_span(services: Services, camera: str, spans: Sequence[tuple[int, int]],
                   start_us: int, end_us: int) -> list[tuple[int, int]]:
    """:func:`with_open_range` for ``(start_us, end_us)`` pairs (the timeline's)."""
    found = _open_in(services, camera, {s for s, _ in spans}, start_us, end_us)
    return [*spans, (found.start_us, found.end_us)] if found is not None else list(spans)


def row_at(services: Services, camera: str, at_us: int) -> OpenRow | None:
    """The segment being written when ``at_us`` is in it (or just after what is on
    disk of it)."""
    found = open_row(services, camera)
    if found is not None and found.start_us <= at_us < found.end_us + OPEN_SLACK_US:
        return found
    return None


class IndexCatalog:
    """The camera's segments from the index and the one being written, a page at a
    time (``nvr.playback.stream.Catalog``), paths under data_dir."""

    def __init__(self, services: Services, camera: str, user: Principal,
                 address: str | None = None) -> None:
        self.services = services
        self.camera = camera
        self.user = user
        self.address = address

    async def segments(self, at_us: int, after: SegmentRef | None) -> list[SegmentRef]:
        rows, complete = await asyncio.to_thread(self._rows, self.services.index, at_us,
                                                 after)
        found = open_row(self.services, self.camera)
        if found is not None and complete and all(r.start_us != found.start_us for r in rows):
            if after is not None:
                if found.start_us > after.start_us:
                    rows.append(found)
            elif rows or at_us < found.end_us + OPEN_SLACK_US:
                rows.append(found)
        return await self.refs(rows)

    async def refs(self, rows: Sequence[Row]) -> list[SegmentRef]:
        """Rows as segment refs; a path that leaves data_dir is refused (logged, audited)."""
        refs = []
        for row in rows:
            path = resolve_under(self.services.data_dir, row.path)
            if path is None:
                await self._refused(row.path)
                continue
            refs.append(SegmentRef(path, row.start_us, row.end_us, row.id,
                                   growing=row.id == OPEN_ID))
        return refs

    async def follow(self, ref: SegmentRef) -> SegmentRef | None:
        """The segment being written as it is now: further along while it is still
        open, its indexed row once closed, None when it is gone."""
        found = open_row(self.services, self.camera)
        if found is not None and found.start_us == ref.start_us:
            return ref._replace(end_us=found.end_us)
        row = await asyncio.to_thread(self.services.index.at, self.camera, ref.start_us)
        if row is None or row.start_us != ref.start_us:
            return None
        refs = await self.refs([row])
        return refs[0] if refs else None

    def _rows(self, index: SegmentIndex, at_us: int, after: SegmentRef | None
              ) -> tuple[list[Row], bool]:
        """The index's rows, and whether they reach its end (the open segment is next)."""
        if after is not None:
            rows: list[Row] = list(index.oldest(self.camera, PAGE,
                                                after=(after.start_us, after.id)))
            return rows, len(rows) < PAGE
        playing = index.at(self.camera, at_us)  # the segment at that time, if any
        later = index.oldest(self.camera, PAGE, after=(at_us, OPEN_ID))
        found: list[Row] = [playing] if playing is not None else []
        return found + list(later), len(later) < PAGE

    async def _refused(self, relative: str) -> None:
        log.warning("refused a path outside data_dir: %r (user %s from %s)", relative[:200],
                    self.user.username, self.address)
        await self.services.auth.record(audit.PATH_REFUSED, actor=self.user.username,
                                        address=self.address, target=relative[:256])
