"""A progressive (moov-first) MP4's index: sample tables kept compactly, then the boxes.

:class:`SampleTable` collects one track's samples as they are chosen (arrays of
32-bit values and run-length tables, about 4–12 bytes a sample rather than a
Python object each) and :func:`movie` turns the tables into ``ftyp`` + ``moov``
(ISO/IEC 14496-12 8.6–8.7): ``stts``, ``ctts`` (version 0: offsets made
non-negative, the shift undone by the edit list), ``stss``, ``stsz``, ``stsc``,
``stco`` or ``co64``, with an ``elst`` per track that starts the video at its
first frame and places the audio against it. Sample entries (``stsd``) and the
``hdlr``/``vmhd``/``smhd``/``dinf`` boxes are the recording's own, copied.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

from nvr.fmp4.boxes import box, full_box, u16, u32, u64
from nvr.playback.tracks import Track

__all__ = ["MOVIE_TIMESCALE", "SampleTable", "movie", "to_movie"]

MOVIE_TIMESCALE = 1000
_MATRIX = b"".join(u32(v) for v in (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000))
_U32_MAX = 0xFFFFFFFF


def _be(values: array) -> bytes:  # type: ignore[type-arg]
    out = array(values.typecode, values)
    if sys.byteorder == "little":
        out.byteswap()
    return out.tobytes()


def _pairs(first: array, second: array) -> bytes:  # type: ignore[type-arg]
    """Two unsigned 32-bit columns as big-endian rows."""
    both = array("I", bytes(8 * len(first)))
    both[0::2] = first
    both[1::2] = second
    return _be(both)


@dataclass
class SampleTable:
    """One track's samples in output order, with its chunks (runs of adjacent samples)."""

    track: Track  # the first segment's track: handler, media header, size
    timescale: int
    entries: list[bytes] = field(default_factory=list)  # distinct sample entries
    sizes: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    stts_counts: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    stts_deltas: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    ctts_counts: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    ctts_offsets: array = field(default_factory=lambda: array("i"))  # type: ignore[type-arg]
    sync: array | None = None  # type: ignore[type-arg]  # 1-based; None: every sample
    chunk_samples: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    chunk_entries: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    chunk_offsets: list[int] = field(default_factory=list)  # filled in by movie()
    duration: int = 0  # sum of durations (media timescale)
    min_offset: int = 0

    def entry(self, sample_entry: bytes) -> int:
        """1-based index of a sample entry, added when new."""
        if sample_entry not in self.entries:
            self.entries.append(sample_entry)
        return self.entries.index(sample_entry) + 1

    def add_many(self, durations: Sequence[int], sizes: Sequence[int],
                 offsets: Sequence[int] | None = None, keys: Sequence[bool] | None = None
                 ) -> None:
        """Samples in bulk (a run or part of one). ``offsets`` None: all 0 (no
        composition offsets); ``keys`` None: all sync samples (audio)."""
        first = len(self.sizes) + 1
        self.sizes.extend(sizes)
        _extend_runs(self.stts_counts, self.stts_deltas, durations)
        if offsets is None:
            _extend_runs(self.ctts_counts, self.ctts_offsets, (), zeros=len(sizes))
        else:
            _extend_runs(self.ctts_counts, self.ctts_offsets, offsets)
            self.min_offset = min(self.min_offset, min(offsets, default=0))
        if keys is not None and not all(keys):
            if self.sync is None:  # every sample so far was a sync sample
                self.sync = array("I", range(1, first))
            self.sync.extend(first + i for i, key in enumerate(keys) if key)
        elif self.sync is not None:
            self.sync.extend(range(first, first + len(sizes)))
        self.duration += sum(durations)

    def set_last_duration(self, duration: int) -> None:
        """Change the last sample's duration (audio: known once the next is placed)."""
        self.duration += duration - self.stts_deltas[-1]
        if self.stts_counts[-1] == 1:
            self.stts_counts.pop()
            self.stts_deltas.pop()
        else:
            self.stts_counts[-1] -= 1
        if self.stts_deltas and self.stts_deltas[-1] == duration:
            self.stts_counts[-1] += 1
        else:
            self.stts_counts.append(1)
            self.stts_deltas.append(duration)

    def chunk(self, samples: int, entry: int) -> None:
        self.chunk_samples.append(samples)
        self.chunk_entries.append(entry)

    @property
    def shift(self) -> int:
        """What makes every composition offset non-negative (ctts version 0)."""
        return -self.min_offset

    def stbl(self, wide: bool) -> bytes:
        stsd = full_box(b"stsd", 0, 0, u32(len(self.entries)), *self.entries)
        parts = [stsd, full_box(b"stts", 0, 0, u32(len(self.stts_counts)),
                                _pairs(self.stts_counts, self.stts_deltas))]
        if any(self.ctts_offsets):
            shifted = array("I", (o + self.shift for o in self.ctts_offsets))
            parts.append(full_box(b"ctts", 0, 0, u32(len(shifted)),
                                  _pairs(self.ctts_counts, shifted)))
        if self.sync is not None:
            parts.append(full_box(b"stss", 0, 0, u32(len(self.sync)), _be(self.sync)))
        parts.append(full_box(b"stsz", 0, 0, u32(0), u32(len(self.sizes)), _be(self.sizes)))
        runs = array("I")
        previous = None
        for i, (count, entry) in enumerate(zip(self.chunk_samples, self.chunk_entries,
                                               strict=True)):
            if (count, entry) != previous:
                runs.extend((i + 1, count, entry))
                previous = (count, entry)
        parts.append(full_box(b"stsc", 0, 0, u32(len(runs) // 3), _be(runs)))
        offsets = array("Q" if wide else "I", self.chunk_offsets)
        parts.append(full_box(b"co64" if wide else b"stco", 0, 0, u32(len(offsets)),
                              _be(offsets)))
        return box(b"stbl", *parts)


def _extend_runs(counts: array, values: array, column: Sequence[int],  # type: ignore[type-arg]
                 zeros: int = 0) -> None:
    """Run-length encode ``column`` (or ``zeros`` zeros) onto (counts, values)."""
    groups = ((0, zeros),) if zeros else ((v, len(list(g))) for v, g in groupby(column))
    for value, count in groups:
        if values and values[-1] == value:
            counts[-1] += count
        else:
            counts.append(count)
            values.append(value)


def to_movie(ticks: int, timescale: int) -> int:
    """Media ticks → movie timescale, rounded."""
    return (ticks * MOVIE_TIMESCALE + timescale // 2) // timescale


def _times(version: int, *values: int) -> bytes:
    return b"".join(u64(v) if version else u32(v) for v in values)


def _tkhd(track_id: int, duration: int, table: SampleTable) -> bytes:
    version = int(duration > _U32_MAX)
    audio = table.track.kind == "audio"
    return full_box(
        b"tkhd", version, 0x3,  # enabled, in movie
        _times(version, 0, 0), u32(track_id), u32(0), _times(version, duration),
        bytes(8), u16(0), u16(0), u16(0x0100 if audio else 0), u16(0),
        _MATRIX, u32(table.track.width << 16), u32(table.track.height << 16))


def _elst(edits: Sequence[tuple[int, int]]) -> bytes:
    """Edits of (duration in the movie timescale, media time; -1: empty)."""
    version = int(any(d > _U32_MAX or t > 0x7FFFFFFF for d, t in edits))
    rows = b"".join((u64(d) + u64(t & (2**64 - 1)) if version else u32(d) + u32(t & _U32_MAX))
                    + u16(1) + u16(0) for d, t in edits)
    return box(b"edts", full_box(b"elst", version, 0, u32(len(edits)), rows))


def _trak(track_id: int, table: SampleTable, edits: Sequence[tuple[int, int]], wide: bool
          ) -> bytes:
    duration = sum(d for d, _ in edits)
    version = int(table.duration > _U32_MAX)
    mdhd = full_box(b"mdhd", version, 0, _times(version, 0, 0), u32(table.timescale),
                    _times(version, table.duration), u16(0x55C4), u16(0))  # language und
    track = table.track
    minf = box(b"minf", track.media_header, track.dinf, table.stbl(wide))
    return box(b"trak", _tkhd(track_id, duration, table), _elst(edits),
               box(b"mdia", mdhd, track.handler, minf))


def _ftyp() -> bytes:
    return box(b"ftyp", b"isom", u32(0x200), b"isom", b"iso2", b"mp41")


def movie(tracks: Sequence[tuple[SampleTable, Sequence[tuple[int, int]]]],
          chunk_sizes: Sequence[tuple[int, int]]) -> bytes:
    """``ftyp`` + ``moov`` + the ``mdat`` header, for tracks with their edits, the media
    following as chunks ``(track index, bytes)`` in file order."""
    media = sum(size for _, size in chunk_sizes)
    for table, _ in tracks:  # placeholders: the offsets' width, not their values, counts
        table.chunk_offsets = [0] * len(table.chunk_samples)
    wide = False
    start = len(_head(tracks, wide, media))
    if start + media > _U32_MAX:
        wide = True  # 64-bit chunk offsets
        start = len(_head(tracks, wide, media))
    offsets: list[list[int]] = [[] for _ in tracks]
    position = start
    for index, size in chunk_sizes:
        offsets[index].append(position)
        position += size
    for (table, _), values in zip(tracks, offsets, strict=True):
        table.chunk_offsets = values
    return _head(tracks, wide, media)


def _head(tracks: Sequence[tuple[SampleTable, Sequence[tuple[int, int]]]], wide: bool,
          media: int) -> bytes:
    duration = max((sum(d for d, _ in edits) for _, edits in tracks), default=0)
    version = int(duration > _U32_MAX)
    mvhd = full_box(b"mvhd", version, 0, _times(version, 0, 0), u32(MOVIE_TIMESCALE),
                    _times(version, duration), u32(0x00010000), u16(0x0100), bytes(10),
                    _MATRIX, bytes(24), u32(len(tracks) + 1))
    traks = [_trak(i + 1, table, edits, wide) for i, (table, edits) in enumerate(tracks)]
    moov = box(b"moov", mvhd, *traks)
    if media + 8 > _U32_MAX:  # a 64-bit mdat size
        return _ftyp() + moov + u32(1) + b"mdat" + u64(media + 16)
    return _ftyp() + moov + u32(media + 8) + b"mdat"
