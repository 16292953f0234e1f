"""moof + mdat: what a reader finds where."""

from __future__ import annotations

import pytest
from fmp4_media import parse_trun

from nvr.fmp4 import Sample, TrackRun, fragment
from nvr.fmp4.boxes import find, read_boxes


def _samples(payloads: list[bytes], offsets: list[int] | None = None) -> list[Sample]:
    offsets = offsets or [0] * len(payloads)
    return [Sample(len(p), 3600, i == 0, offsets[i]) for i, p in enumerate(payloads)]


def _runs(data: bytes) -> list[tuple[int, int, list[bytes], list[tuple[int, int, int, int]]]]:
    """(track id, base decode time, payloads found through the data offsets, trun rows)."""
    boxes = read_boxes(data)
    (moof,) = [b for b in boxes if b.kind == b"moof"]
    out = []
    for traf in find(boxes, b"traf"):
        tfhd, tfdt, trun = traf.children
        assert int.from_bytes(tfhd.payload[1:4], "big") & 0x020000  # default-base-is-moof
        assert tfdt.payload[0] == 1  # version 1: 64-bit decode time
        assert trun.payload[0] == 1  # version 1: signed composition offsets
        offset, rows = parse_trun(trun.payload)
        position = moof.offset + offset
        payloads = []
        for _, size, _, _ in rows:
            payloads.append(data[position : position + size])
            position += size
        out.append((int.from_bytes(tfhd.payload[4:8], "big"),
                    int.from_bytes(tfdt.payload[4:12], "big"), payloads, rows))
    return out


def test_one_track_data_offsets_point_at_the_payloads():
    payloads = [b"key-frame", b"p1", b"p-frame-2"]
    data = fragment(7, [TrackRun(1, 90_000, _samples(payloads), payloads)])
    boxes = read_boxes(data)
    assert [b.kind for b in boxes] == [b"moof", b"mdat"]
    assert boxes[1].payload == b"".join(payloads)
    (mfhd,) = find(boxes, b"mfhd")
    assert int.from_bytes(mfhd.payload[4:8], "big") == 7
    ((track, base, found, rows),) = _runs(data)
    assert (track, base, found) == (1, 90_000, payloads)
    assert [r[0] for r in rows] == [3600] * 3
    assert [r[2] for r in rows] == [0x02000000, 0x01010000, 0x01010000]  # sync, non-sync


def test_two_tracks_in_one_fragment():
    video = [b"V" * 50, b"v" * 7]
    audio = [b"a1" * 3, b"a2" * 4, b"a3"]
    data = fragment(1, [(1, 0, _samples(video), video),
                        (2, 480, [Sample(len(p), 1024) for p in audio], audio)])
    runs = _runs(data)
    assert [(r[0], r[1], r[2]) for r in runs] == [(1, 0, video), (2, 480, audio)]


def test_negative_composition_offsets_are_written_signed():
    payloads = [b"I", b"P", b"B", b"B"]
    data = fragment(1, [TrackRun(1, 0, _samples(payloads, [0, 7200, -3600, 0]), payloads)])
    ((_, _, _, rows),) = _runs(data)
    assert [r[3] for r in rows] == [0, 7200, -3600, 0]


def test_tracks_without_samples_are_left_out():
    data = fragment(1, [TrackRun(1, 0, [], []), TrackRun(2, 0, [Sample(2, 1024)], [b"aa"])])
    assert [r[0] for r in _runs(data)] == [2]
    with pytest.raises(ValueError, match="at least one sample"):
        fragment(1, [TrackRun(1, 0, [], [])])


def test_sample_size_must_match_its_payload():
    with pytest.raises(ValueError, match="sample size 3"):
        fragment(1, [TrackRun(1, 0, [Sample(3, 1)], [b"four"])])
    with pytest.raises(ValueError, match="2 samples, 1 payloads"):
        fragment(1, [TrackRun(1, 0, [Sample(1, 1), Sample(1, 1)], [b"x"])])
