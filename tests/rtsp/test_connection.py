"""The control connection's data path and Digest auth, without a network."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from aiortsp.rtsp.parser import RTSPResponse

from nvr.rtsp.connection import CameraConnection, DigestQopAuth

LOG = logging.getLogger("test")


def _conn() -> CameraConnection:
    return CameraConnection("127.0.0.1", 554, "admin", "pw", LOG)


def _interleaved(channel: int, payload: bytes) -> bytes:
    return bytes((0x24, channel, len(payload) >> 8, len(payload) & 0xFF)) + payload


REPLY = (b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp\r\n"
         b"Content-Length: 5\r\n\r\nhello")


def _collect(conn: CameraConnection, channel: int) -> list[bytes]:
    got: list[bytes] = []
    conn.channel_handlers[channel] = got.append
    return got


async def test_split_interleaved_and_reply_any_chunking():
    stream = _interleaved(0, b"A" * 300) + REPLY + _interleaved(1, b"rtcp") + _interleaved(
        0, b"B" * 5)
    for size in (1, 2, 3, 7, 64, len(stream)):
        conn = _conn()
        rtp, rtcp = _collect(conn, 0), _collect(conn, 1)
        fut = asyncio.get_running_loop().create_future()
        conn.active_requests[3] = fut
        for i in range(0, len(stream), size):
            conn.data_received(stream[i:i + size])
        assert rtp == [b"A" * 300, b"B" * 5], size
        assert rtcp == [b"rtcp"]
        reply = fut.result()
        assert reply.status == 200 and reply.content == "hello"


async def test_unknown_channel_and_garbage_are_skipped():
    conn = _conn()
    rtp = _collect(conn, 0)
    conn.data_received(b"\x00\x01garbage" + _interleaved(5, b"x") + b"\r\n" +
                       _interleaved(0, b"ok"))
    assert rtp == [b"ok"]


async def test_handler_error_does_not_break_the_stream():
    conn = _conn()
    seen = []

    def bad(data: bytes) -> None:
        seen.append(data)
        raise ValueError("boom")

    conn.channel_handlers[0] = bad
    conn.data_received(_interleaved(0, b"1") + _interleaved(0, b"2"))
    assert seen == [b"1", b"2"] and conn.handler_errors == 2


def test_digest_with_qop_matches_rfc2617():
    auth = DigestQopAuth("admin", "pw")
    auth.handle_401({"www-authenticate": 'Digest realm="cam", nonce="abc", qop="auth"'})
    headers: dict[str, str] = {}
    auth.make_auth("DESCRIBE", "rtsp://cam/s", headers)
    value = headers["Authorization"]
    fields = dict(p.strip().split("=", 1) for p in value[len("Digest "):].split(","))
    fields = {k: v.strip('"') for k, v in fields.items()}
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5("admin:cam:pw"), md5("DESCRIBE:rtsp://cam/s")
    expected = md5(f"{ha1}:abc:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
    assert fields["qop"] == "auth" and fields["nc"] == "00000001"
    assert fields["response"] == expected
    assert "pw" not in value.replace("qop", "")


def test_digest_without_qop_is_rfc2069():
    auth = DigestQopAuth("admin", "pw")
    auth.handle_401({"www-authenticate": 'Digest realm="cam", nonce="abc"'})
    headers: dict[str, str] = {}
    auth.make_auth("PLAY", "rtsp://cam/s", headers)
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    expected = md5(f"{md5('admin:cam:pw')}:abc:{md5('PLAY:rtsp://cam/s')}")
    assert f'response="{expected}"' in headers["Authorization"]
    assert "qop" not in headers["Authorization"]


async def test_digest_preferred_over_basic():
    conn = _conn()
    resp = RTSPResponse()
    for line in (b"RTSP/1.0 401 Unauthorized\r\n", b"CSeq: 1\r\n",
                 b'WWW-Authenticate: Basic realm="cam"\r\n',
                 b'WWW-Authenticate: Digest realm="cam", nonce="n1"\r\n', b"\r\n"):
        resp.feed(line)
    assert conn.handle_401(resp) is True
    assert isinstance(conn._auth, DigestQopAuth)


async def test_malformed_reply_is_skipped_and_the_stream_goes_on():
    conn = _conn()
    rtp = _collect(conn, 0)
    fut = asyncio.get_running_loop().create_future()
    conn.active_requests[3] = fut
    conn.data_received(b"RTSP/1.0 abc\r\nCSeq: 2\r\nBroken header\r\n\r\n" +
                       _interleaved(0, b"after") + REPLY)
    assert rtp == [b"after"]
    assert fut.result().status == 200
