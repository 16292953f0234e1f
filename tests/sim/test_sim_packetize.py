"""RTP packetizers and SDP of the simulated camera."""

from __future__ import annotations

import base64
import struct

import pytest

from nvr.sim.media import MediaParams, encode_clip
from nvr.sim.packetize import (
    AUDIO_PT,
    VIDEO_PT,
    ClipPackets,
    aac_payload,
    h264_fu_a,
    h264_payloads,
    h264_stap_a,
    h265_ap,
    h265_fu,
    h265_payloads,
    make_sdp,
    pack_frame,
    rtp_header,
)

IDR = bytes([0x65]) + bytes(range(256)) * 20  # 5121 bytes, nal_ref_idc 3, type 5
SPS = bytes([0x67, 0x42, 0xC0, 0x1E, 0xAA, 0xBB])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
H265_IDR = bytes([0x26, 0x01]) + bytes(range(256)) * 20  # type 19 (IDR_W_RADL)
VPS = bytes([0x40, 0x01, 0x0C])
H265_SPS = bytes([0x42, 0x01, 0x01])
H265_PPS = bytes([0x44, 0x01, 0xC1])


def test_build_rtp_header_fields():
    header = rtp_header(96, True, 0x1_0005, 0x1_0000_0007, 0xDEADBEEF)
    assert header == bytes([0x80, 0xE0, 0x00, 0x05, 0, 0, 0, 7, 0xDE, 0xAD, 0xBE, 0xEF])


def test_split_h264_fu_a_sizes_and_reassembly():
    payloads = h264_fu_a(IDR, mtu=1400)
    assert len(payloads) == 4
    assert all(len(p) <= 1400 for p in payloads)
    assert all(p[0] == (0x60 | 28) for p in payloads)  # NRI kept, type 28
    assert [p[1] & 0xC0 for p in payloads] == [0x80, 0, 0, 0x40]  # S ... E
    assert all(p[1] & 0x1F == 5 for p in payloads)
    rebuilt = bytes([(payloads[0][0] & 0xE0) | (payloads[0][1] & 0x1F)])
    rebuilt += b"".join(p[2:] for p in payloads)
    assert rebuilt == IDR


def test_build_h264_stap_a_layout():
    stap = h264_stap_a([SPS, PPS])
    assert stap[0] == 0x60 | 24  # max NRI of the units, type 24
    assert stap[1:3] == struct.pack("!H", len(SPS))
    assert stap[3 : 3 + len(SPS)] == SPS
    rest = stap[3 + len(SPS) :]
    assert rest == struct.pack("!H", len(PPS)) + PPS


def test_build_h264_payloads_keyframe_starts_with_stap_a():
    small = bytes([0x41, 1, 2, 3])
    payloads = h264_payloads([IDR], [SPS, PPS], mtu=1400)
    assert payloads[0] == h264_stap_a([SPS, PPS])
    assert [p[0] & 0x1F for p in payloads[1:]] == [28] * 4
    assert h264_payloads([small]) == [small]  # small NAL: single NAL unit packet


def test_split_h265_fu_header_and_reassembly():
    payloads = h265_fu(H265_IDR, mtu=1400)
    assert all(len(p) <= 1400 for p in payloads)
    for p in payloads:
        assert (p[0] >> 1) & 0x3F == 49  # FU type, layer id and TID kept
        assert p[1] == H265_IDR[1]
        assert p[2] & 0x3F == 19
    assert [p[2] & 0xC0 for p in payloads] == [0x80] + [0] * (len(payloads) - 2) + [0x40]
    nal_header = bytes([(payloads[0][0] & 0x81) | (19 << 1), payloads[0][1]])
    assert nal_header + b"".join(p[3:] for p in payloads) == H265_IDR


def test_build_h265_ap_layout():
    ap = h265_ap([VPS, H265_SPS, H265_PPS])
    assert (ap[0] >> 1) & 0x3F == 48
    assert ap[1] == 0x01  # layer 0, TID 1
    offset, units = 2, []
    while offset < len(ap):
        (size,) = struct.unpack("!H", ap[offset : offset + 2])
        units.append(ap[offset + 2 : offset + 2 + size])
        offset += 2 + size
    assert units == [VPS, H265_SPS, H265_PPS]
    payloads = h265_payloads([H265_IDR], [VPS, H265_SPS, H265_PPS])
    assert payloads[0] == ap


def test_build_aac_payload_au_header_bits():
    au = bytes(range(200))
    payload = aac_payload(au)
    headers_len_bits, au_header = struct.unpack("!HH", payload[:4])
    assert headers_len_bits == 16
    assert au_header >> 3 == 200  # 13-bit AU size
    assert au_header & 0x7 == 0  # 3-bit AU index
    assert payload[4:] == au


def test_build_aac_payload_oversized_frame_fails():
    with pytest.raises(ValueError, match="sizelength=13"):
        aac_payload(bytes(8192))


def test_pack_frame_marker_on_last_packet_and_seq_wraps():
    params = MediaParams(width=320, height=240, bitrate_kbps=3000)
    packets = ClipPackets.build(encode_clip(params), mtu=1000)
    frame = packets.video[0]
    assert frame.keyframe and len(frame.packets) > 2
    buf, next_seq = pack_frame(frame, 2, 65534, 1234, 0xCAFEBABE)
    assert next_seq == (65534 + len(frame.packets)) % 65536
    seqs, markers = [], []
    for off, length, _ in frame.packets:
        assert buf[off] == 0x24 and buf[off + 1] == 2
        assert struct.unpack("!H", buf[off + 2 : off + 4])[0] == length <= 1012
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", buf[off + 4 : off + 16])
        assert (b0, b1 & 0x7F, ts, ssrc) == (0x80, VIDEO_PT, 1234, 0xCAFEBABE)
        seqs.append(seq)
        markers.append(bool(b1 & 0x80))
    assert seqs[:3] == [65534, 65535, 0]
    assert markers == [False] * (len(markers) - 1) + [True]
    assert buf[frame.packets[0][0] + 16] & 0x1F == 24  # STAP-A with SPS+PPS first


def test_make_sdp_h264_with_audio():
    clip = encode_clip(MediaParams(width=320, height=240, bitrate_kbps=400, audio=True))
    sdp = make_sdp(clip)
    sps64, pps64 = (base64.b64encode(x).decode() for x in (clip.sps, clip.pps))
    assert "a=control:*\r\n" in sdp and "a=range:npt=0-\r\n" in sdp
    assert f"a=rtpmap:{VIDEO_PT} H264/90000\r\n" in sdp
    profile = clip.sps[1:4].hex().upper()
    assert (
        f"a=fmtp:96 packetization-mode=1;profile-level-id={profile};"
        f"sprop-parameter-sets={sps64},{pps64}\r\n"
    ) in sdp
    assert f"a=rtpmap:{AUDIO_PT} MPEG4-GENERIC/48000/1\r\n" in sdp
    assert (
        "a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;"
        f"indexlength=3;indexdeltalength=3;config={clip.audio_config.hex()}\r\n"
    ) in sdp
    assert sdp.index("a=control:trackID=0") < sdp.index("m=audio") < sdp.index("trackID=1")


def test_make_sdp_h265_sprop_sets():
    clip = encode_clip(MediaParams(codec="h265", width=320, height=240, bitrate_kbps=400))
    sdp = make_sdp(clip, audio=False)
    assert "a=rtpmap:96 H265/90000\r\n" in sdp
    b64 = {k: base64.b64encode(v).decode() for k, v in [("vps", clip.vps), ("sps", clip.sps)]}
    assert f"sprop-vps={b64['vps']};sprop-sps={b64['sps']};sprop-pps=" in sdp
    assert "m=audio" not in sdp
