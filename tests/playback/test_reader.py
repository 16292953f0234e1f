"""The segment reader on files written by nvr's own writer: tracks, samples, keyframes,
and what a crash leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from fmp4_media import FPS, TICKS, encode_aac, encode_video, he_aac_params, mux

from nvr.feed import VIDEO_CLOCK
from nvr.fmp4 import codec_string, init_segment
from nvr.playback.reader import open_segment
from nvr.playback.tracks import parse_init, video_only_init
from nvr.recording.writer import SegmentWriter


@pytest.fixture(scope="module")
def h264():
    return encode_video("h264", frames=3 * FPS, gop=FPS)


@pytest.fixture(scope="module")
def h264_bframes():
    return encode_video("h264", frames=2 * FPS, gop=FPS, bframes=3)


@pytest.fixture(scope="module")
def aac():
    return encode_aac(seconds=3.5)


def _write(path: Path, parts: list[bytes]) -> Path:
    path.write_bytes(b"".join(parts))
    return path


def test_tracks_and_init_come_back_as_written(h264, aac, tmp_path):
    video, frames = h264
    audio, packets = aac
    path = _write(tmp_path / "seg.mp4", mux(video, frames, audio, packets))
    with open_segment(path) as seg:
        assert seg.init == init_segment(video, audio)
        assert [(t.track_id, t.kind, t.timescale) for t in seg.tracks] == [
            (1, "video", VIDEO_CLOCK), (2, "audio", 48000)]
        assert seg.video is not None and seg.audio is not None
        assert seg.video.params is not None
        assert (seg.video.params.sps, seg.video.params.pps) == (video.sps, video.pps)
        assert (seg.video.width, seg.video.height) == (320, 240)
        assert seg.mime == f'video/mp4; codecs="{codec_string(video)}, {codec_string(audio)}"'


@pytest.mark.parametrize("codec", ["h265"])
def test_h265_and_he_aac_codec_strings_match_the_live_view(codec, tmp_path):
    video, frames = encode_video(codec, frames=FPS, gop=FPS)
    audio = he_aac_params()
    path = _write(tmp_path / "seg.mp4", mux(video, frames))
    with open_segment(path) as seg:
        assert seg.mime == f'video/mp4; codecs="{codec_string(video)}"'
        assert seg.video is not None and seg.video.params is not None
        assert seg.video.params.vps == video.vps
    tracks = parse_init(init_segment(video, audio))
    assert [t.codec for t in tracks] == [codec_string(video), "mp4a.40.5"]


def test_every_sample_is_where_the_index_says(h264, aac, tmp_path):
    video, frames = h264
    audio, packets = aac
    path = _write(tmp_path / "seg.mp4", mux(video, frames, audio, packets))
    with open_segment(path) as seg:
        assert len(seg.fragments) == 3  # one per GOP
        samples = [s for _, _, s in seg.video_samples()]
        assert [s.size for s in samples] == [len(f.data) for f in frames]
        assert [s.keyframe for s in samples] == [f.keyframe for f in frames]
        assert [s.decode_time for s in samples] == [i * TICKS for i in range(len(frames))]
        assert all(s.duration == TICKS for s in samples)
        assert [seg.read(s.offset, s.size) for s in samples] == [f.data for f in frames]
        audio_samples = [s for f in seg.fragments for r in f.track(2) for s in r.samples()]
        assert [seg.read(s.offset, s.size) for s in audio_samples] == packets[
            : len(audio_samples)]
        assert all(f.complete and f.patchable for f in seg.fragments)
        assert [f.sequence for f in seg.fragments] == [1, 2, 3]


def test_bframe_presentation_times_are_the_frames_pts(h264_bframes, tmp_path):
    video, frames = h264_bframes
    path = _write(tmp_path / "seg.mp4", mux(video, frames))
    with open_segment(path) as seg:
        samples = [s for _, _, s in seg.video_samples()]
    assert any(s.composition_offset < 0 for s in samples)  # signed offsets (trun v1)
    first = frames[0].pts
    assert [s.presentation_time for s in samples] == [f.pts - first for f in frames]


def test_keyframe_at_or_before_a_time(h264, tmp_path):
    video, frames = h264
    path = _write(tmp_path / "seg.mp4", mux(video, frames))
    with open_segment(path) as seg:
        second = VIDEO_CLOCK  # keyframes at 0, 1 and 2 s: one per fragment
        assert seg.keyframe_at_or_before(0) == (0, 0)
        assert seg.keyframe_at_or_before(second - 1) == (0, 0)
        assert seg.keyframe_at_or_before(second) == (1, 0)
        assert seg.keyframe_at_or_before(int(2.7 * second)) == (2, 0)
        assert seg.keyframe_at_or_before(99 * second) == (2, 0)
        assert seg.keyframe_at_or_before(-5 * second) == (0, 0)  # before it: the first


def test_a_file_from_the_recorders_writer(h264, aac, tmp_path):
    video, frames = h264
    audio, packets = aac
    path = tmp_path / "rec" / "seg.mp4"
    writer = SegmentWriter(path, video, audio, auto_flush=False)
    for n, f in enumerate(frames):
        if f.keyframe and n:
            writer.write_fragment(writer.take_fragment() or b"")
        writer.write_video(f.data, f.pts, f.dts, TICKS, f.keyframe)
        writer.write_audio(packets[n], n * 1024, 1024)
    writer.close()
    with open_segment(path) as seg:
        assert len(seg.fragments) == 3
        assert [s.size for _, _, s in seg.video_samples()] == [len(f.data) for f in frames]
        assert len([s for f in seg.fragments for s in f.track(2)[0].samples()]) == len(frames)


def test_a_fragment_cut_short_by_a_crash_keeps_its_whole_samples(h264, aac, tmp_path):
    video, frames = h264
    audio, packets = aac
    parts = mux(video, frames, audio, packets)
    whole = b"".join(parts)
    path = tmp_path / "crash.mp4"
    path.write_bytes(whole)
    with open_segment(path) as seg:
        run = seg.fragments[-1].track(1)[0]
        cut = run.offset + run.nbytes // 2  # in the middle of the last GOP's video
    path.write_bytes(whole[:cut])
    with open_segment(path) as seg:
        assert len(seg.fragments) == 3
        last = seg.fragments[-1]
        assert not last.complete and not last.patchable
        assert last.offset + last.size == cut
        kept = [s for _, _, s in seg.video_samples()]
        assert 2 * FPS < len(kept) < 3 * FPS
        for s in kept:  # a prefix in decode order, every byte in the file
            assert s.offset + s.size <= cut
        assert [seg.read(s.offset, s.size) for s in kept] == [f.data for f in frames[: len(kept)]]
        assert last.track(2) == []  # the audio came after the video in the cut mdat
        assert seg.keyframe_at_or_before(10 * VIDEO_CLOCK) == (2, 0)


@pytest.mark.parametrize("where", ["moof", "mdat header", "init only", "init cut"])
def test_what_else_a_crash_can_leave(h264, where, tmp_path):
    video, frames = h264
    parts = mux(video, frames)
    ends = {"moof": len(parts[0]) + len(parts[1]) + 40,
            "mdat header": sum(map(len, parts[:2])) + 4,
            "init only": len(parts[0]),
            "init cut": len(parts[0]) - 100}
    path = tmp_path / "crash.mp4"
    path.write_bytes(b"".join(parts)[: ends[where]])
    with open_segment(path) as seg:
        fragments = {"moof": 1, "mdat header": 1, "init only": 0, "init cut": 0}[where]
        assert len(seg.fragments) == fragments
        assert seg.fragments == [] or seg.fragments[0].complete
        assert (seg.video is None) is (where == "init cut")


def test_garbage_and_empty_files_give_nothing_and_missing_ones_oserror(tmp_path):
    for name, data in (("empty.mp4", b""), ("noise.mp4", bytes(range(256)) * 40)):
        path = tmp_path / name
        path.write_bytes(data)
        with open_segment(path) as seg:
            assert seg.tracks == [] and seg.fragments == [] and seg.mime == ""
            assert seg.keyframe_at_or_before(0) is None
    with pytest.raises(OSError):
        open_segment(tmp_path / "gone.mp4")


def test_video_only_init_drops_the_audio_track(h264, aac):
    video, _ = h264
    audio, _ = aac
    both = init_segment(video, audio)
    only = video_only_init(both, 1)
    assert [t.kind for t in parse_init(only)] == ["video"]
    assert parse_init(only)[0].entry == parse_init(both)[0].entry
    assert only[4:8] == b"ftyp" and len(only) < len(both)
