"""Cameras that misbehave the way real ones do: each ends in a visible state with a
reason, noise is never recorded, the other cameras never notice, and the log says it
once. One simulator and one nvr serve every test of this module."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import pytest_asyncio
from nvrharness import decode_errors, ffprobe, running_nvr, segments_on_disk, wait_until

from nvr.sim.server import SimCamera, SimServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SMALL = {"width": 320, "height": 240, "fps": 25, "bitrate_kbps": 300}
CAMERAS = [
    SimCamera(name="good", **SMALL),
    SimCamera(name="bad-aac", audio=True, sdp_faults=("aac-config-not-hex",), **SMALL),
    SimCamera(name="garbage-sprop", sdp_faults=("sprop-garbage",), **SMALL),
    SimCamera(name="no-video", sdp_faults=("no-video",), audio=True, **SMALL),
    SimCamera(name="noise", noise=True, **SMALL),
    SimCamera(name="some-garbage", garbage_every=5, **SMALL),
    SimCamera(name="tcp-refused", transports=("udp",), **SMALL),
    SimCamera(name="burst", play_burst=10, **SMALL),
    SimCamera(name="short-clock", gop_seconds=1, ticks_short_per_gop=1, **SMALL),
    SimCamera(name="silent", **SMALL),
    SimCamera(name="wedged", **SMALL),
    SimCamera(name="bye", **SMALL),
    SimCamera(name="big-header", **SMALL),
    SimCamera(name="huge-header", **SMALL),
    SimCamera(name="lying-length", **SMALL),
    # 24 fps, 1 s GOPs and 3 B-frames: x265 puts 3 leading pictures behind each CRA
    SimCamera(name="open-gop", codec="h265", bframes=3, open_gop=True, gop_seconds=1,
              **(SMALL | {"fps": 24})),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory):
    server = SimServer(host="127.0.0.1", port=0, cameras=CAMERAS)
    await server.start()
    server.fault("silent").stall(None)  # answers PLAY, never sends a packet
    server.fault("wedged").hang(None)  # accepts the connection, answers nothing
    server.fault("big-header").big_header(100_000)  # bloated but whole replies
    server.fault("huge-header").big_header(1_000_000)  # replies no camera would send
    server.fault("lying-length").false_content_length()  # DESCRIBE body never completes
    cams = [{"name": c.name, "url": server.url(c.name), "audio": c.audio} for c in CAMERAS]
    cams[[c.name for c in CAMERAS].index("tcp-refused")]["transport"] = "tcp"
    tmp = tmp_path_factory.mktemp("misbehaving")
    async with running_nvr(tmp, cams, recording={"segment_seconds": 2}) as nvr:
        yield server, nvr
    await server.stop()


async def _camera(nvr, name: str) -> dict:
    return (await nvr.cameras())[name]


async def _state(nvr, name: str, status: str, within: float = 25) -> dict:
    async def check():
        cam = await _camera(nvr, name)
        return cam if cam["status"] == status else None
    return await wait_until(check, within, f"{name} {status}")


async def _segments(nvr, name: str, count: int) -> list[dict]:
    async def check():
        rows = await nvr.recordings(name)
        return rows if len(rows) >= count else None
    return await wait_until(check, 30, f"{count} segments of {name}")


def _plays(path: Path) -> None:
    assert decode_errors(path) == "", path
    assert ffprobe(path)["streams"][0]["codec_type"] == "video"


async def test_malformed_aac_config_records_video_and_says_why(site):
    _, nvr = site
    cam = await _state(nvr, "bad-aac", "online")
    assert "audio ignored" in cam["last_error"] and "config" in cam["last_error"]
    rows = await _segments(nvr, "bad-aac", 1)
    assert rows[0]["audio_codec"] is None
    _plays(nvr.data_dir / rows[0]["path"])


async def test_garbage_sprop_is_replaced_by_in_band_parameter_sets(site):
    _, nvr = site
    await _state(nvr, "garbage-sprop", "online")
    rows = await _segments(nvr, "garbage-sprop", 1)
    _plays(nvr.data_dir / rows[0]["path"])


# camera, the state it ends in, and what its last_error says (any one of the phrases)
ENDS = [
    ("no-video", "offline", ("no H.264/H.265 video track",)),
    ("tcp-refused", "offline", ('461 Unsupported Transport): set transport = "udp"',)),
    ("silent", "offline", ("no video received within 10 s",)),
    ("wedged", "offline", ("did not complete the RTSP setup in time",)),
    ("huge-header", "offline", ("RTSP message over 256 KiB",)),
    ("lying-length", "offline", ("announced an RTSP body of 10000000 bytes",)),
]


@pytest.mark.parametrize(("name", "status", "reasons"), ENDS, ids=[e[0] for e in ENDS])
async def test_camera_ends_in_a_visible_state_with_a_reason(site, name, status, reasons):
    _, nvr = site
    cam = await _state(nvr, name, status)
    assert cam["last_error"].startswith(f"camera {name}: ")
    assert any(r in cam["last_error"] for r in reasons), cam["last_error"]
    assert cam["fps"] == 0 and await nvr.recordings(name) == []


async def test_noise_is_an_error_and_never_recorded(site):
    _, nvr = site
    cam = await _state(nvr, "noise", "error")
    assert "no usable" in cam["last_error"] or "no valid video" in cam["last_error"]
    assert cam["fps"] == 0
    assert segments_on_disk(nvr.data_dir, "noise") == []
    assert await nvr.recordings("noise") == []


async def test_garbage_frames_are_counted_and_dropped(site):
    _, nvr = site
    await _state(nvr, "some-garbage", "online")
    rows = await _segments(nvr, "some-garbage", 2)
    cam = await _camera(nvr, "some-garbage")
    # one garbage frame after every 5th valid one: most are caught by the header checks
    # (slice payloads behind a valid NAL header pass them about one time in fifteen)
    assert cam["corrupt"] > 0
    assert all(a["end"] == b["start"] for a, b in zip(rows, rows[1:], strict=False))
    for row in rows[:2]:
        packets = int(ffprobe(nvr.data_dir / row["path"])["streams"][0]["nb_read_packets"])
        assert 45 <= packets <= 55, packets  # 2 s at 25 fps, plus the odd garbage frame


async def test_rtp_right_behind_play_reply_keeps_the_first_gop(site):
    server, nvr = site
    rows = await _segments(nvr, "burst", 1)
    # the first segment starts at the camera's first keyframe: about as many frames as
    # the 2 s segment holds, none lost to the receivers being set up late
    packets = int(ffprobe(nvr.data_dir / rows[0]["path"])["streams"][0]["nb_read_packets"])
    assert packets >= 45
    client = nvr.nvr.cameras["burst"]
    assert client.state.sessions == 1


async def test_short_camera_clock_still_cuts_at_segment_length(site):
    _, nvr = site
    rows = await _segments(nvr, "short-clock", 4)
    assert all(abs(r["duration"] - 2.0) < 0.1 for r in rows[:3]), [r["duration"] for r in rows]


async def test_open_gop_h265_with_b_frames_records_clean_contiguous_segments(site):
    _, nvr = site
    rows = await _segments(nvr, "open-gop", 4)
    assert all(a["end"] == b["start"] for a, b in zip(rows, rows[1:], strict=False))
    for row in rows[:3]:
        path = nvr.data_dir / row["path"]
        assert decode_errors(path) == "", row["path"]  # no frame needs a GOP not in the file
        stream = ffprobe(path)["streams"][0]
        assert stream["codec_name"] == "hevc"
        assert abs(row["duration"] - 2.0) < 0.1


async def test_bloated_replies_still_record(site):
    _, nvr = site
    cam = await _state(nvr, "big-header", "online")
    assert cam["fps"] > 0
    rows = await _segments(nvr, "big-header", 1)
    _plays(nvr.data_dir / rows[0]["path"])


async def test_rtcp_bye_ends_the_session_at_once(site):
    server, nvr = site
    await _state(nvr, "bye", "online")
    client = nvr.nvr.cameras["bye"]
    sessions = client.state.sessions
    server.fault("bye").bye()
    # well inside the 5 s stall timeout: the BYE itself ends the session
    await wait_until(lambda: client.state.sessions > sessions or
                     "BYE" in (client.state.last_error or ""), 4, "session ended by BYE")


async def test_good_camera_never_notices(site):
    _, nvr = site
    cam = await _state(nvr, "good", "online")
    assert cam["fps"] > 0 and cam["corrupt"] == 0 and cam["last_error"] is None
    rows = await _segments(nvr, "good", 3)
    assert all(a["end"] == b["start"] for a, b in zip(rows, rows[1:], strict=False))


async def test_a_camera_that_stays_down_is_logged_once(site, caplog):
    _, nvr = site
    caplog.set_level(logging.DEBUG, logger="nvr.camera")
    client = nvr.nvr.cameras["no-video"]
    attempts = client.state.attempts
    await wait_until(lambda: client.state.attempts >= attempts + 2, 20, "two more tries")
    # the camera client's retries (the health watch's one "offline" line, raised once
    # per outage with its event, is not a retry)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and r.name.startswith("nvr.camera") and "no-video" in r.getMessage()]
    assert warnings == []  # the first failure was reported before; retries are quiet
