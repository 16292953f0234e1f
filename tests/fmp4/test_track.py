"""TrackQueue: decode times, durations and the composition shift."""

from __future__ import annotations

import pytest

from nvr.fmp4 import TrackQueue

F = 3600  # one frame at 25 fps, 90 kHz

# I0 P3 B1 B2 | I4 ...: decode order, presentation times in frames, reorder delay 1 frame
GOP = [(0, True), (3, False), (1, False), (2, False)]


def _queue_gop(q: TrackQueue, start: int = 0) -> None:
    for i, (shown, key) in enumerate(GOP):
        q.add(b"x" * (i + 1), dts=(start + i - 1) * F, duration=F, keyframe=key,
              pts=(start + shown) * F)


def test_first_frame_of_a_b_frame_stream_is_presented_at_zero():
    q = TrackQueue(1)
    _queue_gop(q)
    run = q.take(next_dts=3 * F)
    assert run is not None
    decode = run.base_decode_time
    shown = []
    for sample in run.samples:
        shown.append(decode + sample.composition_offset)
        decode += sample.duration
    assert shown == [0, 3 * F, 1 * F, 2 * F]
    assert min(s.composition_offset for s in run.samples) < 0  # B-frames: trun v1


def test_decode_times_continue_across_fragments():
    q = TrackQueue(1)
    _queue_gop(q)
    q.take(next_dts=3 * F)
    _queue_gop(q, start=4)
    run = q.take()
    assert run is not None
    assert run.base_decode_time == 4 * F  # dts 3F, counted from the first dts (-F)
    first = run.samples[0]
    assert run.base_decode_time + first.composition_offset == 4 * F  # I4 shown at 4 frames


def test_durations_come_from_decode_times_and_the_next_dts():
    q = TrackQueue(1)
    for dts in (0, 3000, 7000):
        q.add(b"f", dts=dts, duration=F)
    run = q.take(next_dts=10_000)
    assert run is not None and [s.duration for s in run.samples] == [3000, 4000, 3000]
    q.add(b"f", dts=10_000, duration=F)
    run = q.take()  # next dts unknown: the frame's own duration
    assert run is not None and [s.duration for s in run.samples] == [F]


def test_unknown_duration_takes_the_previous_one():
    q = TrackQueue(1)
    q.add(b"f", dts=0, duration=0)
    q.add(b"f", dts=3000, duration=0)
    q.take()
    q.add(b"f", dts=6000, duration=0)  # a live frame: one per fragment, duration unknown
    run = q.take()
    assert run is not None and run.samples[0].duration == 3000


def test_common_origin_keeps_a_track_on_the_segment_clock():
    q = TrackQueue(2, origin=0)
    q.add(b"aac", dts=480, duration=1024)
    run = q.take()
    assert run is not None and run.base_decode_time == 480
    assert q.take() is None


def test_timeline_running_backwards_is_refused():
    q = TrackQueue(1)
    q.add(b"f", dts=F, duration=F)
    with pytest.raises(ValueError, match="goes backwards"):
        q.add(b"f", dts=0, duration=F)
    with pytest.raises(ValueError, match="before dts"):
        q.add(b"f", dts=2 * F, duration=F, pts=F)
