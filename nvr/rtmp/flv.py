"""Feed access units to FLV/RTMP tag bodies (republish), and RTMP timestamps per player.

An RTMP video (type 9) or audio (type 8) message carries exactly the *data* of
an FLV tag (FLV spec v10.1, E.4.2/E.4.3); the timestamp lives outside it, in
the RTMP message header or the FLV tag header. So one body built here serves
every player and also an ``.flv`` file (:func:`file_header`, :func:`file_tag`).

Video:

* H.264 goes out as classic FLV: codec id 7, ``AVCPacketType`` 0 (sequence
  header: the AVCDecoderConfigurationRecord, i.e. the ``avcC`` payload that
  :mod:`nvr.fmp4.codecs` builds) or 1 (NAL units, 4-byte lengths as the feed
  carries them) with a signed 24-bit CompositionTime = pts - dts in ms.
* H.265 goes out as Enhanced RTMP (veovera enhanced-rtmp v1/v2): IsExHeader
  bit, PacketType SequenceStart with the HEVCDecoderConfigurationRecord
  (``hvcC`` payload), CodedFrames (with CompositionTime) or CodedFramesX (no
  CompositionTime: it is 0), FourCC ``hvc1``. Only clients that list ``hvc1``
  in ``fourCcList`` understand it; the legacy codec id 12 is not sent (not a
  standard: MediaMTX and others reject it). H.264 may be sent enhanced (``avc1``)
  too, for tests and for clients that prefer it.

Audio: AAC only, ``0xAF`` (SoundFormat 10; the rate/size/type bits are fixed for
AAC) then ``AACPacketType`` 0 (AudioSpecificConfig) or 1 (one raw frame).

Timestamps: :class:`Timeline` turns feed ticks into RTMP milliseconds for one
stream of messages (a Fanout's or a push's), starting at 0 there (the Fanout then
starts each player at 0 too). RTMP timestamps are 32-bit on the wire and wrap modulo 2**32 (49.7
days); the chunk header field is only 24 bits, so from 0xFFFFFF ms (4 h 40 min)
on the chunk layer (:mod:`nvr.rtmp.chunks`) writes 0xFFFFFF there and the full
32-bit value as the extended timestamp, on every chunk of the message. This
module only hands out the 32-bit value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from nvr.feed import AccessUnit, CodecParams
from nvr.fmp4.codecs import audio_config, avcc, hvcc
from nvr.rtmp.errors import ProtocolError

__all__ = [
    "FlvError",
    "Timeline",
    "audio_sequence_header",
    "audio_tag",
    "file_header",
    "file_tag",
    "file_tags",
    "ms",
    "video_end_of_sequence",
    "video_sequence_header",
    "video_tag",
]

TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT = 8, 9, 18
CODEC_AVC, CODEC_HEVC_LEGACY = 7, 12
FRAME_KEY, FRAME_INTER, FRAME_COMMAND = 1, 2, 5
EX_HEADER = 0x80
# Enhanced RTMP PacketType
PKT_SEQUENCE_START, PKT_CODED_FRAMES, PKT_SEQUENCE_END = 0, 1, 2
PKT_CODED_FRAMES_X, PKT_METADATA, PKT_MPEG2TS_START = 3, 4, 5
FOURCC = {"h264": b"avc1", "h265": b"hvc1"}
SOUND_AAC = 10
AAC_HEADER = 0xAF  # AAC, 44 kHz, 16-bit, stereo: FLV fixes these bits for AAC
_U32 = 1 << 32
_CTS_MIN, _CTS_MAX = -(1 << 23), (1 << 23) - 1


class FlvError(ProtocolError):
    """A tag that cannot be built or parsed; the only exception the FLV code raises. A
    :class:`ProtocolError`, so a publisher's bad tag costs that publisher its connection
    where the server catches protocol errors, and nothing else."""


def ms(ticks: int, clock_rate: int) -> int:
    """Ticks of a ``clock_rate`` clock in whole milliseconds (floor, like FFmpeg's
    rescale for positive values)."""
    return ticks * 1000 // clock_rate


def _config_record(params: CodecParams) -> bytes:
    """The decoder configuration record: the ``avcC``/``hvcC`` box without its header."""
    try:
        box = avcc(params) if params.codec == "h264" else hvcc(params)
    except ValueError as exc:
        raise FlvError(f"{params.codec}: {exc}") from None
    return box[8:]


def _check_video(params: CodecParams) -> None:
    if params.kind != "video" or params.codec not in FOURCC:
        raise FlvError(f"no FLV video for {params.kind} {params.codec!r}")


def _enhanced(params: CodecParams, enhanced: bool) -> bool:
    return enhanced or params.codec == "h265"


def video_sequence_header(params: CodecParams, enhanced: bool = False) -> bytes:
    """The video sequence header a player needs before any frame: legacy AVC for
    H.264 (unless ``enhanced``), Enhanced RTMP SequenceStart for H.265."""
    _check_video(params)
    record = _config_record(params)
    if _enhanced(params, enhanced):
        return bytes((EX_HEADER | FRAME_KEY << 4 | PKT_SEQUENCE_START,)) + (
            FOURCC[params.codec] + record)
    return bytes((FRAME_KEY << 4 | CODEC_AVC, 0, 0, 0, 0)) + record


def video_end_of_sequence(params: CodecParams, enhanced: bool = False) -> bytes:
    """The end-of-sequence tag (sent when a stream stops or changes parameters)."""
    _check_video(params)
    if _enhanced(params, enhanced):
        return bytes((EX_HEADER | FRAME_KEY << 4 | PKT_SEQUENCE_END,)) + FOURCC[params.codec]
    return bytes((FRAME_KEY << 4 | CODEC_AVC, 2, 0, 0, 0))


def _cts(au: AccessUnit) -> int:
    rate = au.params.clock_rate
    cts = ms(au.pts, rate) - ms(au.dts, rate)
    return min(max(cts, 0), _CTS_MAX)  # the feed promises pts >= dts


def video_tag(au: AccessUnit, enhanced: bool = False) -> bytes:
    """One coded frame: the feed's AVCC/HVCC payload with a frame type (key/inter) and
    the composition time offset; H.265 (or ``enhanced``) as Enhanced RTMP."""
    params = au.params
    _check_video(params)
    frame = FRAME_KEY if au.keyframe else FRAME_INTER
    cts = _cts(au)
    if _enhanced(params, enhanced):
        if cts == 0:
            head = bytes((EX_HEADER | frame << 4 | PKT_CODED_FRAMES_X,)) + FOURCC[params.codec]
        else:
            head = bytes((EX_HEADER | frame << 4 | PKT_CODED_FRAMES,)) + (
                FOURCC[params.codec] + cts.to_bytes(3, "big", signed=True))
        return head + au.data
    return bytes((frame << 4 | CODEC_AVC, 1)) + cts.to_bytes(3, "big", signed=True) + au.data


def audio_sequence_header(params: CodecParams) -> bytes:
    """The AAC sequence header: the track's AudioSpecificConfig."""
    if params.kind != "audio" or params.codec != "aac":
        raise FlvError(f"no FLV audio for {params.kind} {params.codec!r}")
    return bytes((AAC_HEADER, 0)) + audio_config(params)


def audio_tag(au: AccessUnit) -> bytes:
    """One raw AAC frame."""
    if au.params.codec != "aac":
        raise FlvError(f"no FLV audio for {au.params.codec!r}")
    return bytes((AAC_HEADER, 1)) + au.data


class Timeline:
    """RTMP timestamps (ms, 32-bit) for one stream of messages, its first at 0.

    Each track is placed once, at its first access unit, by wall clock against
    the player's first message (the feed's audio and video clocks have unrelated
    origins), and then follows its own media clock, so a frame's spacing is the
    encoder's, not the network's. Video uses ``dts`` (RTMP carries decode time;
    the composition offset is in the tag). A track whose time runs backwards
    (the camera's session restarted: the feed starts near zero again) is placed
    anew after the latest timestamp sent, so the player never sees time go back.
    """

    def __init__(self) -> None:
        self._wall0: float | None = None
        self._base: dict[str, tuple[int, int, int]] = {}  # kind → (ticks, ms, clock rate)
        self._last: dict[str, int] = {}  # kind → last ms handed out (unwrapped)
        self._offset = 0  # ms added after a restart

    def timestamp(self, au: AccessUnit) -> int:
        """The RTMP timestamp of ``au`` for this player, modulo 2**32."""
        kind, rate = au.params.kind, au.params.clock_rate
        ticks = au.dts
        if self._wall0 is None:
            self._wall0 = au.wallclock
        base = self._base.get(kind)
        if base is not None and base[2] == rate:
            value = base[1] + ms(ticks - base[0], rate)
            if value >= self._last.get(kind, 0):
                self._last[kind] = value
                return value % _U32
            # time ran backwards: a new session; place every track anew from here
            self._offset = max(self._last.values()) + 1
            self._wall0 = au.wallclock
            self._base.clear()
        start = self._offset + max(0, round((au.wallclock - self._wall0) * 1000))
        start = max(start, self._last.get(kind, 0))
        self._base[kind] = (ticks, start, rate)
        self._last[kind] = start
        return start % _U32


def file_header(video: bool = True, audio: bool = False) -> bytes:
    """An FLV file header (version 1, the track flags) and PreviousTagSize0."""
    flags = (4 if audio else 0) | (1 if video else 0)
    return b"FLV\x01" + bytes((flags,)) + struct.pack(">I", 9) + struct.pack(">I", 0)


def file_tag(tag_type: int, timestamp: int, body: bytes) -> bytes:
    """One FLV file tag with its trailing PreviousTagSize: the on-disk form of an RTMP
    message (``timestamp`` in ms; its top byte goes in TimestampExtended)."""
    timestamp %= _U32
    head = bytes((tag_type,)) + len(body).to_bytes(3, "big") + (
        (timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes((timestamp >> 24, 0, 0, 0)))
    return head + body + struct.pack(">I", len(head) + len(body))


def file_tags(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(tag type, timestamp ms, body)`` of each tag of an FLV file (what an RTMP
    message would carry); FlvError for a file that is not FLV or is cut short."""
    if len(data) < 9 or data[:3] != b"FLV":
        raise FlvError("not an FLV file")
    pos = int.from_bytes(data[5:9], "big") + 4  # header, PreviousTagSize0
    while pos < len(data):
        if pos + 11 > len(data):
            raise FlvError("FLV file cut short in a tag header")
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        timestamp = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        end = pos + 11 + size
        if end > len(data):
            raise FlvError("FLV file cut short in a tag body")
        yield data[pos] & 0x1F, timestamp, bytes(data[pos + 11:end])
        pos = end + 4
