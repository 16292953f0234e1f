"""NAL unit framing: Annex-B byte streams (start codes) and AVCC/HVCC (4-byte lengths).

Feeds carry video as AVCC/HVCC (length-prefixed), which is also what MP4 and
FLV/RTMP store, so the recorder and the live view copy payloads as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["START_CODE", "annexb_to_avcc", "avcc_nals", "avcc_to_annexb", "split_annexb",
           "to_annexb", "to_avcc"]

START_CODE = b"\x00\x00\x00\x01"


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex-B byte stream (00 00 01 / 00 00 00 01 start codes) into NALs."""
    out = []
    for part in bytes(data).split(b"\x00\x00\x01"):
        part = part.rstrip(b"\x00")
        if part:
            out.append(part)
    return out


def to_avcc(nals: Sequence[bytes]) -> bytes:
    """NAL units → one length-prefixed (4-byte big-endian) AVCC/HVCC payload."""
    if len(nals) == 1:  # the usual P-frame
        return len(nals[0]).to_bytes(4, "big") + nals[0]
    parts = []
    for nal in nals:
        parts.append(len(nal).to_bytes(4, "big"))
        parts.append(nal)
    return b"".join(parts)


def to_annexb(nals: Iterable[bytes]) -> bytes:
    """NAL units → an Annex-B byte stream with 4-byte start codes."""
    return b"".join(START_CODE + nal for nal in nals)


def annexb_to_avcc(data: bytes) -> bytes:
    return to_avcc(split_annexb(data))


def avcc_nals(data: bytes, length_size: int = 4) -> list[bytes]:
    """The NAL units of a length-prefixed payload; ValueError if a length overruns it."""
    out = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + length_size > end:
            raise ValueError("truncated NAL length")
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > end:
            raise ValueError(f"NAL length {size} overruns the payload")
        out.append(data[pos:pos + size])
        pos += size
    return out


def avcc_to_annexb(data: bytes) -> bytes:
    """Replace 4-byte NAL lengths with start codes (same size)."""
    size = int.from_bytes(data[:4], "big")
    if size + 4 == len(data):  # one NAL: the usual P-frame
        return START_CODE + data[4:]
    out = bytearray(data)
    pos, end = 0, len(out)
    while pos + 4 <= end:
        size = int.from_bytes(out[pos:pos + 4], "big")
        out[pos:pos + 4] = START_CODE
        pos += 4 + size
    return bytes(out)
