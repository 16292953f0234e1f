"""The tracks of a recorded segment, read back from its init segment (``ftyp``+``moov``).

A segment's ``moov`` (written by :func:`nvr.fmp4.init_segment`) says which tracks
there are (``tkhd`` track id, ``mdhd`` timescale, ``hdlr`` handler) and how to
decode them (the ``stsd`` sample entry with its ``avcC``/``hvcC``/``esds``). This
module turns that back into a :class:`~nvr.feed.CodecParams` per track, so the
RFC 6381 codec string comes from the same :func:`nvr.fmp4.codec_string` the live
view uses, and keeps the raw boxes an exporter copies into a new ``moov``.

Like the rest of ``nvr.playback`` it never raises on a bad file: a track it cannot
understand has ``params`` None and an empty ``codec``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nvr.feed import CodecParams
from nvr.fmp4.boxes import Box, box, read_boxes
from nvr.fmp4.codecs import codec_string

__all__ = ["Track", "parse_init", "video_only_init"]

_VISUAL_FIELDS = 78  # sample entry (8) + visual fields (70) before the config box
_AUDIO_FIELDS = 28  # sample entry (8) + version 0 sound fields (20)
_HEVC_TYPES = {32: "vps", 33: "sps", 34: "pps"}


@dataclass(frozen=True, slots=True)
class Track:
    """One track of an init segment."""

    track_id: int
    kind: str  # "video" | "audio" | another handler type
    timescale: int
    params: CodecParams | None  # None when the sample entry is not understood
    codec: str  # RFC 6381, "" when unknown
    entry: bytes  # the first sample entry box (avc1/hvc1/mp4a ...), whole
    handler: bytes  # the hdlr box, whole
    media_header: bytes  # vmhd / smhd box, whole
    dinf: bytes  # the dinf box, whole
    width: int = 0  # pixels, from tkhd
    height: int = 0
    default_duration: int = 0  # trex defaults, for truns that leave them out
    default_size: int = 0
    default_flags: int = 0


def _child(parent: Box | list[Box] | tuple[Box, ...], kind: bytes) -> Box | None:
    children = parent.children if isinstance(parent, Box) else parent
    return next((b for b in children if b.kind == kind), None)


def _parse_avcc(payload: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 5
    for name in ("sps", "pps"):
        count = payload[pos] & (0x1F if name == "sps" else 0xFF)
        pos += 1
        for _ in range(count):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            out.setdefault(name, payload[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return out


def _parse_hvcc(payload: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 23
    for _ in range(payload[22]):
        name = _HEVC_TYPES.get(payload[pos] & 0x3F)
        count = int.from_bytes(payload[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            if name:
                out.setdefault(name, payload[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return out


def _descriptors(data: bytes, pos: int, end: int) -> dict[int, tuple[int, int]]:
    """tag → (start, end) of each MPEG-4 descriptor in data[pos:end], nested ones too."""
    found: dict[int, tuple[int, int]] = {}
    while pos + 2 <= end:
        tag = data[pos]
        pos += 1
        size = 0
        for _ in range(4):
            byte = data[pos]
            pos += 1
            size = (size << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        found.setdefault(tag, (pos, pos + size))
        if tag == 0x03:  # ES_Descriptor: ES_ID, flags, optional fields, then children
            flags = data[pos + 2]
            inner = pos + 3 + (2 if flags & 0x80 else 0)  # dependsOn_ES_ID
            if flags & 0x40:  # URL
                inner += 1 + data[inner]
            inner += 2 if flags & 0x20 else 0  # OCR_ES_Id
            found.update({k: v for k, v in _descriptors(data, inner, pos + size).items()
                          if k not in found})
        elif tag == 0x04:  # DecoderConfigDescriptor: 13 bytes, then DecoderSpecificInfo
            found.update({k: v for k, v in _descriptors(data, pos + 13, pos + size).items()
                          if k not in found})
        pos += size
    return found


def _audio_config(esds_payload: bytes) -> bytes:
    where = _descriptors(esds_payload, 4, len(esds_payload)).get(0x05)
    return esds_payload[where[0] : where[1]] if where else b""


def _params(kind: str, timescale: int, entry: Box, width: int, height: int
            ) -> CodecParams | None:
    payload = entry.payload
    if kind == "video" and entry.kind in (b"avc1", b"avc3", b"hvc1", b"hev1"):
        configs = read_boxes(payload, _VISUAL_FIELDS)
        h264 = entry.kind in (b"avc1", b"avc3")
        config = _child(configs, b"avcC" if h264 else b"hvcC")
        if config is None:
            return None
        sets = _parse_avcc(config.payload) if h264 else _parse_hvcc(config.payload)
        return CodecParams(kind="video", codec="h264" if h264 else "h265",
                           clock_rate=timescale, width=width, height=height,
                           sps=sets.get("sps", b""), pps=sets.get("pps", b""),
                           vps=sets.get("vps", b""))
    if kind == "audio" and entry.kind == b"mp4a":
        channels = int.from_bytes(payload[16:18], "big")
        esds = _child(read_boxes(payload, _AUDIO_FIELDS), b"esds")
        asc = _audio_config(esds.payload) if esds is not None else b""
        return CodecParams(kind="audio", codec="aac", clock_rate=timescale, audio_config=asc,
                           sample_rate=timescale, channels=channels)
    return None


def _track(trak: Box, trex: dict[int, tuple[int, int, int]]) -> Track | None:
    tkhd = _child(trak, b"tkhd")
    mdia = _child(trak, b"mdia")
    if tkhd is None or mdia is None:
        return None
    minf, mdhd, hdlr = _child(mdia, b"minf"), _child(mdia, b"mdhd"), _child(mdia, b"hdlr")
    stbl = _child(minf, b"stbl") if minf is not None else None
    stsd = _child(stbl, b"stsd") if stbl is not None else None
    dinf = _child(minf, b"dinf") if minf is not None else None
    if minf is None or mdhd is None or hdlr is None or stsd is None or len(stsd.payload) < 16:
        return None
    track_id = _tkhd_id(tkhd)
    width, height = (v >> 16 for v in struct.unpack(">II", tkhd.payload[-8:]))
    timescale = int.from_bytes(mdhd.payload[20:24] if mdhd.payload[0] == 1
                               else mdhd.payload[12:16], "big")
    kind = {b"vide": "video", b"soun": "audio"}.get(hdlr.payload[8:12],
                                                    hdlr.payload[8:12].decode("latin-1"))
    entries = read_boxes(stsd.payload, 8)
    if not entries or not timescale:
        return None
    entry = entries[0]
    params = _params(kind, timescale, entry, width, height)
    codec = ""
    if params is not None:
        try:
            codec = codec_string(params)
        except (ValueError, IndexError):
            params = None
    media_header = _child(minf, b"vmhd") or _child(minf, b"smhd")
    duration, size, flags = trex.get(track_id, (0, 0, 0))
    return Track(
        track_id=track_id, kind=kind, timescale=timescale, params=params, codec=codec,
        entry=_whole(entry), handler=_whole(hdlr),
        media_header=_whole(media_header) if media_header else b"",
        dinf=_whole(dinf) if dinf else b"", width=width, height=height,
        default_duration=duration, default_size=size, default_flags=flags)


def _whole(b: Box) -> bytes:
    return box(b.kind, b.payload)


def parse_init(init: bytes) -> list[Track]:
    """The tracks of an init segment (``ftyp``+``moov``), in file order; [] when there is
    no readable ``moov``."""
    try:
        moov = _child(read_boxes(init), b"moov")
        if moov is None:
            return []
        trex: dict[int, tuple[int, int, int]] = {}
        mvex = _child(moov, b"mvex")
        for b in mvex.children if mvex is not None else ():
            if b.kind == b"trex" and len(b.payload) >= 24:
                track_id, _, duration, size, flags = struct.unpack(">IIIII", b.payload[4:24])
                trex[track_id] = (duration, size, flags)
        tracks = [_track(b, trex) for b in moov.children if b.kind == b"trak"]
    except (IndexError, ValueError, struct.error):
        return []
    return [t for t in tracks if t is not None]


def video_only_init(init: bytes, video_track_id: int) -> bytes:
    """The same init segment without its other tracks (for trick play, which sends no
    audio: an audio track without samples would stall a MediaSource)."""
    boxes = read_boxes(init)
    out = []
    for b in boxes:
        if b.kind != b"moov":
            out.append(init[b.offset : b.offset + b.size])
            continue
        children = []
        for child in b.children:
            if child.kind == b"trak":
                tkhd = _child(child, b"tkhd")
                if tkhd is None or _tkhd_id(tkhd) != video_track_id:
                    continue
            if child.kind == b"mvex":
                kept = [box(c.kind, c.payload) for c in child.children
                        if c.kind != b"trex" or c.payload[4:8] == video_track_id.to_bytes(4, "big")]
                children.append(box(b"mvex", *kept))
                continue
            children.append(init[child.offset : child.offset + child.size])
        out.append(box(b"moov", *children))
    return b"".join(out)


def _tkhd_id(tkhd: Box) -> int:
    return int.from_bytes(tkhd.payload[20:24] if tkhd.payload[0] == 1 else tkhd.payload[12:16],
                          "big")
