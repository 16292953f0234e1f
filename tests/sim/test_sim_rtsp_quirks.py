"""Misbehaving cameras at the RTSP level: malformed SDP, oversized or lying replies,
a camera that never answers, refused transports, RTP in the PLAY reply's write."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import struct

import pytest
from conftest import RawRtspClient

from nvr.sim.server import SimServer


def sdp_param(body: bytes, name: str) -> str:
    match = re.search(rf"{name}=([^;\r\n]*)", body.decode())
    assert match, (name, body)
    return match[1]


async def read_head(client: RawRtspClient) -> bytes:
    """A reply's status line and headers, however long (the reader's limit is 64 kB)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await client.reader.read(65536)
        assert chunk, "connection closed"
        head += chunk
    return head


# --- 1. malformed SDP ------------------------------------------------------------


async def test_describe_broken_aac_config_and_garbage_sprop(sim_factory, rtsp):
    faults = ("aac-config-not-hex", "sprop-garbage")
    server = await sim_factory({"bad": {"audio": True, "sdp_faults": faults}})
    resp = await (await rtsp("bad", server)).request("DESCRIBE")
    assert resp.status == 200
    assert sdp_param(resp.body, "config") == "zz"
    for value in sdp_param(resp.body, "sprop-parameter-sets").split(","):
        assert base64.b64decode(value, validate=True)[0] & 0x80  # forbidden bit: not a NAL


async def test_describe_aac_config_with_reserved_sampling_index(sim_factory, rtsp):
    server = await sim_factory(
        {"bad": {"audio": True, "sdp_faults": ("aac-config-reserved-rate",)}}
    )
    resp = await (await rtsp("bad", server)).request("DESCRIBE")
    config = bytes.fromhex(sdp_param(resp.body, "config"))
    assert config[0] >> 3 == 2  # AAC-LC
    assert ((config[0] & 7) << 1) | (config[1] >> 7) == 13  # reserved sampling frequency index


async def test_describe_h265_sprop_not_base64(sim_factory, rtsp):
    server = await sim_factory({"bad": {"codec": "h265", "sdp_faults": ("sprop-not-base64",)}})
    resp = await (await rtsp("bad", server)).request("DESCRIBE")
    for name in ("sprop-vps", "sprop-sps", "sprop-pps"):
        with pytest.raises(ValueError):
            base64.b64decode(sdp_param(resp.body, name), validate=True)


async def test_no_video_sdp_has_only_audio_and_video_setup_is_404(sim_factory, rtsp):
    server = await sim_factory({"deaf": {"audio": True, "sdp_faults": ("no-video",)}})
    client = await rtsp("deaf", server)
    resp = await client.request("DESCRIBE")
    assert b"m=video" not in resp.body and b"m=audio" in resp.body
    transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
    assert (
        await client.request("SETUP", client.url + "/trackID=0", Transport=transport)
    ).status == 404
    transport = "RTP/AVP/TCP;unicast;interleaved=2-3"
    assert (
        await client.request("SETUP", client.url + "/trackID=1", Transport=transport)
    ).status == 200
    assert (await client.request("PLAY")).status == 200
    await client.read_until(lambda: len(client.packets) >= 5)
    assert {p.pt for p in client.packets} == {97}


# --- 3. oversized and lying replies, a camera that never answers -----------------


async def test_big_header_adds_a_100k_header_line_to_every_reply(rtsp, sim):
    sim.fault("plain").big_header(100_000)
    client = await rtsp("plain")
    client.writer.write(b"OPTIONS rtsp://127.0.0.1/plain RTSP/1.0\r\nCSeq: 1\r\n\r\n")
    head = await read_head(client)
    lines = head.split(b"\r\n")
    assert lines[0] == b"RTSP/1.0 200 OK"
    assert max(len(line) for line in lines) == 100_000
    sim.fault("plain").big_header(0)
    assert (await client.request("OPTIONS")).status == 200  # normal size again


async def test_false_content_length_announces_more_than_follows(rtsp, sim):
    sim.fault("plain").false_content_length(10_000_000)
    client = await rtsp("plain")
    client.writer.write(f"DESCRIBE {client.url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
    head = await read_head(client)
    assert b"\r\nContent-Length: 10000000\r\n" in head
    rest = head[head.index(b"\r\n\r\n") + 4 :]
    # the SDP follows, then nothing: the next bytes are the answer to the next request
    client.writer.write(f"OPTIONS {client.url} RTSP/1.0\r\nCSeq: 2\r\n\r\n".encode())
    while b"RTSP/1.0" not in rest:
        rest += await client.reader.read(65536)
    sdp, _, after = rest.partition(b"RTSP/1.0")
    assert sdp.startswith(b"v=0\r\n") and sdp.endswith(b"a=control:trackID=0\r\n")
    assert after.startswith(b" 200 OK\r\nCSeq: 2\r\n")


async def test_hang_reads_requests_and_answers_none(rtsp, sim):
    faults = sim.fault("plain")
    faults.hang()
    client = await rtsp("plain")
    client.cseq = 1
    client.writer.write(f"OPTIONS {client.url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
    # another camera's request on the same connection is answered: CSeq 1 was read, not answered
    resp = await client.request("OPTIONS", sim.url("audio"))
    assert resp.status == 200 and resp.header("CSeq") == "2"
    assert faults.unanswered == 1
    faults.resume()
    resp = await client.request("OPTIONS")
    assert resp.status == 200 and resp.header("CSeq") == "3"


# --- 9. refused transports -------------------------------------------------------------


@pytest.mark.parametrize("refused", ["tcp", "udp"])
async def test_setup_refused_transport_answers_461(sim_factory, rtsp, refused):
    accepted = "udp" if refused == "tcp" else "tcp"
    server = await sim_factory({"picky": {"transports": (accepted,)}})
    client = await rtsp("picky", server)
    specs = {
        "tcp": "RTP/AVP/TCP;unicast;interleaved=0-1",
        "udp": "RTP/AVP;unicast;client_port=40000-40001",
    }
    url = client.url + "/trackID=0"
    resp = await client.request("SETUP", url, Transport=specs[refused])
    assert (resp.status, resp.headers.get("session")) == (461, None)
    resp = await client.request("SETUP", url, Transport=f"{specs[refused]},{specs[accepted]}")
    assert resp.status == 200
    assert resp.header("Transport").startswith(specs[accepted].split(";")[0] + ";")


# --- 5. RTP in the same write as the PLAY reply -------------------------------------------


async def _play_raw(server: SimServer, name: str) -> bytes:
    """DESCRIBE, SETUP, PLAY on a plain socket; what the first read after PLAY gets."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        url = server.url(name)
        session = ""
        requests = [
            ("SETUP", f"{url}/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"),
            ("PLAY", url, ""),
        ]
        for cseq, (method, target, extra) in enumerate(requests, 1):
            if session:
                extra += f"Session: {session}\r\n"
            await loop.sock_sendall(
                sock, f"{method} {target} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n".encode()
            )
            data = await loop.sock_recv(sock, 1 << 20)
            session = re.search(rb"Session: (\w+)", data)[1].decode()  # type: ignore[index]
        return data
    finally:
        sock.close()


@pytest.mark.parametrize("burst", [1, 3])
async def test_play_burst_sends_keyframe_in_the_play_replys_write(sim_factory, burst):
    server = await sim_factory({"eager": {"play_burst": burst}})
    data = await _play_raw(server, "eager")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"RTSP/1.0 200 OK") and b"RTP-Info:" in head
    rtptime = int(re.search(rb"rtptime=(\d+)", head)[1])  # type: ignore[index]
    frames, pos = [], 0
    while pos + 4 <= len(rest) and len(frames) < burst:
        assert rest[pos] == 0x24
        length = struct.unpack("!H", rest[pos + 2 : pos + 4])[0]
        packet = rest[pos + 4 : pos + 4 + length]
        assert len(packet) == length  # whole packets, in this very read
        if pos == 0:
            assert struct.unpack("!I", packet[4:8])[0] == rtptime
            assert packet[12] & 0x1F == 24  # STAP-A with SPS+PPS: a GOP starts
        if packet[1] & 0x80:
            frames.append(struct.unpack("!I", packet[4:8])[0])
        pos += 4 + length
    assert [(ts - rtptime) % 2**32 for ts in frames] == [3600 * k for k in range(burst)]
