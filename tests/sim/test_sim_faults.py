"""Fault injection on the simulated camera, observed by a raw RTSP client."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest


def per_interval(packets, start: float, width: float, count: int) -> list[int]:
    bins = [0] * count
    for p in packets:
        k = int((p.arrival - start) / width)
        if 0 <= k < count:
            bins[k] += 1
    return bins


async def test_stall_camera_sends_nothing_then_resumes_at_keyframe(rtsp, sim):
    client = await rtsp("plain")
    await client.play()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await client.read_for(1.0)
    sim.fault("plain").stall(1.5)
    await client.read_for(2.5)
    bins = per_interval(client.packets, start, 0.5, 7)
    assert bins[0] > 0 and bins[1] > 0
    assert bins[3] == bins[4] == 0  # stalled (1.0 s .. 2.5 s), connection still open
    assert bins[5] + bins[6] > 0  # flowing again
    gap = max(
        zip(client.packets, client.packets[1:], strict=False),
        key=lambda ab: ab[1].arrival - ab[0].arrival,
    )
    before, after = gap
    assert after.payload[0] & 0x1F == 24  # restarts with SPS+PPS and an IDR
    assert (after.seq - before.seq) % 65536 == 1  # no packets were numbered while stalled
    elapsed = after.arrival - before.arrival
    assert abs((after.ts - before.ts) % 2**32 - elapsed * 90000) < 0.2 * 90000


async def test_stall_none_waits_for_resume(rtsp, sim):
    client = await rtsp("plain")
    await client.play()
    await client.read_for(0.2)
    sim.fault("plain").stall(None)
    await client.read_for(0.2)
    count = len(client.packets)
    await client.read_for(0.6)
    assert len(client.packets) == count
    sim.fault("plain").resume()
    await client.read_for(0.3)
    assert len(client.packets) > count


async def test_disconnect_closes_client_connections(rtsp, sim):
    client = await rtsp("plain")
    await client.play()
    await client.read_for(0.2)
    sim.fault("plain").disconnect()
    await client.read_for(0.5)
    assert client.reader.at_eof()


async def test_refuse_closes_new_connections_for_a_while(rtsp, sim):
    sim.fault("plain").refuse(0.5)
    client = await rtsp("plain")
    with pytest.raises(asyncio.IncompleteReadError):
        await client.request("DESCRIBE")
    other = await rtsp("audio")  # other cameras are unaffected
    assert (await other.request("DESCRIBE")).status == 200
    await asyncio.sleep(0.6)
    client = await rtsp("plain")
    assert (await client.request("DESCRIBE")).status == 200


async def test_ts_jump_offsets_later_timestamps_and_wraps(rtsp, sim):
    client = await rtsp("plain")
    await client.play()
    await client.read_for(0.3)
    last_ts = client.packets[-1].ts
    sim.fault("plain").ts_jump(2**32 - 1000)
    await client.read_for(0.3)
    later = [p for p in client.packets if p.marker]
    steps = [(b.ts - a.ts) % 2**32 for a, b in zip(later, later[1:], strict=False)]
    assert set(steps) == {3600, (3600 - 1000) % 2**32}
    assert any(p.ts < last_ts for p in client.packets) or last_ts < 1000


async def test_ssrc_change_switches_ssrc_mid_stream(rtsp, sim):
    client = await rtsp("plain")
    await client.play()
    await client.read_for(0.3)
    sim.fault("plain").ssrc_change()
    await client.read_for(0.3)
    ssrcs = list(dict.fromkeys(p.ssrc for p in client.packets))
    assert len(ssrcs) == 2


async def test_set_password_requires_new_password(rtsp, sim):
    sim.fault("basic").set_password("n3w")
    client = await rtsp("basic")
    client.authorization = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert (await client.request("DESCRIBE")).status == 401
    client.authorization = "Basic " + base64.b64encode(b"admin:n3w").decode()
    assert (await client.request("DESCRIBE")).status == 200


async def test_udp_loss_drops_that_fraction_of_packets(rtsp, sim):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    try:
        sim.fault("plain").udp_loss(0.5)
        client = await rtsp("plain")
        transport = f"RTP/AVP;unicast;client_port={port}-{port + 1}"
        await client.request("SETUP", client.url + "/trackID=0", Transport=transport)
        await client.request("PLAY")
        loop = asyncio.get_running_loop()
        seqs = []
        end = loop.time() + 1.5
        while (left := end - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 2048), left)
            except TimeoutError:
                break
            seqs.append(int.from_bytes(data[2:4], "big"))
        sent = (seqs[-1] - seqs[0]) % 65536 + 1
        assert 0.3 < len(seqs) / sent < 0.7
    finally:
        sock.close()


async def test_slow_reader_gets_frames_dropped_until_keyframe(sim_factory, rtsp):
    server = await sim_factory(
        {"busy": {"bitrate_kbps": 4000}}, max_write_buffer=64 * 1024, udp=False, sndbuf=32 * 1024
    )
    client = await rtsp("busy", server, rcvbuf=16 * 1024)
    await client.play()
    await client.read_for(0.3)
    client.writer.transport.pause_reading()
    await asyncio.sleep(1.5)
    (session_conn,) = [c for c in server._connections if c.session]
    assert session_conn.session.dropped_frames > 0
    assert session_conn.write_buffer_size() < 64 * 1024 + 512 * 1024  # bounded
    client.writer.transport.resume_reading()
    await client.read_for(2.5)
    frames = [p for p in client.packets if p.marker]
    jumps = [
        (a, b)
        for a, b in zip(client.packets, client.packets[1:], strict=False)
        if (b.ts - a.ts) % 2**32 > 3600
    ]
    assert jumps and len(frames) > 10
    for _, after in jumps:
        assert after.payload[0] & 0x1F == 24  # resumed at a keyframe (STAP-A first)
