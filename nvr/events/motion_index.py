"""Motion search: which seconds of a camera had motion, and where in the frame.

The detector (``nvr.motion.detector.SecondGrids``) gives, per second with
motion, an 18-byte grid: 16 columns x 9 rows, a bit per cell, row by row, most
significant bit first. :class:`MotionIndex` stores one ``motion_seconds`` row
per camera and second and answers the two questions the web asks:

- ``search``: the seconds whose grid touches a rectangle of the frame. The
  database reads only ``(second, grid)`` along the primary key; the region test
  is one AND of Python integers per row against a 144-bit mask, so a week of one
  camera (120k seconds with motion) is well under a second
  (``scripts/bench_motion_search.py``).
- ``intensity``: how much of each time bucket had motion (the timeline's bars),
  counted by the database with ``GROUP BY``, so a day costs one small answer.

Synchronous like ``EventStore``: callers on the event loop run it in a thread.
This module deliberately does not import ``nvr.motion`` (which pulls in cv2 and
PyAV): the bit layout is restated here and tested against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sqlalchemy import BigInteger, Integer, Select, String, and_, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import MotionSecond

__all__ = ["COLUMNS", "GRID_BYTES", "ROWS", "MotionIndex", "Region", "merge_ranges",
           "region_mask"]

COLUMNS, ROWS = 16, 9
CELLS = COLUMNS * ROWS
GRID_BYTES = CELLS // 8
Region = tuple[float, float, float, float]  # x0, y0, x1, y1 in 0..1 of the frame
BATCH = 500  # rows per upsert statement (SQLite allows 32766 bound parameters)


def region_mask(region: Region) -> int:
    """The 144-bit mask of the cells a rectangle touches (``int.from_bytes`` order).

    A cell counts when the rectangle overlaps it by any area; a rectangle of no
    width or height still selects the cells its edge lies in.
    """
    x0, y0, x1, y1 = region
    if not (0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1):
        raise ValueError("want 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1")
    first_col, last_col = _span(x0, x1, COLUMNS)
    first_row, last_row = _span(y0, y1, ROWS)
    mask = 0
    for row in range(first_row, last_row + 1):
        for col in range(first_col, last_col + 1):
            mask |= 1 << (CELLS - 1 - (row * COLUMNS + col))
    return mask


def _span(low: float, high: float, cells: int) -> tuple[int, int]:
    first = min(cells - 1, math.floor(low * cells))
    last = max(first, min(cells - 1, math.ceil(high * cells) - 1))
    return first, last


def merge_ranges(seconds: Iterable[int], gap: int = 1) -> list[tuple[int, int]]:
    """Sorted seconds → ``(start, end)`` ranges, end exclusive; seconds with at
    most ``gap`` seconds without motion between them join (a jump target is a
    movement, not each of its seconds)."""
    out: list[tuple[int, int]] = []
    for second in seconds:
        if out and second - out[-1][1] <= gap:
            out[-1] = (out[-1][0], second + 1)
        else:
            out.append((second, second + 1))
    return out


def _intensity_query() -> Select[int, int]:
    """Seconds with motion per bucket, built once (the timeline asks per request)."""
    start = bindparam("start", type_=BigInteger)
    bucket = ((MotionSecond.second - start) * bindparam("buckets", type_=Integer)
              // bindparam("span", type_=BigInteger)).label("bucket")
    return select(bucket, func.count()).where(
        MotionSecond.camera == bindparam("camera", type_=String),
        MotionSecond.second >= start,
        MotionSecond.second < bindparam("end", type_=BigInteger)).group_by(bucket)


_INTENSITY = _intensity_query()


class MotionIndex:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, camera: str, seconds: Sequence[tuple[int, bytes]]) -> None:
        """Store ``(second, grid)`` pairs. A second already stored (or twice in
        ``seconds``) keeps the OR of the grids, so a replayed batch is harmless."""
        merged: dict[int, int] = {}
        for second, grid in seconds:
            if len(grid) != GRID_BYTES:
                raise ValueError(f"grid of second {second}: {len(grid)} bytes, want 18")
            merged[int(second)] = merged.get(int(second), 0) | int.from_bytes(grid, "big")
        merged = {second: bits for second, bits in merged.items() if bits}  # no motion, no row
        if not merged:
            return
        with self._sessions.begin() as session:
            keys = sorted(merged)
            for i in range(0, len(keys), BATCH):
                self._upsert(session, camera, {k: merged[k] for k in keys[i:i + BATCH]})

    def _upsert(self, session: Session, camera: str, grids: dict[int, int]) -> None:
        known = session.execute(
            select(MotionSecond.second, MotionSecond.grid).where(
                MotionSecond.camera == camera, MotionSecond.second.in_(list(grids))))
        for second, grid in known:
            grids[second] |= int.from_bytes(grid, "big")
        values = [{"camera": camera, "second": second, "cells": bits.bit_count(),
                   "grid": bits.to_bytes(GRID_BYTES, "big")} for second, bits in grids.items()]
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(MotionSecond).values(values)
        # Another writer between our read and this insert: its grid is lost for
        # that second but nothing fails (one writer per camera in practice).
        session.execute(statement.on_conflict_do_update(
            index_elements=["camera", "second"],
            set_={"grid": statement.excluded.grid, "cells": statement.excluded.cells}))

    def search(self, camera: str, start_s: int, end_s: int,
               region: Region | None = None) -> list[int]:
        """Seconds in ``[start_s, end_s)`` with motion (inside ``region`` when given)."""
        where = and_(MotionSecond.camera == camera, MotionSecond.second >= start_s,
                     MotionSecond.second < end_s)
        with self._sessions() as session:
            if region is None:
                return list(session.scalars(
                    select(MotionSecond.second).where(where).order_by(MotionSecond.second)))
            mask = region_mask(region)
            rows = session.execute(select(MotionSecond.second, MotionSecond.grid).where(
                where).order_by(MotionSecond.second))
            from_bytes = int.from_bytes
            return [second for second, grid in rows if from_bytes(grid, "big") & mask]

    def intensity(self, camera: str, start_s: int, end_s: int, buckets: int) -> list[int]:
        """``buckets`` equal slices of ``[start_s, end_s)``: the percentage (0..100)
        of each slice's seconds that had motion; any motion is at least 1."""
        span = end_s - start_s
        if buckets <= 0 or span <= 0:
            return []
        out = [0] * buckets
        params = {"camera": camera, "start": start_s, "end": end_s, "buckets": buckets,
                  "span": span}
        with self._sessions() as session:  # Core on the session's connection: no ORM step
            counts = session.connection().execute(_INTENSITY, params).all()
        for row in counts:
            index, count = int(row[0]), int(row[1])
            if 0 <= index < buckets:
                low = start_s - (-index * span // buckets)
                high = start_s - (-(index + 1) * span // buckets)
                out[index] = max(1, min(100, round(100 * count / max(1, high - low))))
        return out

    def prune(self, camera: str | None, before_s: int) -> int:
        """Forget the seconds before ``before_s`` (one camera, or all with None);
        returns how many rows went."""
        query = delete(MotionSecond).where(MotionSecond.second < before_s)
        if camera is not None:
            query = query.where(MotionSecond.camera == camera)
        with self._sessions.begin() as session:
            result = session.execute(query)
            return int(getattr(result, "rowcount", 0) or 0)

    def cameras(self) -> list[str]:
        """Cameras with any stored motion (retention of removed cameras)."""
        with self._sessions() as session:
            return list(session.scalars(select(MotionSecond.camera).distinct()))

