"""What both ends of an RTMP connection share, sans I/O.

:class:`Endpoint` runs the handshake first, then hands chunk-stream bytes to its
subclass; it answers the protocol's housekeeping itself — PingRequest,
Set Peer Bandwidth (with our Window Ack Size, as the spec asks), the peer's
Window Ack Size (then we acknowledge every that many bytes; before it, every
window of our own) — and turns every :class:`ProtocolError` into one
:class:`ConnectionFailed` event, after which it ignores the peer.
"""

from __future__ import annotations

from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import ChunkReader, ChunkWriter, Message
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.events import (
    AcknowledgementReceived,
    BufferLengthSet,
    ConnectionFailed,
    Event,
    HandshakeDone,
)
from nvr.rtmp.handshake import SIZE, ClientHandshake, ServerHandshake

CONTROL_CSID, COMMAND_CSID = 2, 3
HANDSHAKE_BYTES = 1 + 2 * SIZE  # C0+C1+C2 (or S0+S1+S2) received
MIN_ACK_WINDOW = 4096
DEFAULT_WINDOW = 2_500_000


class Endpoint:
    """Base of :class:`~nvr.rtmp.protocol.ServerConnection` and
    :class:`~nvr.rtmp.client.ClientConnection`."""

    def __init__(self, handshake: ServerHandshake | ClientHandshake) -> None:
        self._handshake = handshake
        self._reader = ChunkReader()
        self._writer = ChunkWriter()
        self._out = bytearray()
        self._window = DEFAULT_WINDOW  # what we announce (and ack by until the peer does)
        self._peer_window: int | None = None
        self._last_ack = 0
        self.closed = False  # after ConnectionFailed or a refusal: close the socket

    def receive_data(self, data: bytes) -> list[Event]:
        """Bytes from the peer → events (see the subclass for which)."""
        if self.closed:
            return []
        events: list[Event] = []
        try:
            if not self._handshake.done:
                self._out += self._handshake.receive_data(data)
                if not self._handshake.done:
                    return events
                events.append(HandshakeDone())
                self._handshake_done()
                data = self._handshake.leftover
            self._process(data, events)
        except ProtocolError as exc:
            self.closed = True
            events.append(ConnectionFailed(str(exc)))
        return events

    def _handshake_done(self) -> None:
        """Hook: the handshake just finished (the client sends ``connect`` here)."""

    def _process(self, data: bytes, events: list[Event]) -> None:
        raise NotImplementedError

    def _feed(self, data: bytes) -> list[Message]:
        """Chunk-stream bytes → messages, acknowledging as the window fills."""
        messages = self._reader.feed(data)
        received = self.bytes_received
        if received - self._last_ack >= (self._peer_window or self._window):
            self._last_ack = received
            self._send(msg.acknowledgement(received))
        return messages

    def _control(self, message: Message, events: list[Event]) -> None:
        """Protocol control and user control messages."""
        t = message.type_id
        if t == msg.ACKNOWLEDGEMENT:
            events.append(AcknowledgementReceived(msg.parse_u32(message)))
        elif t == msg.WINDOW_ACK_SIZE:
            self._peer_window = max(MIN_ACK_WINDOW, msg.parse_u32(message))
        elif t == msg.SET_PEER_BANDWIDTH:
            msg.parse_u32(message)
            self._send(msg.window_ack_size(self._window))
        elif t == msg.USER_CONTROL:
            uc = msg.parse_user_control(message)
            if uc.event == msg.PING_REQUEST:
                self._send(msg.ping_response(uc.value))
            elif uc.event == msg.SET_BUFFER_LENGTH:
                events.append(BufferLengthSet(uc.value, uc.buffer_ms))
        else:
            msg.parse_u32(message)  # chunk size and abort: applied by the reader

    @property
    def bytes_received(self) -> int:
        """Bytes from the peer since the handshake began (the Acknowledgement count)."""
        return self._reader.bytes_received + (HANDSHAKE_BYTES if self._handshake.done else 0)

    @property
    def chunk_size(self) -> int:
        """Our outgoing chunk size."""
        return self._writer.chunk_size

    def ping(self, timestamp: int) -> None:
        """Queue a PingRequest (a liveness probe; the answer is not reported)."""
        self._send(msg.ping_request(timestamp))

    def data_to_send(self) -> bytes:
        """Everything queued since the last call."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def _send(self, message: Message) -> None:
        csid = CONTROL_CSID if message.type_id in msg.CONTROL_TYPES else COMMAND_CSID
        self._out += self._writer.write(message, csid)
