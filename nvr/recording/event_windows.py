"""Event clip windows: the stretches of a camera's footage that its events claim.

An event keeps the video from ``pre_seconds`` before its start to
``post_seconds`` after its end (the clip the issue promises a user). An event
still going on (``end_us`` null) claims everything from its start minus
``pre_seconds`` on. Retention asks one question per segment, oldest first: does
it overlap a window? The windows of a camera are read once per pass (two
columns through the ``(camera, start_us)`` index), merged into disjoint spans,
and swept alongside the segments, so a pass costs one read of each and no query
per segment.

Only events of ``FOOTAGE_EVENT_TYPES`` keep footage: something happened in
front of the camera. ``camera_offline``/``camera_online`` do not (there is no
video while a camera is offline, and a flapping camera would keep a clip per
reconnect), nor ``recording_gap`` (about the recorder) nor ``disk_low`` (keeping
footage because the disk is full would be perverse).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Engine, or_, select

from nvr.db.models import Event

__all__ = ["FOOTAGE_EVENT_TYPES", "FOREVER_US", "WindowCursor", "event_windows", "merge"]

FOOTAGE_EVENT_TYPES: frozenset[str] = frozenset({"motion"})
# The end of an ongoing event's window: later than any segment.
FOREVER_US = 2**62


def merge(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint spans covering the same time as ``windows`` (touching ones join)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def event_windows(
    engine: Engine,
    camera: str,
    types: Collection[str],
    pre_us: int,
    post_us: int,
    since_us: int | None = None,
) -> list[tuple[int, int]]:
    """The camera's merged clip windows ``[start - pre, end + post]`` for events of
    ``types``; an ongoing event's window ends at ``FOREVER_US``. ``since_us`` leaves
    out events whose window ended before it (older than any segment left)."""
    if not types:
        return []
    stmt = select(Event.start_us, Event.end_us).where(
        Event.camera == camera, Event.type.in_(sorted(types)))
    if since_us is not None:
        stmt = stmt.where(or_(Event.end_us.is_(None), Event.end_us > since_us - post_us))
    with engine.connect() as connection:
        rows = connection.execute(stmt).all()
    return merge([(start - pre_us, FOREVER_US if end is None else end + post_us)
                  for start, end in rows])


class WindowCursor:
    """Answers "does ``[start, end)`` overlap a window?" for segments given in order of
    start: the cursor only moves forward, so a sweep over all segments is linear."""

    def __init__(self, windows: Sequence[tuple[int, int]]) -> None:
        self._windows = windows
        self._i = 0

    def overlaps(self, start_us: int, end_us: int) -> bool:
        windows, i = self._windows, self._i
        # windows ending at or before this start end before every later segment too
        while i < len(windows) and windows[i][1] <= start_us:
            i += 1
        self._i = i
        # a zero-length segment inside a window still counts as in it
        return i < len(windows) and windows[i][0] < max(end_us, start_us + 1)
