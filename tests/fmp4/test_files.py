"""Whole files from real encoders, as outside tools read them (ffprobe, ffmpeg, PyAV)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from fmp4_media import (
    FPS,
    Encoded,
    decode_errors,
    ffprobe,
    he_aac_frame,
    he_aac_params,
    mux,
    parse_trun,
    video_frames,
)

from nvr.fmp4.boxes import find, read_boxes
from nvr.recording.probe import probe_segment


def _write(tmp_path: Path, parts: list[bytes], name: str = "f.mp4") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(parts))
    return path


def _first_composition_time(data: bytes) -> int:
    """Spec composition time (tfdt + offset) of the first video sample, in 90 kHz ticks."""
    traf = find(read_boxes(data), b"traf")[0]
    tfhd, tfdt, trun = traf.children
    assert int.from_bytes(tfhd.payload[4:8], "big") == 1
    _, rows = parse_trun(trun.payload)
    return int.from_bytes(tfdt.payload[4:12], "big") + rows[0][3]


def _assert_plays_evenly(path: Path, frames: int) -> list[dict]:
    """Every frame decodes, once, 1/25 s apart, each 1/25 s long."""
    assert decode_errors(path) == ""
    shown = video_frames(path)
    assert len(shown) == frames
    times = sorted(float(f["pts_time"]) for f in shown)
    assert times == pytest.approx([times[0] + i / FPS for i in range(frames)], abs=1e-6)
    assert [float(f["duration_time"]) for f in shown] == pytest.approx([1 / FPS] * frames)
    return shown


def test_h264_plays_from_time_zero(tmp_path: Path, h264: Encoded):
    path = _write(tmp_path, mux(*h264))
    shown = _assert_plays_evenly(path, 75)
    assert float(shown[0]["pts_time"]) == 0.0 and shown[0]["key_frame"] == 1
    assert sum(f["key_frame"] for f in shown) == 3  # one GOP per second, a fragment each


@pytest.mark.parametrize("fixture", ["h264_bframes", "h265_bframes"])
def test_b_frame_stream_starts_at_its_first_frame(tmp_path: Path, fixture: str,
                                                  request: pytest.FixtureRequest):
    params, frames = request.getfixturevalue(fixture)
    assert any(f.dts < f.pts for f in frames)  # the encoder did reorder
    parts = mux(params, frames)
    # ISO 14496-12: composition time = decode time + offset; the shift makes it 0
    assert _first_composition_time(parts[1]) == 0
    path = _write(tmp_path, parts)
    shown = _assert_plays_evenly(path, len(frames))
    assert shown[0]["key_frame"] == 1
    info = ffprobe(path, "stream=duration")["streams"][0]
    assert float(info["duration"]) == pytest.approx(len(frames) / FPS)


def test_h265_is_tagged_hvc1_and_decodes(tmp_path: Path, h265: Encoded):
    path = _write(tmp_path, mux(*h265))
    stream = ffprobe(path, "stream=codec_name,codec_tag_string")["streams"][0]
    assert (stream["codec_name"], stream["codec_tag_string"]) == ("hevc", "hvc1")
    shown = _assert_plays_evenly(path, 50)
    assert float(shown[0]["pts_time"]) == 0.0


def test_video_and_aac_in_one_file(tmp_path: Path, h264: Encoded, aac):
    audio, audio_frames = aac
    path = _write(tmp_path, mux(*h264, audio, audio_frames))
    assert decode_errors(path) == ""
    streams = ffprobe(path, "stream=codec_type,duration,nb_frames")["streams"]
    durations = {s["codec_type"]: float(s["duration"]) for s in streams}
    assert durations["video"] == pytest.approx(3.0)
    assert durations["audio"] == pytest.approx(len(audio_frames) * 1024 / 48000)
    with av.open(str(path)) as container:
        assert bytes(container.streams.audio[0].codec_context.extradata or b"") == (
            audio.audio_config)


def test_he_aac_keeps_the_cameras_audio_specific_config(tmp_path: Path, h264: Encoded):
    audio = he_aac_params()
    frames = [he_aac_frame()] * 70  # 2048 output samples each at 48 kHz: ~3 s
    path = _write(tmp_path, mux(*h264, audio, frames, samples_per_frame=2048))
    assert decode_errors(path) == ""
    stream = ffprobe(path, "stream=codec_type,profile,sample_rate")["streams"][1]
    assert (stream["profile"], stream["sample_rate"]) == ("HE-AAC", "48000")
    with av.open(str(path)) as container:
        assert bytes(container.streams.audio[0].codec_context.extradata or b"") == (
            audio.audio_config)


def test_every_fragment_boundary_is_a_playable_file(tmp_path: Path, h264_bframes: Encoded, aac):
    parts = mux(*h264_bframes, *aac)
    assert len(parts) == 4  # init + 3 GOPs
    for fragments in range(1, len(parts)):
        path = _write(tmp_path, parts[: fragments + 1], f"cut{fragments}.mp4")
        assert decode_errors(path) == "", fragments
        assert len(video_frames(path)) == 25 * fragments


def test_file_cut_inside_a_fragment_keeps_the_complete_ones(tmp_path: Path, h264: Encoded, aac):
    parts = mux(*h264, *aac)
    whole = b"".join(parts)
    for cut in (1, len(parts[-1]) // 2, len(parts[-1]) - 9):
        path = tmp_path / "crash.mp4"
        path.write_bytes(whole[:-cut])
        result = probe_segment(path)
        assert result is not None
        assert result.video_packets >= 50  # the two complete GOPs at least
        assert result.duration >= 2.0
