"""FrameSampler on real H.264 (PyAV libx264): fps sampling, restarts, corrupt frames,
and the detector finding the motion in what it samples."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from motion_scenes import background

from nvr.codec.nal import split_annexb, to_avcc
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.motion.detector import EventTracker, MotionDetector, MotionSettings
from nvr.motion.sampler import FrameSampler, analysed_size

FPS = 25
TICKS = VIDEO_CLOCK // FPS
T0 = 1_700_000_000.0
WIDTH, HEIGHT = 320, 240
MOVING = (2.0, 4.0)  # seconds in which the square moves


def _picture(i: int, base: np.ndarray) -> av.VideoFrame:
    image = base.copy()
    s = i / FPS
    if MOVING[0] <= s < MOVING[1]:
        x = int(20 + (s - MOVING[0]) * 120)
        image[100:140, x:x + 40] = 250
    rgb = np.repeat(image[:, :, None], 3, axis=2)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def _encode(seconds: float) -> list[AccessUnit]:
    base = cv2.resize(background(), (WIDTH, HEIGHT)).astype(np.uint8)
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    cc.time_base, cc.framerate = Fraction(1, FPS), Fraction(FPS)
    cc.options = {"preset": "ultrafast", "bf": "0", "x264-params": f"keyint={FPS}:scenecut=0"}
    packets = []
    for i in range(int(seconds * FPS)):
        picture = _picture(i, base)
        picture.pts = i
        packets += cc.encode(picture)
    packets += cc.encode(None)
    sets: dict[str, bytes] = {}
    frames = []
    for packet in packets:
        nals = []
        for nal in split_annexb(bytes(packet)):
            kind = nal[0] & 0x1F
            if kind in (7, 8):
                sets.setdefault("sps" if kind == 7 else "pps", nal)
            else:
                nals.append(nal)
        assert packet.pts is not None
        frames.append((to_avcc(nals), packet.pts * TICKS, bool(packet.is_keyframe)))
    params = CodecParams(kind="video", codec="h264", clock_rate=VIDEO_CLOCK, width=WIDTH,
                         height=HEIGHT, sps=sets["sps"], pps=sets["pps"])
    return [AccessUnit(params, pts, pts, key, T0 + pts / VIDEO_CLOCK, data)
            for data, pts, key in frames]


@pytest.fixture(scope="module")
def stream() -> list[AccessUnit]:
    return _encode(6.0)


def test_samples_fps_frames_a_second(stream: list[AccessUnit]):
    sampler = FrameSampler(fps=5)
    samples = [s for au in stream for s in sampler.push(au)]
    assert sampler.decoded == len(stream)  # every frame decoded
    assert len(samples) == 30  # 6 s at 5 fps: only those converted
    gaps = np.diff([s.time for s in samples])
    assert np.allclose(gaps, 0.2, atol=0.001)
    assert samples[0].image.shape == (240, 320) and samples[0].image.dtype == np.uint8


def test_detector_finds_the_motion_in_the_samples(stream: list[AccessUnit]):
    settings = MotionSettings(post_seconds=1.0)
    sampler, detector, tracker = FrameSampler(settings.fps), MotionDetector(settings), \
        EventTracker(settings)
    transitions = []
    for au in stream:
        for sample in sampler.push(au):
            transitions += tracker.update(detector.analyse(sample.image, sample.time))
    transitions += tracker.close()
    assert [t.kind for t in transitions] == ["start", "end"]
    event = transitions[-1].event
    assert abs(event.start - (T0 + MOVING[0])) <= 1.0
    assert event.end is not None and abs(event.end - (T0 + MOVING[1])) <= 1.0


def test_a_corrupt_frame_costs_frames_until_the_next_keyframe(stream: list[AccessUnit]):
    sampler = FrameSampler(fps=5)
    broken = list(stream)
    bad = 30  # a P-frame in the second GOP
    assert not broken[bad].keyframe
    broken[bad] = dataclasses.replace(broken[bad], data=to_avcc([b"\x01" + b"\xff" * 64]))
    broken[bad + 1] = dataclasses.replace(broken[bad + 1], data=b"\x00\x00\x00\x05\x65garb")
    times = [round(s.time - T0, 1) for au in broken for s in sampler.push(au)]
    assert sampler.errors == 1 and sampler.error and "next keyframe" in sampler.error
    assert sampler.skipped == 19  # the rest of that GOP
    assert times == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] + [round(2.0 + i * 0.2, 1)
                                                      for i in range(20)]


def test_new_codec_params_restart_the_decoder(stream: list[AccessUnit]):
    sampler = FrameSampler(fps=5)
    first = [s for au in stream[:50] for s in sampler.push(au)]
    params = dataclasses.replace(stream[0].params)  # a new session: a new object
    later = [dataclasses.replace(au, params=params, wallclock=au.wallclock + 100)
             for au in stream[:50]]
    second = [s for au in later[1:] for s in sampler.push(au)]  # not from a keyframe
    assert sampler.skipped == 24  # waited for the next keyframe
    assert first and second and second[0].time >= T0 + 101.0


def test_audio_is_ignored(stream: list[AccessUnit]):
    audio = CodecParams(kind="audio", codec="aac", clock_rate=48000)
    assert FrameSampler().push(AccessUnit(audio, 0, 0, True, T0, b"\x21\x00")) == []


def test_analysed_size():
    assert analysed_size(1920, 1080) == (320, 180)
    assert analysed_size(320, 240) == (320, 240)
    assert analysed_size(2560, 1440, 160) == (160, 90)


def test_a_wall_clock_step_back_restarts_the_schedule(stream: list[AccessUnit]):
    sampler = FrameSampler(fps=5)
    stepped = [au if i < 75 else dataclasses.replace(au, wallclock=au.wallclock - 100)
               for i, au in enumerate(stream)]
    times = [round(s.time - T0, 1) for au in stepped for s in sampler.push(au)]
    assert len(times) == 30  # still 5 a second on both sides of the step
    assert times[15] == 3.0 - 100
