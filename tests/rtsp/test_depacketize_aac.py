import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.rtsp.depacketize.aac import AacDepacketizer
from nvr.rtsp.rtp import build_rtp, parse_rtp

FMTP = {
    "streamtype": "5",
    "profile-level-id": "15",
    "mode": "AAC-hbr",
    "config": "1408",  # AAC LC, 16 kHz, mono
    "SizeLength": "13",
    "IndexLength": "3",
    "IndexDeltaLength": "3",
}


def _hbr_payload(aus: list[bytes]) -> bytes:
    headers = b"".join((len(au) << 3).to_bytes(2, "big") for au in aus)
    return (len(aus) * 16).to_bytes(2, "big") + headers + b"".join(aus)


def test_init_aac_fmtp_case_insensitive():
    d = AacDepacketizer(FMTP)
    assert (d.sizelength, d.indexlength, d.indexdeltalength) == (13, 3, 3)
    assert (d.sample_rate, d.channels, d.frame_length) == (16000, 1, 1024)
    assert d.config == b"\x14\x08"


def test_init_aac_bad_config_raises():
    with pytest.raises(ValueError, match="config is not hex"):
        AacDepacketizer({**FMTP, "config": "zz"})
    with pytest.raises(ValueError, match="bad size parameter"):
        AacDepacketizer({**FMTP, "sizelength": "x"})


def test_push_aac_single_au():
    d = AacDepacketizer(FMTP)
    frames = d.push(parse_rtp(build_rtp(1, 5000, True, 97, 1, _hbr_payload([b"\x21" * 100]))))
    assert [(f.rtp_ts, f.data) for f in frames] == [(5000, b"\x21" * 100)]


def test_push_aac_several_aus_get_consecutive_timestamps():
    d = AacDepacketizer(FMTP)
    aus = [bytes([i]) * (50 + i) for i in range(3)]
    frames = d.push_payload(1, 0xFFFFFF00, True, _hbr_payload(aus))
    assert [f.data for f in frames] == aus
    assert [f.rtp_ts for f in frames] == [0xFFFFFF00, 0xFFFFFF00 + 1024, 0xFFFFFF00 + 2048]


def test_push_aac_generic_header_sizes():
    d = AacDepacketizer({"mode": "AAC-lbr", "config": "1408"})  # sizelength 6, index 2
    aus = [b"a" * 10, b"b" * 20]
    headers = ((10 << 2) << 8 | (20 << 2)).to_bytes(2, "big")
    frames = d.push_payload(1, 0, True, (16).to_bytes(2, "big") + headers + b"".join(aus))
    assert [f.data for f in frames] == aus


def test_push_aac_fragmented_au_dropped_and_counted():
    d = AacDepacketizer(FMTP)
    payload = (16).to_bytes(2, "big") + (3000 << 3).to_bytes(2, "big") + b"x" * 1000
    assert d.push_payload(1, 0, False, payload) == []
    assert d.errors == 1


@pytest.mark.parametrize(
    "payload", [b"", b"\x00", b"\x00\x00", b"\x00\x10\x00", b"\x00\x11\x00\x08\x00"]
)
def test_push_aac_malformed_counts_error(payload):
    d = AacDepacketizer(FMTP)
    assert d.push_payload(1, 0, True, payload) == []
    assert d.errors == 1


def test_push_aac_counts_lost_and_drops_duplicate():
    d = AacDepacketizer(FMTP)
    p = _hbr_payload([b"z" * 10])
    d.push_payload(10, 0, True, p)
    assert d.push_payload(10, 0, True, p) == []
    d.push_payload(13, 3072, True, p)
    assert d.lost == 2


def test_roundtrip_aac_encoder_frames():
    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate, cc.layout, cc.format = 48000, "stereo", "fltp"
    cc.open()
    tone = np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000).astype(np.float32)
    aus = []
    for i in range(20):
        frame = av.AudioFrame.from_ndarray(
            np.stack([tone[i * 1024 : (i + 1) * 1024]] * 2), format="fltp", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = i * 1024
        aus += [bytes(p) for p in cc.encode(frame)]
    assert len(aus) >= 12
    d = AacDepacketizer(
        {
            "mode": "AAC-hbr",
            "sizelength": "13",
            "indexlength": "3",
            "indexdeltalength": "3",
            "config": bytes(cc.extradata).hex(),
        }
    )
    got = []
    for n, start in enumerate(range(0, 12, 3)):
        got += d.push_payload(n, start * 1024, True, _hbr_payload(aus[start : start + 3]))
    assert [f.data for f in got] == aus[:12]
    assert [f.rtp_ts for f in got] == [i * 1024 for i in range(12)]
    assert (d.sample_rate, d.channels) == (48000, 2)


_packet = st.tuples(
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.booleans(), st.binary(max_size=40)
)


@settings(max_examples=300)
@given(
    st.lists(_packet, max_size=20),
    st.sampled_from([FMTP, {"mode": "AAC-lbr"}, {"sizelength": "7", "indexlength": "5"}, {}]),
)
def test_push_aac_fuzz_garbage_never_raises(packets, fmtp):
    d = AacDepacketizer(fmtp)
    for seq, ts, marker, payload in packets:
        for f in d.push_payload(seq, ts, marker, payload):
            assert len(f.data) > 0
