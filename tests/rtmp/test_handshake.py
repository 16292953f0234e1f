from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.handshake import SIZE, ClientHandshake, ServerHandshake

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rtmp"


def _fixed(n: int) -> bytes:
    return b"\xab" * n


def test_server_handshake_answers_c0c1_with_s0s1s2():
    server = ServerHandshake(timestamp=7, random=_fixed)
    c1 = bytes(range(256)) * 6
    assert server.receive_data(b"\x03" + c1[:100]) == b""
    assert server.waiting_for == "c0c1"
    out = server.receive_data(c1[100:])
    assert len(out) == 1 + 2 * SIZE and out[0] == 3
    assert out[1:9] == b"\x00\x00\x00\x07\x00\x00\x00\x00"  # S1: time, zero version bytes
    assert out[9:1 + SIZE] == b"\xab" * (SIZE - 8)
    assert out[1 + SIZE:] == c1  # S2 echoes C1
    assert server.waiting_for == "c2" and not server.done


def test_server_handshake_takes_any_c2_and_keeps_what_follows():
    server = ServerHandshake()
    server.receive_data(b"\x03" + bytes(SIZE))
    assert server.receive_data(b"\xff" * SIZE + b"connect...") == b""
    assert server.done and server.waiting_for == ""
    assert server.leftover == b"connect..."


def test_server_handshake_accepts_ffmpeg_digest_c1():
    c0c1c2 = (VECTORS / "ffmpeg_publish_h264.bin").read_bytes()[:1 + 2 * SIZE]
    assert c0c1c2[5:9] != b"\x00\x00\x00\x00"  # ffmpeg sends a Flash-style version in C1
    server = ServerHandshake()
    out = server.receive_data(c0c1c2)
    assert server.done and out[1 + SIZE:] == c0c1c2[1:1 + SIZE]


@pytest.mark.parametrize(("first", "message"), [
    (b"\x06", "RTMPE"), (b"G", "HTTP"), (b"\x16", "TLS"), (b"\x00", "unknown RTMP version 0"),
])
def test_server_handshake_refuses_wrong_version(first, message):
    with pytest.raises(ProtocolError, match=message):
        ServerHandshake().receive_data(first + bytes(10))


def test_client_and_server_handshake_each_other():
    client, server = ClientHandshake(timestamp=1), ServerHandshake(timestamp=2)
    s012 = server.receive_data(client.start())
    c2 = client.receive_data(s012 + b"\x02extra")
    assert client.done and client.leftover == b"\x02extra"
    assert c2 == s012[1:1 + SIZE]  # C2 echoes S1
    server.receive_data(c2)
    assert server.done and server.leftover == b""


def test_client_handshake_refuses_wrong_version():
    with pytest.raises(ProtocolError, match="unknown RTMP version 5"):
        ClientHandshake().receive_data(b"\x05" + bytes(SIZE))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=10))
def test_fuzz_server_handshake_raises_only_protocol_error(start, rest):
    server = ServerHandshake()
    try:
        server.receive_data(start)
        server.receive_data(rest)
    except ProtocolError:
        assert start[:1] not in (b"\x03",) or not start
