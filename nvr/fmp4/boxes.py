"""ISO BMFF box primitives (ISO/IEC 14496-12 4.2): writing, and a small reader.

A box is a 32-bit big-endian size (header included), a four-character type and
the payload; a full box adds a version byte and 24 bits of flags. Writers here
build whole boxes as ``bytes`` from already-built children: an init segment is a
few hundred bytes and a fragment header a few kilobytes, so joining byte
strings is simpler and no slower than patching sizes into a shared buffer.

The reader (:func:`read_boxes`, :func:`find`) is for tests and diagnostics: it
walks a byte string and stops quietly at a box cut short, like a player reading
a file truncated by a crash.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = ["CONTAINERS", "Box", "box", "find", "full_box", "read_boxes", "u8", "u16", "u32",
           "u64"]

_HEADER = struct.Struct(">I4s")
_FULL_HEADER = struct.Struct(">I4sI")

# Boxes whose payload is nothing but child boxes (for the reader's recursion).
CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex",
                        b"moof", b"traf", b"edts"})


def u8(value: int) -> bytes:
    return value.to_bytes(1, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def box(kind: bytes, *payload: bytes) -> bytes:
    """A box of type ``kind`` (4 bytes) around the concatenated ``payload``."""
    body = b"".join(payload)
    return _HEADER.pack(8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A full box: version (8 bits) and flags (24 bits) ahead of the payload."""
    body = b"".join(payload)
    return _FULL_HEADER.pack(12 + len(body), kind, (version << 24) | flags) + body


class Box(NamedTuple):
    """One box found by the reader. ``payload`` excludes the 8-byte header."""

    kind: bytes
    offset: int  # of the box header in the data read
    size: int
    payload: bytes
    children: tuple[Box, ...]


def read_boxes(data: bytes, offset: int = 0, end: int | None = None) -> list[Box]:
    """The boxes in ``data[offset:end]``; container boxes are read recursively.

    A box whose size runs past the end (a fragment cut short) ends the walk.
    64-bit sizes (``size == 1``) and to-end boxes (``size == 0``) are understood.
    """
    end = len(data) if end is None else end
    out: list[Box] = []
    while offset + 8 <= end:
        size, kind = _HEADER.unpack_from(data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                break
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break
        start = offset + header
        children: tuple[Box, ...] = ()
        if kind in CONTAINERS:
            children = tuple(read_boxes(data, start, offset + size))
        out.append(Box(kind, offset, size, bytes(data[start : offset + size]), children))
        offset += size
    return out


def _walk(boxes: Iterable[Box]) -> Iterator[Box]:
    for b in boxes:
        yield b
        yield from _walk(b.children)


def find(boxes: Iterable[Box], kind: bytes) -> list[Box]:
    """Every box of type ``kind`` at any depth, in file order."""
    return [b for b in _walk(boxes) if b.kind == kind]
