"""RTMP protocol core, sans I/O: bytes in, events and bytes out.

Layers, bottom up (each usable alone, none owns a socket or a task):

* :mod:`nvr.rtmp.amf0` — AMF0 values (``encode``/``decode``), hostile input
  bounded (depth, item count, lengths) and refused with one :class:`AmfError`.
* :mod:`nvr.rtmp.handshake` — C0/C1/C2 ⇄ S0/S1/S2 for server and client.
* :mod:`nvr.rtmp.chunks` — :class:`ChunkReader` (bytes → :class:`Message`) and
  :class:`ChunkWriter` (message → bytes; ``encode`` chunks a media message once
  for every player sharing a chunk size).
* :mod:`nvr.rtmp.messages` — protocol control, user control, command and data
  message builders and parsers, ``_result``/``_error``/``onStatus`` helpers.
* :mod:`nvr.rtmp.endpoint` — what both ends share: handshake first,
  acknowledgements, pings, one ``ConnectionFailed`` for any protocol error.
* :mod:`nvr.rtmp.protocol` — ``ServerConnection``, the per-connection state
  machine the asyncio server drives (``receive_data`` → :mod:`nvr.rtmp.events`,
  ``accept_*``/``reject_*`` decisions, ``send_media``, ``data_to_send``).
* :mod:`nvr.rtmp.client` — ``ClientConnection``, a publishing client for
  pushing to other servers.
* :mod:`nvr.rtmp.flv`, :mod:`nvr.rtmp.flv_parse` — FLV tag bodies ⇄ AccessUnits.

Every malformed input ends in :class:`ProtocolError` (``AmfError`` is one).
"""

from nvr.rtmp.errors import AmfError, ProtocolError

__all__ = ["AmfError", "ProtocolError"]
