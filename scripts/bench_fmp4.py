"""Benchmark: mux the same recording with PyAV (the old SegmentWriter) and with nvr.fmp4.

Encodes ~1000 frames of 1280x720 H.264 (25 fps, one keyframe every 2 s) and
AAC-LC mono 48 kHz once, in feed form (AVCC payloads, parameter sets apart),
then times, in CPU seconds (``time.process_time``), what the recorder would
spend muxing them into a fragmented MP4 in a temporary directory:

* ``pyav``: a copy of the PyAV code SegmentWriter used up to now: per frame
  AVCC → Annex-B, parameter sets in front of the first keyframe, ``mux_one``
  with ``frag_keyframe+empty_moov+default_base_moof``;
* ``fmp4``: the new SegmentWriter (nvr.fmp4 boxes), same calls, same fragments;
* ``live``: nvr.fmp4 building one moof+mdat per frame in memory (what a live
  viewer's fragments cost), no file.

fsync is left out of both (``os.fsync`` is made a no-op here: the recorder
runs it in a thread, and it is disk time, the same whoever wrote the bytes).
Each variant runs ``--runs`` times; the best run counts.

    .venv/bin/python scripts/bench_fmp4.py [--frames 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from nvr.codec.nal import START_CODE, avcc_to_annexb, split_annexb, to_avcc
from nvr.feed import VIDEO_CLOCK, CodecParams
from nvr.fmp4 import AUDIO_TRACK, VIDEO_TRACK, TrackQueue, fragment
from nvr.recording.writer import SegmentWriter

FPS = 25
TICKS = VIDEO_CLOCK // FPS
RATE = 48000
Frame = tuple[bytes, int, int, bool]  # AVCC payload, pts, dts, keyframe


def encode_video(frames: int, width: int = 1280, height: int = 720) -> tuple[CodecParams,
                                                                              list[Frame]]:
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
    cc.time_base, cc.framerate = Fraction(1, FPS), Fraction(FPS)
    cc.gop_size = 2 * FPS
    cc.bit_rate = 4_000_000
    cc.options = {"preset": "ultrafast", "x264-params": f"keyint={2 * FPS}:scenecut=0"}
    noise = np.random.default_rng(1).integers(0, 255, (height, width, 3), np.uint8)
    packets = []
    for i in range(frames):
        image = np.roll(noise, i * 4, axis=1)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += cc.encode(frame)
    packets += cc.encode(None)
    sets: dict[str, bytes] = {}
    out = []
    for packet in packets:
        nals = []
        for nal in split_annexb(bytes(packet)):
            kind = nal[0] & 0x1F
            if kind in (7, 8):
                sets.setdefault("sps" if kind == 7 else "pps", nal)
            else:
                nals.append(nal)
        out.append((to_avcc(nals), packet.pts * TICKS, packet.dts * TICKS, packet.is_keyframe))
    params = CodecParams(kind="video", codec="h264", clock_rate=VIDEO_CLOCK, width=width,
                         height=height, **sets)
    return params, out


def encode_audio(seconds: float) -> tuple[CodecParams, list[bytes]]:
    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate, cc.layout, cc.format, cc.bit_rate = RATE, "mono", "fltp", 64_000
    cc.open()
    frames: list[bytes] = []
    for t in range(0, int(RATE * seconds), 1024):
        tone = (np.sin(np.arange(t, t + 1024) * 0.05) * 0.3).astype(np.float32)[None, :]
        chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = RATE, t
        frames += [bytes(p) for p in cc.encode(chunk)]
    params = CodecParams(kind="audio", codec="aac", clock_rate=RATE,
                         audio_config=bytes(cc.extradata or b""), sample_rate=RATE, channels=1)
    return params, frames


class PyAVWriter:
    """The muxing part of the PyAV-based SegmentWriter, kept here for comparison."""

    def __init__(self, path: Path, video: CodecParams, audio: CodecParams) -> None:
        flags = "frag_keyframe+empty_moov+default_base_moof"
        self._out = av.open(str(path), "w", format="mp4",
                            options={"movflags": flags, "flush_packets": "1"})
        self._video = self._out.add_mux_stream("h264", width=video.width, height=video.height)
        self._video.time_base = self._vtb = Fraction(1, VIDEO_CLOCK)
        self._prefix = b"".join(START_CODE + ps for ps in video.parameter_sets)
        self._audio = self._out.add_stream("aac", rate=audio.sample_rate, layout="mono")
        self._audio.time_base = self._atb = Fraction(1, audio.sample_rate)

    def write_video(self, data: bytes, pts: int, dts: int, duration: int, key: bool) -> None:
        payload = avcc_to_annexb(data)
        if self._prefix and key:
            payload, self._prefix = self._prefix + payload, b""
        packet = av.Packet(payload)
        packet.stream, packet.time_base = self._video, self._vtb
        packet.pts, packet.dts, packet.duration, packet.is_keyframe = pts, dts, duration, key
        self._out.mux_one(packet)

    def write_audio(self, data: bytes, pts: int, duration: int) -> None:
        packet = av.Packet(data)
        packet.stream, packet.time_base = self._audio, self._atb
        packet.pts = packet.dts = pts
        packet.duration = duration
        self._out.mux_one(packet)

    def close(self) -> int:
        self._out.close()
        return 0


Writer = PyAVWriter | SegmentWriter


def record(writer: Writer, video: list[Frame], audio: list[bytes]) -> None:
    """The recorder's calls: each frame, then the audio up to its presentation time."""
    sent = 0
    for data, pts, dts, key in video:
        writer.write_video(data, pts, dts, TICKS, key)
        while sent < len(audio) and sent * 1024 * VIDEO_CLOCK <= pts * RATE:
            writer.write_audio(audio[sent], sent * 1024, 1024)
            sent += 1
    writer.close()


def live(video: list[Frame], audio: list[bytes]) -> None:
    """One fragment per video frame, built in memory (a live viewer's stream)."""
    vq, aq = TrackQueue(VIDEO_TRACK), TrackQueue(AUDIO_TRACK, origin=0)
    sent = 0
    for sequence, (data, pts, dts, key) in enumerate(video, start=1):
        vq.add(data, dts, TICKS, key, pts)
        while sent < len(audio) and sent * 1024 * VIDEO_CLOCK <= pts * RATE:
            aq.add(audio[sent], sent * 1024, 1024)
            sent += 1
        runs = [r for r in (vq.take(), aq.take()) if r is not None]
        fragment(sequence, runs)


def best_cpu(runs: int, job: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        job()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    vparams, video = encode_video(args.frames)
    aparams, audio = encode_audio(args.frames / FPS)
    mbytes = sum(len(f[0]) for f in video) / 1e6
    print(f"{len(video)} frames 1280x720 H.264 ({mbytes:.1f} MB, "
          f"{mbytes * 8 / (len(video) / FPS):.1f} Mbit/s) + {len(audio)} AAC frames")
    os.fsync = lambda fd: None  # CPU time only: see the module docstring
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        pyav = best_cpu(args.runs, lambda: record(
            PyAVWriter(out / "pyav.mp4", vparams, aparams), video, audio))
        ours = best_cpu(args.runs, lambda: record(
            SegmentWriter(out / "fmp4.mp4", vparams, aparams), video, audio))
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    in_memory = best_cpu(args.runs, lambda: live(video, audio))
    n = len(video)
    print(f"pyav (old SegmentWriter)  {pyav / n * 1e6:7.1f} µs CPU per frame")
    print(f"fmp4 (new SegmentWriter)  {ours / n * 1e6:7.1f} µs CPU per frame")
    print(f"fmp4 live, frag per frame {in_memory / n * 1e6:7.1f} µs CPU per frame (in memory)")
    print(f"ratio pyav / fmp4         {pyav / ours:7.2f}")
    print(f"file sizes: {sizes}")


if __name__ == "__main__":
    main()
