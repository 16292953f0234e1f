"""What broken cameras send: malformed SDP, noise instead of video, garbage frames.

All of it is made once per clip (or per codec and MTU) when a server starts,
from a seeded random generator, so a test sees the same bytes every run and a
playing session does no more work than with a healthy camera.

SDP faults (`SimCamera.sdp_faults`, any combination of):

- ``aac-config-not-hex``: the audio fmtp says ``config=zz``.
- ``aac-config-reserved-rate``: ``config=1688``, an AudioSpecificConfig of
  AAC-LC whose sampling frequency index is 13 (reserved).
- ``sprop-not-base64``: every sprop value (``sprop-parameter-sets`` of H.264,
  ``sprop-vps``/``sprop-sps``/``sprop-pps`` of H.265) is ``@@@!``.
- ``sprop-garbage``: every parameter set is replaced by 24 random bytes with the
  NAL header's forbidden bit set (valid base64, not a NAL unit).
- ``sprop-truncated``: every parameter set is cut after its first 4 bytes (NAL
  header of the right type, then nothing a parser can read to the end).
- ``sprop-empty``: the sprop parameters are there with empty values.
- ``sprop-missing``: no sprop parameters at all.
- ``no-video``: no ``m=video`` section (only audio if the camera has it, else no
  media at all); SETUP of the video track answers 404.

The in-band parameter sets in front of each keyframe stay valid; a camera that
never sends a valid SPS/PPS is `SimCamera(noise=True, sdp_faults=("sprop-garbage",))`.

Noise (`SimCamera.noise`): every video RTP packet keeps its size, sequence
number, timestamp and marker but carries random bytes behind a NAL header
whose type is a slice or a fragment of a slice (H.264: 1, 5, FU-A 28; H.265: 1,
19, FU 49), never a parameter set nor an aggregation packet: no SPS/PPS and no
decodable picture ever come out of it.

Garbage frames (`SimCamera.garbage_every`, `CameraFaults.garbage`): eight
precomputed "frames" of 1 to 3 random packets built like the noise above, sent
between valid frames.
"""

from __future__ import annotations

import base64
import random
import re

from nvr.sim.media import EncodedClip
from nvr.sim.packetize import VIDEO_PT, ClipPackets, FramePackets, layout_frame

__all__ = [
    "SDP_FAULTS",
    "apply_sdp_faults",
    "garbage_frames",
    "noise_packets",
]

SDP_FAULTS = frozenset(
    {
        "aac-config-not-hex",
        "aac-config-reserved-rate",
        "sprop-not-base64",
        "sprop-garbage",
        "sprop-truncated",
        "sprop-empty",
        "sprop-missing",
        "no-video",
    }
)
RESERVED_RATE_CONFIG = "1688"  # AAC-LC (2), sampling frequency index 13, mono

_SPROP = re.compile(r"(sprop-parameter-sets|sprop-vps|sprop-sps|sprop-pps)=([^;\r\n]*)")
_CONFIG = re.compile(r"config=[0-9A-Fa-f]*")
_SEED = 0x5EED

# NAL unit types that noise may claim: slices and fragments of slices.
_H264_TYPES = (1, 5)
_H265_TYPES = (1, 19)
_H264_FU = 28
_H265_FU = 49


# --- SDP -----------------------------------------------------------------------


def _garbage_set(rng: random.Random) -> str:
    data = bytearray(rng.randbytes(24))
    data[0] |= 0x80  # forbidden_zero_bit set: no decoder takes this for a NAL unit
    return base64.b64encode(bytes(data)).decode("ascii")


def _sprop_value(fault: str, value: str, rng: random.Random) -> str:
    sets = value.split(",")
    if fault == "sprop-not-base64":
        return ",".join("@@@!" for _ in sets)
    if fault == "sprop-garbage":
        return ",".join(_garbage_set(rng) for _ in sets)
    if fault == "sprop-truncated":
        return ",".join(base64.b64encode(base64.b64decode(s)[:4]).decode("ascii") for s in sets)
    return ""  # sprop-empty


def _drop_video(sdp_lines: list[str]) -> list[str]:
    out, in_video = [], False
    for line in sdp_lines:
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        if not in_video:
            out.append(line)
    return out


def apply_sdp_faults(sdp: str, faults: tuple[str, ...] | frozenset[str]) -> str:
    """`sdp` (as `nvr.sim.packetize.make_sdp` writes it) broken as `faults` say."""
    unknown = set(faults) - SDP_FAULTS
    if unknown:
        raise ValueError(f"unknown SDP faults {sorted(unknown)}; known: {sorted(SDP_FAULTS)}")
    rng = random.Random(_SEED)
    if "aac-config-not-hex" in faults:
        sdp = _CONFIG.sub("config=zz", sdp)
    elif "aac-config-reserved-rate" in faults:
        sdp = _CONFIG.sub(f"config={RESERVED_RATE_CONFIG}", sdp)
    for fault in ("sprop-not-base64", "sprop-garbage", "sprop-truncated", "sprop-empty"):
        if fault in faults:

            def broken(m: re.Match[str], fault: str = fault) -> str:
                return f"{m[1]}={_sprop_value(fault, m[2], rng)}"

            sdp = _SPROP.sub(broken, sdp)
            break
    lines = sdp.rstrip("\r\n").split("\r\n")
    if "sprop-missing" in faults:
        lines = [kept for line in lines if (kept := _without_sprop(line))]
    if "no-video" in faults:
        lines = _drop_video(lines)
    return "\r\n".join(lines) + "\r\n"


def _without_sprop(line: str) -> str:
    if not line.startswith("a=fmtp:"):
        return line
    head, _, params = line.partition(" ")
    kept = [p for p in params.split(";") if p and not _SPROP.match(p.strip())]
    return f"{head} {';'.join(kept)}" if kept else ""


# --- RTP payloads ------------------------------------------------------------


def _noise_header(codec: str, rng: random.Random, fragment: bool) -> bytes:
    """A NAL (or FU) header claiming a slice; random NRI, start/end bits."""
    if codec == "h265":
        if fragment:
            fu = (rng.getrandbits(2) << 6) | rng.choice(_H265_TYPES)
            return bytes([_H265_FU << 1, 1, fu])
        return bytes([rng.choice(_H265_TYPES) << 1, 1])
    nri = rng.getrandbits(2) << 5
    if fragment:
        return bytes([nri | _H264_FU, (rng.getrandbits(2) << 6) | rng.choice(_H264_TYPES)])
    return bytes([nri | rng.choice(_H264_TYPES)])


def _noise_payload(codec: str, size: int, rng: random.Random) -> bytes:
    header = _noise_header(codec, rng, fragment=rng.random() < 0.5)
    return (header + rng.randbytes(max(0, size - len(header))))[:size]


def noise_packets(clip: EncodedClip, packets: ClipPackets) -> ClipPackets:
    """`packets` with every video payload replaced by noise of the same size."""
    rng = random.Random(_SEED)
    codec = clip.params.codec
    video = []
    for frame in packets.video:
        buf = bytearray(frame.buf)
        for off, length, _ in frame.packets:
            start = off + 16
            buf[start : off + 4 + length] = _noise_payload(codec, length - 12, rng)
        video.append(FramePackets(bytes(buf), frame.packets, frame.keyframe, frame.payload_bytes))
    return ClipPackets(video, packets.audio)


def garbage_frames(codec: str, mtu: int, count: int = 8) -> list[FramePackets]:
    """`count` frames of 1 to 3 noise packets (of 100 bytes up to `mtu`)."""
    rng = random.Random(_SEED + 1)
    frames = []
    for _ in range(count):
        sizes = [rng.randint(100, mtu) for _ in range(rng.randint(1, 3))]
        frames.append(layout_frame([_noise_payload(codec, s, rng) for s in sizes], VIDEO_PT, False))
    return frames
