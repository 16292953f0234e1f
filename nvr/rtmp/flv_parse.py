"""FLV/RTMP tag bodies from a publisher, to Feed access units.

:func:`parse_video` and :func:`parse_audio` read one tag body (an RTMP type 9 /
type 8 message, or an FLV file tag's data) into a :class:`VideoTag` /
:class:`AudioTag`; :class:`Ingest` keeps a publisher's state (the current
CodecParams, its NAL length size, the clock) and turns tags into
:class:`~nvr.feed.AccessUnit` objects ready for ``Feed.publish``.

Video accepted, as publishers send it:

* classic AVC, codec id 7 (ffmpeg, OBS, most encoders);
* HEVC with codec id 12, the same layout as AVC: a non-standard extension some
  publishers (older OBS builds, Chinese cameras and SRS-era tools) use;
* Enhanced RTMP ``hvc1`` (and ``avc1``): SequenceStart, CodedFrames (with a
  composition time), CodedFramesX (without: 0), SequenceEnd; Metadata and
  command frames are skipped.

Frames are re-framed to the feed's form: 4-byte NAL lengths whatever the
publisher's ``lengthSizeMinusOne``, parameter sets taken out (a different
in-band set starts new CodecParams). ``pts = dts + CompositionTime``; a negative
composition time (which would put dts after pts) is clamped to 0.

Timestamps: RTMP milliseconds arrive as the chunk layer reassembled them,
32-bit and wrapping at 2**32 (the 24-bit chunk field and its extended
timestamp are the chunk layer's business). :class:`Clock` unwraps them into a
monotonic 64-bit line, starting the session at 0, and converts to 90 kHz for
video and to the sample rate for audio. A publisher that itself wraps at
2**24 (the classic 4 h 40 min bug) is unwrapped as well.

Anything malformed raises :class:`~nvr.rtmp.flv.FlvError` and nothing else.
"""

from __future__ import annotations

from typing import NamedTuple

from nvr.codec.aac import parse_audio_config
from nvr.codec.nal import avcc_nals, to_avcc
from nvr.codec.sps import h264_sps_info, h265_sps_info
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.rtmp.flv import (
    CODEC_AVC,
    CODEC_HEVC_LEGACY,
    EX_HEADER,
    FRAME_COMMAND,
    FRAME_KEY,
    PKT_CODED_FRAMES,
    PKT_CODED_FRAMES_X,
    PKT_SEQUENCE_END,
    PKT_SEQUENCE_START,
    SOUND_AAC,
    FlvError,
)

__all__ = ["AudioTag", "Clock", "Ingest", "VideoTag", "parse_audio", "parse_config",
           "parse_video"]

_CODECS: dict[int | bytes, str] = {CODEC_AVC: "h264", CODEC_HEVC_LEGACY: "h265",
                                   b"avc1": "h264", b"hvc1": "h265"}
_PARAM_NALS = {"h264": {7: "sps", 8: "pps"}, "h265": {32: "vps", 33: "sps", 34: "pps"}}
_U32, _U24 = 1 << 32, 1 << 24


class VideoTag(NamedTuple):
    kind: str  # "config" | "frame" | "end" | "skip"
    codec: str  # "h264" | "h265" ("" for skip)
    keyframe: bool
    cts: int  # composition time offset, ms (signed)
    data: bytes  # config record or length-prefixed NAL units


class AudioTag(NamedTuple):
    kind: str  # "config" | "frame"
    data: bytes  # AudioSpecificConfig or one raw AAC frame


def parse_video(body: bytes) -> VideoTag:
    """One video tag body; FlvError for a truncated tag or a codec nvr does not take."""
    if not body:
        raise FlvError("empty video tag")
    first = body[0]
    frame = (first >> 4) & 0x07 if first & EX_HEADER else first >> 4
    if frame == FRAME_COMMAND:
        return VideoTag("skip", "", False, 0, b"")
    if first & EX_HEADER:
        packet = first & 0x0F
        fourcc = _CODECS.get(bytes(body[1:5]))
        if len(body) < 5 or fourcc is None:
            raise FlvError(f"unsupported Enhanced RTMP video FourCC {bytes(body[1:5])!r} "
                           f"(packet type {packet})")
        rest, codec = body[5:], fourcc
        if packet == PKT_SEQUENCE_START:
            return VideoTag("config", codec, True, 0, rest)
        if packet == PKT_SEQUENCE_END:
            return VideoTag("end", codec, False, 0, b"")
        if packet == PKT_CODED_FRAMES:
            if len(rest) < 3:
                raise FlvError("Enhanced RTMP CodedFrames without composition time")
            cts = int.from_bytes(rest[:3], "big", signed=True)
            return VideoTag("frame", codec, frame == FRAME_KEY, cts, rest[3:])
        if packet == PKT_CODED_FRAMES_X:
            return VideoTag("frame", codec, frame == FRAME_KEY, 0, rest)
        return VideoTag("skip", codec, False, 0, b"")  # metadata, MPEG-2 TS start
    codec_id = first & 0x0F
    legacy = _CODECS.get(codec_id)
    if legacy is None:
        raise FlvError(f"unsupported FLV video codec id {codec_id} (nvr takes H.264 and H.265)")
    if len(body) < 5:
        raise FlvError(f"video tag too short ({len(body)} bytes)")
    cts = int.from_bytes(body[2:5], "big", signed=True)
    kind = {0: "config", 1: "frame", 2: "end"}.get(body[1])
    if kind is None:
        raise FlvError(f"unknown AVCPacketType {body[1]}")
    return VideoTag(kind, legacy, frame == FRAME_KEY, cts, body[5:])


def parse_audio(body: bytes) -> AudioTag:
    """One audio tag body; FlvError for anything but AAC."""
    if not body:
        raise FlvError("empty audio tag")
    sound_format = body[0] >> 4
    if sound_format != SOUND_AAC:
        raise FlvError(f"unsupported FLV audio format {sound_format} (nvr takes AAC)")
    if len(body) < 2 or body[1] > 1:
        raise FlvError("AAC tag without a valid AACPacketType")
    return AudioTag("config" if body[1] == 0 else "frame", body[2:])


class _Reader:
    """Bounds-checked big-endian reads over a config record."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FlvError("decoder configuration record truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(out)

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")


def parse_config(codec: str, record: bytes) -> tuple[CodecParams, int]:
    """CodecParams (parameter sets, size from the SPS) and the NAL length size of an
    AVCDecoderConfigurationRecord (H.264) or HEVCDecoderConfigurationRecord (H.265)."""
    r = _Reader(record)
    sets: dict[str, bytes] = {}
    if codec == "h264":
        head = r.take(5)
        length_size = (head[4] & 3) + 1
        for name, mask in (("sps", 0x1F), ("pps", 0xFF)):
            for _ in range(r.u8() & mask):
                sets.setdefault(name, r.take(r.u16()))
    else:
        head = r.take(23)
        length_size = (head[21] & 3) + 1
        for _ in range(head[22]):
            nal_type = r.u8() & 0x3F
            for _ in range(r.u16()):
                nal = r.take(r.u16())
                kind = _PARAM_NALS["h265"].get(nal_type)
                if kind:
                    sets.setdefault(kind, nal)
    if head[0] != 1:
        raise FlvError(f"{codec} configuration record version {head[0]}")
    return _params(codec, sets), length_size


def _params(codec: str, sets: dict[str, bytes]) -> CodecParams:
    needed = ("vps", "sps", "pps") if codec == "h265" else ("sps", "pps")
    missing = [n for n in needed if not sets.get(n)]
    if missing:
        raise FlvError(f"{codec} sequence header without {'/'.join(missing).upper()}")
    try:
        info = (h264_sps_info if codec == "h264" else h265_sps_info)(sets["sps"])
    except (ValueError, IndexError) as exc:
        raise FlvError(f"{codec} SPS: {exc}") from None
    return CodecParams(kind="video", codec=codec, clock_rate=VIDEO_CLOCK, sps=sets["sps"],
                       pps=sets["pps"], vps=sets.get("vps", b""), width=info.width,
                       height=info.height)


class Clock:
    """A publisher's RTMP milliseconds as one monotonic line from 0.

    Shared by the audio and video of a connection (they share the ms timeline).
    A step back of less than 2**31 ms is taken as a late message (interleaving:
    audio a little behind video) and mapped below the latest; more than that is
    the 32-bit wrap. A drop from just under 2**24 to near 0 is a publisher that
    wraps at 24 bits.
    """

    def __init__(self) -> None:
        self._first: int | None = None
        self._last_raw = 0
        self._unwrapped = 0

    def __call__(self, timestamp: int) -> int:
        """Milliseconds since the session's first message (may be slightly negative for
        a message older than the first)."""
        timestamp %= _U32
        if self._first is None:
            self._first = self._unwrapped = timestamp
        else:
            step = (timestamp - self._last_raw) % _U32
            if step >= 1 << 31:
                step -= _U32  # a late message: back in time
                if self._last_raw < _U24 and timestamp < _U24 and -step > _U24 // 2:
                    step += _U24  # a publisher wrapping at 24 bits
            self._unwrapped += step
        self._last_raw = timestamp
        return self._unwrapped - self._first


class Ingest:
    """One publisher's tags to access units.

    ``wallclock`` is the capture time (UTC seconds) of the session's timestamp 0;
    a frame's wall clock follows from its timestamp. :meth:`video` and
    :meth:`audio` return None for sequence headers and skipped tags; a frame
    before its sequence header is an FlvError.
    """

    def __init__(self, wallclock: float) -> None:
        self.wallclock = wallclock
        self.clock = Clock()
        self.video_params: CodecParams | None = None
        self.audio_params: CodecParams | None = None
        self._length_size = 4
        self._frame_length = 1024
        self._last_dts: int | None = None
        self._last_audio: int | None = None

    def video(self, timestamp: int, body: bytes) -> AccessUnit | None:
        tag = parse_video(body)
        t = self.clock(timestamp)
        if tag.kind == "config":
            params, self._length_size = parse_config(tag.codec, tag.data)
            if params != self.video_params:  # a repeated header keeps the same object
                self.video_params = params
            return None
        if tag.kind != "frame":
            return None
        current = self.video_params
        if current is None or current.codec != tag.codec:
            raise FlvError(f"{tag.codec} frame before its sequence header")
        data = self._reframe(current, tag.data)
        if not data:
            return None  # parameter sets only
        dts = max(0, t * VIDEO_CLOCK // 1000)
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1  # the feed's dts strictly rises
        self._last_dts = dts
        pts = max(dts, (t + tag.cts) * VIDEO_CLOCK // 1000)
        return AccessUnit(self.video_params or current, pts, dts, tag.keyframe,
                          self.wallclock + t / 1000, data)

    def _reframe(self, params: CodecParams, payload: bytes) -> bytes:
        """4-byte NAL lengths, no parameter sets (new in-band ones become new params)."""
        try:
            nals = avcc_nals(payload, self._length_size)
        except ValueError as exc:
            raise FlvError(f"{params.codec} frame: {exc}") from None
        types = _PARAM_NALS[params.codec]
        shift, mask = (1, 0x3F) if params.codec == "h265" else (0, 0x1F)
        sets = {n: b"" for n in types.values()}
        frame = []
        for nal in nals:
            name = types.get((nal[0] >> shift) & mask)
            if name is None:
                frame.append(nal)
            elif not sets[name]:
                sets[name] = nal
        if any(sets.values()):
            merged = {n: sets[n] or getattr(params, n) for n in sets}
            if any(merged[n] != getattr(params, n) for n in merged):
                self.video_params = _params(params.codec, merged)
        return to_avcc(frame) if frame else b""

    def audio(self, timestamp: int, body: bytes) -> AccessUnit | None:
        tag = parse_audio(body)
        t = self.clock(timestamp)
        if tag.kind == "config":
            try:
                config = parse_audio_config(tag.data)
            except ValueError as exc:
                raise FlvError(f"AAC sequence header: {exc}") from None
            params = CodecParams(kind="audio", codec="aac", clock_rate=config.sample_rate,
                                 audio_config=bytes(tag.data), sample_rate=config.sample_rate,
                                 channels=config.channels)
            if params != self.audio_params:
                self.audio_params = params
            self._frame_length = config.frame_length
            return None
        audio = self.audio_params
        if audio is None:
            raise FlvError("AAC frame before the AAC sequence header")
        if not tag.data:
            return None
        pts = max(0, t * audio.clock_rate // 1000)
        if self._last_audio is not None and pts <= self._last_audio:
            pts = self._last_audio + 1
        self._last_audio = pts
        return AccessUnit(audio, pts, pts, True, self.wallclock + t / 1000, bytes(tag.data),
                          self._frame_length)
