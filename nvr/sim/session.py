"""The RTP sending side of one RTSP session of a simulated camera.

A playing session paces the camera's precomputed frames in real time from the
event loop's clock and keeps RTP timestamps and sequence numbers running across
loops of the clip. Per frame it only patches the interleaved framing and RTP
headers (`nvr.sim.packetize.pack_frame`) and writes the frame at once; over UDP
it sends each packet as a datagram. RTCP sender reports go out every
`SimServer.rtcp_interval` seconds on each track's RTCP channel or port.

What the camera's faults change here: a stall or a congested TCP connection
drops frames, and sending resumes at a keyframe (the loop skips ahead); garbage
frames between valid ones; timestamp jumps and SSRC changes; a slow clock
(`SimCamera.ticks_short_per_gop`); RTCP BYE (`bye`); frames written together
with the PLAY reply (`SimCamera.play_burst`, see `play`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nvr.sim.camera import CameraState
from nvr.sim.packetize import FramePackets, pack_frame, rtcp_bye, rtcp_sdes, rtcp_sr

if TYPE_CHECKING:
    from nvr.sim.connection import RtspConnection
    from nvr.sim.server import SimServer

log = logging.getLogger(__name__)


@dataclass
class Track:
    """One SETUP track of a session: where its RTP and RTCP go, and its counters."""

    track_id: int
    clock: int
    channel: int = -1  # interleaved RTP channel (TCP), -1 for UDP
    udp_rtp: tuple[str, int] | None = None
    udp_rtcp: tuple[str, int] | None = None
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    ts0: int = field(default_factory=lambda: random.getrandbits(32))
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    packets: int = 0
    octets: int = 0


class RtpSession:
    """One RTSP session: its tracks, and the task that sends them while playing."""

    def __init__(self, server: SimServer, cam: CameraState, conn: RtspConnection) -> None:
        assert cam.clip is not None and cam.packets is not None
        self.id = secrets.token_hex(8)
        self.server = server
        self.cam = cam
        self.conn = conn
        self.tracks: dict[int, Track] = {}
        self.task: asyncio.Task[None] | None = None
        self.dropped_frames = 0
        self.expired = False
        self._ssrc_epoch = cam.faults.ssrc_epoch
        self._clip = cam.clip
        self._frames = cam.packets.video
        fps = cam.clip.fps
        self._keyint = cam.clip.params.gop_seconds * fps
        self._short = cam.camera.ticks_short_per_gop
        self._half_frame = 90000 // fps // 2
        self._start = 0.0  # loop time of video frame 0
        self._shift = 0  # loop index minus frame number (grows when skipping to a keyframe)
        self._need_key = False

    def play(self) -> None:
        """Start sending: the first `play_burst` frames now (in the caller's write)."""
        if self.task is not None:
            return
        fps = self._clip.fps
        video = self.tracks.get(0)
        burst = self.cam.camera.play_burst if video is not None else 0
        self._start = asyncio.get_running_loop().time() - burst / fps
        self._shift, self._need_key = 0, False
        stalled = self.cam.faults.stalled()
        for n in range(burst):
            assert video is not None
            self._send_video(video, n, stalled)
        self.task = self.server._spawn(self._run(burst), f"sim {self.cam.camera.name} {self.id}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def bye(self, reason: str = "stream ended") -> None:
        """Send RTCP BYE (in a compound with SR and SDES) for every track, then stop."""
        if self.task is None:
            return
        for track in self.tracks.values():
            self._send_rtcp(track, self._sender_report(track) + rtcp_bye(track.ssrc, reason))
        self.stop()

    async def _run(self, vn: int) -> None:
        loop = asyncio.get_running_loop()
        cam, faults = self.cam, self.cam.faults
        assert cam.packets is not None
        video = self.tracks.get(0)
        audio = self.tracks.get(1) if cam.packets.audio else None
        audio_frames = cam.packets.audio
        fps, rate = self._clip.fps, self._clip.audio_rate
        inf = float("inf")
        start = self._start
        an = 0
        next_sr = loop.time()
        sr_interval = self.server.rtcp_interval
        timeout = self.server.session_timeout
        while True:
            if time.monotonic() - self.conn.last_request > timeout:
                log.info("sim %s: session timed out (no keepalive)", cam.camera.name)
                self.expired = True
                self.conn.close()
                return
            tv = start + vn / fps if video else inf
            ta = start + an * 1024 / rate if audio else inf
            t = min(tv, ta, next_sr)
            now = loop.time()
            if t > now + 0.002:
                await asyncio.sleep(t - now)
                continue
            stalled = faults.stalled()
            if faults.ssrc_epoch != self._ssrc_epoch:
                self._ssrc_epoch = faults.ssrc_epoch
                for tr in self.tracks.values():
                    tr.ssrc = random.getrandbits(32)
            if t == tv:
                assert video is not None
                self._send_video(video, vn, stalled or self._congested())
                vn += 1
            elif t == ta:
                assert audio is not None
                frame = audio_frames[an % len(audio_frames)]
                ts = (audio.ts0 + an * 1024 + faults.ts_offset) & 0xFFFFFFFF
                an += 1
                if stalled or self._congested():
                    continue
                self._send(audio, frame, ts)
            else:
                next_sr = t + sr_interval
                if not stalled:
                    for tr in self.tracks.values():
                        self._send_rtcp(tr, self._sender_report(tr))

    def _send_video(self, track: Track, n: int, drop: bool) -> None:
        """Send (or drop) video frame `n` of the session, counted in decode order."""
        frames = self._frames
        index = (n + self._shift) % len(frames)
        if drop:
            self._need_key = True
            self.dropped_frames += 1
            return
        if self._need_key and not frames[index].keyframe:
            # Like a camera forcing a keyframe: jump the loop to its next one.
            keyframes = self.cam.keyframes
            key = next((k for k in keyframes if k > index), keyframes[0])
            self._shift += (key - index) % len(frames)
            index = key
        self._need_key = False
        # presentation time: decode position plus the frame's B-frame reordering
        shown = n + self._clip.frames[index].reorder
        ticks = shown * 90000 // self._clip.fps - shown // self._keyint * self._short
        faults = self.cam.faults
        ts = (track.ts0 + ticks + faults.ts_offset) & 0xFFFFFFFF
        self._send(track, frames[index], ts)
        every = faults.garbage_every
        if every and n % every == every - 1:
            junk = self.cam.garbage[n // every % len(self.cam.garbage)]
            self._send(track, junk, (ts + self._half_frame) & 0xFFFFFFFF)

    def _congested(self) -> bool:
        return self.conn.write_buffer_size() > self.server.max_write_buffer

    def _send(self, track: Track, frame: FramePackets, ts: int) -> None:
        buf, track.seq = pack_frame(frame, track.channel & 0xFF, track.seq, ts, track.ssrc)
        track.packets += len(frame.packets)
        track.octets += frame.payload_bytes
        if track.udp_rtp is None:
            self.conn.write(buf)
            return
        udp = self.server._udp_rtp
        if udp is None:
            return
        loss = self.cam.faults.loss
        view = memoryview(buf)
        for off, length, _ in frame.packets:
            if loss and random.random() < loss:
                continue
            udp.sendto(view[off + 4 : off + 4 + length], track.udp_rtp)

    def _sender_report(self, track: Track) -> bytes:
        """SR + SDES for `track`, its RTP time now on the camera's clock."""
        elapsed = asyncio.get_running_loop().time() - self._start
        rtp_ts = track.ts0 + int(elapsed * track.clock) + self.cam.faults.ts_offset
        if track.track_id == 0 and self._short:
            rtp_ts -= int(elapsed * self._clip.fps) // self._keyint * self._short
        return rtcp_sr(track.ssrc, rtp_ts, track.packets, track.octets) + rtcp_sdes(track.ssrc)

    def _send_rtcp(self, track: Track, packet: bytes) -> None:
        if track.udp_rtcp is None:
            header = bytes([0x24, (track.channel + 1) & 0xFF]) + len(packet).to_bytes(2, "big")
            self.conn.write(header + packet)
        elif self.server._udp_rtcp is not None:
            self.server._udp_rtcp.sendto(packet, track.udp_rtcp)
