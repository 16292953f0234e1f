"""Read a recorded segment file: its init segment and, per fragment, its samples.

A segment (docs/design/recording.md) is ``ftyp``+``moov`` then ``moof``+``mdat``
pairs, one per GOP. :func:`open_segment` walks the top-level boxes reading only box
headers and the ``moof`` boxes (a few hundred bytes per GOP, never the media), and
parses each ``moof``'s ``mfhd``, ``tfhd``, ``tfdt`` and ``trun`` into
:class:`Run` s: per track the decode time, duration, composition offset, sync flag,
size and file offset of every sample. Media bytes are read later, a fragment or a
sample at a time, with ``os.pread`` on the open file.

Robust to what a crash leaves: a last fragment cut short keeps the samples whose
bytes are all in the file (a prefix in decode order, which decodes) and is marked
incomplete; a cut ``moof`` or garbage ends the walk. Never raises on file contents
(``OSError`` for a file that cannot be opened or read).

Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from nvr.fmp4.boxes import Box, read_boxes
from nvr.playback.tracks import Track, parse_init

__all__ = ["Fragment", "Run", "Sample", "SegmentFile", "open_segment"]

NON_SYNC = 0x00010000  # sample_is_non_sync_sample (ISO/IEC 14496-12 8.8.3.1)
_HEADER = struct.Struct(">I4s")
_MAX_INIT = 1 << 20  # an init segment is about a kilobyte; more is not ours
_MAX_MOOF = 16 << 20  # a moof of a long GOP with audio is tens of kilobytes
_MAX_SAMPLES = 1 << 16  # samples in a trun that gives none of their fields


class Sample(NamedTuple):
    """One sample, times in its track's timescale (relative to the segment)."""

    decode_time: int
    duration: int
    composition_offset: int
    keyframe: bool
    size: int
    offset: int  # in the file

    @property
    def presentation_time(self) -> int:
        return self.decode_time + self.composition_offset


@dataclass(slots=True)
class Run:
    """The samples of one ``trun``: one track's share of a fragment."""

    track_id: int
    decode_time: int  # of the first sample
    offset: int  # file offset of the first sample's bytes
    durations: list[int]
    sizes: list[int]
    keyframes: list[bool]
    composition_offsets: list[int]

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def duration(self) -> int:
        return sum(self.durations)

    @property
    def nbytes(self) -> int:
        return sum(self.sizes)

    def samples(self) -> list[Sample]:
        out = []
        time, offset = self.decode_time, self.offset
        for duration, size, key, cto in zip(self.durations, self.sizes, self.keyframes,
                                            self.composition_offsets, strict=True):
            out.append(Sample(time, duration, cto, key, size, offset))
            time += duration
            offset += size
        return out

    def cut(self, count: int) -> None:
        """Keep the first ``count`` samples."""
        del self.durations[count:], self.sizes[count:], self.keyframes[count:]
        del self.composition_offsets[count:]


@dataclass(slots=True)
class Fragment:
    """One ``moof`` (+ its ``mdat``) of a segment file."""

    offset: int  # of the moof in the file
    size: int  # moof through the end of its mdat (what is in the file of it)
    sequence: int
    runs: list[Run]
    complete: bool = True  # every sample's bytes are in the file, mdat included whole
    # where to rewrite a copy of the fragment in place (relative to the moof): the mfhd
    # sequence number, and per track the tfdt decode time (position, width in bytes).
    # None when a copy cannot be rewritten so (cut short, absolute data offsets, a traf
    # without tfdt, two trafs of one track): such a fragment is rebuilt from its samples.
    sequence_at: int | None = None
    tfdt_at: dict[int, tuple[int, int]] | None = None

    @property
    def patchable(self) -> bool:
        return self.complete and self.sequence_at is not None and self.tfdt_at is not None

    def track(self, track_id: int) -> list[Run]:
        return [r for r in self.runs if r.track_id == track_id]

    def start(self, track_id: int) -> int | None:
        """Decode time of the track's first sample in this fragment."""
        runs = self.track(track_id)
        return runs[0].decode_time if runs and len(runs[0]) else None

    def end(self, track_id: int) -> int | None:
        """Decode time just after the track's last sample in this fragment."""
        runs = self.track(track_id)
        return runs[-1].decode_time + runs[-1].duration if runs else None


@dataclass
class SegmentFile:
    """An open segment file: its tracks, its fragments and the descriptor to read with."""

    path: Path
    fd: int
    init: bytes
    tracks: list[Track]
    fragments: list[Fragment]
    file_size: int

    @property
    def video(self) -> Track | None:
        return next((t for t in self.tracks if t.kind == "video"), None)

    @property
    def audio(self) -> Track | None:
        return next((t for t in self.tracks if t.kind == "audio"), None)

    @property
    def mime(self) -> str:
        """``video/mp4; codecs="..."`` as the live view says it; "" when a codec is unknown."""
        codecs = [t.codec for t in (self.video, self.audio) if t is not None]
        if not codecs or not all(codecs):
            return ""
        return f'video/mp4; codecs="{", ".join(codecs)}"'

    def video_samples(self) -> list[tuple[int, int, Sample]]:
        """(fragment index, index in the fragment's video samples, sample) of every video
        sample, in decode order."""
        video = self.video
        if video is None:
            return []
        out: list[tuple[int, int, Sample]] = []
        for i, frag in enumerate(self.fragments):
            samples = [s for run in frag.track(video.track_id) for s in run.samples()]
            out.extend((i, k, s) for k, s in enumerate(samples))
        return out

    def keyframe_at_or_before(self, time: int) -> tuple[int, int] | None:
        """(fragment index, video sample index in it) of the last video keyframe presented
        at or before ``time`` (video timescale, relative to the segment), else the first
        keyframe; None without any."""
        video = self.video
        if video is None:
            return None
        found: tuple[int, int] | None = None
        for i, frag in enumerate(self.fragments):
            before = 0  # video samples of this fragment in the runs before
            for run in frag.track(video.track_id):
                for k in (k for k, key in enumerate(run.keyframes) if key):
                    shown = (run.decode_time + sum(run.durations[:k])
                             + run.composition_offsets[k])
                    if found is None or shown <= time:
                        found = (i, before + k)
                    if shown > time:
                        return found
                before += len(run)
        return found

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (short only at the end of the file)."""
        return os.pread(self.fd, size, offset)

    def read_fragment(self, fragment: Fragment) -> bytes:
        return self.read(fragment.offset, fragment.size)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> SegmentFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_segment(path: Path) -> SegmentFile:
    """Open and index a segment file (blocking). ``OSError`` if it cannot be read; a file
    that is not a segment gives no tracks or no fragments."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        init, moofs = _walk(fd, size)
        tracks = parse_init(init)
        by_id = {t.track_id: t for t in tracks}
        ends: dict[int, int] = {}  # per track, where the last fragment ended
        fragments = []
        for offset, moof_size in moofs:
            fragment = _fragment(fd, size, offset, moof_size, by_id, ends)
            if fragment is not None:
                fragments.append(fragment)
    except BaseException:
        os.close(fd)
        raise
    return SegmentFile(path, fd, init, tracks, fragments, size)


def _walk(fd: int, size: int) -> tuple[bytes, list[tuple[int, int]]]:
    """The init segment's bytes and (offset, size) of each moof, from box headers. A box
    running past the end of the file ends the walk (a moof cut short is left out; an mdat
    cut short is the fragment reader's business)."""
    init = b""
    moofs: list[tuple[int, int]] = []
    pos = 0
    while pos + 8 <= size:
        head = os.pread(fd, 16, pos)
        if len(head) < 8:
            break
        box_size, kind = _HEADER.unpack_from(head)
        if box_size == 1 and len(head) == 16:
            box_size = int.from_bytes(head[8:16], "big")
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8 or pos + box_size > size:
            break
        if kind in (b"ftyp", b"moov") and pos + box_size <= _MAX_INIT:
            init += os.pread(fd, box_size, pos)
        elif kind == b"moof" and box_size <= _MAX_MOOF:
            moofs.append((pos, box_size))
        pos += box_size
    return init, moofs


class _Defaults:
    __slots__ = ("duration", "flags", "size")

    def __init__(self, track: Track | None) -> None:
        self.duration = track.default_duration if track else 0
        self.size = track.default_size if track else 0
        self.flags = track.default_flags if track else 0


def _fragment(fd: int, file_size: int, offset: int, moof_size: int, tracks: dict[int, Track],
              ends: dict[int, int]) -> Fragment | None:
    data = os.pread(fd, moof_size + 16, offset)  # the moof and the mdat header after it
    if len(data) < moof_size:
        return None
    end = offset + moof_size
    if len(data) >= moof_size + 8:
        mdat_size, kind = _HEADER.unpack_from(data, moof_size)
        if kind == b"mdat":
            if mdat_size == 1 and len(data) >= moof_size + 16:
                mdat_size = int.from_bytes(data[moof_size + 8 : moof_size + 16], "big")
            elif mdat_size == 0:
                mdat_size = file_size - end
            end += mdat_size
    try:
        moof = read_boxes(data, 0, moof_size)[0]
        fragment = _parse_moof(moof, offset, tracks, ends)
    except (IndexError, ValueError, struct.error, StopIteration):
        return None  # a moof we cannot read: nothing of this GOP is used
    if fragment is None:
        return None
    fragment.size = min(end, file_size) - offset
    fragment.complete = end <= file_size
    for run in fragment.runs:  # keep what is wholly in the file: a prefix of each run
        stop, kept = run.offset, 0
        for size in run.sizes:
            if stop + size > file_size:
                break
            stop += size
            kept += 1
        if kept < len(run):
            run.cut(kept)
            fragment.complete = False
    fragment.runs = [r for r in fragment.runs if len(r)]
    for run in fragment.runs:
        ends[run.track_id] = run.decode_time + run.duration
    return fragment if fragment.runs else None


def _parse_moof(moof: Box, offset: int, tracks: dict[int, Track], ends: dict[int, int]
                ) -> Fragment | None:
    fragment = Fragment(offset, 0, 0, [], tfdt_at={})
    next_base = offset  # without base-data-offset or default-base-is-moof: after the last
    for child in moof.children:
        if child.kind == b"mfhd":
            fragment.sequence = int.from_bytes(child.payload[4:8], "big")
            fragment.sequence_at = child.offset + 12
        elif child.kind == b"traf":
            next_base = _parse_traf(child, offset, next_base, tracks, ends, fragment)
    return fragment if fragment.runs else None


def _parse_traf(traf: Box, moof_offset: int, base: int, tracks: dict[int, Track],
                ends: dict[int, int], fragment: Fragment) -> int:
    """Append the traf's runs to the fragment; returns where the next traf's data starts
    when it does not say."""
    tfhd = next(b for b in traf.children if b.kind == b"tfhd")
    flags = int.from_bytes(tfhd.payload[1:4], "big")
    track_id = int.from_bytes(tfhd.payload[4:8], "big")
    defaults = _Defaults(tracks.get(track_id))
    pos = 8
    if flags & 0x01:  # base-data-offset: absolute, so a copy elsewhere would point wrong
        base = int.from_bytes(tfhd.payload[pos : pos + 8], "big")
        pos += 8
        fragment.tfdt_at = None
    elif flags & 0x020000:  # default-base-is-moof
        base = moof_offset
    pos += 4 if flags & 0x02 else 0  # sample_description_index
    for bit, name in ((0x08, "duration"), (0x10, "size"), (0x20, "flags")):
        if flags & bit:
            setattr(defaults, name, int.from_bytes(tfhd.payload[pos : pos + 4], "big"))
            pos += 4
    tfdt = next((b for b in traf.children if b.kind == b"tfdt"), None)
    time = ends.get(track_id, 0)
    width = 0
    if tfdt is not None:
        width = 8 if tfdt.payload[0] == 1 else 4
        time = int.from_bytes(tfdt.payload[4 : 4 + width], "big")
    if fragment.tfdt_at is not None:
        if tfdt is None or track_id in fragment.tfdt_at:
            fragment.tfdt_at = None
        else:
            fragment.tfdt_at[track_id] = (tfdt.offset + 12, width)
    data = base
    for child in traf.children:
        if child.kind == b"trun":
            run = _parse_trun(child.payload, track_id, time, base, data, defaults)
            fragment.runs.append(run)
            time = run.decode_time + run.duration
            data = run.offset + run.nbytes
    return data


def _parse_trun(payload: bytes, track_id: int, time: int, base: int, data: int,
                defaults: _Defaults) -> Run:
    version = payload[0]
    flags = int.from_bytes(payload[1:4], "big")
    count = int.from_bytes(payload[4:8], "big")
    pos = 8
    offset = data
    if flags & 0x01:
        offset = base + int.from_bytes(payload[pos : pos + 4], "big", signed=True)
        pos += 4
    first_flags: int | None = None
    if flags & 0x04:
        first_flags = int.from_bytes(payload[pos : pos + 4], "big")
        pos += 4
    fields = [(bit, code) for bit, code in ((0x100, "I"), (0x200, "I"), (0x400, "I"),
                                            (0x800, "i" if version else "I")) if flags & bit]
    width = 4 * len(fields)
    count = min(count, (len(payload) - pos) // width if width else _MAX_SAMPLES)
    values = struct.unpack_from(">" + "".join(code for _, code in fields) * count, payload, pos)
    columns = {bit: list(values[n :: len(fields)]) for n, (bit, _) in enumerate(fields)}
    durations = columns.get(0x100) or [defaults.duration] * count
    sizes = columns.get(0x200) or [defaults.size] * count
    sample_flags = columns.get(0x400) or [defaults.flags] * count
    if first_flags is not None and count:
        sample_flags[0] = first_flags
    offsets = columns.get(0x800) or [0] * count
    return Run(track_id, time, offset, durations, sizes,
               [not f & NON_SYNC for f in sample_flags], offsets)
