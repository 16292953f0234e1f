"""Misbehaving cameras at the RTP level: noise, garbage frames, silence after PLAY,
RTCP BYE, a slow clock. Observed with a raw client, pictures decoded by PyAV."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import struct

import av
from conftest import RtpPacket, rtcp_packets

START = b"\x00\x00\x00\x01"


def annexb(payloads: list[bytes]) -> bytes:
    """H.264 RTP payloads (single NAL, STAP-A, FU-A) as an Annex-B stream."""
    out = bytearray()
    for p in payloads:
        kind = p[0] & 0x1F
        if kind == 28:
            if p[1] & 0x80:
                out += START + bytes([(p[0] & 0xE0) | (p[1] & 0x1F)])
            out += p[2:]
        elif kind == 24:
            pos = 1
            while pos + 2 <= len(p):
                size = int.from_bytes(p[pos : pos + 2], "big")
                out += START + p[pos + 2 : pos + 2 + size]
                pos += 2 + size
        else:
            out += START + p
    return bytes(out)


def decode_h264(data: bytes) -> int:
    """How many pictures FFmpeg's H.264 decoder makes of an Annex-B stream."""
    ctx = av.CodecContext.create("h264", "r")
    count = 0
    for packet in [*ctx.parse(data), *ctx.parse(None), None]:
        try:
            count += len(ctx.decode(packet))
        except av.error.FFmpegError:
            pass
    return count


def frames_of(packets: list[RtpPacket]) -> list[list[RtpPacket]]:
    """Packets grouped into frames by their marker bit."""
    frames: list[list[RtpPacket]] = [[]]
    for p in packets:
        frames[-1].append(p)
        if p.marker:
            frames.append([])
    return frames[:-1]


# --- 2. noise and garbage ---------------------------------------------------------


async def test_noise_camera_sends_rtp_with_no_parameter_set_and_no_picture(sim_factory, rtsp):
    snow = {"noise": True, "sdp_faults": ("sprop-garbage",), "play_burst": 30}
    server = await sim_factory({"snow": snow})
    client = await rtsp("snow", server)
    resp = await client.play()
    await client.read_until(lambda: sum(p.marker for p in client.packets) >= 30)
    packets = client.packets
    seq0, ts0 = (int(v) for v in re.findall(r"(?:seq|rtptime)=(\d+)", resp.header("RTP-Info")))
    assert (packets[0].seq, packets[0].ts) == (seq0, ts0)
    assert all(p.pt == 96 for p in packets)
    assert all((b.seq - a.seq) % 65536 == 1 for a, b in zip(packets, packets[1:], strict=False))
    frames = frames_of(packets)
    assert [(f[0].ts - ts0) % 2**32 for f in frames] == [3600 * k for k in range(len(frames))]
    for p in packets:
        kind = p.payload[0] & 0x1F
        assert kind in (1, 5, 28)  # slices or fragments: no SPS, PPS or STAP-A
        if kind == 28:
            assert p.payload[1] & 0x1F in (1, 5)
    stream = annexb([p.payload for p in packets])
    assert decode_h264(stream) == 0
    # even with the camera's SDP parameter sets in front: they are no NAL units either
    sprop = re.search(rb"sprop-parameter-sets=([^;\r\n]*)", (await client.request("DESCRIBE")).body)
    assert sprop
    sets = [base64.b64decode(s) for s in sprop[1].split(b",")]
    assert all(s[0] & 0x80 for s in sets)
    assert decode_h264(b"".join(START + s for s in sets) + stream) == 0


async def test_garbage_frames_between_valid_frames(sim_factory, rtsp):
    server = await sim_factory({"junk": {"garbage_every": 5, "play_burst": 36}})
    client = await rtsp("junk", server)
    resp = await client.play()
    ts0 = int(resp.header("RTP-Info").split("rtptime=")[1])
    await client.read_until(lambda: sum(p.marker for p in client.packets) >= 36)
    frames = frames_of(client.packets)
    offsets = [(f[0].ts - ts0) % 2**32 for f in frames]
    assert all(p.ts == f[0].ts for f in frames for p in f)
    valid = [f for f, off in zip(frames, offsets, strict=True) if off % 3600 == 0]
    junk = [(f, off) for f, off in zip(frames, offsets, strict=True) if off % 3600 == 1800]
    assert len(valid) + len(junk) == len(frames)
    # one garbage frame half a frame after every 5th valid frame
    assert [off for _, off in junk] == [3600 * (5 * k + 4) + 1800 for k in range(len(junk))]
    assert len(junk) >= 6
    for f, _ in junk:
        assert all(p.payload[0] & 0x1F in (1, 5, 28) for p in f)
    # the valid frames are intact: every one of them decodes
    assert decode_h264(annexb([p.payload for f in valid for p in f])) == len(valid)
    assert decode_h264(annexb([p.payload for f, _ in junk for p in f])) == 0
    server.fault("junk").garbage(0)
    # what the camera sends after answering this request was sent after garbage(0)
    assert (await client.request("GET_PARAMETER")).status == 200
    count = len(client.packets)
    await client.read_until(lambda: sum(p.marker for p in client.packets[count:]) >= 12)
    later = frames_of(client.packets[count:])
    assert all((f[0].ts - ts0) % 3600 == 0 for f in later)


# --- 4. silent from the start ---------------------------------------------------------


async def test_stall_before_play_answers_play_and_sends_nothing(rtsp, sim):
    sim.fault("plain").stall(None)
    client = await rtsp("plain")
    assert (await client.play()).status == 200
    await client.read_for(0.6)  # rtcp_interval is 1 s: an SR would come at once
    assert client.packets == [] and client.rtcp == []
    assert (await client.request("GET_PARAMETER")).status == 200  # the camera still answers
    sim.fault("plain").resume()
    await client.read_until(lambda: bool(client.packets))
    assert client.packets[0].payload[0] & 0x1F == 24  # first data: a keyframe


# --- 8. RTCP BYE ----------------------------------------------------------------------


def bye_of(packet: bytes) -> tuple[int, bytes] | None:
    """(SSRC, reason) of the BYE in an RTCP compound packet."""
    kinds = rtcp_packets(packet)
    for kind, data in kinds:
        if kind == 203:
            assert [k for k, _ in kinds] == [200, 202, 203]  # SR first, BYE last
            assert data[0] & 0x1F == 1  # one SSRC
            ssrc = struct.unpack("!I", data[4:8])[0]
            return ssrc, data[9 : 9 + data[8]]
    return None


async def test_bye_sends_rtcp_bye_for_the_ssrc_then_silence(rtsp, sim):
    client = await rtsp("plain")
    await client.play()
    await client.read_until(lambda: len(client.packets) >= 5)
    sim.fault("plain").bye()
    await client.read_until(lambda: any(bye_of(d) for _, d in client.rtcp))
    ((channel, data),) = [(c, d) for c, d in client.rtcp if bye_of(d)]
    assert channel == 1
    assert bye_of(data) == (client.packets[0].ssrc, b"stream ended")
    count = len(client.packets)
    await client.read_for(0.3)
    assert len(client.packets) == count  # nothing after the BYE
    assert (await client.request("GET_PARAMETER")).status == 200  # connection still open


async def test_disconnect_with_bye_sends_bye_before_closing(rtsp, sim):
    client = await rtsp("audio")
    await client.play(tracks=(0, 1))
    await client.read_until(lambda: {p.channel for p in client.packets} == {0, 2})
    sim.fault("audio").reboot(0.5, bye=True)
    await client.read_for(5)  # until the server closes
    assert client.reader.at_eof()
    byes = {channel: bye_of(data) for channel, data in client.rtcp if bye_of(data)}
    ssrcs = {p.channel: p.ssrc for p in client.packets}
    assert {c: b[0] for c, b in byes.items() if b} == {1: ssrcs[0], 3: ssrcs[2]}


async def test_bye_over_udp_goes_to_the_client_rtcp_port(rtsp, sim):
    loop = asyncio.get_running_loop()
    rtp, rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), None
    try:
        rtp.bind(("127.0.0.1", 0))
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp.bind(("127.0.0.1", 0))
        for s in (rtp, rtcp):
            s.setblocking(False)
        ports = f"{rtp.getsockname()[1]}-{rtcp.getsockname()[1]}"
        client = await rtsp("plain")
        url = client.url + "/trackID=0"
        await client.request("SETUP", url, Transport=f"RTP/AVP;unicast;client_port={ports}")
        await client.request("PLAY")
        first = await asyncio.wait_for(loop.sock_recv(rtp, 2048), 5)
        ssrc = struct.unpack("!I", first[8:12])[0]
        sim.fault("plain").bye()
        async with asyncio.timeout(5):
            while (bye := bye_of(await loop.sock_recv(rtcp, 2048))) is None:
                pass
        assert bye[0] == ssrc
    finally:
        rtp.close()
        if rtcp is not None:
            rtcp.close()


# --- 7. a camera clock a tick short per GOP -----------------------------------------------


async def test_clock_short_one_tick_per_gop(sim_factory, rtsp):
    # 1 s GOPs; the burst brings the whole two-GOP loop at once, then the next keyframe
    server = await sim_factory(
        {"slow": {"gop_seconds": 1, "ticks_short_per_gop": 1, "play_burst": 50}}
    )
    client = await rtsp("slow", server)
    resp = await client.play()
    ts0 = int(resp.header("RTP-Info").split("rtptime=")[1])
    await client.read_until(lambda: sum(p.marker for p in client.packets) >= 51)
    frames = frames_of(client.packets)
    offsets = [(f[0].ts - ts0) % 2**32 for f in frames]
    keys = [k for k, f in enumerate(frames) if f[0].payload[0] & 0x1F == 24]
    assert keys[:3] == [0, 25, 50]
    assert [offsets[k] for k in keys[:3]] == [0, 90000 - 1, 180000 - 2]
    steps = {b - a for a, b in zip(offsets, offsets[1:], strict=False)}
    assert steps == {3600, 3599}
