"""The live transcoder: real H.265 in (encoded with PyAV), H.264 out that decodes."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

import pytest
from fmp4_media import FPS, decode_errors, encode_aac, encode_video, ffprobe, video_frames

from nvr.codec.nal import to_avcc
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed
from nvr.fmp4.live import LiveMuxer
from nvr.live.recode import Settings, scaled_size
from nvr.live.transcode import Transcoder, derived_name, is_derived

T0 = 1_700_000_000.0
SMALL = Settings(max_width=320)  # 640x360 → 320x180: cheap, and still a scale


@pytest.fixture(scope="module")
def h265():
    """3 s of 640x360 H.265 with B-frames and a 2 s GOP, in decode order."""
    return encode_video("h265", frames=3 * FPS, gop=2 * FPS, bframes=2, width=640, height=360)


@pytest.fixture(scope="module")
def aac():
    return encode_aac(seconds=3.0)


def video_aus(params: CodecParams, frames, t0: float = T0) -> list[AccessUnit]:
    return [AccessUnit(params, f.pts, f.dts, f.keyframe, t0 + f.pts / VIDEO_CLOCK, f.data)
            for f in frames]


def with_audio(video: list[AccessUnit], audio: CodecParams, frames: list[bytes],
               t0: float = T0) -> list[AccessUnit]:
    """Video and audio interleaved by capture time, as a camera session publishes them."""
    step = 1024 / audio.clock_rate
    sound = [AccessUnit(audio, i * 1024, i * 1024, True, t0 + i * step, data)
             for i, data in enumerate(frames)]
    return sorted(video + sound, key=lambda au: au.wallclock if au.kind == "audio"
                  else t0 + au.dts / VIDEO_CLOCK)  # video stays in decode order


async def run_through(transcoder: Transcoder, aus: list[AccessUnit],
                      pace: float = 0.002) -> list[AccessUnit]:
    """Publish ``aus`` on the transcoder's source feed (the source then ends) and return
    everything the derived feed published."""
    out = transcoder.feed.subscribe(maxsize=100_000)
    task = asyncio.create_task(transcoder.run())
    await asyncio.sleep(0)
    for au in aus:
        transcoder.upstream.publish(au)
        await asyncio.sleep(pace)
    transcoder.upstream.close()
    await asyncio.wait_for(task, 30)
    return out.drain()


def write(path: Path, aus: list[AccessUnit], audio: CodecParams | None = None) -> Path:
    """The derived feed's access units as the live view sends them (LiveMuxer)."""
    video = next(au.params for au in aus if au.kind == "video")
    muxer = LiveMuxer(video, audio)
    parts = [muxer.init] + [f for au in aus if (f := muxer.push(au)) is not None]
    path.write_bytes(b"".join(parts))
    return path


def test_sizes_are_scaled_to_at_most_1280_wide_and_even():
    assert scaled_size(1920, 1080) == (1280, 720)
    assert scaled_size(2560, 1440) == (1280, 720)
    assert scaled_size(1366, 768) == (1280, 720)
    assert scaled_size(2592, 1944) == (1280, 960)
    assert scaled_size(1280, 720) == (1280, 720)
    assert scaled_size(640, 481) == (640, 480)
    assert scaled_size(1080, 1920) == (1080, 1920)  # portrait: at most 1280 *wide*
    assert derived_name("cam1/sub") == "cam1/sub/h264" and is_derived("cam1/sub/h264")
    assert not is_derived("cam1") and not is_derived("cam1/sub")


async def test_h265_becomes_h264_that_decodes_with_pts_wallclock_and_audio_kept(
        h265, aac, tmp_path):
    params, frames = h265
    audio, sound = aac
    upstream = Feed("cam")
    upstream.begin(audio)
    transcoder = Transcoder(upstream, SMALL, max_queue=10_000)
    source = with_audio(video_aus(params, frames), audio, sound)
    out = await run_through(transcoder, source)

    video = [au for au in out if au.kind == "video"]
    assert {au.params.codec for au in video} == {"h264"}
    assert len({id(au.params) for au in video}) == 1  # one session, one encoder
    assert transcoder.encoders == 1
    out_params = video[0].params
    assert (out_params.width, out_params.height) == (320, 180) and out_params.sps
    assert transcoder.describe(out_params) == {"transcoded": True, "from": "h265"}
    # every frame, at the source frame's pts and capture time; dts = pts (no B-frames)
    assert [au.pts for au in video] == sorted(f.pts for f in frames)
    assert all(au.dts == au.pts for au in video)
    assert all(au.wallclock == pytest.approx(T0 + au.pts / VIDEO_CLOCK) for au in video)
    # an IDR frame every second of pts, where the camera sends one every two
    keys = [au.pts for au in video if au.keyframe]
    assert keys == [0, VIDEO_CLOCK, 2 * VIDEO_CLOCK]
    # audio unchanged, the same access units
    assert [au for au in out if au.kind == "audio"] == [au for au in source if au.kind == "audio"]
    assert transcoder.feed.audio is audio

    path = write(tmp_path / "live.mp4", out, audio)
    assert decode_errors(path) == ""
    streams = ffprobe(path, "stream=codec_name,width,height")["streams"]
    assert {s["codec_name"] for s in streams} == {"h264", "aac"}
    assert [(s["width"], s["height"]) for s in streams if s["codec_name"] == "h264"] == [(320, 180)]
    shown = video_frames(path)
    assert len(shown) == len(frames)
    assert [f["key_frame"] for f in shown].count(1) == 3
    assert transcoder.state.status == "online" and transcoder.state.fps == pytest.approx(25, 0.1)
    assert (transcoder.state.codec, transcoder.state.width) == ("h264", 320)
    assert transcoder.dropped == 0 and transcoder.errors == 0


async def test_default_size_is_at_most_1280_wide(tmp_path):
    params, frames = encode_video("h265", frames=12, gop=FPS, width=1440, height=810)
    transcoder = Transcoder(Feed("cam"), max_queue=1000)
    out = await run_through(transcoder, video_aus(params, frames), pace=0.01)
    assert len(out) == 12
    assert (out[0].params.width, out[0].params.height) == (1280, 720)
    path = write(tmp_path / "hd.mp4", out)
    assert decode_errors(path) == ""
    assert [(s["width"], s["height"]) for s in ffprobe(path, "stream=width,height")["streams"]] \
        == [(1280, 720)]


async def test_a_new_camera_session_restarts_decoder_and_encoder(h265, tmp_path):
    params, frames = h265
    upstream = Feed("cam")
    transcoder = Transcoder(upstream, SMALL, max_queue=10_000)
    first = video_aus(params, frames[:FPS])
    second = video_aus(replace(params), frames[: 2 * FPS], t0=T0 + 100)  # pts restart
    out = await run_through(transcoder, first + second)
    sessions: dict[int, list[AccessUnit]] = {}
    for au in out:
        sessions.setdefault(id(au.params), []).append(au)
    assert [len(aus) for aus in sessions.values()] == [FPS, 2 * FPS]  # the first one flushed
    assert transcoder.encoders == 2
    for i, aus in enumerate(sessions.values()):
        assert aus[0].keyframe
        assert decode_errors(write(tmp_path / f"session{i}.mp4", aus)) == ""


async def test_corrupt_frames_cost_only_frames_until_the_next_keyframe(tmp_path, caplog):
    gop = 2 * FPS
    params, frames = encode_video("h265", frames=5 * FPS, gop=gop, width=320, height=240)
    aus = video_aus(params, frames)
    # a frame the decoder refuses (a truncated SPS as a slice) in the first GOP; in the
    # second one it takes and then silently gives no pictures
    aus[5] = replace(aus[5], data=to_avcc([params.sps[:10]]))
    junk = random.Random(7).randbytes(300)
    aus[gop + 5] = replace(aus[gop + 5], data=to_avcc([bytes([0x02, 0x01]) + junk]))
    transcoder = Transcoder(Feed("cam"), max_queue=10_000)
    states = []
    out_sub = transcoder.feed.subscribe(maxsize=100_000)
    task = asyncio.create_task(transcoder.run())
    await asyncio.sleep(0)
    for au in aus:
        transcoder.upstream.publish(au)
        await asyncio.sleep(0.002)
        states.append(transcoder.state.status)
    transcoder.upstream.close()
    await asyncio.wait_for(task, 30)
    out = out_sub.drain()
    shown = {au.pts // (VIDEO_CLOCK // FPS) for au in out}
    assert shown == set(range(5)) | set(range(gop, gop + 5)) | set(range(2 * gop, 5 * FPS))
    assert transcoder.errors == 2 and transcoder.state.corrupt == 2
    # back online at each next keyframe; no pictures for 24 frames is a decode failure
    changes = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert changes == ["connecting", "online", "error", "online", "error", "online"]
    assert transcoder.state.status == "online" and transcoder.state.last_error is None
    logged = [r.getMessage() for r in caplog.records if r.name == "nvr.live.transcode"]
    assert logged == ["cam/h264: cannot decode the h265 frame at pts 18000 (FFmpeg: Operation "
                      "not permitted); resuming at the next keyframe (1 so far)"]  # once
    assert decode_errors(write(tmp_path / "recovered.mp4", out)) == ""


async def test_h264_passes_through_untouched():
    params, frames = encode_video("h264", frames=FPS, gop=FPS)
    aus = video_aus(params, frames)
    transcoder = Transcoder(Feed("cam"), max_queue=1000)
    out = await run_through(transcoder, aus)
    assert out == aus and all(a is b for a, b in zip(out, aus, strict=True))
    assert transcoder.encoders == 0 and transcoder.describe(params) is None


async def test_a_worker_that_falls_behind_skips_to_a_keyframe_and_counts(h265, tmp_path):
    params, frames = h265
    upstream = Feed("cam")
    transcoder = Transcoder(upstream, SMALL, max_queue=30)
    fast = upstream.subscribe(maxsize=1000)  # another consumer: never slowed
    out_sub = transcoder.feed.subscribe(maxsize=100_000)
    task = asyncio.create_task(transcoder.run())
    await asyncio.sleep(0)
    for au in video_aus(params, frames):  # all at once: the worker cannot keep up
        upstream.publish(au)
    assert len(fast) == len(frames)
    upstream.close()
    await asyncio.wait_for(task, 30)
    out = out_sub.drain()
    # 30 queued, then cleared; the rest of the GOP skipped; the next GOP transcoded
    assert transcoder.dropped == upstream.stats.dropped >= 2 * FPS - 1
    at = next(i for i, f in enumerate(frames) if i and f.keyframe)  # the second GOP
    assert [au.pts for au in out] == sorted(f.pts for f in frames[at:] if f.pts >= frames[at].pts)
    assert decode_errors(write(tmp_path / "behind.mp4", out)) == ""
