"""The one exception family of the RTMP core.

A peer that sends anything malformed loses its own connection; the server
catches :class:`ProtocolError` around a connection and nothing else, so every
parser in this package raises only this (or its subclass :class:`AmfError`),
never ``IndexError``/``struct.error``/``UnicodeDecodeError`` from deep inside.
"""


class ProtocolError(Exception):
    """The peer broke the RTMP protocol (or a limit that protects us from it)."""


class AmfError(ProtocolError):
    """Malformed, unsupported or oversized AMF0 data."""
