"""RTMP chunk streams: messages cut into chunks and put back together.

Wire format (RTMP 1.0 §5.3): a basic header (format 0–3 and chunk stream id),
a message header of 11, 7, 3 or 0 bytes, an optional 4-byte extended
timestamp, then up to ``chunk_size`` bytes of the message. Formats 1–3 reuse
fields of the previous message on the same chunk stream; formats 1 and 2 carry
a timestamp *delta*, and a format-3 chunk that starts a new message applies
the previous delta again (ffmpeg: after a format-0 chunk that "delta" is the
absolute timestamp). Timestamps are 32-bit and wrap; deltas add modulo 2^32.

Extended timestamps: a timestamp (or delta) of 0xFFFFFF or more is sent as
0xFFFFFF in the header followed by the full 32-bit value, and ffmpeg and
librtmp repeat those 4 bytes on every format-3 continuation chunk of the same
message. Some encoders do not; on a continuation we take the 4 bytes only when
they equal the value already read (SRS does the same), which is unambiguous
unless the payload happens to start with those exact bytes.

The reader applies the peer's Set Chunk Size and Abort messages itself (they
change how the very next chunk is parsed) and still returns them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from nvr.rtmp.errors import ProtocolError

SET_CHUNK_SIZE, ABORT = 1, 2
DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 16 * 1024 * 1024  # protocol allows 2^31-1; nobody sane sends over 64 KiB
MAX_MESSAGE_SIZE = 8 * 1024 * 1024  # a 4K keyframe is ~1 MiB; the 24-bit field allows 16 MiB
MAX_CHUNK_STREAMS = 64  # open chunk streams a peer may hold partial messages on
MAX_PENDING = 16 * 1024 * 1024  # bytes of unfinished messages across all chunk streams
_EXTENDED = 0xFFFFFF
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Message:
    """One RTMP message: type id, message stream id, 32-bit ms timestamp, body."""

    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass(slots=True)
class _InState:
    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False  # the last header carried an extended timestamp
    ext_value: int = 0
    body: bytearray = field(default_factory=bytearray)


def _check_chunk_size(size: int) -> int:
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise ProtocolError(f"chunk size {size} outside 1..{MAX_CHUNK_SIZE}")
    return size


class ChunkReader:
    """Bytes from the peer → complete :class:`Message` s (after the handshake)."""

    def __init__(self, *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.bytes_received = 0  # for Acknowledgements; never wraps here
        self._max_message = max_message_size
        self._buf = bytearray()
        self._streams: dict[int, _InState] = {}

    def feed(self, data: bytes) -> list[Message]:
        """Append ``data``; return every message it completed, in order."""
        self.bytes_received += len(data)
        self._buf += data
        out: list[Message] = []
        pos = 0
        buf = self._buf
        while True:
            used = self._chunk(buf, pos, out)
            if used == 0:
                break
            pos += used
        del buf[:pos]
        return out

    def _chunk(self, buf: bytearray, pos: int, out: list[Message]) -> int:
        """Parse one chunk at ``pos``; its size, or 0 when it is not all here yet."""
        avail = len(buf) - pos
        if avail < 1:
            return 0
        b0 = buf[pos]
        fmt, csid = b0 >> 6, b0 & 0x3F
        hlen = 1
        if csid == 0:
            if avail < 2:
                return 0
            csid, hlen = 64 + buf[pos + 1], 2
        elif csid == 1:
            if avail < 3:
                return 0
            csid, hlen = 64 + buf[pos + 1] + (buf[pos + 2] << 8), 3
        mlen = (11, 7, 3, 0)[fmt]
        if avail < hlen + mlen:
            return 0
        state = self._streams.get(csid)
        if state is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts with format {fmt}, not 0")
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise ProtocolError(f"more than {MAX_CHUNK_STREAMS} chunk streams")
            state = _InState()
        p = pos + hlen
        continuation = bool(state.body)
        if continuation and fmt != 3:
            raise ProtocolError(f"chunk stream {csid}: format {fmt} header inside a message")
        ts_field = 0
        if fmt <= 2:
            ts_field = int.from_bytes(buf[p:p + 3], "big")
        length, type_id, stream_id = state.length, state.type_id, state.stream_id
        if fmt <= 1:
            length = int.from_bytes(buf[p + 3:p + 6], "big")
            type_id = buf[p + 6]
        if fmt == 0:
            stream_id = int.from_bytes(buf[p + 7:p + 11], "little")
        p += mlen
        extended = ts_field == _EXTENDED if fmt <= 2 else state.extended
        if extended:
            if len(buf) - p < 4:
                return 0
            value = int.from_bytes(buf[p:p + 4], "big")
            if fmt <= 2 or not continuation:
                ts_field = value
                p += 4
            elif value == state.ext_value:
                p += 4  # ffmpeg/librtmp repeat it on continuation chunks
        if length > self._max_message:
            raise ProtocolError(f"message of {length} bytes (limit {self._max_message})")
        need = min(self.chunk_size, length - len(state.body))
        if len(buf) - p < need:
            return 0
        # the whole chunk is here: commit the header to the stream state
        if not continuation:
            if fmt == 0:
                state.timestamp, state.delta = ts_field, ts_field
            elif fmt <= 2:
                state.delta = ts_field
                state.timestamp = (state.timestamp + ts_field) & _MASK32
            else:
                state.timestamp = (state.timestamp + state.delta) & _MASK32
            state.length, state.type_id, state.stream_id = length, type_id, stream_id
            state.extended = extended
            state.ext_value = ts_field if extended else 0
            if csid not in self._streams:
                self._streams[csid] = state
            if self._pending() + length > MAX_PENDING:
                raise ProtocolError("too many bytes in unfinished messages")
        state.body += buf[p:p + need]
        p += need
        if len(state.body) == state.length:
            message = Message(state.type_id, state.stream_id, state.timestamp, bytes(state.body))
            state.body.clear()
            self._control(message)
            out.append(message)
        return p - pos

    def _pending(self) -> int:
        return sum(s.length for s in self._streams.values() if s.body)

    def _control(self, message: Message) -> None:
        if message.stream_id != 0 or message.type_id not in (SET_CHUNK_SIZE, ABORT):
            return
        if len(message.payload) < 4:
            raise ProtocolError(f"control message {message.type_id} shorter than 4 bytes")
        value = int.from_bytes(message.payload[:4], "big")
        if message.type_id == SET_CHUNK_SIZE:
            self.chunk_size = _check_chunk_size(value & 0x7FFFFFFF)
        else:
            aborted = self._streams.get(value)
            if aborted is not None:
                aborted.body.clear()


@dataclass(slots=True)
class _OutState:
    timestamp: int
    delta: int
    length: int
    type_id: int
    stream_id: int
    fmt: int


class ChunkWriter:
    """:class:`Message` s → bytes, at this writer's own chunk size.

    :meth:`write` compresses headers against what it last wrote on each chunk
    stream (for commands and control on one connection). :meth:`encode` is
    pure — format-0 header, no state — so the server can chunk a media message
    once and write the same bytes to every player whose connection uses the
    same chunk size and message stream id. A format-0 header costs 11 bytes per
    message instead of 1–8, which is nothing next to a video frame, and it
    means players need no per-connection header state at all; only messages
    sent through :meth:`write` on the *same* chunk stream would disturb the
    compression state, so keep media and :meth:`write` on different chunk
    stream ids (``protocol`` uses 2–3 for control and commands, 4–6 for media).
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.chunk_size = _check_chunk_size(chunk_size)
        self._streams: dict[int, _OutState] = {}

    def set_chunk_size(self, size: int) -> None:
        """Use ``size`` from now on (after sending the peer Set Chunk Size)."""
        self.chunk_size = _check_chunk_size(size)

    def encode(self, message: Message, csid: int) -> bytes:
        """``message`` as format-0 chunks on ``csid``; the same input gives the same bytes."""
        return encode_message(message, csid, self.chunk_size)

    def write(self, message: Message, csid: int) -> bytes:
        """``message`` as chunks on ``csid``, header compressed against the last one."""
        prev = self._streams.get(csid)
        length = len(message.payload)
        ts = message.timestamp & _MASK32
        fmt, field_value = 0, ts
        if prev is not None and prev.stream_id == message.stream_id and ts >= prev.timestamp:
            delta = ts - prev.timestamp
            if prev.length == length and prev.type_id == message.type_id:
                fmt = 3 if delta == prev.delta and prev.fmt != 0 else 2
            else:
                fmt = 1
            field_value = delta
        self._streams[csid] = _OutState(ts, field_value, length, message.type_id,
                                        message.stream_id, fmt)
        return _chunks(message, csid, self.chunk_size, fmt, field_value)


def encode_message(message: Message, csid: int, chunk_size: int) -> bytes:
    """``message`` as format-0 chunks (see :meth:`ChunkWriter.encode`)."""
    return _chunks(message, csid, _check_chunk_size(chunk_size), 0, message.timestamp & _MASK32)


def encode_delta(message: Message, csid: int, chunk_size: int, delta: int) -> bytes:
    """``message`` as format-1 chunks: its timestamp is ``delta`` (modulo 2^32) after
    the previous message on ``csid``, and its stream id that message's. The same
    bytes serve every receiver whose last message on ``csid`` had this stream id and
    a timestamp ``delta`` before this one, whatever that timestamp was."""
    return _chunks(message, csid, _check_chunk_size(chunk_size), 1, delta & _MASK32)


def _basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes(((fmt << 6) | csid,))
    if 64 <= csid <= 319:
        return bytes((fmt << 6, csid - 64))
    if 320 <= csid <= 65599:
        return bytes(((fmt << 6) | 1,)) + (csid - 64).to_bytes(2, "little")
    raise ValueError(f"chunk stream id {csid} outside 2..65599")


def _chunks(message: Message, csid: int, chunk_size: int, fmt: int, field_value: int) -> bytes:
    payload = message.payload
    length = len(payload)
    if length > 0xFFFFFF:
        raise ValueError(f"message of {length} bytes does not fit a chunk header")
    extended = field_value >= _EXTENDED
    short = _EXTENDED if extended else field_value
    header = bytearray(_basic_header(fmt, csid))
    if fmt == 0:
        header += struct.pack(">I", short)[1:] + struct.pack(">I", length)[1:]
        header.append(message.type_id)
        header += struct.pack("<I", message.stream_id)
    elif fmt == 1:
        header += struct.pack(">I", short)[1:] + struct.pack(">I", length)[1:]
        header.append(message.type_id)
    elif fmt == 2:
        header += struct.pack(">I", short)[1:]
    ext = struct.pack(">I", field_value) if extended else b""
    header += ext
    cont = _basic_header(3, csid) + ext
    out = bytearray(header)
    out += payload[:chunk_size]
    for start in range(chunk_size, length, chunk_size):
        out += cont
        out += payload[start:start + chunk_size]
    return bytes(out)
