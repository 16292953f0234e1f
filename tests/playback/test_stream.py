"""PlaybackStream on real recordings: what a viewer gets, in what order, on one timeline."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from fmp4_media import decode_errors, video_frames
from messages import as_file, fragments, media_seconds, runs, spans, texts, video_runs
from recorded import T0, ListCatalog, media, record, refs, session

from nvr.fmp4 import codec_string
from nvr.playback.reader import open_segment
from nvr.playback.stream import PlaybackStream

US = 1_000_000


def at(seconds: float) -> int:
    return int((T0 + seconds) * US)


class Viewer:
    """Runs a stream's messages into a list; ``settle`` waits until the server holds
    back (waiting for ``more``) or has finished."""

    def __init__(self, stream: PlaybackStream) -> None:
        self.stream = stream
        self.messages: list[str | bytes] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for message in self.stream.messages():
            self.messages.append(message)

    async def settle(self) -> list[str | bytes]:
        waits = self.stream.waits
        for _ in range(6000):
            if self.task.done() or (self.stream.waiting and self.stream.waits > waits):
                break
            await asyncio.sleep(0.005)
        if self.task.done():
            self.task.result()
        return self.messages

    @property
    def ended(self) -> bool:
        return self.task.done() and texts(self.messages)[-1] == {"end": True}

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def play(library, start: float, more: float = 1000.0, speed: float | None = None
               ) -> list[str | bytes]:
    stream = PlaybackStream(ListCatalog(library.refs), at(start))
    if speed is not None:
        stream.set_speed(speed)
    stream.more(more)
    viewer = Viewer(stream)
    try:
        await viewer.settle()
        assert viewer.ended
        return viewer.messages
    finally:
        await viewer.close()


async def test_playback_starts_at_the_keyframe_before_start_and_decodes(library, tmp_path):
    messages = await play(library, start=3.5)
    first = texts(messages)[0]
    assert list(first) == ["mime"] and "avc1." in first["mime"] and "mp4a.40.2" in first["mime"]
    assert isinstance(messages[1], bytes) and messages[1][4:8] == b"ftyp"
    assert texts(messages)[-1] == {"end": True}
    path = as_file(messages, tmp_path / "played.mp4")
    assert decode_errors(path) == ""
    frames = video_frames(path)
    assert len(frames) == (3 + 20) * 25  # from the keyframe at 3 s; the gap is skipped
    assert frames[0]["key_frame"] == 1
    times = [float(f["pts_time"]) for f in frames]
    assert all(abs(b - a - 0.04) < 1e-3 for a, b in zip(times, times[1:], strict=False))


async def test_one_timeline_across_segment_boundaries_and_the_gap(library):
    messages = await play(library, start=3.5)
    video = video_runs(messages)
    assert video[0].decode_time == 0
    for before, after in zip(video, video[1:], strict=False):
        assert after.decode_time == before.end  # no hole, no overlap
    assert media_seconds(messages) == pytest.approx(23.0)


async def test_spans_map_media_time_to_wall_time(library):
    got = spans(await play(library, start=3.5))
    iso = "2023-11-14T22:13:{:02d}.000000Z".format
    assert got[0] == {"media": 0.0, "wall": iso(23), "end": iso(24)}
    assert got[1] == {"media": 1.0, "wall": iso(24), "end": iso(26)}
    assert got[2] == {"media": 3.0, "wall": iso(30), "end": iso(32)}  # after the gap
    assert [s["media"] for s in got] == [0.0, 1.0] + [3.0 + 2 * k for k in range(10)]


async def test_flow_control_sends_about_ten_seconds_then_waits_for_more(library):
    stream = PlaybackStream(ListCatalog(library.refs), at(0))
    viewer = Viewer(stream)
    try:
        first = await viewer.settle()
        assert stream.waiting and not viewer.ended
        assert 10.0 <= media_seconds(first) <= 11.0  # about 10 s: whole GOPs of 1 s
        sent = len(fragments(first))
        stream.control(json.dumps({"more": 5}))
        second = await viewer.settle()
        assert 15.0 <= media_seconds(second) <= 16.0 and len(fragments(second)) > sent
        assert stream.control('{"more": 1000}')
        await viewer.settle()
        assert viewer.ended and media_seconds(viewer.messages) == pytest.approx(26.0)
    finally:
        await viewer.close()


async def test_trick_play_sends_keyframes_only_on_a_wall_clock_timeline(library, tmp_path):
    messages = await play(library, start=0, speed=8)
    first = texts(messages)[0]
    assert first == {"mime": first["mime"]} and "mp4a" not in first["mime"]  # video only
    video = video_runs(messages)
    assert all(len(r.durations) == 1 and r.keyframes == [True] for r in video)
    assert all(not any(r.track_id != 1 for r in runs(f)) for f in fragments(messages))
    assert len(video) < 26 * 25 / 10  # a few keyframes, not every frame
    for before, after in zip(video, video[1:], strict=False):
        assert after.decode_time == before.end
    assert media_seconds(messages) == pytest.approx(26.0)  # the recorded time, stretched
    path = as_file(messages, tmp_path / "trick.mp4")
    assert decode_errors(path) == ""


async def test_speed_changes_switch_between_trick_play_and_all_frames(library):
    stream = PlaybackStream(ListCatalog(library.refs), at(10))
    viewer = Viewer(stream)
    try:
        await viewer.settle()
        before = len(viewer.messages)
        assert len(texts(viewer.messages)[0]) == 1 and "mp4a" in texts(viewer.messages)[0]["mime"]
        stream.control('{"speed": 16}')
        stream.more(32)  # 2 s of viewing at 16x
        await viewer.settle()
        switched = viewer.messages[before:]
        mime = texts(switched)[0]
        assert "mp4a" not in mime["mime"] and switched[1][4:8] == b"ftyp"  # type: ignore[index]
        assert all(len(r.durations) == 1 for r in video_runs(switched))
        assert viewer.ended
    finally:
        await viewer.close()


async def test_start_in_a_gap_or_before_the_first_recording(library):
    in_gap = spans(await play(library, start=7.5))
    assert in_gap[0]["wall"] == "2023-11-14T22:13:30.000000Z" and in_gap[0]["media"] == 0.0
    early = spans(await play(library, start=-3600))
    assert early[0]["wall"] == "2023-11-14T22:13:20.000000Z"


async def test_start_after_the_last_recording_says_end_at_once(library):
    assert await play(library, start=31) == [json.dumps({"end": True})]
    assert await play(library, start=3600) == [json.dumps({"end": True})]


async def test_new_parameter_sets_send_a_new_mime_and_init(tmp_path):
    small = media(2, audio=False)
    large = media(2, audio=False, width=640, height=480)
    rows = await record(tmp_path, [session(small, T0), session(large, T0 + 2.5)], 2)
    messages = await play(type("L", (), {"refs": refs(tmp_path, rows)})(), start=0)
    mimes = [t["mime"] for t in texts(messages) if "mime" in t]
    assert mimes == [f'video/mp4; codecs="{codec_string(v)}"' for v in (small[0], large[0])]
    inits = [i for i, m in enumerate(messages) if isinstance(m, bytes) and m[4:8] == b"ftyp"]
    assert len(inits) == 2 and isinstance(messages[inits[1] - 1], str)
    video = video_runs(messages)
    assert [r.decode_time for r in video] == [0, 90000, 180000, 270000]


async def test_a_segment_deleted_meanwhile_is_skipped(library, tmp_path):
    moved = library.refs[1].path.rename(tmp_path / "away.mp4")
    try:
        got = spans(await play(library, start=0))
    finally:
        moved.rename(library.refs[1].path)
    assert [s["wall"][11:19] for s in got[:3]] == ["22:13:20", "22:13:24", "22:13:30"]


async def test_client_messages_that_are_not_controls_are_ignored(library):
    stream = PlaybackStream(ListCatalog(library.refs), at(0))
    for text in ("", "nonsense", "[]", '{"more": -1}', '{"more": "lots"}', '{"speed": 0}',
                 '{"more": true}', '{"jump": 3}', '{"more": 1, "speed": 2}', '{"more": NaN}'):
        assert stream.control(text) is False
    assert stream.speed == 1.0
    assert stream.control('{"speed": 2.5}') and stream.speed == 2.5


async def test_a_segment_cut_short_by_a_crash_plays_up_to_the_cut(library, tmp_path):
    refs_ = list(library.refs[:2])
    last = tmp_path / "crashed.mp4"
    shutil.copy(refs_[1].path, last)
    with open_segment(last) as seg:
        run = seg.fragments[-1].track(1)[0]
        cut = run.offset + sum(run.sizes[:10]) + 7  # the 11th frame of the last GOP cut
    with last.open("r+b") as f:
        f.truncate(cut)
    refs_[1] = refs_[1]._replace(path=last)
    stream = PlaybackStream(ListCatalog(refs_), at(0))
    stream.more(100)
    viewer = Viewer(stream)
    try:
        messages = await viewer.settle()
    finally:
        await viewer.close()
    assert texts(messages)[-1] == {"end": True}
    path = as_file(messages, tmp_path / "played.mp4")
    assert decode_errors(path) == ""
    assert len(video_frames(path)) == 2 * 25 + 25 + 10  # two GOPs of the first, 1 + 10/25
