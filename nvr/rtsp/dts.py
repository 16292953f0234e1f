"""Decode timestamps from presentation times, at ingest, for every consumer.

RTP carries presentation times only. Without B-frames decode order is
presentation order and dts = pts. With B-frames a frame may be decoded before
frames it is shown after; the stream's reorder depth ``K`` (in frames) is how
many frames at most are decoded before and shown after another. With a
constant frame duration ``D``, decode slot ``n`` after a keyframe shown at
``P`` is ``P + (n - K) * D``: rising, and never after the frame's own pts.

``K`` comes from the SPS when it says (``SpsInfo.reorder``, :mod:`nvr.codec.sps`), else it is
learned from the frames (a window of recent pts); ``D`` is the smallest step
between recent presentation times, learned at keyframes and when ``K`` grows
(until then a small guess, 60 fps: a dts that grows too slowly is still valid,
one that grows too fast is not). Until ``K`` is known (the
first reordered frame of a session) or when it grows, a frame cannot get a dts
that both rises and stays at or before its pts; it then gets ``dts > pts`` and
``reordered_late`` is counted: consumers treat such a frame as a break and
start again at the next keyframe, where dts goes back to the consistent
timeline (counted in ``restarts``; consumers see dts step back, a break).
"""

from __future__ import annotations

import collections

WINDOW = 32


class DecodeTimestamps:
    __slots__ = ("reorder", "frame_ticks", "late", "restarts", "_recent", "_max_pts", "_last_dts",
                 "_key_pts", "_n")

    def __init__(self, frame_ticks: int = 1500) -> None:
        self.reorder = 0  # K, frames
        self.frame_ticks = frame_ticks  # D, clock ticks
        self.late = 0  # frames that got dts > pts since the last restart
        self.restarts = 0  # keyframes where dts went back to a consistent timeline
        self._recent: collections.deque[int] = collections.deque(maxlen=WINDOW)
        self._max_pts: int | None = None
        self._last_dts: int | None = None
        self._key_pts = 0
        self._n = 0

    def expect_reorder(self, frames: int | None) -> None:
        """What the SPS says of the reorder depth (None: it does not say)."""
        if frames is not None and frames > self.reorder:
            self.reorder = frames

    def next(self, pts: int, keyframe: bool) -> int:
        """The dts of the next frame in decode order."""
        recent = self._recent
        if self._max_pts is None or pts > self._max_pts:
            self._max_pts = pts
        else:
            later = sum(1 for p in recent if p > pts)
            if later > self.reorder:
                self.reorder = later
                self._learn_duration()
        recent.append(pts)
        if keyframe:
            self._key_pts, self._n = pts, 0
            if self.reorder:
                self._learn_duration()
        else:
            self._n += 1
        if self.reorder == 0:
            dts = pts
        else:
            dts = self._key_pts + (self._n - self.reorder) * self.frame_ticks
        last = self._last_dts
        if last is not None and dts <= last:
            if keyframe and self.late:
                self.restarts += 1  # start a consistent timeline here (a break for consumers)
                self.late = 0
            else:
                dts = last + 1
        if dts > pts:
            self.late += 1
        self._last_dts = dts
        return dts

    def _learn_duration(self) -> None:
        shown = sorted(self._recent)
        steps = [b - a for a, b in zip(shown, shown[1:], strict=False) if b > a]
        if steps:
            self.frame_ticks = min(steps)
