import pytest

from nvr.rtmp import amf0
from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import Message
from nvr.rtmp.errors import AmfError, ProtocolError


def test_control_messages_exact_bytes():
    assert msg.set_chunk_size(4096) == Message(1, 0, 0, b"\x00\x00\x10\x00")
    assert msg.abort(6) == Message(2, 0, 0, b"\x00\x00\x00\x06")
    assert msg.window_ack_size(2_500_000) == Message(5, 0, 0, b"\x00\x26\x25\xa0")
    assert msg.set_peer_bandwidth(2_500_000) == Message(6, 0, 0, b"\x00\x26\x25\xa0\x02")
    assert msg.acknowledgement(2**32 + 5) == Message(3, 0, 0, b"\x00\x00\x00\x05")  # wraps


def test_parse_u32_and_short_payload():
    assert msg.parse_u32(msg.window_ack_size(123)) == 123
    with pytest.raises(ProtocolError, match="message type 5: 2 bytes, need 4"):
        msg.parse_u32(Message(5, 0, 0, b"\x00\x01"))


def test_user_control_events_round_trip():
    assert msg.stream_begin(1).payload == b"\x00\x00\x00\x00\x00\x01"
    assert msg.stream_eof(1).payload == b"\x00\x01\x00\x00\x00\x01"
    assert msg.ping_request(99).payload == b"\x00\x06\x00\x00\x00\x63"
    assert msg.parse_user_control(msg.ping_response(99)) == msg.UserControl(7, 99)
    buffer = msg.user_control(msg.SET_BUFFER_LENGTH, 1, 3000)
    assert msg.parse_user_control(buffer) == msg.UserControl(3, 1, 3000)


@pytest.mark.parametrize(("payload", "message"), [
    (b"\x00\x06\x00", "user control message of 3 bytes"),
    (b"\x00\x03\x00\x00\x00\x01", "SetBufferLength without a buffer length"),
])
def test_parse_user_control_malformed(payload, message):
    with pytest.raises(ProtocolError, match=message):
        msg.parse_user_control(Message(4, 0, 0, payload))


def test_command_round_trip():
    message = msg.command(1, "publish", 5.0, None, "test", "live")
    assert message.type_id == 20 and message.stream_id == 1
    assert msg.parse_command(message) == msg.Command("publish", 5.0, None, ["test", "live"])


def test_parse_command_name_only_like_ffmpeg_on_fc_publish():
    assert msg.parse_command(msg.data(0, 0, "onFCPublish")) == msg.Command("onFCPublish", 0.0)


def test_parse_command_type17_skips_amf3_wrapper_byte():
    message = Message(17, 0, 0, b"\x00" + amf0.encode("play", 0.0, None, "x"))
    assert msg.parse_command(message).args == ["x"]


@pytest.mark.parametrize(("payload", "error"), [
    (amf0.encode(1.0, 2.0), ProtocolError),
    (amf0.encode("connect", "x"), ProtocolError),
    (b"\x02\x00\x09conn", AmfError),
])
def test_parse_command_malformed(payload, error):
    with pytest.raises(error):
        msg.parse_command(Message(20, 0, 0, payload))


def test_parse_data_unwraps_set_data_frame():
    meta = amf0.EcmaArray(width=320.0, height=240.0)
    message = msg.data(1, 0, "@setDataFrame", "onMetaData", meta)
    assert message.type_id == 18
    assert msg.parse_data(message) == ("onMetaData", [meta])
    assert msg.parse_data(msg.data(1, 0, "onMetaData", meta)) == ("onMetaData", [meta])
    with pytest.raises(ProtocolError, match="handler name"):
        msg.parse_data(msg.data(1, 0, 1.0))


def test_result_error_and_on_status_info_objects():
    values = amf0.decode(msg.error(3.0, "NetConnection.Connect.Rejected", "No.").payload)
    assert values == ["_error", 3.0, None, {"level": "error",
                                            "code": "NetConnection.Connect.Rejected",
                                            "description": "No."}]
    status = amf0.decode(msg.on_status(1, "status", "NetStream.Play.Start", "Go.",
                                       details="x").payload)
    assert status[:3] == ["onStatus", 0.0, None]
    assert status[3] == {"level": "status", "code": "NetStream.Play.Start",
                         "description": "Go.", "details": "x"}


def test_connect_result_carries_fms_version_and_four_cc_list():
    values = amf0.decode(msg.connect_result(1.0, 0.0, ["hvc1"]).payload)
    assert values[0:2] == ["_result", 1.0]
    assert values[2]["fmsVer"].startswith("FMS/") and values[2]["fourCcList"] == ["hvc1"]
    assert values[3]["code"] == "NetConnection.Connect.Success"
    assert values[3]["objectEncoding"] == 0.0
