"""Encode the simulated camera's test clip once, with PyAV.

The clip is a moving test pattern (a sliding bar, a frame counter, a little
noise so the encoder spends its bit budget) encoded with libx264 or libx265 at
a constant frame rate, one keyframe every `gop_seconds` (2 s by default), and a
loop length that is a whole number of GOPs. By default there are no B-frames
and every GOP is closed (IDR keyframes). `bframes` adds B-frames (decode order
differs from presentation order; `VideoFrame.reorder` says by how much), for
H.264 and H.265. `open_gop` (H.265 only) makes every keyframe after the first a
CRA picture (NAL type 21) followed in decode order by leading RASL pictures
(types 8/9) that precede it in presentation order and reference the previous
GOP; x265's fixed B-frame pattern (b-adapt=0) gives `(keyint - 1) mod
(bframes + 1)` of them (25 fps, 2 s, bframes=3: one; 24 fps: three).

Instead of the pattern, `scene` picks a scripted scene of `nvr.sim.scenes`
(known motion at known times, for motion tests); then `loop_gops` must make the
loop as long as the scene's script.

Optional audio is a sine tone encoded with FFmpeg's AAC encoder, 1024 samples
a frame, kept raw (no ADTS).

Encodings are cached in-process by their parameters, so many cameras with the
same settings cost one encode.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from nvr.codec.nal import split_annexb
from nvr.sim.scenes import PATTERN, SCENES, render_scene

# H.264 NAL unit types (RFC 6184 / ITU-T H.264 table 7-1).
H264_IDR = 5
H264_SEI = 6
H264_SPS = 7
H264_PPS = 8
H264_AUD = 9
# H.265 NAL unit types (ITU-T H.265 table 7-1).
H265_RASL_N = 8
H265_RASL_R = 9
H265_CRA = 21
H265_VPS = 32
H265_SPS = 33
H265_PPS = 34
H265_AUD = 35
H265_SEI_PREFIX = 39
H265_SEI_SUFFIX = 40


@dataclass(frozen=True)
class MediaParams:
    """What to encode; also the cache key."""

    codec: str = "h264"  # "h264" or "h265"
    width: int = 1280
    height: int = 720
    fps: int = 25
    bitrate_kbps: int = 4000
    gop_seconds: int = 2
    loop_gops: int = 2
    audio: bool = False
    audio_rate: int = 48000
    bframes: int = 0  # B-frames between references (cameras rarely use them)
    open_gop: bool = False  # H.265: CRA keyframes with leading pictures
    scene: str = PATTERN  # what the frames show: the test pattern or a scene of nvr.sim.scenes


@dataclass(frozen=True)
class VideoFrame:
    """One coded picture: its NAL units (no start codes, no parameter sets).

    ``reorder``: presentation index minus decode index (0 without B-frames), so a
    sender stamps frame k of decode order with the RTP time of ``k + reorder``.
    """

    nals: tuple[bytes, ...]
    keyframe: bool
    reorder: int = 0


@dataclass
class EncodedClip:
    """A loop of coded video frames (and AAC frames) plus codec parameters."""

    params: MediaParams
    frames: list[VideoFrame]
    sps: bytes
    pps: bytes
    vps: bytes | None = None
    audio_frames: list[bytes] = field(default_factory=list)
    audio_config: bytes = b""  # AudioSpecificConfig

    @property
    def fps(self) -> int:
        return self.params.fps

    @property
    def audio_rate(self) -> int:
        return self.params.audio_rate

    @property
    def parameter_sets(self) -> list[bytes]:
        """VPS (H.265 only), SPS, PPS in the order a decoder wants them."""
        return [p for p in (self.vps, self.sps, self.pps) if p]


def nal_type(codec: str, nal: bytes) -> int:
    """The NAL unit type of an H.264 or H.265 NAL unit."""
    if codec == "h265":
        return (nal[0] >> 1) & 0x3F
    return nal[0] & 0x1F


# 3x5 bitmap font for the frame counter.
_DIGITS = [
    "111101101101111",
    "010110010010111",
    "111001111100111",
    "111001111001111",
    "101101111001001",
    "111100111001111",
    "111100111101111",
    "111001001001001",
    "111101111101111",
    "111101111001111",
]


def _draw_number(y: np.ndarray, number: int, x0: int, y0: int, scale: int) -> None:
    for pos, ch in enumerate(str(number)):
        glyph = _DIGITS[int(ch)]
        for row in range(5):
            for col in range(3):
                if glyph[row * 3 + col] == "1":
                    ys = y0 + row * scale
                    xs = x0 + (pos * 4 + col) * scale
                    y[ys : ys + scale, xs : xs + scale] = 235


def make_pattern(width: int, height: int, index: int, total: int, seed: int = 1) -> np.ndarray:
    """One yuv420p picture (shape (h*3/2, w), uint8) of the moving test pattern."""
    rng = np.random.default_rng(seed + index)
    yplane = np.empty((height, width), dtype=np.uint8)
    # Horizontal luma gradient background.
    yplane[:] = np.linspace(40, 180, width, dtype=np.uint8)[None, :]
    # Fine noise so the encoder has real work (and bitrate) to do.
    noise = np.frombuffer(rng.bytes(width * height), dtype=np.uint8).reshape(height, width)
    yplane += noise & 0x1F
    # A vertical bar sliding across the frame once per loop.
    bar_w = max(4, width // 16)
    x = (index * (width + bar_w) // max(total, 1)) - bar_w
    yplane[:, max(0, x) : max(0, x + bar_w)] = 16
    # Frame counter in the top-left corner.
    scale = max(2, height // 60)
    box_h = scale * 7
    yplane[:box_h, : scale * 4 * 6] = 16
    _draw_number(yplane, index, scale, scale, scale)
    cw, ch = width // 2, height // 2
    u = np.full((ch, cw), 128, dtype=np.uint8)
    v = np.full((ch, cw), 128, dtype=np.uint8)
    # Colour quarters so chroma is not flat.
    u[: ch // 2, : cw // 2] = 90
    v[ch // 2 :, cw // 2 :] = 170
    return np.concatenate([yplane, u.reshape(-1, width), v.reshape(-1, width)])


def _encode_video(p: MediaParams) -> tuple[list[VideoFrame], dict[int, bytes]]:
    if p.width % 2 or p.height % 2:
        raise ValueError(f"width and height must be even, got {p.width}x{p.height}")
    keyint = p.gop_seconds * p.fps
    total = keyint * p.loop_gops
    if p.codec == "h264":
        ctx = av.CodecContext.create("libx264", "w")
        ctx.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "x264-params": (
                f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes={p.bframes}:"
                f"b-adapt=0:open-gop=0:repeat-headers=1:sliced-threads=0:nal-hrd=none"
            ),
        }
    elif p.codec == "h265":
        ctx = av.CodecContext.create("libx265", "w")
        ctx.options = {
            "preset": "ultrafast",
            "x265-params": (
                f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes={p.bframes}:"
                f"b-adapt=0:repeat-headers=1:log-level=error:open-gop={int(p.open_gop)}:"
                # Cheaper analysis: encoding stays a few seconds at 720p.
                f"rdoq-level=0:psy-rd=0:aq-mode=0:sao=0"
            ),
        }
        if not p.bframes:
            ctx.options = {**ctx.options, "tune": "zerolatency"}  # it forbids B-frames
    else:
        raise ValueError(f"codec must be 'h264' or 'h265', got {p.codec!r}")
    if p.open_gop and p.codec != "h265":
        raise ValueError("open GOPs are only simulated for H.265")
    ctx.width = p.width
    ctx.height = p.height
    ctx.pix_fmt = "yuv420p"
    ctx.framerate = Fraction(p.fps, 1)
    ctx.time_base = Fraction(1, p.fps)
    ctx.bit_rate = p.bitrate_kbps * 1000
    ctx.gop_size = keyint
    ctx.max_b_frames = p.bframes
    if p.bframes and p.codec == "h264":
        ctx.options = {**ctx.options, "tune": "film"}  # zerolatency forbids B-frames
    ctx.open()

    scene = SCENES.get(p.scene)
    if scene is None and p.scene != PATTERN:
        raise ValueError(f"unknown scene {p.scene!r}")
    packets = []
    for i in range(total):
        picture = (make_pattern(p.width, p.height, i, total) if scene is None
                   else render_scene(scene, p.width, p.height, i, p.fps))
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = i
        packets.extend(ctx.encode(frame))
    packets.extend(ctx.encode(None))

    params: dict[int, bytes] = {}
    skip = (
        {H265_VPS, H265_SPS, H265_PPS, H265_AUD, H265_SEI_PREFIX, H265_SEI_SUFFIX}
        if p.codec == "h265"
        else {H264_SPS, H264_PPS, H264_AUD, H264_SEI}
    )
    frames: list[VideoFrame] = []
    for index, pkt in enumerate(packets):
        nals = split_annexb(bytes(pkt))
        body = []
        for nal in nals:
            t = nal_type(p.codec, nal)
            if t in skip:
                params.setdefault(t, nal)
            else:
                body.append(nal)
        frames.append(VideoFrame(tuple(body), bool(pkt.is_keyframe), (pkt.pts or 0) - index))
    if len(frames) != total or not frames[0].keyframe:
        raise RuntimeError(f"encoder gave {len(frames)} frames for {total}")
    return frames, params


def _encode_audio(p: MediaParams, seconds: float) -> tuple[list[bytes], bytes]:
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate = p.audio_rate
    ctx.layout = "mono"
    ctx.format = "fltp"
    ctx.bit_rate = 64000 if p.audio_rate >= 32000 else 32000
    ctx.time_base = Fraction(1, p.audio_rate)
    ctx.open()
    n_frames = round(seconds * p.audio_rate / 1024)
    t = np.arange(n_frames * 1024, dtype=np.float32) / p.audio_rate
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    out: list[bytes] = []
    for k in range(n_frames):
        frame = av.AudioFrame.from_ndarray(
            tone[None, k * 1024 : (k + 1) * 1024], format="fltp", layout="mono"
        )
        frame.sample_rate = p.audio_rate
        frame.pts = k * 1024
        out.extend(bytes(pkt) for pkt in ctx.encode(frame))
    out.extend(bytes(pkt) for pkt in ctx.encode(None))
    config = bytes(ctx.extradata or b"")
    # Keep exactly n_frames so the audio loop has the same length as the tone.
    return out[:n_frames], config


def encode_clip_uncached(p: MediaParams) -> EncodedClip:
    frames, ps = _encode_video(p)
    if p.codec == "h265":
        vps, sps, pps = ps.get(H265_VPS), ps.get(H265_SPS), ps.get(H265_PPS)
        if not (vps and sps and pps):
            raise RuntimeError("libx265 gave no VPS/SPS/PPS")
    else:
        vps, sps, pps = None, ps.get(H264_SPS), ps.get(H264_PPS)
        if not (sps and pps):
            raise RuntimeError("libx264 gave no SPS/PPS")
    clip = EncodedClip(params=p, frames=frames, sps=sps, pps=pps, vps=vps)
    if p.audio:
        clip.audio_frames, clip.audio_config = _encode_audio(p, len(frames) / p.fps)
    return clip


_cache: dict[MediaParams, EncodedClip] = {}
_locks: dict[MediaParams, threading.Lock] = {}
_cache_lock = threading.Lock()


def encode_clip(p: MediaParams) -> EncodedClip:
    """The encoded clip for these parameters, encoded on first use (blocking)."""
    with _cache_lock:
        lock = _locks.setdefault(p, threading.Lock())
    with lock:
        clip = _cache.get(p)
        if clip is None:
            clip = encode_clip_uncached(p)
            _cache[p] = clip
        return clip
