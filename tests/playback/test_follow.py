"""Playback of the segment being written: the stream sends what is on disk, looks
again as the recorder adds GOPs, and once the segment is closed goes on into the
next one; it ends only when nothing more comes. nvr's Recorder writes the files
from a Feed as a camera session would; the catalog is what the web layer's gives
(the open segment as a growing ref, then its row)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from nvrharness import wait_until
from recorded import T0, _units, media, session
from recorder_rig import RecorderRig

from nvr.playback import stream as stream_mod
from nvr.playback.stream import PlaybackStream, SegmentRef
from nvr.recording.index import SegmentInfo
from nvr.recording.recorder import Recorder

OPEN = 2**62


class RecorderCatalog:
    """The recorder's closed rows plus its open segment (growing), like IndexCatalog."""

    def __init__(self, data_dir: Path, recorder: Recorder, rows: list[SegmentInfo]) -> None:
        self.data_dir, self.recorder, self.rows = data_dir, recorder, rows
        self.follows = 0

    def _all(self) -> list[SegmentRef]:
        refs = [SegmentRef(self.data_dir / r.path, r.start_us, r.end_us, n + 1)
                for n, r in enumerate(self.rows)]
        found = self.recorder.open_segment
        if found is not None and all(r.start_us != found.start_us for r in refs):
            refs.append(SegmentRef(self.data_dir / found.path, found.start_us, found.end_us,
                                   OPEN, growing=True))
        return refs

    async def segments(self, at_us: int, after: SegmentRef | None) -> list[SegmentRef]:
        if after is None:
            return [r for r in self._all() if r.end_us > at_us or r.start_us >= at_us]
        return [r for r in self._all() if r.start_us > after.start_us]

    async def follow(self, ref: SegmentRef) -> SegmentRef | None:
        self.follows += 1
        return next((r for r in self._all() if r.start_us == ref.start_us), None)


async def test_a_growing_segment_is_followed_into_the_next_one(tmp_path, monkeypatch):
    monkeypatch.setattr(stream_mod, "FOLLOW_INTERVAL", 0.02)
    monkeypatch.setattr(stream_mod, "FOLLOW_WAIT", 1.0)
    units = _units(session(media(9.0, audio=False), T0))  # 25 fps, a keyframe a second
    rig = await RecorderRig(tmp_path, 4, camera="cam1").start()
    feed, recorder, rows = rig.feed, rig.recorder, rig.rows
    feed.begin(None)

    async def publish(count: int) -> None:
        for au in units[:count]:
            feed.publish(au)
            if au.keyframe:
                await asyncio.sleep(0.01)  # the recorder writes a GOP
        del units[:count]

    await publish(25 * 2 + 1)  # two GOPs on disk, the third begun
    await wait_until(lambda: recorder.open_segment is not None and (
        recorder.open_segment.end_us >= int((T0 + 2) * 1e6) - 1000), 5, "two GOPs on disk",
        0.01)
    catalog = RecorderCatalog(tmp_path, recorder, rows)
    playback = PlaybackStream(catalog, int(T0 * 1e6), initial_seconds=60)
    messages: list[str | bytes] = []

    async def play() -> None:
        async for message in playback.messages():
            messages.append(message)

    player = asyncio.create_task(play())
    # what was on disk is sent, then the stream waits for more
    await wait_until(lambda: playback.fragments >= 2, 5, "what is on disk sent", 0.01)
    assert playback.fragments == 2 and not player.done()
    await publish(len(units))  # the rest: the first segment closes at 4 s, then 4 s more
    await rig.stop()
    await asyncio.wait_for(player, 10)  # nothing more for FOLLOW_WAIT: the end

    assert len(rows) == 3 and catalog.follows >= 2
    texts = [json.loads(m) for m in messages if isinstance(m, str)]
    assert texts[-1] == {"end": True}
    spans = [t["span"] for t in texts if "span" in t]
    assert len({s["end"] for s in spans}) >= 3  # the open one grew, then the next segments
    assert playback.fragments == 9  # every GOP of the 9 s, once
    for a, b in zip(spans, spans[1:], strict=False):  # one timeline, no gap
        assert b["media"] >= a["media"]
    moofs = [m for m in messages if isinstance(m, bytes) and m[4:8] == b"moof"]
    assert len(moofs) == 9

