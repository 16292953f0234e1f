"""FLV tags against real implementations: what nvr writes, FFmpeg reads and decodes
(Debian's ffmpeg/ffprobe for H.264 + AAC, PyAV's newer FFmpeg for Enhanced RTMP
H.265); what FFmpeg writes, nvr parses into access units that decode.

An FLV file carries exactly the bodies an RTMP message does, so these tests check
the tag layer of republish and publish without the chunk layer or a socket.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fmp4.fmp4_media import decode_errors, encode_aac, encode_video

from nvr.codec.nal import avcc_to_annexb, to_annexb
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.rtmp import flv
from nvr.rtmp.flv_parse import Ingest

pytestmark = pytest.mark.peer
T0 = 1_700_000_000.0
FRAMES = 50


@pytest.fixture(scope="module", autouse=True)
def _needs_ffmpeg() -> None:
    if not (shutil.which("ffprobe") and shutil.which("ffmpeg")):
        pytest.skip("ffmpeg/ffprobe not installed")


def _aus(codec: str, bframes: int) -> list[AccessUnit]:
    params, frames = encode_video(codec, frames=FRAMES, bframes=bframes, gop=25)
    return [AccessUnit(params, f.pts, f.dts, f.keyframe, T0 + f.pts / VIDEO_CLOCK, f.data)
            for f in frames]


def _audio_aus() -> list[AccessUnit]:
    params, frames = encode_aac(seconds=2.0, rate=48000, channels=1)
    return [AccessUnit(params, i * 1024, i * 1024, True, T0 + i * 1024 / 48000, data, 1024)
            for i, data in enumerate(frames)]


def _write_flv(path: Path, video: list[AccessUnit], audio: list[AccessUnit] | None = None,
               offset: int = 0) -> list[int]:
    """An FLV file as a player would receive the stream (timestamps ``offset`` ms on);
    returns the video timestamps."""
    timeline = flv.Timeline()
    vparams = video[0].params
    tags = [(offset, 0, flv.TAG_VIDEO, flv.video_sequence_header(vparams))]
    if audio:
        tags.append((offset, 1, flv.TAG_AUDIO, flv.audio_sequence_header(audio[0].params)))
    stamps = []
    merged = sorted([(au.wallclock if au.kind == "audio" else T0 + au.dts / VIDEO_CLOCK, au)
                     for au in [*video, *(audio or [])]], key=lambda x: x[0])
    for _, au in merged:
        ts = timeline.timestamp(au) + offset
        if au.kind == "video":
            stamps.append(ts)
            tags.append((ts, 2, flv.TAG_VIDEO, flv.video_tag(au)))
        else:
            tags.append((ts, 2, flv.TAG_AUDIO, flv.audio_tag(au)))
    data = flv.file_header(video=True, audio=bool(audio))
    data += b"".join(flv.file_tag(kind, ts, body) for ts, _, kind, body in tags)
    path.write_bytes(data)
    return stamps


def _ffprobe(path: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _decode(params: CodecParams, aus: list[AccessUnit]) -> int:
    """How many pictures PyAV's decoder makes of the access units."""
    cc = av.CodecContext.create("h264" if params.codec == "h264" else "hevc", "r")
    pictures = 0
    for au in aus:
        sets = to_annexb(au.params.parameter_sets) if au.keyframe else b""
        pictures += len(cc.decode(av.Packet(sets + avcc_to_annexb(au.data))))
    return pictures + len(cc.decode(None))


# --- out: nvr writes, FFmpeg reads ------------------------------------------------------


def test_h264_with_b_frames_and_aac_play_in_debian_ffmpeg(tmp_path: Path) -> None:
    video, audio = _aus("h264", bframes=2), _audio_aus()
    path = tmp_path / "out.flv"
    stamps = _write_flv(path, video, audio)
    info = _ffprobe(path, "-count_frames", "-show_entries",
                    "stream=codec_name,width,height,nb_read_frames,sample_rate")
    streams = {s["codec_name"]: s for s in info["streams"]}
    assert (streams["h264"]["width"], streams["h264"]["height"]) == (320, 240)
    assert int(streams["h264"]["nb_read_frames"]) == FRAMES
    assert streams["aac"]["sample_rate"] == "48000"
    assert decode_errors(path) == ""
    packets = _ffprobe(path, "-select_streams", "v", "-show_entries", "packet=pts,dts")
    got = [(int(p["dts"]), int(p["pts"])) for p in packets["packets"]]
    want = [(ts, ts + (au.pts * 1000 // VIDEO_CLOCK - au.dts * 1000 // VIDEO_CLOCK))
            for ts, au in zip(stamps, video, strict=True)]
    assert got == want
    assert any(p < q for (_, p), (_, q) in zip(got[1:], got, strict=False))  # B-frames
    order = sorted(range(FRAMES), key=lambda i: video[i].pts)
    assert sorted(range(FRAMES), key=lambda i: got[i][1]) == order


def test_timestamps_past_0xffffff_play_on_in_debian_ffmpeg(tmp_path: Path) -> None:
    video = _aus("h264", bframes=2)
    path = tmp_path / "late.flv"
    stamps = _write_flv(path, video, offset=0xFFFFFF - 1000)  # TimestampExtended in use
    assert stamps[0] < 0xFFFFFF < stamps[-1]
    packets = _ffprobe(path, "-select_streams", "v", "-show_entries", "packet=dts")
    assert [int(p["dts"]) for p in packets["packets"]] == stamps
    assert decode_errors(path) == ""
    _, parsed, _ = _ingest(path)
    assert [au.dts // 90 for au in parsed] == [ts - stamps[0] for ts in stamps]


def test_h265_enhanced_rtmp_plays_in_pyav_ffmpeg(tmp_path: Path) -> None:
    video = _aus("h265", bframes=2)
    path = tmp_path / "hevc.flv"
    _write_flv(path, video)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        packets = [p for p in container.demux(stream) if p.size]
        frames = [f for p in packets for f in p.decode()]
        frames += list(stream.codec_context.decode(None))
    assert (frames[0].width, frames[0].height) == (320, 240)
    assert len(packets) == len(frames) == FRAMES
    assert all(p.dts <= p.pts for p in packets)
    assert any(q.pts < p.pts for p, q in zip(packets, packets[1:], strict=False))


# --- in: FFmpeg writes, nvr reads --------------------------------------------------------


def _ingest(path: Path) -> tuple[Ingest, list[AccessUnit], list[AccessUnit]]:
    ingest = Ingest(T0)
    video, audio = [], []
    for kind, ts, body in flv.file_tags(path.read_bytes()):
        if kind == flv.TAG_VIDEO and (au := ingest.video(ts, body)) is not None:
            video.append(au)
        elif kind == flv.TAG_AUDIO and (au := ingest.audio(ts, body)) is not None:
            audio.append(au)
    return ingest, video, audio


def _check_order(video: list[AccessUnit]) -> None:
    assert video[0].keyframe
    assert all(a.dts < b.dts for a, b in zip(video, video[1:], strict=False))
    assert all(au.dts <= au.pts for au in video)
    assert any(b.pts < a.pts for a, b in zip(video, video[1:], strict=False))  # B-frames


def test_debian_ffmpeg_h264_b_frames_and_aac_parse_and_decode(tmp_path: Path) -> None:
    path = tmp_path / "in.flv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "2",
         "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "25",
         "-c:a", "aac", "-f", "flv", str(path)], check=True, timeout=120)
    ingest, video, audio = _ingest(path)
    params = ingest.video_params
    assert params is not None and (params.codec, params.width, params.height) == (
        "h264", 320, 240)
    assert len(video) == FRAMES
    _check_order(video)
    # the same times FFmpeg's own demuxer gives (ms), from 0
    packets = _ffprobe(path, "-select_streams", "v", "-show_entries", "packet=pts,dts")
    ms = [(int(p["dts"]), int(p["pts"])) for p in packets["packets"]]
    first = ms[0][0]
    assert [(au.dts // 90, au.pts // 90) for au in video] == [
        (d - first, p - first) for d, p in ms]
    assert _decode(params, video) == FRAMES
    assert ingest.audio_params is not None
    assert (ingest.audio_params.sample_rate, ingest.audio_params.channels) == (44100, 1)
    cc = av.CodecContext.create("aac", "r")
    cc.extradata = ingest.audio_params.audio_config
    samples = sum(f.samples for au in audio for f in cc.decode(av.Packet(au.data)))
    assert samples >= 44100 * 2 - 2048 and all(au.duration == 1024 for au in audio)


def test_pyav_enhanced_rtmp_h265_parses_and_decodes(tmp_path: Path) -> None:
    path = tmp_path / "hevc_in.flv"
    with av.open(str(path), "w", format="flv") as container:
        stream = container.add_stream("libx265", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, 25)
        stream.codec_context.options = {
            "preset": "ultrafast", "x265-params": "log-level=none:bframes=2:keyint=25"}
        for i in range(FRAMES):
            image = np.full((240, 320, 3), (i * 5) % 200, np.uint8)
            image[:, (i * 8) % 300:(i * 8) % 300 + 16] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    heads = {body[0] & 0x8F for kind, _, body in flv.file_tags(path.read_bytes())
             if kind == flv.TAG_VIDEO}
    assert {0x80, 0x81, 0x83} <= heads  # SequenceStart, CodedFrames, CodedFramesX
    ingest, video, _ = _ingest(path)
    params = ingest.video_params
    assert params is not None and (params.codec, params.width, params.height) == (
        "h265", 320, 240)
    assert params.vps and len(video) == FRAMES
    _check_order(video)
    assert _decode(params, video) == FRAMES
