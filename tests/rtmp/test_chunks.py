import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.rtmp.chunks import (
    MAX_CHUNK_STREAMS,
    ChunkReader,
    ChunkWriter,
    Message,
    encode_delta,
    encode_message,
)
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.messages import abort, set_chunk_size


def _feed_bytewise(reader: ChunkReader, data: bytes) -> list[Message]:
    out = []
    for i in range(len(data)):
        out += reader.feed(data[i:i + 1])
    return out


def test_encode_type0_header_exact_bytes():
    data = encode_message(Message(9, 1, 0x123456, b"abc"), 6, 128)
    assert data == b"\x06\x12\x34\x56\x00\x00\x03\x09\x01\x00\x00\x00abc"


def test_encode_splits_at_chunk_size_with_type3_continuations():
    data = encode_message(Message(9, 1, 10, b"x" * 300), 6, 128)
    assert data[12:140] == b"x" * 128
    assert data[140] == 0xC6 and data[269] == 0xC6
    assert len(data) == 12 + 300 + 2


def test_encode_extended_timestamp_repeated_on_continuations():
    data = encode_message(Message(9, 1, 0x01000000, b"y" * 200), 6, 128)
    assert data[1:4] == b"\xff\xff\xff"
    assert data[12:16] == b"\x01\x00\x00\x00"
    assert data[144:149] == b"\xc6\x01\x00\x00\x00"  # ffmpeg/librtmp repeat it
    assert ChunkReader().feed(data) == [Message(9, 1, 0x01000000, b"y" * 200)]


@pytest.mark.parametrize(("csid", "header"), [
    (2, b"\x02"), (63, b"\x3f"), (64, b"\x00\x00"), (319, b"\x00\xff"),
    (320, b"\x01\x00\x01"), (65599, b"\x01\xff\xff"),
])
def test_basic_header_forms_round_trip(csid, header):
    data = encode_message(Message(8, 1, 5, b"a"), csid, 128)
    assert data.startswith(header)
    assert ChunkReader().feed(data) == [Message(8, 1, 5, b"a")]


def test_encode_refuses_bad_csid():
    with pytest.raises(ValueError, match="chunk stream id 1"):
        encode_message(Message(8, 1, 0, b""), 1, 128)


def test_writer_compresses_headers_type1_type2_type3():
    writer = ChunkWriter()
    first = writer.write(Message(8, 1, 1000, b"aa"), 4)
    second = writer.write(Message(8, 1, 1023, b"bbb"), 4)  # new length: type 1
    third = writer.write(Message(8, 1, 1050, b"ccc"), 4)  # same length: type 2
    fourth = writer.write(Message(8, 1, 1077, b"ddd"), 4)  # same delta too: type 3
    assert [b[0] >> 6 for b in (first, second, third, fourth)] == [0, 1, 2, 3]
    assert second == b"\x44\x00\x00\x17\x00\x00\x03\x08bbb"
    assert fourth == b"\xc4ddd"
    reader = ChunkReader()
    assert [m.timestamp for m in reader.feed(first + second + third + fourth)] == [
        1000, 1023, 1050, 1077]


def test_writer_uses_type0_for_backwards_time_or_new_stream_id():
    writer = ChunkWriter()
    writer.write(Message(8, 1, 1000, b"a"), 4)
    assert writer.write(Message(8, 1, 999, b"a"), 4)[0] >> 6 == 0
    assert writer.write(Message(8, 2, 1000, b"a"), 4)[0] >> 6 == 0


def test_reader_type3_new_message_applies_previous_delta():
    # type 0 at 100, type 2 delta 40, then two type-3 chunks each starting a message
    data = (b"\x04\x00\x00\x64\x00\x00\x01\x08\x01\x00\x00\x00a"
            b"\x84\x00\x00\x28b" b"\xc4c" b"\xc4d")
    assert [m.timestamp for m in ChunkReader().feed(data)] == [100, 140, 180, 220]


def test_reader_timestamp_deltas_wrap_at_32_bits():
    data = (b"\x04\xff\xff\xff\x00\x00\x01\x08\x01\x00\x00\x00\xff\xff\xff\xf0a"
            b"\x84\x00\x00\x20b")
    assert [m.timestamp for m in ChunkReader().feed(data)] == [0xFFFFFFF0, 0x10]


def test_stream_across_24_bit_timestamp_wrap_round_trips():
    writer, reader = ChunkWriter(128), ChunkReader()
    stamps = [0xFFFF00 + 40 * i for i in range(20)]  # crosses 0xFFFFFF ms (4 h 39 min)
    data = b"".join(writer.write(Message(9, 1, ts, bytes(300)), 6) for ts in stamps)
    assert [m.timestamp for m in reader.feed(data)] == stamps


def test_delta_chunks_are_the_same_for_any_start_and_cross_both_wraps():
    """Format-1 chunks carry only a delta: one encoding serves receivers whose
    timestamps differ (the server's per-player start), across 0xFFFFFF (an extended
    delta too) and the 32-bit wrap."""
    deltas = [40, 0, 0x1000000, 40, 3000]  # 0x1000000: an extended delta
    shared = b"".join(encode_delta(Message(9, 0, 0, bytes(300)), 6, 128, d) for d in deltas)
    for start in (0, 0xFFFF00, 0xFFFFFFF0):
        head = encode_message(Message(9, 3, start, b"key"), 6, 128)
        got = ChunkReader().feed(head + shared)
        expected, ts = [start], start
        for d in deltas:
            ts = (ts + d) & 0xFFFFFFFF
            expected.append(ts)
        assert [m.timestamp for m in got] == expected
        assert [m.stream_id for m in got] == [3] * 6  # the first message's stream id


def test_reader_tolerates_continuation_without_repeated_extended_timestamp():
    head = b"\x06\xff\xff\xff\x00\x00\xc8\x09\x01\x00\x00\x00\x01\x00\x00\x00"
    data = head + b"p" * 128 + b"\xc6" + b"q" * 72  # no extended timestamp on the type 3
    assert ChunkReader().feed(data) == [Message(9, 1, 0x01000000, b"p" * 128 + b"q" * 72)]


def test_reader_applies_peer_set_chunk_size_mid_buffer():
    writer = ChunkWriter()
    data = writer.write(set_chunk_size(4096), 2)
    writer.set_chunk_size(4096)
    data += writer.write(Message(9, 1, 0, b"z" * 3000), 6)
    reader = ChunkReader()
    out = _feed_bytewise(reader, data)
    assert out[1] == Message(9, 1, 0, b"z" * 3000) and reader.chunk_size == 4096


@pytest.mark.parametrize("size", [0, 16 * 1024 * 1024 + 1, 0x7FFFFFFF])
def test_reader_refuses_absurd_chunk_size(size):
    with pytest.raises(ProtocolError, match="chunk size"):
        ChunkReader().feed(ChunkWriter().write(Message(1, 0, 0, struct.pack(">I", size)), 2))


def test_reader_abort_discards_partial_message():
    writer = ChunkWriter()
    partial = writer.write(Message(9, 1, 0, b"a" * 200), 6)[:140]  # first chunk only
    data = partial + writer.write(abort(6), 2) + encode_message(Message(9, 1, 5, b"ok"), 6, 128)
    messages = ChunkReader().feed(data)
    assert messages[-1] == Message(9, 1, 5, b"ok") and len(messages) == 2


def test_reader_refuses_message_over_limit():
    data = b"\x06\x00\x00\x00\x80\x00\x01\x09\x01\x00\x00\x00"  # 8 MiB + 1
    with pytest.raises(ProtocolError, match="message of 8388609 bytes"):
        ChunkReader().feed(data)


def test_reader_refuses_first_chunk_not_type0():
    with pytest.raises(ProtocolError, match="starts with format 1"):
        ChunkReader().feed(b"\x46\x00\x00\x00\x00\x00\x01\x09a")


def test_reader_refuses_new_header_inside_a_message():
    data = encode_message(Message(9, 1, 0, b"a" * 200), 6, 128)[:140]
    with pytest.raises(ProtocolError, match="format 0 header inside a message"):
        ChunkReader().feed(data + encode_message(Message(9, 1, 0, b"b"), 6, 128))


def test_reader_limits_open_chunk_streams():
    # the first chunk (2 + 11 + 128 bytes) of a 200-byte message on each chunk stream
    data = b"".join(encode_message(Message(9, 1, 0, b"a" * 200), csid, 128)[:141]
                    for csid in range(100, 100 + MAX_CHUNK_STREAMS + 1))
    with pytest.raises(ProtocolError, match="more than 64 chunk streams"):
        ChunkReader().feed(data)


def test_reader_counts_bytes_received():
    reader = ChunkReader()
    reader.feed(b"\x06\x00")
    reader.feed(b"\x00")
    assert reader.bytes_received == 3


def test_zero_length_message():
    assert ChunkReader().feed(encode_message(Message(18, 1, 0, b""), 5, 128)) == [
        Message(18, 1, 0, b"")]


_messages = st.lists(st.tuples(
    st.sampled_from([8, 9, 18, 20]), st.integers(0, 3), st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=600), st.sampled_from([3, 4, 6, 64, 400])), max_size=8)


@settings(max_examples=100, deadline=None)
@given(_messages, st.sampled_from([1, 60, 128, 4096]), st.data())
def test_fuzz_writer_reader_round_trip_any_split(specs, chunk_size, data):
    writer = ChunkWriter()
    stream = writer.write(set_chunk_size(chunk_size), 2)
    writer.set_chunk_size(chunk_size)
    sent = [Message(t, sid, ts, body) for t, sid, ts, body, _ in specs]
    for message, (*_, csid) in zip(sent, specs, strict=True):
        stream += writer.write(message, csid)
    reader, got = ChunkReader(), []
    pos = 0
    while pos < len(stream):
        step = data.draw(st.integers(1, 700))
        got += reader.feed(stream[pos:pos + step])
        pos += step
    assert [(m.type_id, m.stream_id, m.payload) for m in got[1:]] == [
        (m.type_id, m.stream_id, m.payload) for m in sent]
    # timestamps per chunk stream survive compression (type-0 restarts when they go back)
    assert [m.timestamp for m in got[1:]] == [m.timestamp for m in sent]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_garbage_raises_only_protocol_error(data):
    try:
        ChunkReader().feed(data)
    except ProtocolError:
        pass


def test_reader_bounds_bytes_held_in_unfinished_messages():
    # three 8 MiB messages started at once would hold 24 MiB: refused at the third
    data = b"".join(encode_message(Message(9, 1, 0, b"a" * 200), csid, 128)[:140]
                    for csid in (3, 4, 5))
    data = bytearray(data)
    for start in (0, 140, 280):
        data[start + 4:start + 7] = (8 * 1024 * 1024).to_bytes(3, "big")
    with pytest.raises(ProtocolError, match="unfinished messages"):
        ChunkReader().feed(bytes(data))


def test_reader_type3_after_type0_repeats_the_type0_timestamp_as_delta():
    # ffmpeg and SRS: after a format-0 chunk the "delta" is its absolute timestamp
    data = b"\x04\x00\x00\x64\x00\x00\x01\x08\x01\x00\x00\x00a" b"\xc4b"
    assert [m.timestamp for m in ChunkReader().feed(data)] == [100, 200]
