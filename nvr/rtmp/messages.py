"""RTMP messages above the chunk layer: control, user control, commands, data.

Builders return :class:`~nvr.rtmp.chunks.Message` s ready for a
:class:`~nvr.rtmp.chunks.ChunkWriter`; parsers take a message and raise
:class:`ProtocolError` (or :class:`AmfError`) on anything malformed.

Status objects follow what Flash Media Server sent and clients still read:
``{"level": "status"|"error", "code": "NetStream.Play.Start", "description": ...}``.
ffmpeg fails with "Server error" on an ``_error`` or an ``onStatus`` of level
``error``; that is how a refusal reaches it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from nvr.rtmp import amf0
from nvr.rtmp.chunks import ABORT, SET_CHUNK_SIZE, Message
from nvr.rtmp.errors import ProtocolError

# message type ids
ACKNOWLEDGEMENT, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 3, 4, 5, 6
AUDIO, VIDEO = 8, 9
DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0 = 15, 17, 18, 20
AGGREGATE = 22
CONTROL_TYPES = (SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL, WINDOW_ACK_SIZE,
                 SET_PEER_BANDWIDTH)

# user control event types
STREAM_BEGIN, STREAM_EOF, STREAM_DRY, SET_BUFFER_LENGTH, STREAM_IS_RECORDED = 0, 1, 2, 3, 4
PING_REQUEST, PING_RESPONSE = 6, 7

# Set Peer Bandwidth limit types
LIMIT_HARD, LIMIT_SOFT, LIMIT_DYNAMIC = 0, 1, 2

FMS_VERSION = "FMS/3,5,7,7009"
CAPABILITIES = 31.0


def _u32(value: int) -> bytes:
    return struct.pack(">I", value & 0xFFFFFFFF)


def set_chunk_size(size: int) -> Message:
    return Message(SET_CHUNK_SIZE, 0, 0, _u32(size & 0x7FFFFFFF))


def abort(csid: int) -> Message:
    return Message(ABORT, 0, 0, _u32(csid))


def acknowledgement(sequence: int) -> Message:
    """Bytes received so far, modulo 2^32 (the counter wraps on long streams)."""
    return Message(ACKNOWLEDGEMENT, 0, 0, _u32(sequence))


def window_ack_size(size: int) -> Message:
    return Message(WINDOW_ACK_SIZE, 0, 0, _u32(size))


def set_peer_bandwidth(size: int, limit_type: int = LIMIT_DYNAMIC) -> Message:
    return Message(SET_PEER_BANDWIDTH, 0, 0, _u32(size) + bytes((limit_type,)))


def parse_u32(message: Message) -> int:
    """The 32-bit value of Set Chunk Size, Abort, Acknowledgement, Window Ack Size
    or Set Peer Bandwidth."""
    if len(message.payload) < 4:
        raise ProtocolError(f"message type {message.type_id}: {len(message.payload)} bytes, "
                            "need 4")
    return int.from_bytes(message.payload[:4], "big")


@dataclass(frozen=True, slots=True)
class UserControl:
    """A User Control event: ``value`` is a stream id or a ping timestamp;
    ``buffer_ms`` only for SetBufferLength."""

    event: int
    value: int
    buffer_ms: int = 0


def user_control(event: int, value: int, buffer_ms: int | None = None) -> Message:
    body = struct.pack(">HI", event, value & 0xFFFFFFFF)
    if buffer_ms is not None:
        body += _u32(buffer_ms)
    return Message(USER_CONTROL, 0, 0, body)


def stream_begin(stream_id: int) -> Message:
    return user_control(STREAM_BEGIN, stream_id)


def stream_eof(stream_id: int) -> Message:
    return user_control(STREAM_EOF, stream_id)


def ping_request(timestamp: int) -> Message:
    return user_control(PING_REQUEST, timestamp)


def ping_response(timestamp: int) -> Message:
    return user_control(PING_RESPONSE, timestamp)


def parse_user_control(message: Message) -> UserControl:
    body = message.payload
    if len(body) < 6:
        raise ProtocolError(f"user control message of {len(body)} bytes")
    event, value = struct.unpack_from(">HI", body)
    if event == SET_BUFFER_LENGTH:
        if len(body) < 10:
            raise ProtocolError("SetBufferLength without a buffer length")
        return UserControl(event, value, struct.unpack_from(">I", body, 6)[0])
    return UserControl(event, value)


@dataclass(frozen=True, slots=True)
class Command:
    """An AMF0 command: name, transaction id, command object, further arguments."""

    name: str
    transaction_id: float
    obj: Any = None
    args: list[Any] = field(default_factory=list)


def command(stream_id: int, name: str, transaction_id: float, obj: Any = None,
            *args: Any) -> Message:
    return Message(COMMAND_AMF0, stream_id, 0, amf0.encode(name, transaction_id, obj, *args))


def parse_command(message: Message) -> Command:
    """A type-20 command (or type 17, whose AMF3 wrapper byte is skipped)."""
    body = message.payload
    if message.type_id == COMMAND_AMF3:
        if not body or body[0] != 0:
            raise ProtocolError("AMF3-encoded command is not supported")
        body = body[1:]
    values = amf0.decode(body)
    if not values or not isinstance(values[0], str):
        raise ProtocolError("command does not start with a name")
    if len(values) == 1:
        return Command(values[0], 0.0)  # ffmpeg's listen mode sends a bare "onFCPublish"
    if not isinstance(values[1], float):
        raise ProtocolError(f"command {values[0]!r} with transaction id {values[1]!r}")
    return Command(values[0], values[1], values[2] if len(values) > 2 else None, values[3:])


def data(stream_id: int, timestamp: int, *values: Any) -> Message:
    """A type-18 data message (``onMetaData``, ``|RtmpSampleAccess``)."""
    return Message(DATA_AMF0, stream_id, timestamp, amf0.encode(*values))


def parse_data(message: Message) -> tuple[str, list[Any]]:
    """Handler name and values; ``@setDataFrame`` unwrapped to what it carries."""
    body = message.payload
    if message.type_id == DATA_AMF3:
        body = body[1:] if body[:1] == b"\x00" else body
    values = amf0.decode(body)
    if not values or not isinstance(values[0], str):
        raise ProtocolError("data message does not start with a handler name")
    if values[0] == "@setDataFrame" and len(values) >= 2 and isinstance(values[1], str):
        values = values[1:]
    return values[0], values[1:]


def status_info(level: str, code: str, description: str, **extra: Any) -> dict[str, Any]:
    """The info object of ``_result``/``_error``/``onStatus``."""
    return {"level": level, "code": code, "description": description, **extra}


def result(transaction_id: float, props: Any = None, *info: Any, stream_id: int = 0) -> Message:
    return command(stream_id, "_result", transaction_id, props, *info)


def error(transaction_id: float, code: str, description: str, stream_id: int = 0) -> Message:
    return command(stream_id, "_error", transaction_id, None,
                   status_info("error", code, description))


def on_status(stream_id: int, level: str, code: str, description: str,
              **extra: Any) -> Message:
    return command(stream_id, "onStatus", 0.0, None,
                   status_info(level, code, description, **extra))


def connect_result(transaction_id: float, object_encoding: float = 0.0,
                   four_cc_list: list[str] | None = None) -> Message:
    props: dict[str, Any] = {"fmsVer": FMS_VERSION, "capabilities": CAPABILITIES}
    if four_cc_list:
        props["fourCcList"] = list(four_cc_list)
    info = status_info("status", "NetConnection.Connect.Success", "Connection succeeded.",
                       objectEncoding=object_encoding)
    return result(transaction_id, props, info)


def split_aggregate(message: Message) -> list[Message]:
    """The audio, video and data messages inside an aggregate (type 22): each an
    11-byte FLV-like tag header (type, 24-bit size, timestamp with its extension
    byte, stream id), the body and a 4-byte back pointer. Timestamps are moved from
    the first sub-message's onto the aggregate's (modulo 2^32); the aggregate's
    stream id is used. Anything else inside, or a length past the end, is a
    :class:`ProtocolError`."""
    data, out, pos, first = message.payload, [], 0, None
    while pos < len(data):
        if len(data) - pos < 11:
            raise ProtocolError(f"aggregate: {len(data) - pos} stray bytes")
        type_id, size = data[pos], int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        if type_id not in (AUDIO, VIDEO, DATA_AMF0, DATA_AMF3):
            raise ProtocolError(f"aggregate: message type {type_id} inside")
        end = pos + 11 + size
        if end + 4 > len(data):
            raise ProtocolError(f"aggregate: a {size}-byte message past its end")
        first = ts if first is None else first
        out.append(Message(type_id, message.stream_id,
                           (message.timestamp + ts - first) & 0xFFFFFFFF,
                           data[pos + 11:end]))
        pos = end + 4
    return out
