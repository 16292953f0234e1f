import base64
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.codec.nal import split_annexb, to_avcc
from nvr.rtsp.depacketize.h264 import H264Depacketizer
from nvr.rtsp.rtp import build_rtp, parse_rtp

SPS = base64.b64decode("Z0LAH9oBQBbpqAgICgAAAwACAAADAGR4wZJA")
PPS = base64.b64decode("aM4NiA==")
FMTP = {
    "sprop-parameter-sets": "Z0LAH9oBQBbpqAgICgAAAwACAAADAGR4wZJA,aM4NiA==",
    "packetization-mode": "1",
}
IDR = b"\x65" + bytes(range(1, 200))
SLICE = b"\x41" + b"\x9a" * 50
MTU = 1200


def _stap_a(*nals: bytes) -> bytes:
    return b"\x18" + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def _fu_a(nal: bytes, size: int = MTU) -> list[bytes]:
    indicator = (nal[0] & 0xE0) | 28
    body = nal[1:]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    out = []
    for i, chunk in enumerate(chunks):
        header = (nal[0] & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(bytes((indicator, header)) + chunk)
    return out


def _packetize(nals: list[bytes]) -> list[bytes]:
    """Our own small packetizer: STAP-A for SPS+PPS, FU-A above the MTU, single otherwise."""
    payloads = []
    params = [n for n in nals if n[0] & 0x1F in (7, 8)]
    if params:
        payloads.append(_stap_a(*params))
    for nal in nals:
        if nal[0] & 0x1F in (7, 8):
            continue
        payloads.extend(_fu_a(nal) if len(nal) > MTU else [nal])
    return payloads


class _Sender:
    def __init__(self, depack: H264Depacketizer, seq: int = 65500) -> None:
        self.depack = depack
        self.seq = seq
        self.frames = []

    def send(self, ts: int, payloads: list[bytes], marker: bool = True, skip=()) -> None:
        for i, payload in enumerate(payloads):
            data = build_rtp(self.seq, ts, marker and i == len(payloads) - 1, 96, 0xCAFE, payload)
            self.seq = (self.seq + 1) & 0xFFFF
            if i in skip:
                continue
            pkt = parse_rtp(data)
            assert pkt is not None
            self.frames.extend(self.depack.push(pkt))


def test_push_h264_single_nal_emits_frame_on_marker():
    d = H264Depacketizer(FMTP)
    s = _Sender(d)
    s.send(1000, [IDR])
    assert len(s.frames) == 1
    f = s.frames[0]
    assert (f.rtp_ts, f.nals, f.keyframe, f.corrupt) == (1000, [IDR], True, False)
    s.send(4000, [SLICE])
    assert s.frames[1].nals == [SLICE] and not s.frames[1].keyframe


def test_init_h264_sprop_parameter_sets():
    d = H264Depacketizer(FMTP)
    assert (d.sps, d.pps) == (SPS, PPS)
    assert d.parameter_sets == [SPS, PPS]


@pytest.mark.parametrize(
    "fmtp",
    [
        None,
        {},
        {"sprop-parameter-sets": ""},
        {"packetization-mode": "1"},
        {"Sprop-Parameter-Sets": "!!,"},
    ],
)
def test_init_h264_sprop_missing_or_bad_gives_no_params(fmtp):
    d = H264Depacketizer(fmtp)
    assert d.parameter_sets == []


def test_init_h264_sprop_without_pps_then_inband_pps():
    d = H264Depacketizer({"sprop-parameter-sets": "Z0LAH9oBQBbpqAgICgAAAwACAAADAGR4wZJA"})
    assert (d.sps, d.pps) == (SPS, b"")
    s = _Sender(d)
    s.send(0, [PPS, IDR])
    assert d.pps == PPS
    assert s.frames[0].params_changed and s.frames[0].nals == [IDR]


def test_push_h264_stap_a_params_not_in_frame():
    d = H264Depacketizer()
    s = _Sender(d)
    sei = b"\x06\x05\x01\x80"
    s.send(0, [_stap_a(b"\x09\x10", SPS, PPS, sei), IDR])
    f = s.frames[0]
    assert f.nals == [sei, IDR]
    assert f.keyframe and f.params_changed
    assert (d.sps, d.pps) == (SPS, PPS)


def test_push_h264_same_inband_params_not_changed():
    d = H264Depacketizer(FMTP)
    s = _Sender(d)
    s.send(0, [_stap_a(SPS, PPS), IDR])
    assert not s.frames[0].params_changed
    assert d.param_version == 1


def test_push_h264_new_inband_sps_sets_params_changed():
    d = H264Depacketizer(FMTP)
    s = _Sender(d)
    new_sps = SPS[:-1] + b"\x41"
    s.send(0, [SLICE])
    s.send(3000, [_stap_a(new_sps, PPS), IDR])
    assert [f.params_changed for f in s.frames] == [False, True]
    assert d.sps == new_sps and d.param_version == 2


def test_push_h264_aud_and_filler_stripped():
    d = H264Depacketizer()
    s = _Sender(d)
    s.send(0, [b"\x09\xf0", SLICE, b"\x0c\xff\xff\xff"])
    assert s.frames[0].nals == [SLICE]


def test_push_h264_fu_a_reassembles_nal():
    d = H264Depacketizer()
    s = _Sender(d)
    big = b"\x65" + bytes(i & 0xFF for i in range(5000))
    s.send(0, _fu_a(big))
    assert s.frames[0].nals == [big] and s.frames[0].keyframe
    assert d.errors == 0


def test_push_h264_fu_a_start_and_end_in_one_packet():
    d = H264Depacketizer()
    s = _Sender(d)
    s.send(0, _fu_a(SLICE, size=1000))
    assert s.frames[0].nals == [SLICE]


def test_push_h264_fu_a_after_loss_dropped_until_next_start():
    d = H264Depacketizer()
    s = _Sender(d)
    big = b"\x65" + bytes(i & 0xFF for i in range(5000))
    s.send(0, [SLICE, *_fu_a(big)], skip={2})
    assert len(s.frames) == 1
    f = s.frames[0]
    assert f.nals == [SLICE] and f.corrupt and not f.keyframe
    assert d.lost == 1
    s.send(3000, _fu_a(big))
    assert s.frames[1].nals == [big] and not s.frames[1].corrupt


def test_push_h264_fu_a_without_start_counts_error():
    d = H264Depacketizer()
    s = _Sender(d)
    frags = _fu_a(b"\x65" + bytes(3000))
    s.send(0, frags[1:])
    assert s.frames == []
    assert d.errors >= 1


def test_push_h264_no_marker_splits_on_timestamp_change():
    d = H264Depacketizer()
    s = _Sender(d)
    s.send(0, [IDR], marker=False)
    assert s.frames == []
    s.send(3000, [SLICE], marker=False)
    s.send(6000, [SLICE], marker=False)
    assert [(f.rtp_ts, f.nals) for f in s.frames] == [(0, [IDR]), (3000, [SLICE])]
    assert [f.rtp_ts for f in d.flush()] == [6000]


def test_push_h264_lost_marker_packet_frame_corrupt():
    d = H264Depacketizer()
    s = _Sender(d)
    s.send(0, [SLICE, SLICE], skip={1})
    s.send(3000, [SLICE])
    assert [(f.rtp_ts, f.corrupt) for f in s.frames] == [(0, True), (3000, True)]
    s.send(6000, [SLICE])
    assert not s.frames[-1].corrupt


def test_push_h264_duplicate_packet_dropped():
    d = H264Depacketizer()
    data = build_rtp(10, 0, False, 96, 1, SLICE)
    assert d.push(parse_rtp(data)) == []
    assert d.push(parse_rtp(data)) == []
    frames = d.push(parse_rtp(build_rtp(11, 0, True, 96, 1, SLICE)))
    assert frames[0].nals == [SLICE, SLICE]
    assert d.late == 1 and d.lost == 0


def test_push_h264_stap_a_size_past_end_counts_error():
    d = H264Depacketizer()
    bad = b"\x18" + b"\x00\x05\x41\x01\x02\x03\x04" + b"\x00\x40\x41\x01"
    frames = d.push_payload(1, 0, True, bad)
    assert frames[0].nals == [b"\x41\x01\x02\x03\x04"] and frames[0].corrupt
    assert d.errors == 1


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x1c", b"\x00abc", b"\x19abc", b"\x1a\x00", b"\x1dxx", b"\x18\x00", b"\x18\x00\x00"],
)
def test_push_h264_malformed_payload_counts_error(payload):
    d = H264Depacketizer()
    assert d.push_payload(1, 0, True, payload) == []
    assert d.errors == 1


def _encode(codec: str, options: dict, count: int = 30) -> list[tuple[int, bytes]]:
    cc = av.CodecContext.create(codec, "w")
    cc.width, cc.height, cc.pix_fmt = 320, 240, "yuv420p"
    cc.time_base = Fraction(1, 25)
    cc.framerate = Fraction(25)
    cc.options = options
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (360, 320), dtype=np.uint8)
    out = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="yuv420p")
        frame.pts = i
        out += [(p.pts, bytes(p)) for p in cc.encode(frame)]
    out += [(p.pts, bytes(p)) for p in cc.encode(None)]
    return out


@pytest.fixture(scope="module")
def x264_stream():
    return _encode("libx264", {"preset": "ultrafast", "g": "10", "bf": "2"})


@pytest.mark.parametrize("marker", [True, False])
def test_roundtrip_h264_encoder_output_exact(x264_stream, marker):
    d = H264Depacketizer({"packetization-mode": "1"})
    s = _Sender(d)
    expected = []
    for pts, data in x264_stream:
        nals = split_annexb(data)
        s.send(pts * 3600, _packetize(nals), marker=marker)
        kept = [n for n in nals if n[0] & 0x1F not in (7, 8, 9, 12)]
        expected.append((pts * 3600, kept, any(n[0] & 0x1F == 5 for n in nals)))
    s.frames.extend(d.flush())
    got = [(f.rtp_ts, f.nals, f.keyframe) for f in s.frames]
    assert got == expected
    assert sum(k for _, _, k in expected) == 3
    assert any(len(n) > MTU for _, nals, _ in expected for n in nals)  # FU-A exercised
    assert d.errors == 0 and d.lost == 0
    assert not any(f.corrupt for f in s.frames)
    first = split_annexb(x264_stream[0][1])
    assert d.sps == first[0] and d.pps == first[1]
    assert s.frames[0].params_changed and not any(f.params_changed for f in s.frames[1:])
    assert to_avcc(s.frames[0].nals)[:4] == len(s.frames[0].nals[0]).to_bytes(4, "big")


_packet = st.tuples(
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.booleans(), st.binary(max_size=40)
)


@settings(max_examples=300)
@given(st.lists(_packet, max_size=30))
def test_push_h264_fuzz_garbage_never_raises(packets):
    d = H264Depacketizer()
    for seq, ts, marker, payload in packets:
        for f in d.push_payload(seq, ts, marker, payload):
            assert f.nals and all(len(n) > 0 for n in f.nals)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from([0x18, 0x1C, 0x5C, 0x41, 0x65]), st.binary(max_size=30)),
        max_size=30,
    )
)
def test_push_h264_fuzz_typed_payloads_never_raise(items):
    d = H264Depacketizer()
    for i, (head, body) in enumerate(items):
        d.push_payload(i, i // 3, i % 3 == 2, bytes((head,)) + body)
    d.flush()
