import struct

from hypothesis import given
from hypothesis import strategies as st

from nvr.rtsp.rtp import SeqTracker, build_rtp, parse_rtp


def test_parse_rtp_plain_packet_all_fields():
    data = build_rtp(65535, 0xDEADBEEF, True, 96, 0x12345678, b"\x65abc")
    pkt = parse_rtp(data)
    assert pkt is not None
    assert (pkt.seq, pkt.ts, pkt.marker, pkt.pt, pkt.ssrc) == (
        65535,
        0xDEADBEEF,
        True,
        96,
        0x12345678,
    )
    assert pkt.payload == b"\x65abc"


def test_parse_rtp_marker_clear_is_false():
    pkt = parse_rtp(build_rtp(1, 2, False, 97, 3, b"x"))
    assert pkt is not None and pkt.marker is False and pkt.pt == 97


def test_parse_rtp_wrong_version_returns_none():
    data = bytearray(build_rtp(1, 2, False, 96, 3, b"x"))
    data[0] = 0x40
    assert parse_rtp(bytes(data)) is None


def test_parse_rtp_short_packet_returns_none():
    assert parse_rtp(b"\x80\x60\x00") is None
    assert parse_rtp(b"") is None


def test_parse_rtp_csrc_and_extension_stripped():
    head = struct.pack("!BBHII", 0x80 | 0x10 | 2, 96, 7, 9000, 1)
    csrcs = struct.pack("!II", 11, 22)
    ext = struct.pack("!HH", 0xBEDE, 2) + b"\x01" * 8
    pkt = parse_rtp(head + csrcs + ext + b"payload")
    assert pkt is not None
    assert pkt.payload == b"payload"
    assert pkt.seq == 7 and pkt.ts == 9000


def test_parse_rtp_padding_stripped():
    pkt = parse_rtp(build_rtp(1, 2, True, 96, 3, b"hello", padding=4))
    assert pkt is not None and pkt.payload == b"hello"


def test_parse_rtp_invalid_padding_returns_none():
    head = struct.pack("!BBHII", 0xA0, 96, 1, 2, 3)
    assert parse_rtp(head + b"ab\x09") is None  # pad count past the header
    assert parse_rtp(head + b"ab\x00") is None  # pad count 0


def test_parse_rtp_extension_past_end_returns_none():
    head = struct.pack("!BBHII", 0x90, 96, 1, 2, 3)
    assert parse_rtp(head + struct.pack("!HH", 0xBEDE, 10) + b"abc") is None
    assert parse_rtp(head + b"\xbe\xde") is None


def test_parse_rtp_memoryview_input_gives_memoryview_payload():
    data = build_rtp(1, 2, False, 96, 3, b"abcdef")
    pkt = parse_rtp(memoryview(data))
    assert pkt is not None and bytes(pkt.payload) == b"abcdef"


@given(st.binary(max_size=64))
def test_parse_rtp_garbage_never_raises(data):
    pkt = parse_rtp(data)
    if pkt is not None:
        assert len(pkt.payload) <= len(data) - 12


def test_push_seq_tracker_in_order_reports_no_loss():
    t = SeqTracker()
    assert [t.push(s) for s in (10, 11, 12)] == [0, 0, 0]
    assert t.lost == 0 and t.received == 3


def test_push_seq_tracker_gap_counts_lost():
    t = SeqTracker()
    t.push(10)
    assert t.push(14) == 3
    assert t.lost == 3
    assert t.push(15) == 0


def test_push_seq_tracker_wrap_is_not_loss():
    t = SeqTracker()
    assert [t.push(s) for s in (65534, 65535, 0, 1)] == [0, 0, 0, 0]
    t2 = SeqTracker()
    t2.push(65535)
    assert t2.push(2) == 2


def test_push_seq_tracker_duplicate_and_old_dropped():
    t = SeqTracker()
    for s in (100, 101, 102):
        t.push(s)
    assert t.push(102) == -1
    assert t.push(95) == -1
    assert t.push(103) == 0
    assert t.dropped == 2 and t.lost == 0


def test_push_seq_tracker_far_back_resyncs():
    t = SeqTracker()
    t.push(30000)
    assert t.push(5) == 0
    assert t.resyncs == 1
    assert t.push(6) == 0
