"""A publishing RTMP client, sans I/O: what pushing a camera to another server needs.

The push task (later) owns the socket and does::

    conn = ClientConnection("live", "rtmp://host/live", "KEY")
    transport.write(conn.data_to_send())          # C0 + C1
    for event in conn.receive_data(data): ...      # PublishStarted, Refused, ...
    conn.send_media("video", ts, tag_body)         # once PublishStarted came
    transport.write(conn.data_to_send())

The sequence is what ffmpeg sends and nginx-rtmp, SRS and YouTube/Twitch ingest
expect: handshake, Set Chunk Size, ``connect`` (type ``nonprivate``, FMLE flash
version), ``releaseStream``, ``FCPublish``, ``createStream``, ``publish``; an
``_error`` to ``releaseStream``/``FCPublish`` is normal and ignored. Ends with
``FCUnpublish`` and ``deleteStream`` (:meth:`ClientConnection.unpublish`).
Acknowledgements, pings and Set Peer Bandwidth: see :mod:`nvr.rtmp.endpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nvr.rtmp import amf0
from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import Message
from nvr.rtmp.endpoint import Endpoint
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.events import (
    Event,
    MediaKind,
)
from nvr.rtmp.handshake import ClientHandshake
from nvr.rtmp.protocol import MEDIA_CSIDS, MEDIA_TYPES

FLASH_VER = "FMLE/3.0 (compatible; nvr)"
_CONNECT, _RELEASE, _FCPUBLISH, _CREATE, _PUBLISH = 1.0, 2.0, 3.0, 4.0, 5.0


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The server accepted ``connect`` (its properties and info object)."""

    properties: dict[str, Any]
    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PublishStarted(Event):
    """NetStream.Publish.Start: send media now."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class Refused(Event):
    """The server said no (``_error`` or an error ``onStatus``); close the socket."""

    code: str
    description: str


class ClientConnection(Endpoint):
    """Client side of one publishing connection (see the module docstring)."""

    def __init__(self, app: str, tc_url: str, stream_key: str, *, chunk_size: int = 4096,
                 four_cc_list: list[str] | None = None,
                 handshake: ClientHandshake | None = None) -> None:
        hs = handshake or ClientHandshake()
        super().__init__(hs)
        self.app, self.tc_url, self.stream_key = app, tc_url, stream_key
        self._four_cc_list = four_cc_list
        self._chunk_size = chunk_size
        self._out += hs.start()
        self.stream_id = 0
        self.publishing = False

    def _handshake_done(self) -> None:
        self._send(msg.set_chunk_size(self._chunk_size))
        self._writer.set_chunk_size(self._chunk_size)
        obj: dict[str, Any] = {"app": self.app, "type": "nonprivate", "flashVer": FLASH_VER,
                               "tcUrl": self.tc_url}
        if self._four_cc_list:
            obj["fourCcList"] = list(self._four_cc_list)
        self._send(msg.command(0, "connect", _CONNECT, obj))

    def _process(self, data: bytes, events: list[Event]) -> None:
        for message in self._feed(data):
            if message.type_id in msg.CONTROL_TYPES:
                self._control(message, events)
            elif message.type_id in (msg.COMMAND_AMF0, msg.COMMAND_AMF3):
                self._command(msg.parse_command(message), events)
            if self.closed:
                break

    def _command(self, cmd: msg.Command, events: list[Event]) -> None:
        info = next((a for a in cmd.args if isinstance(a, dict)), {})
        code, text = str(info.get("code", "")), str(info.get("description", ""))
        if cmd.name == "_result" and cmd.transaction_id == _CONNECT:
            props = cmd.obj if isinstance(cmd.obj, dict) else {}
            events.append(Connected(props, info))
            for name, tid in (("releaseStream", _RELEASE), ("FCPublish", _FCPUBLISH)):
                self._send(msg.command(0, name, tid, None, self._key_name()))
            self._send(msg.command(0, "createStream", _CREATE, None))
        elif cmd.name == "_result" and cmd.transaction_id == _CREATE:
            sid = cmd.args[0] if cmd.args else None
            if not isinstance(sid, float) or not 0 < sid < 2**31:  # NaN fails the range too
                raise ProtocolError(f"createStream answered with stream id {sid!r}")
            self.stream_id = int(sid)
            self._send(msg.command(self.stream_id, "publish", _PUBLISH, None, self.stream_key,
                                   "live"))
        elif cmd.name == "_error" and cmd.transaction_id in (_RELEASE, _FCPUBLISH):
            return  # servers without these commands answer so; harmless
        elif cmd.name == "_error" or (cmd.name == "onStatus" and info.get("level") == "error"):
            self.closed = True
            events.append(Refused(code or cmd.name, text))
        elif cmd.name == "onStatus" and code == "NetStream.Publish.Start":
            self.publishing = True
            events.append(PublishStarted(self.stream_id))

    def _key_name(self) -> str:
        return self.stream_key.partition("?")[0]

    def send_media(self, kind: MediaKind, timestamp: int, payload: bytes) -> None:
        """Queue one FLV tag body (``data``: an AMF0 body such as ``onMetaData``)."""
        if not self.publishing:
            raise RuntimeError("send_media before PublishStarted")
        self._out += self._writer.write(
            Message(MEDIA_TYPES[kind], self.stream_id, timestamp & 0xFFFFFFFF, payload),
            MEDIA_CSIDS[kind])

    def send_metadata(self, metadata: dict[str, Any]) -> None:
        """``@setDataFrame``/``onMetaData``, as servers expect a publisher to send it."""
        self.send_media("data", 0, amf0.encode("@setDataFrame", "onMetaData",
                                               amf0.EcmaArray(metadata)))

    def unpublish(self) -> None:
        """FCUnpublish and deleteStream; then close the socket."""
        self._send(msg.command(0, "FCUnpublish", 6.0, None, self._key_name()))
        self._send(msg.command(0, "deleteStream", 7.0, None, float(self.stream_id)))
        self.publishing = False
