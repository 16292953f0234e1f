from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.rtmp import amf0
from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import ChunkReader, ChunkWriter, Message
from nvr.rtmp.events import (
    AcknowledgementReceived,
    BufferLengthSet,
    ConnectionFailed,
    ConnectRequested,
    HandshakeDone,
    MediaReceived,
    PauseRequested,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
)
from nvr.rtmp.handshake import ClientHandshake
from nvr.rtmp.protocol import MAX_HELD, ServerConnection, encode_media

AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff"
KEYFRAME = b"\x17\x01\x00\x00\x00" + bytes(500)


class Client:
    """A scripted RTMP client talking to one ServerConnection, in memory."""

    def __init__(self) -> None:
        self.conn = ServerConnection()
        self.writer, self.reader = ChunkWriter(), ChunkReader()
        hs = ClientHandshake()
        events = self.conn.receive_data(hs.start())
        c2 = hs.receive_data(self.conn.data_to_send())
        events += self.conn.receive_data(c2)
        assert events == [HandshakeDone()]

    def send(self, *messages: Message, csid: int = 3) -> list[Any]:
        data = b"".join(self.writer.write(m, csid) for m in messages)
        return self.conn.receive_data(data)

    def call(self, name: str, tid: float, obj: Any = None, *args: Any, stream_id: int = 0):
        return self.send(msg.command(stream_id, name, tid, obj, *args))

    def received(self) -> list[Message]:
        return self.reader.feed(self.conn.data_to_send())

    def commands(self) -> list[list[Any]]:
        return [amf0.decode(m.payload) for m in self.received() if m.type_id == 20]

    def connect(self, app: str = "live") -> None:
        events = self.call("connect", 1.0, {"app": app, "tcUrl": f"rtmp://h/{app}"})
        assert isinstance(events[0], ConnectRequested)
        self.conn.accept_connect()
        self.received()

    def create_stream(self) -> int:
        self.call("createStream", 4.0)
        return int(self.commands()[0][3])


def test_connect_answered_in_the_order_clients_expect():
    client = Client()
    events = client.call("connect", 1.0, {"app": "live?key=k", "tcUrl": "rtmp://h/live",
                                          "fourCcList": ["hvc1", "av01"],
                                          "objectEncoding": 0.0})
    assert events == [ConnectRequested("live", "rtmp://h/live", events[0].params, {"key": "k"},
                                       ["hvc1", "av01"])]
    client.conn.accept_connect(chunk_size=4096, four_cc_list=["hvc1"])
    out = client.received()
    assert [m.type_id for m in out] == [5, 6, 1, 20]
    assert client.reader.chunk_size == 4096 and client.conn.chunk_size == 4096
    result = amf0.decode(out[3].payload)
    assert result[:2] == ["_result", 1.0] and result[2]["fourCcList"] == ["hvc1"]
    assert result[3]["code"] == "NetConnection.Connect.Success"


def test_reject_connect_sends_rejected_and_closes():
    client = Client()
    client.call("connect", 1.0, {"app": "nope"})
    client.conn.reject_connect("Unknown application.")
    assert client.commands() == [["_error", 1.0, None, {
        "level": "error", "code": "NetConnection.Connect.Rejected",
        "description": "Unknown application."}]]
    assert client.conn.closed and client.call("createStream", 2.0) == []


def test_pipelined_commands_wait_for_the_connect_decision():
    client = Client()
    events = client.send(msg.command(0, "connect", 1.0, {"app": "live"}),
                         msg.command(0, "createStream", 2.0))
    assert [type(e) for e in events] == [ConnectRequested]
    assert client.conn.data_to_send() == b""
    client.conn.accept_connect()
    assert client.conn.receive_data(b"") == []
    assert [c[0:2] for c in client.commands()] == [["_result", 1.0], ["_result", 2.0]]


def test_publish_flow_like_ffmpeg():
    client = Client()
    client.connect()
    client.call("releaseStream", 2.0, None, "test")
    client.call("FCPublish", 3.0, None, "test")
    assert [c[:2] for c in client.commands()] == [["_result", 2.0], ["_result", 3.0]]
    sid = client.create_stream()
    assert sid == 1
    events = client.call("publish", 5.0, None, "test?key=abc", "live", stream_id=sid)
    assert events == [PublishRequested(1, "test", {"key": "abc"}, "live")]
    client.conn.accept_publish(sid)
    status = client.commands()[0]
    assert status[3]["code"] == "NetStream.Publish.Start" and status[3]["level"] == "status"
    meta = amf0.EcmaArray(width=320.0, height=240.0)
    events = client.send(msg.data(sid, 0, "@setDataFrame", "onMetaData", meta),
                         Message(9, sid, 0, AVC_HEADER), Message(9, sid, 0, KEYFRAME),
                         Message(8, sid, 23, b"\xaf\x01abc"), csid=6)
    assert events[0] == MediaReceived(sid, "data", 0, amf0.encode("onMetaData", meta), meta)
    assert events[1:] == [MediaReceived(sid, "video", 0, AVC_HEADER),
                          MediaReceived(sid, "video", 0, KEYFRAME),
                          MediaReceived(sid, "audio", 23, b"\xaf\x01abc")]
    assert client.call("FCUnpublish", 6.0, None, "test") == []
    assert client.call("deleteStream", 7.0, None, float(sid)) == [StreamDeleted(sid)]


def test_reject_publish_drops_media_sent_meanwhile():
    client = Client()
    client.connect()
    sid = client.create_stream()
    events = client.send(msg.command(sid, "publish", 5.0, None, "test"),
                         Message(9, sid, 0, KEYFRAME))
    assert [type(e) for e in events] == [PublishRequested]
    client.conn.reject_publish(sid, "NetStream.Publish.BadName", "Wrong key.")
    assert client.conn.receive_data(b"") == []  # the held keyframe is dropped
    assert client.commands()[0][3] == {"level": "error", "code": "NetStream.Publish.BadName",
                                       "description": "Wrong key."}


def test_play_flow_and_media_to_player():
    client = Client()
    client.connect()
    sid = client.create_stream()
    client.call("getStreamLength", 5.0, None, "cam")
    assert client.commands()[0] == ["_result", 5.0, None, 0.0]
    events = client.call("play", 6.0, None, "cam?token=t", -2000.0, stream_id=sid)
    assert events == [PlayRequested(sid, "cam", {"token": "t"}, -2000.0)]
    client.conn.accept_play(sid)
    out = client.received()
    assert msg.parse_user_control(out[0]) == msg.UserControl(msg.STREAM_BEGIN, sid)
    codes = [amf0.decode(m.payload)[3]["code"] for m in out[1:3]]
    assert codes == ["NetStream.Play.Reset", "NetStream.Play.Start"]
    assert amf0.decode(out[3].payload) == ["|RtmpSampleAccess", True, True]
    client.conn.send_media(sid, "video", 40, KEYFRAME)
    assert client.received() == [Message(9, sid, 40, KEYFRAME)]
    events = client.send(msg.user_control(msg.SET_BUFFER_LENGTH, sid, 3000), csid=2)
    assert events == [BufferLengthSet(sid, 3000)]
    assert client.call("pause", 0.0, None, True, 1234.0, stream_id=sid) == [
        PauseRequested(sid, True, 1234.0)]
    assert client.commands()[0][3]["code"] == "NetStream.Pause.Notify"
    client.conn.end_play(sid)
    out = client.received()
    assert amf0.decode(out[0].payload)[3]["code"] == "NetStream.Play.UnpublishNotify"
    assert msg.parse_user_control(out[1]) == msg.UserControl(msg.STREAM_EOF, sid)


def test_reject_play_stream_not_found():
    client = Client()
    client.connect()
    sid = client.create_stream()
    client.call("play", 6.0, None, "missing", stream_id=sid)
    client.conn.reject_play(sid)
    assert client.commands()[0][3]["code"] == "NetStream.Play.StreamNotFound"


def test_encoded_media_is_shared_bytes_across_players_and_survives_24_bit_wrap():
    players = [Client(), Client()]
    for player in players:
        player.connect()
        sid = player.create_stream()
        player.call("play", 6.0, None, "cam", stream_id=sid)
        player.conn.accept_play(sid)
        player.received()
    stamps = [0xFFFFF0 + 10 * i for i in range(4)]
    for ts in stamps:
        data = encode_media("video", 1, ts, KEYFRAME, players[0].conn.chunk_size)
        for player in players:
            player.conn.send_encoded(data)
    for player in players:
        assert [(m.timestamp, m.payload) for m in player.received()] == [
            (ts, KEYFRAME) for ts in stamps]


def test_acknowledgements_every_window_and_sequence_wraps():
    client = Client()
    client.send(msg.window_ack_size(5000), csid=2)
    client.connect()
    sid = client.create_stream()
    client.call("publish", 5.0, None, "test", stream_id=sid)
    client.conn.accept_publish(sid)
    client.received()
    client.send(Message(9, sid, 0, bytes(6000)), csid=6)
    acks = [m for m in client.received() if m.type_id == msg.ACKNOWLEDGEMENT]
    assert [msg.parse_u32(a) for a in acks] == [client.conn.bytes_received]
    # a long stream: the 32-bit sequence number wraps (counter moved near 2^32)
    client.conn._reader.bytes_received = client.conn._last_ack = 2**32 - 100
    client.send(Message(9, sid, 0, bytes(6000)), csid=6)
    acks = [m for m in client.received() if m.type_id == msg.ACKNOWLEDGEMENT]
    assert msg.parse_u32(acks[0]) == (client.conn.bytes_received) % 2**32 < 10000


def test_ping_answered_and_acknowledgement_reported():
    client = Client()
    client.connect()
    assert client.send(msg.ping_request(4242), csid=2) == []
    assert msg.parse_user_control(client.received()[0]) == msg.UserControl(
        msg.PING_RESPONSE, 4242)
    assert client.send(msg.acknowledgement(77), csid=2) == [AcknowledgementReceived(77)]


def test_unknown_command_gets_error_and_fc_subscribe_a_result():
    client = Client()
    client.connect()
    client.call("frobnicate", 9.0)
    client.call("FCSubscribe", 10.0, None, "cam")
    assert client.call("receiveVideo", 0.0, None, True) == []
    results = client.commands()
    assert results[0][0] == "_error" and results[0][3]["code"] == "NetConnection.Call.Failed"
    assert results[1][:2] == ["_result", 10.0] and len(results) == 2


def test_close_stream_ends_the_stream_but_keeps_its_id():
    client = Client()
    client.connect()
    sid = client.create_stream()
    assert client.call("closeStream", 0.0, stream_id=sid) == [StreamDeleted(sid)]
    assert client.conn.streams == {sid: ""}
    assert client.call("deleteStream", 0.0, None, 99.0) == []


@pytest.mark.parametrize(("first", "reason"), [
    (msg.command(0, "createStream", 2.0), "command 'createStream' before connect"),
    (Message(9, 1, 0, KEYFRAME), "message type 9 before connect"),
    (msg.command(1, "play", 2.0, None), "before connect"),
])
def test_commands_before_connect_fail_the_connection(first, reason):
    client = Client()
    events = client.send(first)
    assert len(events) == 1 and isinstance(events[0], ConnectionFailed)
    assert reason in events[0].reason and client.conn.closed


def test_publish_on_a_stream_never_created_fails():
    client = Client()
    client.connect()
    events = client.call("publish", 5.0, None, "x", stream_id=3)
    assert isinstance(events[0], ConnectionFailed) and "not an idle stream" in events[0].reason


def test_garbage_handshake_fails_the_connection():
    conn = ServerConnection()
    assert conn.receive_data(b"GET / HTTP/1.1\r\n") == [
        ConnectionFailed("this looks like HTTP, not RTMP")]
    assert conn.receive_data(b"more") == []


def test_flood_while_a_decision_is_pending_fails():
    client = Client()
    client.call("connect", 1.0, {"app": "live"})
    events = client.conn.receive_data(bytes(MAX_HELD + 1))
    assert isinstance(events[0], ConnectionFailed) and "before its request" in events[0].reason


def test_decision_without_request_is_a_server_bug():
    client = Client()
    with pytest.raises(RuntimeError, match="no connect request pending"):
        client.conn.accept_connect()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_after_connect_only_events_come_out(data):
    client = Client()
    client.connect()
    events = client.conn.receive_data(data)
    assert all(not isinstance(e, ConnectionFailed) for e in events[:-1])


_NAMES = ["connect", "createStream", "publish", "play", "pause", "deleteStream", "closeStream",
          "releaseStream", "FCPublish", "FCUnpublish", "getStreamLength", "other", "_result"]
_ARGS = st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=8),
                  st.dictionaries(st.sampled_from(["app", "tcUrl", "fourCcList"]),
                                  st.one_of(st.text(max_size=5), st.lists(st.text(max_size=4),
                                                                          max_size=2))))
_COMMANDS = st.lists(st.tuples(st.sampled_from(_NAMES), st.floats(), st.integers(0, 3),
                               st.lists(_ARGS, max_size=3)), max_size=8)


@settings(max_examples=120, deadline=None)
@given(_COMMANDS, st.booleans())
def test_fuzz_command_sequences_never_raise(commands, accept):
    """Any command sequence ends in events (at worst ConnectionFailed), never an exception."""
    client = Client()
    for name, tid, sid, args in commands:
        for event in client.call(name, tid, *(args or [None]), stream_id=sid):
            verb = "accept" if accept else "reject"
            if isinstance(event, ConnectRequested):
                getattr(client.conn, f"{verb}_connect")()
            elif isinstance(event, PublishRequested | PlayRequested):
                kind = "publish" if isinstance(event, PublishRequested) else "play"
                getattr(client.conn, f"{verb}_{kind}")(event.stream_id)
        client.conn.receive_data(b"")
        client.received()


def test_state_follows_the_connection_for_the_servers_timeouts():
    conn = ServerConnection()
    assert conn.state == "handshake"
    client = Client()
    assert client.conn.state == "connect"
    client.call("connect", 1.0, {"app": "live"})
    assert client.conn.state == "deciding"
    client.conn.accept_connect()
    client.received()
    assert client.conn.state == "connected"
    sid = client.create_stream()
    client.call("publish", 2.0, None, "cam", stream_id=sid)
    client.conn.accept_publish(sid)
    assert client.conn.publishing == [sid]
    client.call("closeStream", 0.0, stream_id=sid)
    assert client.conn.publishing == []
    client.send(Message(99, 0, 0, b""), csid=2)  # an unknown type is ignored, not fatal
    assert client.conn.state == "connected"


def test_commands_after_shared_media_bytes_still_parse():
    """Format-0 media on its own chunk streams leaves the command compression intact."""
    client = Client()
    client.connect()
    for sid in (client.create_stream(), client.create_stream()):
        client.call("play", 6.0, None, "cam", stream_id=sid)
        client.conn.accept_play(sid)
        client.conn.send_media(sid, "data", 0, amf0.encode("onMetaData", {"w": 1.0}))
        client.conn.send_media(sid, "video", 0, KEYFRAME)
    out = client.received()
    assert [amf0.decode(m.payload)[0] for m in out if m.type_id == 18] == [
        "|RtmpSampleAccess", "onMetaData"] * 2
    assert [m.stream_id for m in out if m.type_id == 9] == [1, 2]
    assert [amf0.decode(m.payload)[3]["code"] for m in out if m.type_id == 20] == [
        "NetStream.Play.Reset", "NetStream.Play.Start"] * 2


def test_publisher_stream_across_24_bit_timestamp_wrap():
    """4 h 40 min into a stream the chunk header's 24 bits overflow (NMS#25, SRS#2409):
    timestamps come through whole, with compressed headers and extended timestamps on
    continuation chunks, and go on across the 32-bit wrap as well."""
    client = Client()
    client.connect()
    sid = client.create_stream()
    client.call("publish", 5.0, None, "long", stream_id=sid)
    client.conn.accept_publish(sid)
    stamps = [(0xFFFF00 + 40 * i) for i in range(12)] + [
        (0xFFFFFFC0 + 40 * i) & 0xFFFFFFFF for i in range(4)]
    got = []
    for ts in stamps:
        got += client.send(Message(9, sid, ts, KEYFRAME), csid=6)
    assert [(e.kind, e.timestamp) for e in got] == [("video", ts) for ts in stamps]


def test_amf3_wrapped_command_and_data_from_flash_era_publishers():
    client = Client()
    events = client.send(Message(17, 0, 0, b"\x00" + amf0.encode(
        "connect", 1.0, {"app": "live", "objectEncoding": 3.0})))
    assert isinstance(events[0], ConnectRequested)
    client.conn.accept_connect()
    assert client.commands()[0][3]["objectEncoding"] == 3.0  # echoed as the client asked
    sid = client.create_stream()
    client.call("publish", 5.0, None, "cam", stream_id=sid)
    client.conn.accept_publish(sid)
    client.received()
    meta = amf0.encode("@setDataFrame", "onMetaData", {"width": 64.0})
    events = client.send(Message(15, sid, 0, b"\x00" + meta), csid=5)
    assert events == [MediaReceived(sid, "data", 0, amf0.encode("onMetaData", {"width": 64.0}),
                                    {"width": 64.0})]


def test_server_ping_and_peer_bandwidth_answer():
    client = Client()
    client.connect()
    client.conn.ping(321)
    assert msg.parse_user_control(client.received()[0]) == msg.UserControl(
        msg.PING_REQUEST, 321)
    client.send(msg.set_peer_bandwidth(1_000_000), csid=2)
    assert [m.type_id for m in client.received()] == [msg.WINDOW_ACK_SIZE]
