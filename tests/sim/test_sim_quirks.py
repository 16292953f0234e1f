"""The broken things a misbehaving camera sends, made without a server (nvr.sim.quirks)."""

from __future__ import annotations

import base64
import re

import pytest

from nvr.sim.media import MediaParams, encode_clip
from nvr.sim.packetize import ClipPackets, make_sdp
from nvr.sim.quirks import SDP_FAULTS, apply_sdp_faults, garbage_frames, noise_packets
from nvr.sim.server import SimCamera, SimServer

H264 = MediaParams(width=320, height=240, bitrate_kbps=400, audio=True)
H265 = MediaParams(codec="h265", width=320, height=240, bitrate_kbps=400)


def fmtp(sdp: str, pt: int) -> str:
    match = re.search(rf"^a=fmtp:{pt}([^\r\n]*)", sdp, re.M)
    return match[1] if match else ""


def test_sdp_faults_leave_a_wellformed_sdp_otherwise():
    sdp = make_sdp(encode_clip(H264))
    for fault in SDP_FAULTS:
        broken = apply_sdp_faults(sdp, (fault,))
        assert broken != sdp and broken.endswith("\r\n") and "\r\n\r\n" not in broken
        assert broken.startswith("v=0\r\n")


def test_sdp_sprop_truncated_keeps_nal_headers_only():
    for params, names, types in [
        (H264, ["sprop-parameter-sets"], [7, 8]),
        (H265, ["sprop-vps", "sprop-sps", "sprop-pps"], [32, 33, 34]),
    ]:
        sdp = apply_sdp_faults(make_sdp(encode_clip(params)), ("sprop-truncated",))
        values = [v for n in names for v in re.search(rf"{n}=([^;\r\n]*)", sdp)[1].split(",")]  # type: ignore[index]
        sets = [base64.b64decode(v) for v in values]
        assert [len(s) for s in sets] == [4] * len(types)
        first = [(s[0] & 0x1F) if params.codec == "h264" else (s[0] >> 1) & 0x3F for s in sets]
        assert first == types


def test_sdp_sprop_empty_and_missing():
    sdp = make_sdp(encode_clip(H265))
    empty = apply_sdp_faults(sdp, ("sprop-empty",))
    assert fmtp(empty, 96) == " sprop-vps=;sprop-sps=;sprop-pps="
    missing = apply_sdp_faults(sdp, ("sprop-missing",))
    assert "sprop" not in missing and "a=fmtp:96" not in missing
    missing = apply_sdp_faults(make_sdp(encode_clip(H264)), ("sprop-missing",))
    assert "sprop" not in missing and "packetization-mode=1" in fmtp(missing, 96)


def test_sdp_no_video_without_audio_has_no_media():
    sdp = apply_sdp_faults(make_sdp(encode_clip(H264), audio=False), ("no-video",))
    assert "m=" not in sdp and "a=control:*" in sdp


def test_sdp_unknown_fault_rejected():
    with pytest.raises(ValueError, match="unknown SDP faults"):
        apply_sdp_faults("v=0\r\n", ("sprop-purple",))


@pytest.mark.parametrize("params", [H264, H265], ids=["h264", "h265"])
def test_noise_packets_keep_the_layout_and_carry_no_parameter_set(params):
    clip = encode_clip(params)
    valid = ClipPackets.build(clip)
    noise = noise_packets(clip, valid)
    assert noise.audio is valid.audio
    assert [f.packets for f in noise.video] == [f.packets for f in valid.video]
    assert [f.keyframe for f in noise.video] == [f.keyframe for f in valid.video]
    allowed = {1, 5, 28} if params.codec == "h264" else {1, 19, 49}
    for frame, real in zip(noise.video, valid.video, strict=True):
        assert len(frame.buf) == len(real.buf)
        for off, length, _ in frame.packets:
            payload = frame.buf[off + 16 : off + 4 + length]
            assert payload != real.buf[off + 16 : off + 4 + length]
            kind = payload[0] & 0x1F if params.codec == "h264" else (payload[0] >> 1) & 0x3F
            assert kind in allowed


def test_garbage_frames_are_small_noise_frames():
    frames = garbage_frames("h264", 1400)
    assert len(frames) == 8
    for frame in frames:
        assert 1 <= len(frame.packets) <= 3 and not frame.keyframe
        assert all(112 <= length <= 1412 for _, length, _ in frame.packets)
        assert frame.packets[-1][2] & 0x80  # marker on the last packet


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"open_gop": True}, "open_gop needs codec h265"),
        ({"sdp_faults": ("nope",)}, "unknown sdp_faults"),
        ({"transports": ("sctp",)}, "transports"),
        ({"play_burst": 101}, "play_burst"),
    ],
)
def test_server_rejects_impossible_camera_settings(options, message):
    with pytest.raises(ValueError, match=message):
        SimServer(cameras=[SimCamera("bad", **options)])
