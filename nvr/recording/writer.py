"""One fragmented-MP4 segment file, written with nvr.fmp4's own boxes.

Two halves, so the event loop never waits for the disk:

* in memory, cheap, on the event loop: :meth:`SegmentWriter.write_video` and
  :meth:`~SegmentWriter.write_audio` queue samples (payloads stay as the feed
  delivers them: AVCC/HVCC video, raw AAC); :meth:`~SegmentWriter.take_fragment`
  turns everything queued into one ``moof``+``mdat`` and empties the queue;
* blocking, in a worker thread: :meth:`~SegmentWriter.write_fragment` appends a
  fragment and fsyncs it; :meth:`~SegmentWriter.close` writes what is left.

Durability (docs/design/recording.md): the file is created with the init
segment (``ftyp``+``moov``) written and fsynced, then its directory is fsynced,
and a new day directory's parent too. Every fragment is self-contained, so a
kill -9 or a power cut loses at most the fragment not yet written; every one
before it is on disk and plays.

Until the recorder calls ``take_fragment``/``write_fragment`` itself,
``auto_flush`` keeps the PyAV-era behaviour: a keyframe arriving with samples
queued first writes them out as a fragment (no fsync: the recorder's
:meth:`~SegmentWriter.sync` in a thread does that).
"""

from __future__ import annotations

import os
from pathlib import Path

from nvr.feed import CodecParams
from nvr.fmp4 import AUDIO_TRACK, VIDEO_TRACK, TrackQueue, fragment, init_segment


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class SegmentWriter:
    """Writes one segment file. Video track 1 (90 kHz), optional AAC track 2."""

    def __init__(self, path: Path, video: CodecParams, audio: CodecParams | None,
                 auto_flush: bool = True) -> None:
        self.path = path
        self.auto_flush = auto_flush
        self.frames = 0
        if audio is not None and not (audio.sample_rate or audio.clock_rate):
            audio = None
        header = init_segment(video, audio)  # ValueError before any file exists
        self._video = TrackQueue(VIDEO_TRACK)
        # audio pts count from the segment start, like the video's presentation times
        self._audio = TrackQueue(AUDIO_TRACK, origin=0) if audio is not None else None
        self._sequence = 0
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                                       0o644)
        try:
            _write_all(self._fd, header)
            os.fsync(self._fd)
        except OSError:
            self._close_fd()
            raise
        # the new file's directory entry (and a new day directory's) must survive a power cut
        _fsync_dir(path.parent)
        if new_dir:
            _fsync_dir(path.parent.parent)

    def write_video(self, data_avcc: bytes, pts: int, dts: int, duration: int,
                    keyframe: bool) -> None:
        """Queue one video frame (AVCC/HVCC as the feed has it); pts/dts relative to the
        segment start, 90 kHz. With ``auto_flush``, a keyframe first writes out what
        is queued as one fragment (blocking)."""
        if keyframe and self.auto_flush and len(self._video):
            data = self._take(next_video_dts=dts)
            if data is not None:
                self._append(data)
        self._video.add(data_avcc, dts, duration, keyframe, pts)
        self.frames += 1

    def write_audio(self, data: bytes, pts: int, duration: int) -> None:
        """Queue one AAC frame; pts relative to the segment start, in samples."""
        if self._audio is None or pts < 0:
            return
        self._audio.add(data, pts, duration)

    def take_fragment(self) -> bytes | None:
        """Everything queued (both tracks) as one ``moof``+``mdat``; None if nothing is.

        Call it before queuing the keyframe that starts the next fragment, so that
        every fragment starts with a keyframe."""
        return self._take(next_video_dts=None)

    def _take(self, next_video_dts: int | None) -> bytes | None:
        runs = [self._video.take(next_video_dts)]
        if self._audio is not None:
            runs.append(self._audio.take())
        present = [r for r in runs if r is not None]
        if not present:
            return None
        self._sequence += 1
        return fragment(self._sequence, present)

    def write_fragment(self, data: bytes) -> None:
        """Append a fragment from :meth:`take_fragment` and fsync (blocking: call it
        from a thread; samples may be queued meanwhile)."""
        self._append(data)
        self.sync()

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: writer is closed")
        _write_all(self._fd, data)

    def sync(self) -> None:
        """fsync what has been written so far."""
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> int:
        """Write what is still queued, fsync, close; return the file size."""
        if self._fd is None:
            return self.path.stat().st_size
        try:
            data = self.take_fragment()
            if data is not None:
                self._append(data)
            os.fsync(self._fd)
            return os.fstat(self._fd).st_size
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
