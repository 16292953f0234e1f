"""Open-GOP H.265 with B-frames: CRA keyframes, leading RASL pictures, RTP
timestamps in presentation order; checked in the clip, on the wire and by ffprobe."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from conftest import RtpPacket

from nvr.sim.media import H265_CRA, H265_RASL_N, H265_RASL_R, MediaParams, encode_clip, nal_type

OPEN_GOP = {"codec": "h265", "bframes": 3, "open_gop": True}
PARAMS = MediaParams(
    codec="h265", width=320, height=240, bitrate_kbps=400, bframes=3, open_gop=True
)


def h265_types(payload: bytes) -> list[int]:
    """NAL unit types an H.265 RTP payload carries (FU: the fragmented NAL's type)."""
    kind = (payload[0] >> 1) & 0x3F
    if kind == 49:
        return [payload[2] & 0x3F] if payload[2] & 0x80 else []
    if kind == 48:
        types, pos = [], 2
        while pos + 2 <= len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            types.append((payload[pos + 2] >> 1) & 0x3F)
            pos += 2 + size
        return types
    return [kind]


def test_open_gop_clip_has_cra_and_leading_pictures():
    clip = encode_clip(PARAMS)
    assert len(clip.frames) == 100
    keys = [i for i, f in enumerate(clip.frames) if f.keyframe]
    assert len(keys) == 2 and keys[0] == 0
    types = [[nal_type("h265", n) for n in f.nals] for f in clip.frames]
    assert types[0] == [20]  # the loop starts with an IDR
    assert types[keys[1]] == [H265_CRA]
    leading = types[keys[1] + 1]  # decoded after the CRA, shown before it
    assert leading[0] in (H265_RASL_N, H265_RASL_R)
    shown = [i + f.reorder for i, f in enumerate(clip.frames)]
    assert shown[keys[1] + 1] < shown[keys[1]]
    assert sorted(shown) == list(range(100))
    assert any(f.reorder for f in clip.frames)


def test_open_gop_needs_h265():
    with pytest.raises(ValueError, match="H.265"):
        encode_clip(MediaParams(codec="h264", width=320, height=240, bframes=2, open_gop=True))


async def test_open_gop_rtp_timestamps_are_presentation_times(sim_factory, rtsp):
    # the burst brings the whole 4 s loop with the PLAY reply: no waiting for the CRA
    server = await sim_factory({"cra": {**OPEN_GOP, "play_burst": 100}})
    client = await rtsp("cra", server)
    resp = await client.play()
    ts0 = int(resp.header("RTP-Info").split("rtptime=")[1])
    await client.read_until(lambda: sum(p.marker for p in client.packets) >= 100)
    frames: list[list[RtpPacket]] = [[]]
    for p in client.packets:
        frames[-1].append(p)
        if p.marker:
            frames.append([])
    frames = frames[:100]
    shown = [((f[0].ts - ts0) % 2**32) / 3600 for f in frames]
    assert sorted(shown) == list(range(100))  # every picture once, at its presentation time
    assert shown != sorted(shown)  # but sent in decode order
    types = [[t for p in f for t in h265_types(p.payload)] for f in frames]
    cra = next(k for k, t in enumerate(types) if H265_CRA in t)
    assert shown[cra] == 50
    assert set(types[cra + 1]) & {H265_RASL_N, H265_RASL_R} and shown[cra + 1] < 50


@pytest.mark.peer
@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe not installed")
async def test_ffprobe_sees_b_frames_with_pts_not_dts(sim_factory):
    server = await sim_factory({"cra": {**OPEN_GOP, "play_burst": 100}})
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-show_packets",
        "-read_intervals", "%+#60", "-of", "json", server.url("cra"),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    probe = json.loads(out)
    (stream,) = probe["streams"]
    assert stream["codec_name"] == "hevc" and stream["has_b_frames"] >= 1
    packets = [p for p in probe["packets"] if "pts" in p and "dts" in p]
    assert len(packets) > 30
    assert any(p["pts"] != p["dts"] for p in packets)
    assert all(int(a["dts"]) < int(b["dts"]) for a, b in zip(packets, packets[1:], strict=False))
