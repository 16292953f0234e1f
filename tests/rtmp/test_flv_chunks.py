"""FLV timestamps through the chunk layer (nvr.rtmp.chunks) across 0xFFFFFF ms, the
24-bit limit of the chunk header where the extended timestamp takes over (4 h 40 min
into a stream: where several servers broke), and across the 32-bit wrap."""

from __future__ import annotations

import pytest
from fmp4.fmp4_media import encode_video

from nvr.feed import VIDEO_CLOCK, AccessUnit
from nvr.rtmp.chunks import ChunkReader, ChunkWriter, Message
from nvr.rtmp.flv import TAG_VIDEO, Timeline, video_sequence_header, video_tag
from nvr.rtmp.flv_parse import Ingest

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def aus() -> list[AccessUnit]:
    params, frames = encode_video("h264", frames=30, bframes=2, gop=10, width=160, height=96)
    return [AccessUnit(params, f.pts, f.dts, f.keyframe, T0 + f.pts / VIDEO_CLOCK, f.data)
            for f in frames]


@pytest.mark.parametrize("start", [0xFFFFFF - 500, 2**32 - 500])
def test_a_publisher_across_the_24_bit_limit_and_the_wrap_comes_out_monotonic(
        aus: list[AccessUnit], start: int) -> None:
    writer, reader = ChunkWriter(), ChunkReader()  # 128-byte chunks: frames span many
    wire = writer.write(Message(TAG_VIDEO, 1, start, video_sequence_header(aus[0].params)), 6)
    for au in aus:
        ts = (start + (au.dts - aus[0].dts) * 1000 // VIDEO_CLOCK) % 2**32
        wire += writer.write(Message(TAG_VIDEO, 1, ts, video_tag(au)), 6)
    ingest = Ingest(T0)
    out = [ingest.video(m.timestamp, m.payload) for m in reader.feed(wire)]
    got = [au for au in out if au is not None]
    assert [au.data for au in got] == [au.data for au in aus]
    first = aus[0].dts * 1000 // VIDEO_CLOCK
    assert [au.dts // 90 for au in got] == [au.dts * 1000 // VIDEO_CLOCK - first for au in aus]
    assert all(a.dts < b.dts for a, b in zip(got, got[1:], strict=False))
    assert all(au.dts <= au.pts for au in got)


def test_a_player_joining_late_starts_at_0_and_passes_0xffffff(aus: list[AccessUnit]) -> None:
    timeline = Timeline()
    # a feed that has run for days; the player stays 5 h (past 0xFFFFFF ms)
    shift = 3 * 86400 * VIDEO_CLOCK
    hours5 = 5 * 3600 * VIDEO_CLOCK
    writer, reader = ChunkWriter(), ChunkReader()
    wire = b""
    stamps = []
    for offset in (0, hours5):
        for au in aus[:10]:
            moved = AccessUnit(au.params, au.pts + shift + offset, au.dts + shift + offset,
                               au.keyframe, au.wallclock, au.data)
            ts = timeline.timestamp(moved)
            stamps.append(ts)
            wire += writer.write(Message(TAG_VIDEO, 1, ts, video_tag(moved)), 6)
    assert stamps[0] == 0 and stamps[10] > 0xFFFFFF
    assert [m.timestamp for m in reader.feed(wire)] == stamps
