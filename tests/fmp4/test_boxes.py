"""Box primitives: what a reader of ISO BMFF sees."""

from __future__ import annotations

import struct

from nvr.fmp4.boxes import box, find, full_box, read_boxes


def test_box_header_is_size_then_type():
    data = box(b"free", b"abc", b"de")
    assert data == struct.pack(">I4s", 13, b"free") + b"abcde"


def test_full_box_carries_version_and_flags():
    data = full_box(b"tfhd", 1, 0x020000, b"\x00\x00\x00\x07")
    size, kind, version, flags = struct.unpack(">I4sB3s", data[:12])
    assert (size, kind, version, int.from_bytes(flags, "big")) == (16, b"tfhd", 1, 0x020000)
    assert data[12:] == b"\x00\x00\x00\x07"


def test_read_boxes_recurses_into_containers():
    data = box(b"moov", box(b"mvhd", b"x"), box(b"trak", box(b"tkhd", b"yy"))) + box(b"mdat")
    top = read_boxes(data)
    assert [b.kind for b in top] == [b"moov", b"mdat"]
    assert [b.kind for b in top[0].children] == [b"mvhd", b"trak"]
    (tkhd,) = find(top, b"tkhd")
    assert tkhd.payload == b"yy"
    assert data[tkhd.offset : tkhd.offset + tkhd.size] == box(b"tkhd", b"yy")


def test_read_boxes_stops_at_a_box_cut_short():
    data = box(b"moof", b"a" * 20) + box(b"mdat", b"b" * 100)
    assert [b.kind for b in read_boxes(data[:-1])] == [b"moof"]
    assert [b.kind for b in read_boxes(data[:5])] == []


def test_read_boxes_understands_64_bit_and_to_end_sizes():
    large = struct.pack(">I4sQ", 1, b"mdat", 16 + 3) + b"xyz"
    to_end = struct.pack(">I4s", 0, b"mdat") + b"rest"
    assert read_boxes(large)[0].payload == b"xyz"
    assert read_boxes(to_end)[0].payload == b"rest"
