"""The Fanout without sockets: one conversion shared by all players, late joiners
start from the GOP, a full player skips to the next keyframe, audio FLV cannot carry
(not AAC) is neither announced nor sent, each player's timestamps start at 0 while
the live bytes stay shared."""

from __future__ import annotations

import asyncio

from fmp4.fmp4_media import encode_video

from nvr.feed import AccessUnit, CodecParams, Feed
from nvr.rtmp import flv
from nvr.rtmp.chunks import ChunkReader
from nvr.rtmp.fanout import Fanout, Player
from nvr.rtmp.protocol import ServerConnection

PCMA = CodecParams(kind="audio", codec="pcma", clock_rate=8000, sample_rate=8000, channels=1)
AAC = CodecParams(kind="audio", codec="aac", clock_rate=48000, audio_config=b"\x11\x90",
                  sample_rate=48000, channels=2)
WRAP_MS = 0xFFFFFF  # the 24-bit header field's limit (4 h 39 min)


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
    # b joined at the GOP that starts with a's first frame: the same timestamps
    a_ts = {p: ts for t, ts, p in a_msgs if t == 9}
    assert all(a_ts[p] == ts for t, ts, p in b_msgs if t == 9 and p[1] == 1)


async def test_each_player_starts_at_zero_and_the_live_bytes_stay_shared():
    """A player joining mid-stream counts from its first keyframe (audio stamped
    before it is not sent), gets its own headers until it has the previous message
    of each chunk stream, then the very bytes every player gets; the stream runs
    across the 24-bit timestamp limit (a 4 h 39 min jump in the camera's clock)."""
    params, frames = encode_video("h264", frames=40, gop=10)
    jump = (WRAP_MS - 1000) * 90  # frame 20 (800 ms) lands 200 ms short of 0xFFFFFF ms
    aus = [AccessUnit(params, f.pts + (jump if i >= 20 else 0),
                      f.dts + (jump if i >= 20 else 0), f.keyframe,
                      1000.0 + f.pts / 90000, f.data) for i, f in enumerate(frames)]
    feed = Feed("cam")
    feed.begin(AAC)
    fanout = Fanout("live/cam", feed)
    a, b = Socket(), Socket()
    fanout.add(_player(a))
    task = asyncio.create_task(fanout.run())
    await asyncio.sleep(0)  # subscribed

    def publish(au: AccessUnit) -> None:
        # then the audio that began 20 ms into the frame before: the audio after a
        # keyframe in the feed is stamped before it
        feed.publish(au)
        if au.dts > 0:
            ticks = (au.dts - 3600) * 48000 // 90000
            feed.publish(AccessUnit(AAC, ticks, ticks, True, au.wallclock - 0.02,
                                    b"\x21" * 50))

    for au in aus[:13]:
        publish(au)
    await _written(a, 13)
    fanout.add(_player(b))  # the GOP from frame 10
    for au in aus[13:]:
        publish(au)
    await _written(a, 40)
    feed.close()
    await asyncio.wait_for(task, 5)

    a_msgs, b_msgs = a.messages(), b.messages()
    a_ts = {p: ts for t, ts, p in a_msgs if t == 9 and p[1] == 1}
    b_ts = {p: ts for t, ts, p in b_msgs if t == 9 and p[1] == 1}
    assert len(a_ts) == 40 and len(b_ts) == 30
    start = a_ts[flv.video_tag(aus[10])]  # b's first keyframe
    assert start == 400
    assert [ts for _, ts, _ in b_msgs[:3]] == [0, 0, 0]  # metadata, AVC and AAC headers
    assert all(ts == a_ts[p] - start for p, ts in b_ts.items())
    a_audio = [ts for t, ts, p in a_msgs if t == 8 and p[1] == 1]
    b_audio = [ts for t, ts, p in b_msgs if t == 8 and p[1] == 1]
    assert len(a_audio) == 39 and a_audio[9] == 380  # the audio after frame 10
    assert b_audio == [ts - start for ts in a_audio[10:]]  # from 420 ms on
    assert max(a_ts.values()) > WRAP_MS  # a, and b, went past the 24-bit field
    assert max(b_ts.values()) > WRAP_MS
    assert sorted(a_ts.values()) == [ts for _, ts, p in a_msgs if p in a_ts]  # in order
    # chunk-once: the last frames (and their audio) are the same bytes for both
    assert a.chunks[-20:] == b.chunks[-20:]


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


async def test_two_plays_on_one_connection_keep_their_stream_ids_and_times():
    """Format-1 headers take the stream id of the previous message on the chunk
    stream: two plays of one connection (one socket) must not borrow each other's."""
    params, frames = encode_video("h264", frames=20, gop=10)
    feed = Feed("cam")
    feed.begin(None)
    fanout = Fanout("live/cam", feed)
    sock, conn = Socket(), ServerConnection()
    first = Player(conn, 1, "127.0.0.1:1", sock.write, lambda: 0)
    fanout.add(first)
    task = asyncio.create_task(fanout.run())
    await asyncio.sleep(0)
    for i, f in enumerate(frames):
        if i == 12:
            fanout.add(Player(conn, 3, "127.0.0.1:1", sock.write, lambda: 0))
        feed.publish(AccessUnit(params, f.pts, f.dts, f.keyframe, 1000.0 + f.pts / 90000,
                                f.data))
        await asyncio.sleep(0)
    feed.close()
    await asyncio.wait_for(task, 5)
    got = ChunkReader().feed(b"".join(sock.chunks))
    frames_of = {sid: [m.timestamp for m in got if m.stream_id == sid and m.type_id == 9
                       and m.payload[1] == 1] for sid in (1, 3)}
    assert frames_of[1] == [40 * i for i in range(20)]
    assert frames_of[3] == [40 * i for i in range(10)]  # its GOP from frame 10, at 0
