"""LiveMuxer: a live viewer's byte stream (init + a fragment per frame) plays."""

from __future__ import annotations

from fmp4_media import TICKS, decode_errors, ffprobe, video_frames

from nvr.feed import VIDEO_CLOCK, AccessUnit
from nvr.fmp4 import LiveMuxer


def _units(video, frames, audio=None, audio_frames=(), start_at: int = 0):
    """Feed access units, audio interleaved by wall clock, from frame ``start_at`` on."""
    out = []
    t0 = 1_700_000_000.0
    audio_frames = list(audio_frames)
    sent = 0
    for frame in frames[start_at:]:
        wall = t0 + frame.pts / VIDEO_CLOCK
        out.append(AccessUnit(video, frame.pts, frame.dts, frame.keyframe, wall, frame.data))
        while audio is not None and audio_frames and t0 + sent * 1024 / 48000 <= wall:
            out.append(AccessUnit(audio, sent * 1024, sent * 1024, True,
                                  t0 + sent * 1024 / 48000, audio_frames.pop(0), 1024))
            sent += 1
    return out


def _stream(tmp_path, muxer: LiveMuxer, units) -> tuple:
    parts = [muxer.init] + [f for au in units if (f := muxer.push(au)) is not None]
    path = tmp_path / "live.mp4"
    path.write_bytes(b"".join(parts))
    return path, parts


def test_live_stream_of_one_fragment_per_frame_plays(tmp_path, h264, aac):
    video, frames = h264
    audio, audio_frames = aac
    muxer = LiveMuxer(video, audio)
    path, parts = _stream(tmp_path, muxer, _units(video, frames, audio, audio_frames))
    assert decode_errors(path) == ""
    shown = video_frames(path)
    assert len(shown) == len(frames)
    assert float(shown[0]["pts_time"]) == 0.0
    assert abs(float(shown[-1]["pts_time"]) - (len(frames) - 1) * TICKS / VIDEO_CLOCK) < 1e-3
    kinds = {s["codec_type"] for s in ffprobe(path, "stream=codec_type")["streams"]}
    assert kinds == {"video", "audio"}
    # avc1.PPCCLL: profile, constraint flags and level, the SPS's bytes 1-3
    assert muxer.mime == f'video/mp4; codecs="avc1.{video.sps[1:4].hex()}, mp4a.40.2"'


def test_live_stream_starts_at_the_first_keyframe(tmp_path, h264):
    video, frames = h264
    muxer = LiveMuxer(video)
    # a viewer that joins mid-GOP: frames before the next keyframe are not sent
    units = _units(video, frames, start_at=5)
    path, parts = _stream(tmp_path, muxer, units)
    first_key = next(i for i, f in enumerate(frames) if i >= 5 and f.keyframe)
    assert len(parts) - 1 == len(frames) - first_key
    assert decode_errors(path) == ""


def test_live_stream_with_b_frames_plays_in_order(tmp_path, h264_bframes):
    video, frames = h264_bframes
    path, _ = _stream(tmp_path, LiveMuxer(video), _units(video, frames))
    assert decode_errors(path) == ""
    times = [float(f["pts_time"]) for f in video_frames(path)]
    assert times == sorted(times) and len(times) == len(frames)
