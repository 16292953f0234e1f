"""The Fanout without sockets: one conversion shared by all players, late joiners
start from the GOP, a full player skips to the next keyframe, audio FLV cannot carry
(not AAC) is neither announced nor sent."""

from __future__ import annotations

import asyncio

from fmp4.fmp4_media import encode_video

from nvr.feed import AccessUnit, CodecParams, Feed
from nvr.rtmp.chunks import ChunkReader
from nvr.rtmp.fanout import Fanout, Player
from nvr.rtmp.protocol import ServerConnection

PCMA = CodecParams(kind="audio", codec="pcma", clock_rate=8000, sample_rate=8000, channels=1)


class Socket:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.full = 0  # what buffered() reports
        self.written = asyncio.Event()  # set at each write

    def write(self, data: bytes) -> None:
        self.chunks.append(data)
        self.written.set()

    def messages(self) -> list[tuple[int, int, bytes]]:
        reader = ChunkReader()
        return [(m.type_id, m.timestamp, m.payload)
                for m in reader.feed(b"".join(self.chunks))]


def _player(sock: Socket) -> Player:
    return Player(ServerConnection(), 1, "127.0.0.1:1", sock.write,
                  lambda: sock.full)


async def _written(sock: Socket, frames: int) -> None:
    """Until the fan-out (a task) has written ``frames`` video frames to ``sock``."""
    async with asyncio.timeout(5):
        while sum(t == 9 and p[1] == 1 for t, _, p in sock.messages()) < frames:
            sock.written.clear()
            await sock.written.wait()


async def test_players_share_bytes_late_joiner_gets_gop_full_player_skips_to_keyframe():
    params, frames = encode_video("h264", frames=30, gop=10)
    aus = [AccessUnit(params, f.pts, f.dts, f.keyframe, 1000.0 + f.pts / 90000, f.data)
           for f in frames]
    feed = Feed("cam")
    feed.begin(PCMA)
    fanout = Fanout("live/cam", feed, max_queue=1000)
    a, b, c = Socket(), Socket(), Socket()
    fanout.add(_player(a))
    task = asyncio.create_task(fanout.run())
    await asyncio.sleep(0)
    for au in aus[:5]:
        feed.publish(au)
        feed.publish(AccessUnit(PCMA, 0, 0, True, au.wallclock, b"\xd5" * 160))
    await _written(a, 5)
    pb = _player(b)
    fanout.add(pb)  # late: metadata, headers and the GOP at once
    b.full = 5000  # and then its socket is full
    for au in aus[5:15]:
        feed.publish(au)
    await _written(a, 15)
    b.full = 0
    for au in aus[15:]:
        feed.publish(au)
    await _written(a, 30)
    feed.close()
    await asyncio.wait_for(task, 5)
    fanout.add(_player(c))  # nothing left: no crash

    a_msgs, b_msgs = a.messages(), b.messages()
    assert [t for t, _, _ in a_msgs[:2]] == [18, 9]  # onMetaData, then the AVC header
    assert b"audiocodecid" not in a_msgs[0][2]  # PCMA: not announced, not sent
    assert all(t != 8 for t, _, _ in a_msgs + b_msgs)
    a_frames = [p for t, _, p in a_msgs if t == 9 and p[1] == 1]
    assert len(a_frames) == 30
    # b: the first GOP's 5 frames at join, nothing while full (frames 5-14, keyframe 10
    # included), nothing after until the next keyframe (20), then all
    b_frames = [p for t, _, p in b_msgs if t == 9 and p[1] == 1]
    assert b_frames == a_frames[:5] + a_frames[20:]
    assert pb.dropped == 15
    # one timeline for all: the same frame has the same timestamp for both players
    a_ts = {p: ts for t, ts, p in a_msgs if t == 9}
    assert all(a_ts[p] == ts for t, ts, p in b_msgs if t == 9 and p[1] == 1)


async def test_a_player_whose_socket_stays_full_is_dropped_and_its_connection_ended():
    params, frames = encode_video("h264", frames=20, gop=10)
    feed = Feed("cam")
    feed.begin(None)
    fanout = Fanout("live/cam", feed, stall_timeout=0.1)
    full, fine = Socket(), Socket()
    full.full = 10**6  # never drains below the low-water mark
    ended: list[str] = []
    stuck, reading = _player(full), _player(fine)
    stuck.on_stall = lambda: ended.append("stuck")
    reading.on_stall = lambda: ended.append("reading")
    fanout.add(stuck)
    fanout.add(reading)
    task = asyncio.create_task(fanout.run())
    for f in frames:
        feed.publish(AccessUnit(params, f.pts, f.dts, f.keyframe, 1000.0 + f.pts / 90000,
                                f.data))
        await asyncio.sleep(0.02)
    feed.close()
    await asyncio.wait_for(task, 5)
    assert ended == ["stuck"]  # its connection is told once
    assert fanout.players == [reading]
    frames_read = [p for t, _, p in fine.messages() if t == 9 and p[1] == 1]
    assert len(frames_read) == 20
