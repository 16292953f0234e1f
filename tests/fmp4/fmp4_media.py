"""Real coded media for the fMP4 tests: frames encoded with PyAV, in feed form.

Video comes out as the feed carries it (AVCC/HVCC payloads, parameter sets taken
out of the frames into CodecParams), with 90 kHz pts/dts; audio as raw AAC
frames with the encoder's AudioSpecificConfig. ``he_aac_frames`` hand-builds
HE-AAC frames (a silent AAC-LC element plus an SBR extension payload), since
no HE-AAC encoder is at hand: enough for a decoder to say "HE-AAC".
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from nvr.codec.nal import split_annexb, to_avcc
from nvr.feed import VIDEO_CLOCK, CodecParams

FPS = 25
TICKS = VIDEO_CLOCK // FPS

_PARAM_TYPES = {"h264": {7: "sps", 8: "pps"}, "h265": {32: "vps", 33: "sps", 34: "pps"}}


@dataclass(frozen=True)
class Frame:
    data: bytes  # AVCC/HVCC, no parameter sets
    pts: int
    dts: int
    keyframe: bool


Encoded = tuple[CodecParams, list[Frame]]


def _nal_type(codec: str, nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F if codec == "h265" else nal[0] & 0x1F


def _image(i: int, width: int, height: int) -> av.VideoFrame:
    image = np.full((height, width, 3), (i * 5) % 200, np.uint8)
    x = (i * 8) % max(1, width - 16)
    image[:, x : x + 16] = 255  # a moving bar: P- and B-frames that are not empty
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def encode_video(codec: str = "h264", frames: int = 50, bframes: int = 0, gop: int = FPS,
                 width: int = 320, height: int = 240) -> tuple[CodecParams, list[Frame]]:
    """Encode ``frames`` frames; returns the track's CodecParams and the frames in
    decode order with 90 kHz pts/dts (dts < pts for B-frame streams)."""
    cc = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
    cc.time_base = Fraction(1, FPS)
    cc.framerate = Fraction(FPS)
    cc.gop_size = gop
    if codec == "h264":
        cc.options = {"preset": "veryfast", "bf": str(bframes),
                      "x264-params": f"keyint={gop}:scenecut=0"}
    else:
        cc.options = {"preset": "ultrafast",
                      "x265-params": f"log-level=none:bframes={bframes}:keyint={gop}:scenecut=0"}
    packets = []
    for i in range(frames):
        image = _image(i, width, height)
        image.pts = i
        packets += cc.encode(image)
    packets += cc.encode(None)
    params: dict[str, bytes] = {}
    out = []
    for packet in packets:
        nals = []
        for nal in split_annexb(bytes(packet)):
            name = _PARAM_TYPES[codec].get(_nal_type(codec, nal))
            if name:
                params.setdefault(name, nal)
            else:
                nals.append(nal)
        out.append(Frame(to_avcc(nals), packet.pts * TICKS, packet.dts * TICKS,
                         packet.is_keyframe))
    video = CodecParams(kind="video", codec=codec, clock_rate=VIDEO_CLOCK, width=width,
                        height=height, **params)
    return video, out


def encode_aac(seconds: float = 2.0, rate: int = 48000,
               channels: int = 1) -> tuple[CodecParams, list[bytes]]:
    """AAC-LC frames (1024 samples each) of a tone, and the track's CodecParams."""
    layout = "mono" if channels == 1 else "stereo"
    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate, cc.layout, cc.format = rate, layout, "fltp"
    cc.open()
    frames: list[bytes] = []
    t = 0
    while t < rate * seconds:
        tone = (np.sin(np.arange(t, t + 1024) * 0.05) * 0.3).astype(np.float32)
        chunk = av.AudioFrame.from_ndarray(np.tile(tone, (channels, 1)), format="fltp",
                                           layout=layout)
        chunk.sample_rate, chunk.pts = rate, t
        frames += [bytes(p) for p in cc.encode(chunk)]
        t += 1024
    frames += [bytes(p) for p in cc.encode(None)]
    audio = CodecParams(kind="audio", codec="aac", clock_rate=rate,
                        audio_config=bytes(cc.extradata or b""), sample_rate=rate,
                        channels=channels)
    return audio, frames


class _Bits:
    def __init__(self) -> None:
        self.value = 0
        self.size = 0

    def put(self, value: int, size: int) -> None:
        self.value = (self.value << size) | (value & ((1 << size) - 1))
        self.size += size

    def bytes(self) -> bytes:
        pad = -self.size % 8
        return (self.value << pad).to_bytes((self.size + pad) // 8, "big")


def he_aac_frame() -> bytes:
    """One HE-AAC raw frame: a silent single-channel element (no scale factor bands)
    followed by a fill element carrying an SBR extension (header + an all-zero,
    one-envelope SBR data block), then the end element."""
    sbr = _Bits()
    sbr.put(13, 4)  # extension_type EXT_SBR_DATA
    sbr.put(1, 1)  # bs_header_flag
    for value, size in ((1, 1), (5, 4), (0, 4), (0, 3), (0, 2), (0, 1), (0, 1)):
        sbr.put(value, size)  # amp_res, start_freq, stop_freq, xover, reserved, extra 1/2
    sbr.put(0, 1)  # bs_data_extra
    sbr.put(0, 5)  # grid FIXFIX, one envelope, low frequency resolution
    sbr.put(0, 2)  # df_env, df_noise
    sbr.put(0, 40)  # invf modes, envelope and noise data, no harmonics, no extended data
    payload = sbr.bytes()
    frame = _Bits()
    frame.put(0, 3)  # ID_SCE
    frame.put(0, 4)  # element_instance_tag
    frame.put(100, 8)  # global_gain
    frame.put(0, 11)  # ics_info: reserved, ONLY_LONG, window shape, max_sfb 0, no predictor
    frame.put(0, 3)  # no pulse, tns, gain control data
    frame.put(6, 3)  # ID_FIL
    if len(payload) >= 15:
        frame.put(15, 4)
        frame.put(len(payload) - 14, 8)
    else:
        frame.put(len(payload), 4)
    for byte in payload:
        frame.put(byte, 8)
    frame.put(7, 3)  # ID_END
    return frame.bytes()


def he_aac_params(rate: int = 48000) -> CodecParams:
    """An HE-AAC mono track: explicit SBR signalling (object type 5), core at rate / 2."""
    core = {48000: 6, 44100: 7}[rate]  # sampling frequency index of rate / 2
    ext = {48000: 3, 44100: 4}[rate]
    config = ((5 << 27) | (core << 23) | (1 << 19) | (ext << 15) | (2 << 10)).to_bytes(4, "big")
    return CodecParams(kind="audio", codec="aac", clock_rate=rate, audio_config=config,
                       sample_rate=rate, channels=1)


def ffprobe(path: Path, *entries: str) -> dict[str, Any]:
    """ffprobe's JSON for ``-show_entries`` (e.g. ``stream=codec_name``, ``frame=pts_time``)."""
    cmd = ["ffprobe", "-v", "error", "-of", "json"]
    for entry in entries:
        cmd += ["-show_entries", entry]
    out = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def decode_errors(path: Path) -> str:
    """What ffmpeg complains about when decoding the whole file ("" when clean)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60)
    return (out.stderr + ("" if out.returncode == 0 else f"exit {out.returncode}")).strip()


def video_frames(path: Path) -> list[dict[str, Any]]:
    """The decoded video frames as ffprobe shows them (pts_time, duration_time, key_frame).

    ffprobe before 6.0 names the duration ``pkt_duration_time``."""
    info = ffprobe(path, "frame=media_type,pts_time,duration_time,pkt_duration_time,key_frame")
    frames = [f for f in info["frames"] if f.get("media_type") == "video"]
    for frame in frames:
        frame.setdefault("duration_time", frame.get("pkt_duration_time"))
    return frames


def mux(video: CodecParams, frames: list[Frame], audio: CodecParams | None = None,
        audio_frames: list[bytes] | None = None, samples_per_frame: int = 1024) -> list[bytes]:
    """An init segment and one fragment per GOP (audio interleaved by time), as a list of
    byte strings: the file is their concatenation; cutting it between two gives a file
    truncated at a fragment boundary."""
    from nvr.fmp4 import AUDIO_TRACK, VIDEO_TRACK, TrackQueue, fragment, init_segment

    parts = [init_segment(video, audio)]
    vq = TrackQueue(VIDEO_TRACK)
    aq = TrackQueue(AUDIO_TRACK, origin=0)
    pending = list(audio_frames or [])
    rate = audio.clock_rate if audio is not None else 1
    first_pts = frames[0].pts
    sent = 0

    def flush(next_dts: int | None) -> None:
        runs = [r for r in (vq.take(next_dts), aq.take()) if r is not None]
        parts.append(fragment(len(parts), runs))

    for frame in frames:
        if frame.keyframe and len(vq):
            flush(frame.dts)
        vq.add(frame.data, frame.dts, TICKS, frame.keyframe, frame.pts)
        # audio up to this frame's presentation time
        while pending and sent * samples_per_frame * VIDEO_CLOCK <= (frame.pts - first_pts) * rate:
            aq.add(pending.pop(0), sent * samples_per_frame, samples_per_frame)
            sent += 1
    for data in pending:
        aq.add(data, sent * samples_per_frame, samples_per_frame)
        sent += 1
    flush(None)
    return parts


def parse_trun(payload: bytes) -> tuple[int, list[tuple[int, int, int, int]]]:
    """A trun box's data offset and (duration, size, flags, composition offset) rows;
    only the layout nvr.fmp4 writes (data offset, duration, size, flags, [offset])."""
    flags = int.from_bytes(payload[1:4], "big")
    count = int.from_bytes(payload[4:8], "big")
    data_offset = int.from_bytes(payload[8:12], "big", signed=True)
    with_cts = bool(flags & 0x800)
    width = 16 if with_cts else 12
    rows = []
    for i in range(count):
        row = payload[12 + i * width : 12 + (i + 1) * width]
        cts = int.from_bytes(row[12:16], "big", signed=True) if with_cts else 0
        rows.append((int.from_bytes(row[0:4], "big"), int.from_bytes(row[4:8], "big"),
                     int.from_bytes(row[8:12], "big"), cts))
    return data_offset, rows
