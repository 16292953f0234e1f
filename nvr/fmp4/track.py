"""One track's timeline: samples queued for the next fragment, with decode times,
durations and composition offsets worked out from the feed's pts/dts.

Decode times (``tfdt``) are unsigned, and a stream with B-frames starts with a
dts before its pts (dts = pts - reordering delay). So decode times count from
an *origin* (by default the first sample's dts), and every composition offset
is shifted by the first sample's pts - dts (the "composition shift")::

    decode time        = dts - origin
    composition offset = (pts - dts) - (first_pts - first_dts)
    composition time   = decode time + offset = pts - first_pts   (origin = first dts)

The first frame is then presented at time 0, not one or two frames late, and
nothing needs an edit list (players disagree on those; MSE ignores most). The
offsets of B-frames become negative, which ``trun`` version 1 allows.

Durations are decode durations: the next sample's dts minus this one's, which
also carries gaps (an audio frame that came late) into the timeline. The last
sample queued uses ``next_dts`` when the caller knows it (the keyframe that
starts the next fragment), else its own duration.
"""

from __future__ import annotations

from nvr.fmp4.fragment import Sample, TrackRun

__all__ = ["TrackQueue"]


class TrackQueue:
    """Samples of one track waiting for their fragment. Not thread-safe; cheap."""

    def __init__(self, track_id: int, origin: int | None = None) -> None:
        """``origin``: the dts whose decode time is 0; None takes the first sample's.
        Tracks that must stay in sync with another give a common origin (0)."""
        self.track_id = track_id
        self._origin = origin
        self._shift: int | None = None  # first sample's pts - dts
        self._payloads: list[bytes] = []
        self._dts: list[int] = []
        self._pts: list[int] = []
        self._durations: list[int] = []
        self._keys: list[bool] = []
        self._last_dts: int | None = None
        self._last_duration = 0

    def __len__(self) -> int:
        return len(self._payloads)

    @property
    def shift(self) -> int:
        """The composition shift in ticks (0 until the first sample)."""
        return self._shift or 0

    def add(self, payload: bytes, dts: int, duration: int, keyframe: bool = True,
            pts: int | None = None) -> None:
        """Queue one sample; ``pts`` defaults to ``dts`` (audio, streams without B-frames).

        ValueError for a dts before the previous one or before the origin, or a pts
        before the dts: the timeline would run backwards.
        """
        pts = dts if pts is None else pts
        origin = dts if self._origin is None else self._origin
        if dts < origin or (self._last_dts is not None and dts < self._last_dts):
            raise ValueError(f"track {self.track_id}: dts {dts} goes backwards")
        if pts < dts:
            raise ValueError(f"track {self.track_id}: pts {pts} before dts {dts}")
        if self._shift is None:
            self._shift = pts - dts
        self._origin = origin
        self._last_dts = dts
        self._payloads.append(payload)
        self._dts.append(dts)
        self._pts.append(pts)
        self._durations.append(duration)
        self._keys.append(keyframe)

    def take(self, next_dts: int | None = None) -> TrackRun | None:
        """The queued samples as a run for :func:`nvr.fmp4.fragment.fragment` (None if
        nothing is queued), and an empty queue."""
        if not self._payloads:
            return None
        dts, pts, payloads = self._dts, self._pts, self._payloads
        origin = self._origin or 0
        shift = self.shift
        samples = []
        last = len(dts) - 1
        for i, payload in enumerate(payloads):
            if i < last:
                duration = dts[i + 1] - dts[i]
            elif next_dts is not None and next_dts > dts[i]:
                duration = next_dts - dts[i]
            else:  # its own; if unknown (0), the one before (a live frame's is unknown)
                duration = self._durations[i] or self._last_duration or 1
            if duration > 0:
                self._last_duration = duration
            samples.append(Sample(len(payload), duration, self._keys[i],
                                  pts[i] - dts[i] - shift))
        run = TrackRun(self.track_id, dts[0] - origin, samples, payloads)
        self._payloads, self._dts, self._pts, self._durations, self._keys = [], [], [], [], []
        return run
