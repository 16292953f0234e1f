"""Aggregate messages (type 22): split into the audio, video and data messages inside,
timestamps moved onto the aggregate's; bad ones are a ProtocolError, never more."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_protocol import AVC_HEADER, KEYFRAME, Client

from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import Message
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.events import ConnectionFailed, MediaReceived


def _sub(type_id: int, ts: int, body: bytes) -> bytes:
    header = bytes((type_id,)) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(
        3, "big") + bytes((ts >> 24 & 0xFF,)) + bytes(3)
    return header + body + (11 + len(body)).to_bytes(4, "big")


def test_an_aggregate_splits_with_timestamps_on_the_aggregates() -> None:
    payload = (_sub(msg.VIDEO, 0x01000000 + 1000, b"\x17\x01\x00\x00\x00frame")
               + _sub(msg.AUDIO, 0x01000000 + 1040, b"\xaf\x01aac")
               + _sub(msg.DATA_AMF0, 0x01000000 + 1080, b"\x02\x00\x01x"))
    subs = msg.split_aggregate(Message(msg.AGGREGATE, 1, 5000, payload))
    assert [(m.type_id, m.stream_id, m.timestamp, m.payload) for m in subs] == [
        (msg.VIDEO, 1, 5000, b"\x17\x01\x00\x00\x00frame"),
        (msg.AUDIO, 1, 5040, b"\xaf\x01aac"),
        (msg.DATA_AMF0, 1, 5080, b"\x02\x00\x01x")]
    wrapped = msg.split_aggregate(Message(msg.AGGREGATE, 1, 0xFFFFFFF0,
                                          _sub(msg.VIDEO, 0, b"a") + _sub(msg.VIDEO, 40, b"b")))
    assert [m.timestamp for m in wrapped] == [0xFFFFFFF0, 24]  # 32-bit wrap


def _publishing() -> tuple[Client, int]:
    client = Client()
    client.connect()
    sid = client.create_stream()
    client.call("publish", 5.0, None, "agg", "live", stream_id=sid)
    client.conn.accept_publish(sid)
    client.received()
    return client, sid


def test_a_publishers_aggregate_becomes_media_events_a_bad_one_ends_the_connection() -> None:
    client, sid = _publishing()
    aggregate = Message(msg.AGGREGATE, sid, 2000, _sub(msg.VIDEO, 300, AVC_HEADER)
                        + _sub(msg.VIDEO, 300, KEYFRAME) + _sub(msg.AUDIO, 323, b"\xaf\x01a"))
    events = client.send(aggregate, Message(msg.AUDIO, sid, 2046, b"\xaf\x01b"), csid=6)
    assert events == [MediaReceived(sid, "video", 2000, AVC_HEADER),
                      MediaReceived(sid, "video", 2000, KEYFRAME),
                      MediaReceived(sid, "audio", 2023, b"\xaf\x01a"),
                      MediaReceived(sid, "audio", 2046, b"\xaf\x01b")]
    bad = Message(msg.AGGREGATE, sid, 2100, _sub(msg.VIDEO, 0, KEYFRAME)[:-10])
    events = client.send(bad, csid=6)
    assert [type(e) for e in events] == [ConnectionFailed] and client.conn.closed
    assert "aggregate" in events[0].reason


@pytest.mark.parametrize("payload", [
    _sub(msg.VIDEO, 0, b"abc")[:-5],  # body past the end
    _sub(msg.VIDEO, 0, b"abc") + b"\x09\x00",  # stray bytes
    _sub(msg.COMMAND_AMF0, 0, b"\x02\x00\x01x"),  # a command inside
    _sub(msg.AGGREGATE, 0, b""),  # nested
])
def test_a_bad_aggregate_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        msg.split_aggregate(Message(msg.AGGREGATE, 1, 0, payload))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 0xFFFFFFFF))
def test_fuzzed_aggregates_split_or_raise_protocol_error(payload: bytes, ts: int) -> None:
    try:
        subs = msg.split_aggregate(Message(msg.AGGREGATE, 1, ts, payload))
    except ProtocolError:
        return
    assert sum(11 + len(m.payload) + 4 for m in subs) == len(payload)
    assert all(0 <= m.timestamp <= 0xFFFFFFFF and m.stream_id == 1 for m in subs)


_SUBS = st.lists(st.tuples(st.sampled_from([msg.AUDIO, msg.VIDEO, msg.DATA_AMF0]),
                           st.integers(0, 0xFFFFFFFF), st.binary(max_size=40)),
                 min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(_SUBS, st.integers(0, 0xFFFFFFFF))
def test_built_aggregates_split_back_into_their_messages(subs, ts: int) -> None:
    payload = b"".join(_sub(t, sub_ts, body) for t, sub_ts, body in subs)
    got = msg.split_aggregate(Message(msg.AGGREGATE, 3, ts, payload))
    first = subs[0][1]
    assert [(m.type_id, m.timestamp, m.payload) for m in got] == [
        (t, (ts + sub_ts - first) % 2**32, body) for t, sub_ts, body in subs]
