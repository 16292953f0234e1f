"""RTP timestamps → continuous track time and wall-clock time.

Assumptions about cameras (see PITFALLS.md), and how we degrade:

* RTP timestamps are 32 bits and wrap (every ~13 h at 90 kHz): unwrapped into
  a 64-bit count by taking the shortest signed step from the previous value.
* They may step backwards a little (B-frames: presentation order) — those steps
  are kept as they are.
* They may jump hours forwards or backwards, or restart at a random value after
  the camera restarts its encoder (often with a new SSRC). Such a jump is
  absorbed: the output pts advances by one nominal frame duration instead, so
  one session's pts start near 0 and never jump.
* The camera's clock rate is roughly right (within ~0.1 %). Wall-clock time is
  anchored on the local receive time of the first frame and then follows the
  RTP clock, so network jitter does not leak into the recorded times. When
  the mapped time strays from the receive time by more than ``max_drift``
  seconds (camera clock far off, a hidden jump, a long network stall) we
  re-anchor on the receive time and report it; the wall clock then steps once,
  pts never does.
* ``now`` (UTC seconds) is always passed in: nothing here reads the clock, so
  tests run on a simulated clock.
"""

from __future__ import annotations

__all__ = ["TimestampUnwrapper", "TrackClock", "WallClockMapper"]

_WRAP = 1 << 32
_HALF = 1 << 31


class TimestampUnwrapper:
    """32-bit RTP timestamps → 64-bit, with jump detection.

    :meth:`unwrap` returns ``(value, discontinuity)``. ``discontinuity`` is
    True when the step from the previous timestamp is more than ``max_jump``
    seconds of clock in either direction; the value is still the unwrapped
    one, the caller decides how to rebase.
    """

    __slots__ = ("clock_rate", "max_step", "last")

    def __init__(self, clock_rate: int, max_jump: float = 10.0) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self.max_step = int(max_jump * clock_rate)
        self.last: int | None = None

    def reset(self) -> None:
        self.last = None

    def unwrap(self, ts: int) -> tuple[int, bool]:
        last = self.last
        if last is None:
            self.last = ts
            return ts, False
        delta = (ts - last) & 0xFFFFFFFF
        if delta >= _HALF:
            delta -= _WRAP
        value = last + delta
        self.last = value
        return value, (delta > self.max_step or -delta > self.max_step)


class WallClockMapper:
    """Track time (any continuous tick count) → UTC seconds.

    ``wall = anchor_wall + (ticks - anchor_ticks) / clock_rate``, anchored on
    the receive time of the first call. :meth:`map` returns
    ``(wall, reanchored)``; it re-anchors on ``now`` when the mapped time is
    more than ``max_drift`` seconds away from it.
    """

    __slots__ = ("clock_rate", "max_drift", "anchor_ticks", "anchor_wall", "reanchors")

    def __init__(self, clock_rate: int, max_drift: float = 5.0) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self.max_drift = max_drift
        self.anchor_ticks: int | None = None
        self.anchor_wall = 0.0
        self.reanchors = 0

    def reset(self) -> None:
        self.anchor_ticks = None

    def map(self, ticks: int, now: float) -> tuple[float, bool]:
        anchor = self.anchor_ticks
        if anchor is None:
            self.anchor_ticks = ticks
            self.anchor_wall = now
            return now, False
        wall = self.anchor_wall + (ticks - anchor) / self.clock_rate
        if abs(wall - now) > self.max_drift:
            self.anchor_ticks = ticks
            self.anchor_wall = now
            self.reanchors += 1
            return now, True
        return wall, False


class TrackClock:
    """One track's RTP timestamps → (pts in the track clock, wall-clock seconds).

    pts start at 0 for the first frame of the session and stay continuous
    across timestamp wraps, jumps (> ``max_jump`` s) and SSRC changes (a new
    stream from the camera): on a jump or a new SSRC the pts continue one
    nominal frame duration after the highest pts so far. The nominal duration
    is ``frame_duration`` if given (e.g. 1024 for AAC), else the last plausible
    forward step between frames (initially ``clock_rate // 25``).

    Counters: ``discontinuities`` (jumps absorbed), ``ssrc_changes``, and
    ``wall.reanchors``.
    """

    __slots__ = (
        "clock_rate",
        "ssrc",
        "offset",
        "max_pts",
        "last_ts",
        "frame_duration",
        "_fixed_duration",
        "unwrapper",
        "wall",
        "discontinuities",
        "ssrc_changes",
    )

    def __init__(
        self,
        clock_rate: int,
        frame_duration: int | None = None,
        max_jump: float = 10.0,
        max_drift: float = 5.0,
    ) -> None:
        self.clock_rate = clock_rate
        self.unwrapper = TimestampUnwrapper(clock_rate, max_jump)
        self.wall = WallClockMapper(clock_rate, max_drift)
        self._fixed_duration = frame_duration is not None
        self.frame_duration = frame_duration or max(1, clock_rate // 25)
        self.ssrc: int | None = None
        self.offset = 0
        self.max_pts: int | None = None
        self.last_ts: int | None = None
        self.discontinuities = 0
        self.ssrc_changes = 0

    def map(self, rtp_ts: int, ssrc: int, now: float) -> tuple[int, float]:
        if ssrc != self.ssrc:
            if self.ssrc is not None:
                self.ssrc_changes += 1
            self.ssrc = ssrc
            self.unwrapper.reset()
            ext, _ = self.unwrapper.unwrap(rtp_ts)
            self._rebase(ext)
        else:
            ext, jumped = self.unwrapper.unwrap(rtp_ts)
            if jumped:
                self.discontinuities += 1
                self._rebase(ext)
            elif not self._fixed_duration:
                step = ext - self.last_ts  # type: ignore[operator]
                if 0 < step <= self.clock_rate:
                    self.frame_duration = step
        self.last_ts = ext
        pts = ext + self.offset
        if self.max_pts is None or pts > self.max_pts:
            self.max_pts = pts
        wall, _ = self.wall.map(pts, now)
        return pts, wall

    def _rebase(self, ext: int) -> None:
        if self.max_pts is None:
            self.offset = -ext
        else:
            self.offset = self.max_pts + self.frame_duration - ext
