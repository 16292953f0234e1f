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
    # the keyframe is decoded at least a frame before it is shown (the reorder depth),
    # with room for the leading pictures an open GOP would have
    assert dts[0] <= 12 * D - D


def test_first_reordered_frame_counts_as_late_and_next_keyframe_restarts():
    est = DecodeTimestamps()
    for p, key in [(0, True), (3, False), (1, False), (2, False)]:
        est.next(p * D, key)
    assert est.late == 2
    key = est.next(6 * D, True)  # a consistent timeline from this keyframe on
    after = [(p, est.next(p * D, False)) for p in (9, 7, 8)]
    assert key <= 5 * D and all(d <= p * D for p, d in after)
    assert [d for _, d in after] == sorted(d for _, d in after) and after[0][1] > key


def test_reorder_depth_from_the_sps_makes_the_first_gop_consistent():
    est = DecodeTimestamps()
    est.expect_reorder(1)
    order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    out = [(p * D, est.next(p * D, p == 0)) for p in order]
    dts = [d for _, d in out]
    assert est.late == 0
    assert dts == sorted(dts) and all(d <= p for p, d in out)


def test_open_gop_leading_pictures_get_dts_before_their_pts():
    # closed first GOP, then keyframes followed by three leading pictures shown before them
    est = DecodeTimestamps()
    est.expect_reorder(2)
    gop1 = [0, 4, 2, 1, 3, 8, 6, 5, 7]  # 9..11 are the next keyframe's leading pictures
    out = []
    for p in gop1:
        out.append((p, est.next(p * D, p == 0)))
    for g in range(3):
        base = 12 + 12 * g
        order = [base, base - 3, base - 2, base - 1, base + 4, base + 2, base + 1, base + 3,
                 base + 8, base + 6, base + 5, base + 7]
        out += [(p, est.next(p * D, p == base)) for p in order]
    later = out[len(gop1) + 12:]  # from the second open GOP on
    assert est.leading == 3
    dts = [d for _, d in later]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)
    assert all(d <= p * D for p, d in later)
