"""The simulated camera's RTSP server, driven by a raw client and by ffmpeg."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest

from nvr.sim.server import digest_response, parse_auth_params

# --- raw client --------------------------------------------------------------------


async def test_options_public_header_lists_methods(rtsp):
    client = await rtsp("plain")
    resp = await client.request("OPTIONS")
    assert resp.status == 200
    for method in ("DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN"):
        assert method in resp.header("Public")


async def test_describe_unknown_path_returns_404(rtsp):
    client = await rtsp("nosuchcam")
    assert (await client.request("DESCRIBE")).status == 404


async def test_describe_camera_returns_sdp_and_content_base(rtsp, sim):
    client = await rtsp("audio")
    resp = await client.request("DESCRIBE", Accept="application/sdp")
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/sdp"
    assert resp.header("Content-Base") == sim.url("audio") + "/"
    assert b"m=video" in resp.body and b"m=audio" in resp.body


async def test_setup_tcp_echoes_interleaved_channels(rtsp):
    client = await rtsp("plain")
    await client.request("DESCRIBE")
    resp = await client.request(
        "SETUP", client.url + "/trackID=0", Transport="RTP/AVP/TCP;unicast;interleaved=6-7"
    )
    assert resp.status == 200
    assert "interleaved=6-7" in resp.header("Transport")
    assert resp.header("Session").endswith(";timeout=60")
    resp = await client.request("PLAY")
    await client.read_for(0.5)
    assert client.packets and {p.channel for p in client.packets} == {6}


async def test_setup_missing_audio_track_returns_404(rtsp):
    client = await rtsp("plain")
    resp = await client.request(
        "SETUP", client.url + "/trackID=1", Transport="RTP/AVP/TCP;unicast;interleaved=2-3"
    )
    assert resp.status == 404


async def test_play_tcp_packets_paced_and_continuous(rtsp):
    client = await rtsp("plain")
    resp = await client.play()
    info = resp.header("RTP-Info")
    assert "trackID=0;seq=" in info and "rtptime=" in info
    await client.read_for(1.2)
    packets = client.packets
    first_seq = int(info.split("seq=")[1].split(";")[0])
    first_ts = int(info.split("rtptime=")[1].split(",")[0])
    assert packets[0].seq == first_seq and packets[0].ts == first_ts
    assert packets[0].payload[0] & 0x1F == 24  # STAP-A (SPS, PPS) opens the stream
    assert all((b.seq - a.seq) % 65536 == 1 for a, b in zip(packets, packets[1:], strict=False))
    frames = [p for p in packets if p.marker]
    assert 25 <= len(frames) <= 33  # real-time pacing at 25 fps (+ first burst tolerance)
    assert all((b.ts - a.ts) % 2**32 == 3600 for a, b in zip(frames, frames[1:], strict=False))
    assert len({p.ssrc for p in packets}) == 1
    assert client.rtcp and client.rtcp[0][0] == 1  # sender report on the RTCP channel
    assert client.rtcp[0][1][1] == 200


async def test_play_video_and_audio_interleaves_both_tracks(rtsp):
    client = await rtsp("audio")
    await client.play(tracks=(0, 1))
    await client.read_for(1.0)
    audio = [p for p in client.packets if p.channel == 2]
    assert {p.pt for p in audio} == {97}
    assert 40 <= len(audio) <= 52  # 48000 / 1024 per second
    assert all((b.ts - a.ts) % 2**32 == 1024 for a, b in zip(audio, audio[1:], strict=False))
    assert audio[0].payload[:2] == b"\x00\x10"  # AU-headers-length: 16 bits


async def test_teardown_stops_media(rtsp):
    client = await rtsp("plain")
    await client.play()
    await client.read_for(0.3)
    assert (await client.request("TEARDOWN")).status == 200
    await client.read_for(0.1)
    count = len(client.packets)
    await client.read_for(0.5)
    assert len(client.packets) == count


async def test_get_parameter_keepalive_returns_200(rtsp):
    client = await rtsp("plain")
    await client.play()
    assert (await client.request("GET_PARAMETER")).status == 200


async def test_play_udp_sends_rtp_to_client_port(rtsp, sim):
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    port = rtp.getsockname()[1]
    try:
        client = await rtsp("plain")
        resp = await client.request(
            "SETUP",
            client.url + "/trackID=0",
            Transport=f"RTP/AVP;unicast;client_port={port}-{port + 1}",
        )
        assert resp.status == 200
        assert f"server_port={sim.udp_port}-{sim.udp_port + 1}" in resp.header("Transport")
        await client.request("PLAY")
        loop = asyncio.get_running_loop()
        data, addr = await asyncio.wait_for(loop.sock_recvfrom(rtp, 2048), 2)
        assert addr[1] == sim.udp_port
        assert data[0] == 0x80 and data[1] & 0x7F == 96
    finally:
        rtp.close()


# --- authentication ---------------------------------------------------------------------


async def test_describe_without_credentials_returns_digest_challenge(rtsp):
    client = await rtsp("digest")
    resp = await client.request("DESCRIBE")
    assert resp.status == 401
    (challenge,) = resp.headers["www-authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge


async def test_describe_both_auth_offers_digest_and_basic(rtsp):
    resp = await (await rtsp("both")).request("DESCRIBE")
    schemes = sorted(h.split()[0] for h in resp.headers["www-authenticate"])
    assert schemes == ["Basic", "Digest"]


@pytest.mark.parametrize("qop", [None, "auth"])
async def test_describe_digest_credentials_accepted(rtsp, qop):
    client = await rtsp("digest")
    challenge = parse_auth_params((await client.request("DESCRIBE")).header("WWW-Authenticate"))
    uri, nonce = client.url, challenge["nonce"]
    response = digest_response(
        "admin", challenge["realm"], "s3cret", "DESCRIBE", uri, nonce, qop, "00000001", "abcd"
    )
    extra = f', qop={qop}, nc=00000001, cnonce="abcd"' if qop else ""
    client.authorization = (
        f'Digest username="admin", realm="{challenge["realm"]}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}"{extra}'
    )
    assert (await client.request("DESCRIBE")).status == 200


async def test_describe_basic_on_digest_only_camera_rejected(rtsp):
    client = await rtsp("digest")
    client.authorization = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert (await client.request("DESCRIBE")).status == 401


async def test_describe_basic_credentials_accepted_and_wrong_rejected(rtsp):
    client = await rtsp("basic")
    client.authorization = "Basic " + base64.b64encode(b"admin:wrong").decode()
    assert (await client.request("DESCRIBE")).status == 401
    client.authorization = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert (await client.request("DESCRIBE")).status == 200
