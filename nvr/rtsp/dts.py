"""Decode timestamps from presentation times, at ingest, for every consumer.

RTP carries presentation times only. Without B-frames decode order is
presentation order and dts = pts. With B-frames a frame may be decoded before
frames it is shown after. Two numbers describe a stream: the reorder depth
``K`` (how many frames at most are decoded before and shown after another;
from the SPS when it says, ``SpsInfo.reorder`` in :mod:`nvr.codec.sps`, else
learned from a window of recent pts) and the leading pictures ``L`` of an open
GOP (frames decoded after a keyframe but shown before it; learned).

Decode slots follow each other one frame duration ``D`` apart (``D`` is the
smallest step between recent presentation times): ``dts = previous dts + D``,
anchored at a session's first keyframe at ``pts - (K + max(L, 2K)) * D``: room
for leading pictures, enough for an open GOP before ``L`` has been seen. Continuity,
not a keyframe's own pts, is what keeps an open GOP right: its keyframe is
decoded before the leading pictures shown ahead of it. A camera that drops
frames or runs a variable frame rate makes dts fall behind; a keyframe more
than two frames further behind than needed is re-anchored forward.

Until ``K`` or ``L`` is known (the first reordered frame of a session) or when
one grows, a frame cannot get a dts that both rises and stays at or before its
pts; it then gets ``dts > pts`` and ``late`` is counted. The next keyframe goes
back to a consistent timeline (dts steps back: ``restarts``); consumers treat
both as a break and start again at that keyframe.
"""

from __future__ import annotations

import collections

WINDOW = 32
# D before it is known: for the step from one slot to the next a short guess is safe
# (dts falls behind, never ahead), for the room before a keyframe a long one is
DEFAULT_FRAME_TICKS = 1500  # 60 fps at 90 kHz
LAG_FRAME_TICKS = 6000  # 15 fps


class DecodeTimestamps:
    __slots__ = ("reorder", "leading", "frame_ticks", "late", "restarts", "_recent",
                 "_max_pts", "_last_dts", "_key_pts", "_in_lead", "_lead_now", "_late_since_key")

    def __init__(self, frame_ticks: int = DEFAULT_FRAME_TICKS) -> None:
        self.reorder = 0  # K, frames
        self.leading = 0  # L, frames
        self.frame_ticks = frame_ticks  # D, clock ticks
        self.late = 0  # frames that got dts > pts
        self.restarts = 0  # keyframes where dts stepped back to a consistent timeline
        self._recent: collections.deque[int] = collections.deque(maxlen=WINDOW)
        self._max_pts: int | None = None
        self._last_dts: int | None = None
        self._key_pts: int | None = None
        self._in_lead = False  # right after a keyframe, counting its leading pictures
        self._lead_now = 0
        self._late_since_key = False

    def expect_reorder(self, frames: int | None) -> None:
        """What the SPS says of the reorder depth (None: it does not say)."""
        if frames is not None and frames > self.reorder:
            self.reorder = frames

    def next(self, pts: int, keyframe: bool) -> int:
        """The dts of the next frame in decode order."""
        self._learn(pts, keyframe)
        last = self._last_dts
        if self.reorder == 0 and self.leading == 0:
            dts = pts
        elif last is None:
            dts = pts - self._lag()
        else:
            dts = last + self.frame_ticks
            if keyframe:
                target = pts - self._lag()
                if self._late_since_key and target <= last:
                    self.restarts += 1  # back to a consistent timeline: a break
                    dts = target
                elif dts < target - 2 * self.frame_ticks:
                    dts = target  # fallen behind (dropped frames, variable rate)
        if last is not None and dts <= last and not (keyframe and self._late_since_key):
            dts = last + 1
        if keyframe:
            self._late_since_key = False
        if dts > pts:
            self.late += 1
            self._late_since_key = True
        self._last_dts = dts
        return dts

    def _lag(self) -> int:
        """How far a keyframe's dts is put before its pts: the reorder depth, and room
        for leading pictures: as many as seen, and at least twice the reorder depth
        (an open GOP shows them only at a GOP's end; too much room is harmless)."""
        frames = self.reorder + max(self.leading, 2 * self.reorder)
        return frames * max(self.frame_ticks, LAG_FRAME_TICKS)

    def _learn(self, pts: int, keyframe: bool) -> None:
        recent = self._recent
        if self._max_pts is None or pts > self._max_pts:
            self._max_pts = pts
        else:
            later = sum(1 for p in recent if p > pts)
            if later > self.reorder:
                self.reorder = later
                self._learn_duration(only_shorter=True)
        recent.append(pts)
        if keyframe:
            self._key_pts, self._in_lead, self._lead_now = pts, True, 0
            if self.reorder:
                self._learn_duration(only_shorter=len(recent) < WINDOW // 2)
        elif self._in_lead:
            if self._key_pts is not None and pts < self._key_pts:
                self._lead_now += 1
                if self._lead_now > self.leading:
                    self.leading = self._lead_now
            else:
                self._in_lead = False

    def _learn_duration(self, only_shorter: bool = False) -> None:
        """D from the presentation times seen. From a few frames the smallest step can
        span two frames (a B-frame not yet seen): then D may only shrink."""
        shown = sorted(self._recent)
        steps = [b - a for a, b in zip(shown, shown[1:], strict=False) if b > a]
        if steps and (not only_shorter or min(steps) < self.frame_ticks):
            self.frame_ticks = min(steps)
