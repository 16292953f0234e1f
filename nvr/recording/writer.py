"""One fragmented-MP4 segment file, written with PyAV by codec copy.

Blocking (file I/O, fsync): the recorder calls it from a worker thread for the
calls that flush, and inline for the ones that only queue a packet in memory.

How the bytes reach the disk: movflags ``frag_keyframe`` makes the muxer keep a
GOP in memory and write it as one ``moof``+``mdat`` fragment when the next
keyframe arrives; ``flush_packets`` pushes it through to the file at once and
:meth:`SegmentWriter.sync` fsyncs it. So a kill -9 or power cut loses at most
the GOP in progress; every fragment before it is on disk and playable
(``empty_moov`` puts the track headers at the start of the file).

Video packets are given Annex-B (start codes) with the parameter sets in front
of the first keyframe: PyAV takes the ``avcC``/``hvcC`` extradata from there.
Audio is AAC; the muxer's AudioSpecificConfig comes from an AAC encoder context
opened with the track's sample rate and channel count (AAC-LC, what cameras send).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av

from nvr.codec.nal import START_CODE as _START
from nvr.codec.nal import avcc_to_annexb
from nvr.feed import VIDEO_CLOCK, CodecParams

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_MUX_NAMES = {"h264": "h264", "h265": "hevc"}


def annexb_parameter_sets(params: CodecParams) -> bytes:
    return b"".join(_START + ps for ps in params.parameter_sets)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    def __init__(self, path: Path, video: CodecParams, audio: CodecParams | None) -> None:
        self.path = path
        new_dir = not path.parent.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(path), "w", format="mp4",
                                  options={"movflags": MOVFLAGS, "flush_packets": "1"})
        self._fd: int | None = None
        vstream = self._container.add_mux_stream(
            _MUX_NAMES[video.codec], width=video.width, height=video.height)
        vstream.time_base = self._video_tb = Fraction(1, VIDEO_CLOCK)
        self._video = vstream
        self._prefix = annexb_parameter_sets(video)
        self._audio = None
        if audio is not None and audio.sample_rate:
            astream = self._container.add_stream(
                "aac", rate=audio.sample_rate, layout="mono" if audio.channels == 1 else "stereo")
            astream.time_base = self._audio_tb = Fraction(1, audio.sample_rate)
            self._audio = astream
        self.frames = 0
        # the new file's directory entry (and a new day directory's) must survive a power cut
        _fsync_dir(path.parent)
        if new_dir:
            _fsync_dir(path.parent.parent)

    def write_video(self, data_avcc: bytes, pts: int, dts: int, duration: int,
                    keyframe: bool) -> None:
        """Queue one video frame; pts/dts relative to the segment start, 90 kHz."""
        data = avcc_to_annexb(data_avcc)
        if self._prefix and keyframe:
            data = self._prefix + data
            self._prefix = b""
        packet = av.Packet(data)
        packet.stream = self._video
        packet.time_base = self._video_tb
        packet.pts = pts
        packet.dts = dts
        packet.duration = duration
        packet.is_keyframe = keyframe
        self._container.mux_one(packet)
        self.frames += 1

    def write_audio(self, data: bytes, pts: int, duration: int) -> None:
        """Queue one AAC frame; pts relative to the segment start, in samples."""
        if self._audio is None or pts < 0:
            return
        packet = av.Packet(data)
        packet.stream = self._audio
        packet.time_base = self._audio_tb
        packet.pts = packet.dts = pts
        packet.duration = duration
        self._container.mux_one(packet)

    def sync(self) -> None:
        """fsync what the muxer has written so far."""
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                return
        os.fsync(self._fd)

    def close(self) -> int:
        """Write the last fragment, fsync, close; return the file size."""
        try:
            self._container.close()
        finally:
            self.sync()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        return self.path.stat().st_size
