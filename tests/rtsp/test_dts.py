"""Decode timestamps derived from presentation times at ingest."""

from __future__ import annotations

from nvr.rtsp.dts import DecodeTimestamps

D = 3600


def _run(order: list[int], keys: set[int]) -> list[int]:
    est = DecodeTimestamps()
    return [est.next(p * D, p in keys) for p in order]


def test_without_b_frames_dts_equals_pts():
    pts = list(range(20))
    assert _run(pts, {0, 10}) == [p * D for p in pts]


def test_b_frames_get_rising_dts_never_after_pts_once_learned():
    # I0 P3 B1 B2 P6 B4 B5 ... in decode order, GOP of 12, two GOPs after the first
    gop = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 11, 10]
    order = [p + 12 * g for g in range(3) for p in gop]
    keys = {0, 12, 24}
    est = DecodeTimestamps()
    out = [(p, est.next(p * D, p in keys)) for p in order]
    later = out[12:]  # from the second keyframe on, the reorder depth is known
    dts = [d for _, d in later]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)
    assert all(d <= p * D for p, d in later)
    assert est.reorder == 1 and est.frame_ticks == D
    assert dts[0] == 12 * D - D  # the keyframe is decoded one frame before it is shown


def test_first_reordered_frame_counts_as_late_and_next_keyframe_restarts():
    est = DecodeTimestamps()
    for p, key in [(0, True), (3, False), (1, False), (2, False)]:
        est.next(p * D, key)
    assert est.late == 2
    assert est.next(6 * D, True) == 5 * D  # a consistent timeline from this keyframe on


def test_reorder_depth_from_the_sps_makes_the_first_gop_consistent():
    est = DecodeTimestamps()
    est.expect_reorder(1)
    order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    out = [(p * D, est.next(p * D, p == 0)) for p in order]
    dts = [d for _, d in out]
    assert est.late == 0
    assert dts == sorted(dts) and all(d <= p for p, d in out)
