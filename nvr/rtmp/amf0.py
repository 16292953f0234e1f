"""AMF0 (Action Message Format 0) values: what RTMP commands and metadata are made of.

Python mapping (decode → encode round-trips):

=====================  ===================================================
AMF0 marker            Python value
=====================  ===================================================
number 0x00            ``float`` (``int`` is accepted when encoding)
boolean 0x01           ``bool``
string 0x02 / 0x0C     ``str`` (long string chosen when over 65535 bytes)
object 0x03            ``dict[str, Any]``
null 0x05              ``None``
undefined 0x06         :data:`UNDEFINED`
ECMA array 0x08        :class:`EcmaArray` (a ``dict`` subclass)
strict array 0x0A      ``list``
date 0x0B              :class:`Date`
=====================  ===================================================

Movie clip, reference, typed object, recordset, XML document and the switch to
AMF3 are refused with :class:`AmfError`: no RTMP client we serve sends them in
commands, and references in particular would let a small message expand into
a large structure.

Decoding is hardened for hostile peers: nesting deeper than ``max_depth``,
more than ``max_items`` values in one call, and any length running past the
end of the input raise :class:`AmfError` — and only that — before memory is
spent. Declared lengths are checked against the bytes actually present, so a
"4 GiB string" header costs nothing.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from nvr.rtmp.errors import AmfError

NUMBER, BOOLEAN, STRING, OBJECT, MOVIECLIP, NULL, UNDEFINED_MARKER, REFERENCE = range(8)
ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, LONG_STRING = 8, 9, 10, 11, 12
UNSUPPORTED_MARKER, RECORDSET, XML_DOCUMENT, TYPED_OBJECT, AVMPLUS = 13, 14, 15, 16, 17

MAX_DEPTH = 32
MAX_ITEMS = 65536

_NAMES = {MOVIECLIP: "movie clip", REFERENCE: "reference", RECORDSET: "recordset",
          XML_DOCUMENT: "XML document", TYPED_OBJECT: "typed object",
          AVMPLUS: "AMF3 switch", UNSUPPORTED_MARKER: "unsupported"}
_DOUBLE = struct.Struct(">d")


class _Undefined:
    """AMF0 ``undefined``: distinct from ``null`` (``None``) on the wire."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


class EcmaArray(dict[str, Any]):
    """An associative array (``onMetaData`` is usually one); encodes as marker 0x08."""


@dataclass(frozen=True, slots=True)
class Date:
    """Milliseconds since the epoch (UTC) and the (ignored by everyone) time zone."""

    ms: float
    tz: int = 0


def encode(*values: Any) -> bytes:
    """The AMF0 encoding of ``values``, one after the other (a command body)."""
    out = bytearray()
    for value in values:
        _encode(value, out, 0)
    return bytes(out)


def _encode_key(key: str, out: bytearray) -> None:
    raw = key.encode()
    if len(raw) > 0xFFFF:
        raise AmfError(f"object key of {len(raw)} bytes is too long")
    out += struct.pack(">H", len(raw)) + raw


def _encode_props(items: dict[str, Any], out: bytearray, depth: int) -> None:
    for key, item in items.items():
        if not isinstance(key, str):
            raise AmfError(f"object key {key!r} is not a string")
        _encode_key(key, out)
        _encode(item, out, depth + 1)
    out += b"\x00\x00\x09"


def _encode(value: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise AmfError(f"value nested deeper than {MAX_DEPTH}")
    if value is None:
        out.append(NULL)
    elif value is UNDEFINED:
        out.append(UNDEFINED_MARKER)
    elif isinstance(value, bool):
        out += bytes((BOOLEAN, int(value)))
    elif isinstance(value, int | float):
        out.append(NUMBER)
        out += _DOUBLE.pack(float(value))
    elif isinstance(value, str):
        raw = value.encode()
        if len(raw) <= 0xFFFF:
            out += struct.pack(">BH", STRING, len(raw)) + raw
        else:
            out += struct.pack(">BI", LONG_STRING, len(raw)) + raw
    elif isinstance(value, EcmaArray):
        out += struct.pack(">BI", ECMA_ARRAY, len(value))
        _encode_props(value, out, depth)
    elif isinstance(value, dict):
        out.append(OBJECT)
        _encode_props(value, out, depth)
    elif isinstance(value, list | tuple):
        out += struct.pack(">BI", STRICT_ARRAY, len(value))
        for item in value:
            _encode(item, out, depth + 1)
    elif isinstance(value, Date):
        out.append(DATE)
        out += _DOUBLE.pack(value.ms) + struct.pack(">h", value.tz)
    else:
        raise AmfError(f"cannot encode {type(value).__name__} as AMF0")


def decode(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> list[Any]:
    """All AMF0 values in ``data``, in order; :class:`AmfError` on anything malformed."""
    decoder = Decoder(data, max_depth=max_depth, max_items=max_items)
    values = []
    while not decoder.at_end():
        values.append(decoder.read_value())
    return values


class Decoder:
    """Reads AMF0 values from one buffer, counting items across calls."""

    def __init__(self, data: bytes, *, max_depth: int = MAX_DEPTH,
                 max_items: int = MAX_ITEMS) -> None:
        self._data = memoryview(data)
        self.pos = 0
        self._max_depth = max_depth
        self._items_left = max_items

    def at_end(self) -> bool:
        return self.pos >= len(self._data)

    def read_value(self) -> Any:
        """The next value; :class:`AmfError` if there is none or it is malformed."""
        return self._value(0)

    def _take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self._data):
            raise AmfError(f"truncated: need {n} bytes at offset {self.pos}, "
                           f"have {len(self._data) - self.pos}")
        chunk = self._data[self.pos:end]
        self.pos = end
        return chunk

    def _u16(self) -> int:
        return int.from_bytes(self._take(2), "big")

    def _u32(self) -> int:
        return int.from_bytes(self._take(4), "big")

    def _text(self, n: int) -> str:
        try:
            return str(self._take(n), "utf-8")
        except UnicodeDecodeError as exc:
            raise AmfError(f"string is not UTF-8: {exc.reason}") from None

    def _value(self, depth: int) -> Any:
        if depth > self._max_depth:
            raise AmfError(f"nested deeper than {self._max_depth}")
        self._items_left -= 1
        if self._items_left < 0:
            raise AmfError("too many values")
        marker = self._take(1)[0]
        if marker == NUMBER:
            return _DOUBLE.unpack(self._take(8))[0]
        if marker == BOOLEAN:
            return self._take(1)[0] != 0
        if marker == STRING:
            return self._text(self._u16())
        if marker == LONG_STRING:
            return self._text(self._u32())
        if marker == NULL:
            return None
        if marker == UNDEFINED_MARKER:
            return UNDEFINED
        if marker == OBJECT:
            return self._props({}, depth)
        if marker == ECMA_ARRAY:
            self._u32()  # the count is a hint that encoders get wrong; the end marker rules
            return self._props(EcmaArray(), depth)
        if marker == STRICT_ARRAY:
            count = self._u32()
            if count > len(self._data) - self.pos:  # every value takes at least one byte
                raise AmfError(f"strict array of {count} items in {len(self._data)} bytes")
            return [self._value(depth + 1) for _ in range(count)]
        if marker == DATE:
            ms = _DOUBLE.unpack(self._take(8))[0]
            return Date(ms, int.from_bytes(self._take(2), "big", signed=True))
        if marker == OBJECT_END:
            raise AmfError(f"object end marker outside an object at offset {self.pos - 1}")
        name = _NAMES.get(marker)
        if name is not None:
            raise AmfError(f"AMF0 {name} (marker {marker:#04x}) is not supported")
        raise AmfError(f"unknown AMF0 marker {marker:#04x} at offset {self.pos - 1}")

    def _props(self, out: dict[str, Any], depth: int) -> dict[str, Any]:
        while True:
            key = self._text(self._u16())
            if not key and self.pos < len(self._data) and self._data[self.pos] == OBJECT_END:
                self.pos += 1
                return out
            out[key] = self._value(depth + 1)


def is_finite_number(value: Any) -> bool:
    """True for an AMF0 number that is a usable finite value (not NaN, not ±inf)."""
    return isinstance(value, float) and math.isfinite(value)
