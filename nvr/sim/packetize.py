"""RTP packetizers and SDP for the simulated camera (sans-I/O).

- H.264, RFC 6184 packetization-mode 1: single NAL unit packets, FU-A (type 28)
  for NAL units bigger than the MTU, STAP-A (type 24) carrying SPS+PPS in front
  of every IDR picture.
- H.265, RFC 7798: single NAL unit packets, AP (type 48) carrying VPS+SPS+PPS,
  FU (type 49) with the 2-byte payload header and a 1-byte FU header.
- AAC, RFC 3640 mpeg4-generic AAC-hbr: a 16-bit AU-headers-length, one 16-bit
  AU header (13-bit size, 3-bit index) and one access unit per packet.

- RTCP, RFC 3550: sender report, SDES CNAME and BYE packets (`rtcp_*`), to be
  sent as one compound packet starting with the SR.

A "payload" here is the RTP payload only; `rtp_header` builds the fixed
12-byte RFC 3550 header. `ClipPackets` precomputes a whole encoded loop as
per-frame buffers in RTSP interleaved framing, so a sender only patches the
headers (`pack_frame`) before one write.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from nvr.sim.media import EncodedClip

DEFAULT_MTU = 1400  # max RTP payload bytes
VIDEO_PT = 96
AUDIO_PT = 97
RTP_VERSION_BYTE = 0x80  # V=2, P=0, X=0, CC=0

_RTP = struct.Struct("!BBHII")
_INTERLEAVED_RTP = struct.Struct("!BBHBBHII")  # '$', channel, length, then the RTP header


def rtp_header(pt: int, marker: bool, seq: int, ts: int, ssrc: int) -> bytes:
    """The 12-byte RFC 3550 RTP fixed header."""
    return _RTP.pack(
        RTP_VERSION_BYTE, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )


# --- H.264 -----------------------------------------------------------------


def h264_stap_a(nals: list[bytes]) -> bytes:
    """STAP-A: one byte header (F|max NRI|24), then 16-bit size + NAL for each."""
    nri = max((n[0] & 0x60) for n in nals)
    out = bytearray([nri | 24])
    for nal in nals:
        out += struct.pack("!H", len(nal)) + nal
    return bytes(out)


def h264_fu_a(nal: bytes, mtu: int = DEFAULT_MTU) -> list[bytes]:
    """Split one NAL unit into FU-A payloads of at most `mtu` bytes."""
    indicator = (nal[0] & 0xE0) | 28
    nal_t = nal[0] & 0x1F
    body = nal[1:]
    chunk = mtu - 2
    out = []
    for off in range(0, len(body), chunk):
        start = 0x80 if off == 0 else 0
        end = 0x40 if off + chunk >= len(body) else 0
        out.append(bytes([indicator, start | end | nal_t]) + body[off : off + chunk])
    return out


def h264_payloads(
    nals: list[bytes] | tuple[bytes, ...],
    param_sets: list[bytes] | None = None,
    mtu: int = DEFAULT_MTU,
) -> list[bytes]:
    """RTP payloads for one picture; `param_sets` (SPS, PPS) go first in a STAP-A."""
    return _payloads(nals, param_sets, mtu, h264_stap_a, h264_fu_a)


# --- H.265 -----------------------------------------------------------------


def h265_ap(nals: list[bytes]) -> bytes:
    """Aggregation packet: 2-byte header of type 48, then 16-bit size + NAL each."""
    layer = min(((n[0] & 1) << 5) | (n[1] >> 3) for n in nals)
    tid = min(n[1] & 7 for n in nals)
    out = bytearray([(48 << 1) | (layer >> 5), ((layer & 0x1F) << 3) | tid])
    for nal in nals:
        out += struct.pack("!H", len(nal)) + nal
    return bytes(out)


def h265_fu(nal: bytes, mtu: int = DEFAULT_MTU) -> list[bytes]:
    """Split one NAL unit into FU (type 49) payloads of at most `mtu` bytes."""
    nal_t = (nal[0] >> 1) & 0x3F
    header = bytes([(nal[0] & 0x81) | (49 << 1), nal[1]])
    body = nal[2:]
    chunk = mtu - 3
    out = []
    for off in range(0, len(body), chunk):
        start = 0x80 if off == 0 else 0
        end = 0x40 if off + chunk >= len(body) else 0
        out.append(header + bytes([start | end | nal_t]) + body[off : off + chunk])
    return out


def h265_payloads(
    nals: list[bytes] | tuple[bytes, ...],
    param_sets: list[bytes] | None = None,
    mtu: int = DEFAULT_MTU,
) -> list[bytes]:
    """RTP payloads for one picture; `param_sets` (VPS, SPS, PPS) go first in an AP."""
    return _payloads(nals, param_sets, mtu, h265_ap, h265_fu)


def _payloads(
    nals: list[bytes] | tuple[bytes, ...],
    param_sets: list[bytes] | None,
    mtu: int,
    aggregate: Callable[[list[bytes]], bytes],
    fragment: Callable[[bytes, int], list[bytes]],
) -> list[bytes]:
    """Parameter sets aggregated in one packet if they fit, then each NAL whole or
    fragmented to the MTU."""
    out: list[bytes] = []
    if param_sets:
        agg = aggregate(param_sets)
        if len(agg) <= mtu:
            out.append(agg)
        else:
            for ps in param_sets:
                out.extend([ps] if len(ps) <= mtu else fragment(ps, mtu))
    for nal in nals:
        out.extend([nal] if len(nal) <= mtu else fragment(nal, mtu))
    return out


# --- AAC -------------------------------------------------------------------


def aac_payload(au: bytes) -> bytes:
    """RFC 3640 AAC-hbr payload with one access unit (sizelength 13, indexlength 3)."""
    if len(au) >= 1 << 13:
        raise ValueError(f"AAC frame of {len(au)} bytes does not fit sizelength=13")
    return struct.pack("!HH", 16, len(au) << 3) + au


# --- precomputed loop --------------------------------------------------------


@dataclass(frozen=True)
class FramePackets:
    """One frame's RTP packets laid out in RTSP interleaved framing.

    `buf` holds, for each packet, 4 bytes '$' + channel + length, then a
    12-byte RTP header (zeroed), then the payload. `packets` lists
    (offset of the '$', RTP length, second RTP header byte = marker|pt).
    """

    buf: bytes
    packets: tuple[tuple[int, int, int], ...]
    keyframe: bool
    payload_bytes: int


def layout_frame(payloads: list[bytes], pt: int, keyframe: bool) -> FramePackets:
    buf = bytearray()
    packets = []
    for i, payload in enumerate(payloads):
        marker = 0x80 if i == len(payloads) - 1 else 0
        packets.append((len(buf), 12 + len(payload), marker | pt))
        buf += bytes(16) + payload
    return FramePackets(bytes(buf), tuple(packets), keyframe, sum(map(len, payloads)))


def pack_frame(
    frame: FramePackets, channel: int, seq: int, ts: int, ssrc: int
) -> tuple[bytearray, int]:
    """Fill in the headers of a frame's packets; returns (buffer, next seq)."""
    buf = bytearray(frame.buf)
    pack = _INTERLEAVED_RTP.pack_into
    for off, length, b1 in frame.packets:
        pack(buf, off, 0x24, channel, length, RTP_VERSION_BYTE, b1, seq, ts, ssrc)
        seq = (seq + 1) & 0xFFFF
    return buf, seq


@dataclass
class ClipPackets:
    """The whole loop, packetized once: video frames and AAC frames."""

    video: list[FramePackets]
    audio: list[FramePackets]

    @classmethod
    def build(cls, clip: EncodedClip, mtu: int = DEFAULT_MTU) -> ClipPackets:
        fn = h265_payloads if clip.params.codec == "h265" else h264_payloads
        video = [
            layout_frame(
                fn(f.nals, clip.parameter_sets if f.keyframe else None, mtu), VIDEO_PT, f.keyframe
            )
            for f in clip.frames
        ]
        audio = [layout_frame([aac_payload(au)], AUDIO_PT, True) for au in clip.audio_frames]
        return cls(video, audio)


# --- RTCP ------------------------------------------------------------------

RTCP_SR = 200
RTCP_SDES = 202
RTCP_BYE = 203
NTP_EPOCH_OFFSET = 2208988800


def rtcp_sr(ssrc: int, rtp_ts: int, packets: int, octets: int, now: float | None = None) -> bytes:
    """Sender report without report blocks: NTP time `now` (Unix seconds) = `rtp_ts`."""
    now = time.time() if now is None else now
    secs = int(now)
    frac = int((now - secs) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack(
        "!BBHIIIIII",
        0x80,
        RTCP_SR,
        6,
        ssrc,
        (secs + NTP_EPOCH_OFFSET) & 0xFFFFFFFF,
        frac,
        rtp_ts & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )


def rtcp_sdes(ssrc: int, cname: bytes = b"nvr-sim") -> bytes:
    """SDES with one chunk: the CNAME item, the end item, padding to 32 bits."""
    chunk = struct.pack("!IBB", ssrc, 1, len(cname)) + cname
    chunk += bytes(4 - len(chunk) % 4)
    return struct.pack("!BBH", 0x81, RTCP_SDES, len(chunk) // 4) + chunk


def rtcp_bye(ssrc: int, reason: str = "") -> bytes:
    """BYE (RFC 3550 6.6) for one SSRC, with an optional reason for leaving."""
    body = struct.pack("!I", ssrc)
    if reason:
        text = reason.encode()[:255]
        body += bytes([len(text)]) + text
        body += bytes(-len(body) % 4)
    return struct.pack("!BBH", 0x81, RTCP_BYE, len(body) // 4) + body


# --- SDP -------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def video_fmtp(clip: EncodedClip) -> str:
    if clip.params.codec == "h265":
        assert clip.vps is not None
        return (
            f"a=fmtp:{VIDEO_PT} sprop-vps={_b64(clip.vps)};"
            f"sprop-sps={_b64(clip.sps)};sprop-pps={_b64(clip.pps)}"
        )
    return (
        f"a=fmtp:{VIDEO_PT} packetization-mode=1;profile-level-id={clip.sps[1:4].hex().upper()};"
        f"sprop-parameter-sets={_b64(clip.sps)},{_b64(clip.pps)}"
    )


def make_sdp(
    clip: EncodedClip,
    host: str = "127.0.0.1",
    session_id: int = 0,
    name: str = "nvr sim",
    audio: bool = True,
) -> str:
    """The DESCRIBE body: one video track (trackID=0) and optionally AAC (trackID=1)."""
    p = clip.params
    encoding = "H265" if p.codec == "h265" else "H264"
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {host}",
        f"s={name}",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "a=control:*",
        "a=range:npt=0-",
        f"m=video 0 RTP/AVP {VIDEO_PT}",
        f"a=rtpmap:{VIDEO_PT} {encoding}/90000",
        video_fmtp(clip),
        f"a=framerate:{p.fps}",
        f"a=framesize:{VIDEO_PT} {p.width}-{p.height}",
        "a=control:trackID=0",
    ]
    if audio and clip.audio_frames:
        lines += [
            f"m=audio 0 RTP/AVP {AUDIO_PT}",
            f"a=rtpmap:{AUDIO_PT} MPEG4-GENERIC/{p.audio_rate}/1",
            f"a=fmtp:{AUDIO_PT} streamtype=5;profile-level-id=1;mode=AAC-hbr;"
            f"sizelength=13;indexlength=3;indexdeltalength=3;config={clip.audio_config.hex()}",
            "a=control:trackID=1",
        ]
    return "\r\n".join(lines) + "\r\n"
