import base64
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.codec.nal import split_annexb
from nvr.rtsp.depacketize.h265 import H265Depacketizer
from nvr.rtsp.rtp import build_rtp, parse_rtp

MTU = 1200
VPS = b"\x40\x01\x0c\x01\xff\xff\x01\x60"
SPS = b"\x42\x01\x01\x01\x60\x00\x00\x03"
PPS = b"\x44\x01\xc1\x72\xb4\x62\x40"
IDR = b"\x26\x01" + bytes(range(1, 100))  # IDR_W_RADL (19)
CRA = b"\x2a\x01" + b"\x11" * 20  # CRA (21)
TRAIL = b"\x02\x01" + b"\x9a" * 40  # TRAIL_R (1)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


FMTP = {"sprop-vps": _b64(VPS), "sprop-sps": _b64(SPS), "sprop-pps": _b64(PPS)}


def _nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


def _ap(*nals: bytes) -> bytes:
    return bytes((48 << 1, 1)) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def _fu(nal: bytes, size: int = MTU) -> list[bytes]:
    header = bytes(((nal[0] & 0x81) | (49 << 1), nal[1]))
    body = nal[2:]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    out = []
    for i, chunk in enumerate(chunks):
        fu = _nal_type(nal) | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(header + bytes((fu,)) + chunk)
    return out


def _packetize(nals: list[bytes]) -> list[bytes]:
    payloads = []
    params = [n for n in nals if 32 <= _nal_type(n) <= 34]
    if params:
        payloads.append(_ap(*params))
    for nal in nals:
        if 32 <= _nal_type(nal) <= 34:
            continue
        payloads.extend(_fu(nal) if len(nal) > MTU else [nal])
    return payloads


class _Sender:
    def __init__(self, depack: H265Depacketizer, seq: int = 65530) -> None:
        self.depack = depack
        self.seq = seq
        self.frames = []

    def send(self, ts: int, payloads: list[bytes], marker: bool = True, skip=()) -> None:
        for i, payload in enumerate(payloads):
            data = build_rtp(self.seq, ts, marker and i == len(payloads) - 1, 96, 0xCAFE, payload)
            self.seq = (self.seq + 1) & 0xFFFF
            if i not in skip:
                self.frames.extend(self.depack.push(parse_rtp(data)))


def test_init_h265_sprop_vps_sps_pps():
    d = H265Depacketizer(FMTP)
    assert (d.vps, d.sps, d.pps) == (VPS, SPS, PPS)
    assert d.parameter_sets == [VPS, SPS, PPS]


@pytest.mark.parametrize("fmtp", [None, {}, {"sprop-sps": ""}, {"sprop-vps": "%%%"}])
def test_init_h265_sprop_missing_or_bad_gives_no_params(fmtp):
    assert H265Depacketizer(fmtp).parameter_sets == []


def test_push_h265_single_nal_keyframe_types():
    d = H265Depacketizer(FMTP)
    s = _Sender(d)
    s.send(0, [IDR])
    s.send(3000, [TRAIL])
    s.send(6000, [CRA])
    assert [(f.nals, f.keyframe) for f in s.frames] == [
        ([IDR], True),
        ([TRAIL], False),
        ([CRA], True),
    ]


def test_push_h265_ap_params_not_in_frame_and_aud_dropped():
    d = H265Depacketizer()
    s = _Sender(d)
    aud = b"\x46\x01\x10"
    sei = b"\x4e\x01\x05\x01\x80"
    s.send(0, [_ap(aud, VPS, SPS, PPS, sei), IDR, b"\x4c\x01\xff\xff"])
    f = s.frames[0]
    assert f.nals == [sei, IDR] and f.keyframe and f.params_changed
    assert d.parameter_sets == [VPS, SPS, PPS]


def test_push_h265_fu_reassembles_nal_header():
    d = H265Depacketizer()
    s = _Sender(d)
    big = b"\x26\x01" + bytes(i & 0xFF for i in range(4000))
    s.send(0, _fu(big))
    assert s.frames[0].nals == [big] and s.frames[0].keyframe
    assert d.errors == 0


def test_push_h265_fu_after_loss_dropped_until_next_start():
    d = H265Depacketizer()
    s = _Sender(d)
    big = b"\x02\x01" + bytes(i & 0xFF for i in range(4000))
    s.send(0, [TRAIL, *_fu(big)], skip={1})
    assert s.frames[0].nals == [TRAIL] and s.frames[0].corrupt
    s.send(3000, _fu(big))
    assert s.frames[1].nals == [big] and not s.frames[1].corrupt


def test_push_h265_no_marker_splits_on_timestamp_change():
    d = H265Depacketizer()
    s = _Sender(d)
    s.send(0, [IDR], marker=False)
    s.send(3000, [TRAIL], marker=False)
    assert [(f.rtp_ts, f.nals) for f in s.frames] == [(0, [IDR])]


def test_push_h265_ap_size_past_end_counts_error():
    d = H265Depacketizer()
    bad = bytes((96, 1)) + len(TRAIL).to_bytes(2, "big") + TRAIL + b"\x00\x30\x02"
    frames = d.push_payload(1, 0, True, bad)
    assert frames[0].nals == [TRAIL] and frames[0].corrupt
    assert d.errors == 1


@pytest.mark.parametrize("payload", [b"", b"\x02", b"\x62\x01", b"\x64\x01\x00", b"\x60\x01\x00"])
def test_push_h265_malformed_payload_counts_error(payload):
    d = H265Depacketizer()
    assert d.push_payload(1, 0, True, payload) == []
    assert d.errors == 1


@pytest.fixture(scope="module")
def x265_stream():
    cc = av.CodecContext.create("libx265", "w")
    cc.width, cc.height, cc.pix_fmt = 320, 240, "yuv420p"
    cc.time_base = Fraction(1, 25)
    cc.framerate = Fraction(25)
    cc.options = {"preset": "ultrafast", "x265-params": "log-level=none:keyint=10:min-keyint=10"}
    base = np.random.default_rng(2).integers(0, 255, (360, 320), dtype=np.uint8)
    out = []
    for i in range(30):
        frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="yuv420p")
        frame.pts = i
        out += [(p.pts, bytes(p)) for p in cc.encode(frame)]
    out += [(p.pts, bytes(p)) for p in cc.encode(None)]
    return out


def test_roundtrip_h265_encoder_output_exact(x265_stream):
    d = H265Depacketizer()
    s = _Sender(d)
    expected = []
    for pts, data in x265_stream:
        nals = split_annexb(data)
        s.send(pts * 3600, _packetize(nals))
        kept = [n for n in nals if _nal_type(n) not in (32, 33, 34, 35, 38)]
        expected.append((pts * 3600, kept, any(16 <= _nal_type(n) <= 21 for n in nals)))
    got = [(f.rtp_ts, f.nals, f.keyframe) for f in s.frames]
    assert got == expected
    assert sum(k for _, _, k in expected) >= 3
    assert any(len(n) > MTU for _, nals, _ in expected for n in nals)
    assert d.errors == 0 and not any(f.corrupt for f in s.frames)
    first = split_annexb(x265_stream[0][1])
    assert d.parameter_sets == [n for n in first if 32 <= _nal_type(n) <= 34]


_packet = st.tuples(
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.booleans(), st.binary(max_size=40)
)


@settings(max_examples=300)
@given(st.lists(_packet, max_size=30))
def test_push_h265_fuzz_garbage_never_raises(packets):
    d = H265Depacketizer()
    for seq, ts, marker, payload in packets:
        for f in d.push_payload(seq, ts, marker, payload):
            assert f.nals and all(len(n) >= 3 for n in f.nals)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from([0x60, 0x62, 0x02, 0x26, 0x40]), st.binary(max_size=30))))
def test_push_h265_fuzz_typed_payloads_never_raise(items):
    d = H265Depacketizer()
    for i, (head, body) in enumerate(items):
        d.push_payload(i, i // 3, i % 3 == 2, bytes((head, 1)) + body)
    d.flush()
