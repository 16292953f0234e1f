"""Micro benchmark: parse_rtp + H.264 depacketizer on a synthetic 4 Mbps stream.

Builds ~100k RTP packets (25 fps, GOP 50, 4 Mbps, 1400-byte MTU: FU-A for big
slices, STAP-A for SPS/PPS, single NAL packets for small ones), then times
``parse_rtp`` + ``H264Depacketizer.push`` per packet. Anchor, measured in the
same run: dpkt's RTP parser alone (what aiortsp runs on every packet anyway).

    .venv/bin/python scripts/bench_depacketize.py [packets]
"""

from __future__ import annotations

import os
import sys
import time

from benchlib import load_average

from nvr.rtsp.depacketize.h264 import H264Depacketizer
from nvr.rtsp.rtp import build_rtp, parse_rtp

MTU = 1400
FPS = 25
BITRATE = 4_000_000
GOP = 50
SPS = bytes.fromhex("6742c01fda014016e9a808080a0000030002000003006478c19240")
PPS = bytes.fromhex("68ce0d88")


def _payloads(nal: bytes) -> list[bytes]:
    if len(nal) <= MTU:
        return [nal]
    body = nal[1:]
    indicator = (nal[0] & 0xE0) | 28
    chunks = [body[i : i + MTU - 2] for i in range(0, len(body), MTU - 2)]
    out = []
    for i, chunk in enumerate(chunks):
        header = (nal[0] & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(bytes((indicator, header)) + chunk)
    return out


def build_stream(count: int) -> list[bytes]:
    per_gop = BITRATE // 8 * GOP // FPS
    idr_size = per_gop // 5
    p_size = (per_gop - idr_size) // (GOP - 1)
    packets: list[bytes] = []
    seq = 0
    frame = 0
    rnd = os.urandom(idr_size)
    while len(packets) < count:
        ts = (frame * 90_000 // FPS) & 0xFFFFFFFF
        if frame % GOP == 0:
            stap = b"\x18" + b"".join(len(n).to_bytes(2, "big") + n for n in (SPS, PPS))
            payloads = [stap, *_payloads(b"\x65" + rnd[: idr_size - 1])]
        else:
            payloads = _payloads(b"\x41" + rnd[: p_size - 1])
        for i, payload in enumerate(payloads):
            packets.append(build_rtp(seq, ts, i == len(payloads) - 1, 96, 0x1234, payload))
            seq = (seq + 1) & 0xFFFF
        frame += 1
    return packets[:count]


def bench_ours(packets: list[bytes]) -> tuple[float, int]:
    depack = H264Depacketizer({"packetization-mode": "1"})
    push = depack.push
    frames = 0
    t0 = time.perf_counter()
    for data in packets:
        pkt = parse_rtp(data)
        if pkt is not None:
            frames += len(push(pkt))
    elapsed = time.perf_counter() - t0
    assert depack.errors == 0 and depack.lost == 0, (depack.errors, depack.lost)
    return elapsed / len(packets) * 1e6, frames


def bench_anchor(packets: list[bytes]) -> float | None:
    try:
        from dpkt.rtp import RTP
    except ImportError:
        return None
    t0 = time.perf_counter()
    for data in packets:
        RTP(data)
    return (time.perf_counter() - t0) / len(packets) * 1e6


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    packets = build_stream(count)
    seconds = count * MTU * 8 / BITRATE
    print(
        f"{count} packets, {sum(map(len, packets)) / 1e6:.1f} MB, ~{seconds:.0f} s of 4 Mbps video"
        f"; {load_average()}"
    )
    best = min((bench_ours(packets) for _ in range(3)), key=lambda r: r[0])
    us, frames = best
    print(f"parse_rtp + H264Depacketizer.push: {us:.2f} us/packet ({frames} frames)")
    anchor = bench_anchor(packets)
    if anchor is not None:
        print(f"anchor, dpkt RTP parse only:       {anchor:.2f} us/packet")
        print(f"ratio ours/anchor: {us / anchor:.2f}")
    per_core = 32 * BITRATE / 8 / MTU * us / 1e6
    print(f"32 cameras x 4 Mbps: {per_core * 100:.1f} % of one core")


if __name__ == "__main__":
    main()
