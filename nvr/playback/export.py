"""Recorded segments → one progressive MP4 (``moov`` first), streamed, never whole in memory.

:func:`plan_export` (blocking; run it in a thread) indexes the segments of a time
range (``moof`` boxes only, never the media), chooses the samples and lays out the
file: ``ftyp``, a ``moov`` with complete sample tables (:mod:`nvr.playback.mp4`),
then one ``mdat`` whose contents are the recorded sample bytes in their recorded
order (per GOP a video chunk, then an audio chunk). :meth:`ExportPlan.blocks` then
copies those byte ranges from the files in blocks of about a megabyte, so the size
is known before the first byte (a ``Content-Length``, a real progress bar) and the
copy is little more than reading the files.

What is chosen: video from the keyframe at or before ``start`` (the first keyframe
of the first segment when ``start`` falls before it, or in a gap) to the last
frame shown before ``end`` (frames it references come along; the edit list ends
the presentation at ``end``); the recorded audio from the first frame's time to
``end``. Segments follow each other on one timeline, gaps skipped, as in playback.
Audio overlapping the previous segment's by up to :data:`AUDIO_NUDGE` is moved
later, further back it is dropped; a gap in the audio lengthens the sample before it.

Why moov-first and not fragmented (see docs/ref/api.md): it is the form every
player and editor reads and seeks in without scanning (QuickTime, VLC, browsers,
video editors); the cost is an index pass before the first byte and the sample
tables in memory (about 4–12 bytes a sample: a few MB for an hour).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from nvr.feed import VIDEO_CLOCK
from nvr.playback.mp4 import SampleTable, movie, to_movie
from nvr.playback.reader import Run, SegmentFile, open_segment
from nvr.playback.stream import AUDIO_NUDGE, SegmentRef
from nvr.playback.tracks import Track

__all__ = ["BLOCK", "MAX_RANGE_US", "ExportPlan", "plan_export", "range_problem"]

BLOCK = 1 << 20  # bytes read and handed on at a time
MAX_RANGE_US = 24 * 3600 * 1_000_000  # the longest export (its index is kept in memory)


def range_problem(start_us: int, end_us: int) -> str | None:
    """What is wrong with an export's range, if anything."""
    if start_us >= end_us:
        return "start must be before end"
    if end_us - start_us > MAX_RANGE_US:
        return "the range may be 24 hours at most"
    return None


@dataclass
class ExportPlan:
    head: bytes  # ftyp + moov + mdat header
    files: list[Path]
    chunks: list[tuple[int, int, int]]  # (file index, offset, bytes), in output order
    size: int  # of the whole MP4
    duration: float  # seconds of video shown
    first_us: int  # wall-clock time of the first frame (the keyframe)
    segments: int  # files used

    def blocks(self, block: int = BLOCK) -> Generator[bytes, None, None]:
        """The MP4, about ``block`` bytes at a time (blocking reads: call ``next`` in a
        thread). OSError when a file went away or shrank since the plan was made."""
        yield self.head
        fd, current = -1, -1
        pending: list[bytes] = []
        pending_size = 0
        try:
            for index, offset, size in self.chunks:
                if index != current:
                    if fd >= 0:
                        os.close(fd)
                        fd = -1
                    fd = os.open(self.files[index], os.O_RDONLY | os.O_CLOEXEC)
                    current = index
                while size:
                    want = min(size, block - pending_size)
                    data = os.pread(fd, want, offset)
                    if len(data) != want:
                        raise OSError(f"{self.files[index]}: changed while exporting")
                    pending.append(data)
                    pending_size += want
                    offset += want
                    size -= want
                    if pending_size >= block:
                        yield b"".join(pending)
                        pending, pending_size = [], 0
            if pending:
                yield b"".join(pending)
        finally:
            if fd >= 0:
                os.close(fd)


    def copy_to(self, fd: int, progress: Callable[[int], None] | None = None) -> int:
        """Write the MP4 to a file descriptor (blocking), the media copied by the kernel
        (``os.copy_file_range``) where it can; returns the bytes written. ``progress``
        is told the bytes written so far now and then."""
        copy = getattr(os, "copy_file_range", None)
        if copy is None:
            return self._write_blocks(fd, progress)
        _write_all(fd, self.head)
        written = len(self.head)
        src, current = -1, -1
        try:
            for index, offset, size in self.chunks:
                if index != current:
                    if src >= 0:
                        os.close(src)
                        src = -1
                    src = os.open(self.files[index], os.O_RDONLY | os.O_CLOEXEC)
                    current = index
                while size:
                    try:
                        done = copy(src, fd, size, offset)
                    except OSError as exc:
                        if written == len(self.head) and exc.errno in _NO_COPY_RANGE:
                            os.lseek(fd, -written, os.SEEK_CUR)  # start over, by hand
                            return self._write_blocks(fd, progress)
                        raise
                    if done <= 0:
                        raise OSError(f"{self.files[index]}: changed while exporting")
                    offset += done
                    size -= done
                    written += done
                if progress is not None:
                    progress(written)
        finally:
            if src >= 0:
                os.close(src)
        return written

    def _write_blocks(self, fd: int, progress: Callable[[int], None] | None) -> int:
        written = 0
        for block in self.blocks():
            _write_all(fd, block)
            written += len(block)
            if progress is not None:
                progress(written)
        return written


_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Builder:
    def __init__(self, start_us: int, end_us: int) -> None:
        self.start_us, self.end_us = start_us, end_us
        self.video: SampleTable | None = None
        self.audio: SampleTable | None = None
        self.files: list[Path] = []
        self.chunks: list[tuple[int, int, int]] = []
        self.chunk_tracks: list[tuple[int, int]] = []  # (0 video | 1 audio, bytes)
        self.base = 0  # output decode time of the next video sample (90 kHz)
        self.shown_from: int | None = None  # output presentation time of the first frame
        self.shown_to = 0
        self.audio_first: int | None = None  # output time of the first audio sample
        self.audio_end = 0
        self.first_us = 0

    def add(self, seg: SegmentFile, ref: SegmentRef) -> None:
        video = seg.video
        if video is None or video.params is None:
            return
        rel = (self.start_us - ref.start_us) * VIDEO_CLOCK // 1_000_000
        begin = seg.keyframe_at_or_before(rel if self.video is None else 0)
        if begin is None:
            return
        # shown before end: pts * 1e6 < limit; a segment ending by then is taken whole
        limit = None if ref.end_us <= self.end_us else (
            (self.end_us - ref.start_us) * VIDEO_CLOCK)
        slices = _video_slices(seg, video.track_id, begin, limit)
        if not slices:
            return
        _, run, lo, _ = slices[0]
        key_decode = run.decode_time + sum(run.durations[:lo])
        key_shown = key_decode + run.composition_offsets[lo]
        if self.video is None:
            self.video = SampleTable(video, VIDEO_CLOCK)
            self.first_us = ref.start_us + key_shown * 1_000_000 // VIDEO_CLOCK
        table = self.video
        offset = self.base - key_decode  # segment decode time → output decode time
        if self.shown_from is None:
            self.shown_from = key_shown + offset
        entry = table.entry(video.entry)
        audio = seg.audio
        audio_entry = self._audio_entry(audio)
        file_index = len(self.files)
        self.files.append(ref.path)
        done: set[int] = set()
        for index, run, lo, hi in slices:
            table.add_many(run.durations[lo:hi], run.sizes[lo:hi],
                           run.composition_offsets[lo:hi], run.keyframes[lo:hi])
            self._chunk(table, file_index, run.offset + sum(run.sizes[:lo]),
                        sum(run.sizes[lo:hi]), hi - lo, 0, entry)
            shown = _shown_end(run, lo, hi, limit)
            if shown is not None:
                self.shown_to = max(self.shown_to, shown + offset)
            if audio is not None and audio_entry and index not in done:
                done.add(index)
                for audio_run in seg.fragments[index].track(audio.track_id):
                    self._add_audio(audio_run, offset, ref, file_index, audio_entry)
        _, run, _, hi = slices[-1]
        self.base = run.decode_time + sum(run.durations[:hi]) + offset

    def _audio_entry(self, audio: Track | None) -> int:
        if audio is None or audio.params is None:
            return 0
        if self.audio is None:
            self.audio = SampleTable(audio, audio.timescale)
        if self.audio.timescale != audio.timescale:
            return 0  # another sample rate cannot share the track
        return self.audio.entry(audio.entry)

    def _add_audio(self, run: Run, offset: int, ref: SegmentRef, file_index: int,
                   entry: int) -> None:
        """The run's audio from the end of the audio so far (overlaps of up to
        AUDIO_NUDGE moved later, more dropped) to the end of the range."""
        table = self.audio
        assert table is not None and self.shown_from is not None
        rate = table.timescale
        if self.audio_first is None and not len(table.sizes):
            self.audio_end = self.shown_from * rate // VIDEO_CLOCK  # audio from the first frame
        shift = round(offset * rate / VIDEO_CLOCK)
        floor = self.audio_end - round(AUDIO_NUDGE * rate)
        lo, time = 0, run.decode_time
        while lo < len(run) and time + shift < floor:
            time += run.durations[lo]
            lo += 1
        hi = len(run)
        if ref.end_us > self.end_us:  # started before end: time * 1e6 < limit
            limit = (self.end_us - ref.start_us) * rate
            cut, at = lo, time
            while cut < hi and at * 1_000_000 < limit:
                at += run.durations[cut]
                cut += 1
            hi = cut
        if lo >= hi:
            return
        start = max(time + shift, self.audio_end)
        if self.audio_first is None:
            self.audio_first = start
        else:  # the sample before lasts until this one starts
            table.set_last_duration(max(1, start - self.audio_end + table.stts_deltas[-1]))
        table.add_many(run.durations[lo:hi], run.sizes[lo:hi])
        self.audio_end = start + sum(run.durations[lo:hi])
        self._chunk(table, file_index, run.offset + sum(run.sizes[:lo]),
                    sum(run.sizes[lo:hi]), hi - lo, 1, entry)

    def _chunk(self, table: SampleTable, file_index: int, offset: int, size: int, count: int,
               track: int, entry: int) -> None:
        table.chunk(count, entry)
        self.chunks.append((file_index, offset, size))
        self.chunk_tracks.append((track, size))

    def finish(self) -> ExportPlan | None:
        video, audio = self.video, self.audio
        if video is None or self.shown_from is None or not len(video.sizes):
            return None
        shown = max(0, self.shown_to - self.shown_from)
        tracks = [(video, [(to_movie(shown, VIDEO_CLOCK), self.shown_from + video.shift)])]
        if audio is not None and len(audio.sizes) and self.audio_first is not None:
            rate = audio.timescale
            late = to_movie(self.audio_first * VIDEO_CLOCK - self.shown_from * rate,
                            rate * VIDEO_CLOCK)
            edits = [(late, -1)] if late > 0 else []
            edits.append((to_movie(audio.duration, rate), 0))
            tracks.append((audio, edits))
        head = movie(tracks, self.chunk_tracks)
        size = len(head) + sum(size for _, size in self.chunk_tracks)
        return ExportPlan(head, self.files, self.chunks, size, shown / VIDEO_CLOCK,
                          self.first_us, len(self.files))


def _presentation(run: Run) -> list[int]:
    """The run's presentation times (decode time + composition offset), decode order."""
    decode = accumulate(run.durations[:-1], initial=run.decode_time)
    return [d + c for d, c in zip(decode, run.composition_offsets, strict=True)]


def _video_slices(seg: SegmentFile, track_id: int, begin: tuple[int, int], limit: int | None
                  ) -> list[tuple[int, Run, int, int]]:
    """(fragment index, run, first, end) of the video samples to take: from the keyframe
    ``begin`` on; with a ``limit``, up to the last one shown before it (decode order, so
    the frames it references come along)."""
    slices = []
    skip = begin[1]
    for index in range(begin[0], len(seg.fragments)):
        for run in seg.fragments[index].track(track_id):
            lo = min(skip, len(run))
            skip -= lo
            if lo < len(run):
                slices.append((index, run, lo, len(run)))
    if limit is None:
        return slices
    last = None
    for n, (_, run, lo, hi) in enumerate(slices):
        shown = _presentation(run)
        for k in range(lo, hi):
            if shown[k] * 1_000_000 < limit:
                last = (n, k)
    if last is None:
        return []
    n, k = last
    index, run, lo, _ = slices[n]
    return [*slices[:n], (index, run, lo, k + 1)]


def _shown_end(run: Run, lo: int, hi: int, limit: int | None) -> int | None:
    """When the last of the run's samples [lo, hi) shown (before ``limit``) ends."""
    if limit is None and not any(run.composition_offsets[lo:hi]):
        return run.decode_time + sum(run.durations[:hi])
    shown = _presentation(run)
    ends = [shown[k] + run.durations[k] for k in range(lo, hi)
            if limit is None or shown[k] * 1_000_000 < limit]
    return max(ends, default=None)


def plan_export(refs: Sequence[SegmentRef], start_us: int, end_us: int) -> ExportPlan | None:
    """Lay out the MP4 of ``[start_us, end_us)`` from these segments (ordered by start);
    None when nothing of them falls in the range. Blocking; unreadable files are left
    out (their time is skipped like a gap)."""
    builder = _Builder(start_us, end_us)
    for ref in refs:
        if ref.start_us >= end_us:
            break
        if ref.end_us <= start_us:
            continue
        try:
            seg = open_segment(ref.path)
        except OSError:
            continue
        with seg:
            builder.add(seg, ref)
    return builder.finish()
