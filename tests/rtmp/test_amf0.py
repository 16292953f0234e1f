import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.rtmp.amf0 import UNDEFINED, Date, EcmaArray, decode, encode
from nvr.rtmp.errors import AmfError, ProtocolError

# ffmpeg 5.1's connect command as captured (tests/vectors/rtmp/ffmpeg_publish_h264.bin)
FFMPEG_CONNECT_START = (b"\x02\x00\x07connect\x00\x3f\xf0\x00\x00\x00\x00\x00\x00\x03"
                        b"\x00\x03app\x02\x00\x04live")


def test_encode_command_matches_ffmpeg_bytes():
    assert encode("connect", 1.0, {"app": "live"}).startswith(FFMPEG_CONNECT_START)


def test_encode_every_type_exact_bytes():
    assert encode(1.5) == b"\x00" + struct.pack(">d", 1.5)
    assert encode(True, False) == b"\x01\x01\x01\x00"
    assert encode("ab") == b"\x02\x00\x02ab"
    assert encode(None) == b"\x05"
    assert encode(UNDEFINED) == b"\x06"
    assert encode({"a": 1}) == b"\x03\x00\x01a\x00" + struct.pack(">d", 1) + b"\x00\x00\x09"
    assert encode(EcmaArray(a=None)) == b"\x08\x00\x00\x00\x01\x00\x01a\x05\x00\x00\x09"
    assert encode([None, True]) == b"\x0a\x00\x00\x00\x02\x05\x01\x01"
    assert encode(Date(1000.0, -60)) == b"\x0b" + struct.pack(">dh", 1000.0, -60)


def test_encode_long_string_over_65535_bytes():
    text = "x" * 70000
    data = encode(text)
    assert data[:5] == b"\x0c" + struct.pack(">I", 70000)
    assert decode(data) == [text]


def test_decode_round_trips_every_type():
    values = [3.25, True, "héllo", None, UNDEFINED, {"k": [1.0, "v", {"n": None}]},
              EcmaArray(duration=0.0, encoder="Lavf"), [], Date(1e12, 0)]
    out = decode(encode(*values))
    assert out == values
    assert isinstance(out[6], EcmaArray) and type(out[5]) is dict


def test_decode_ecma_array_ignores_wrong_count():
    data = b"\x08\x00\x00\x00\x63\x00\x01a\x05\x00\x00\x09"  # count says 99, one entry
    assert decode(data) == [{"a": None}]


def test_encode_refuses_unknown_type():
    with pytest.raises(AmfError, match="cannot encode bytes"):
        encode(b"raw")


@pytest.mark.parametrize(("data", "message"), [
    (b"\x10\x00\x03abc", "typed object"),
    (b"\x07\x00\x01", "reference"),
    (b"\x11\x02", "AMF3 switch"),
    (b"\x04", "movie clip"),
    (b"\x0f\x00\x00\x00\x00", "XML document"),
    (b"\x20", "unknown AMF0 marker 0x20"),
    (b"\x09", "object end marker outside"),
    (b"\x00\x01\x02", "truncated"),
    (b"\x02\x00\x05ab", "truncated"),
    (b"\x02\x00\x02\xff\xfe", "not UTF-8"),
    (b"\x03\x00\x01a\x05", "truncated"),
])
def test_decode_malformed_raises_amf_error(data, message):
    with pytest.raises(AmfError, match=message):
        decode(data)


def test_decode_huge_declared_lengths_cost_nothing():
    with pytest.raises(AmfError, match="truncated"):
        decode(b"\x0c\xff\xff\xff\xff" + b"x" * 10)
    with pytest.raises(AmfError, match="strict array of 4294967295 items"):
        decode(b"\x0a\xff\xff\xff\xff\x05")


def test_decode_deep_nesting_is_refused():
    bomb = b"\x0a\x00\x00\x00\x01" * 10000 + b"\x05"
    with pytest.raises(AmfError, match="nested deeper than 32"):
        decode(bomb)
    objects = b"\x03\x00\x01a" * 1000 + b"\x05"
    with pytest.raises(AmfError, match="nested deeper"):
        decode(objects)


def test_decode_nesting_at_the_limit_is_fine():
    value: object = None
    for _ in range(32):
        value = [value]
    assert decode(encode(value)) == [value]


def test_decode_item_limit():
    data = b"\x0a" + struct.pack(">I", 100) + b"\x05" * 100
    assert len(decode(data)[0]) == 100
    with pytest.raises(AmfError, match="too many values"):
        decode(data, max_items=50)


def test_amf_error_is_a_protocol_error():
    assert issubclass(AmfError, ProtocolError)


_leaves = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False),
                    st.text(max_size=20), st.just(UNDEFINED))
_values = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(max_size=8), inner, max_size=4),
    st.dictionaries(st.text(max_size=8), inner, max_size=4).map(EcmaArray)), max_leaves=10)


@settings(max_examples=50, deadline=None)
@given(st.lists(_values, max_size=4))
def test_fuzz_round_trip(values):
    assert decode(encode(*values)) == values


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_garbage_raises_only_amf_error(data):
    try:
        decode(data)
    except AmfError:
        pass


@settings(max_examples=50, deadline=None)
@given(st.lists(_values, min_size=1, max_size=3), st.data())
def test_fuzz_mutated_valid_data_raises_only_amf_error(values, data):
    raw = bytearray(encode(*values))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        decode(bytes(raw[:cut]))
    except AmfError:
        pass
