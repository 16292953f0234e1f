"""Faults a real site has, injected with the simulated camera."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

import pytest
from nvrharness import decode_errors, ffprobe, free_port, running_nvr, wait_until

from nvr.clock import SkippableClock
from nvr.sim.server import SimCamera, SimServer

SMALL = {"width": 320, "height": 240, "fps": 25, "bitrate_kbps": 300}


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture
async def sim():
    server = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", audio=True, **SMALL),
        SimCamera(name="cam2", **SMALL),
        SimCamera(name="locked", user="admin", password="right", auth="digest", **SMALL),
        SimCamera(name="wraps", audio=True, ts_start=2**32 - 90000 * 3, **SMALL),
    ])
    await server.start()
    yield server
    await server.stop()


async def _rows(nvr, camera):
    return await nvr.recordings(camera)


def _contiguous(rows) -> bool:
    return all(a["end"] == b["start"] for a, b in zip(rows, rows[1:], strict=False))


async def test_camera_unreachable_at_start_then_appears(tmp_path):
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/cam1"
    async with running_nvr(tmp_path, [{"name": "late", "url": url}]) as nvr:
        cam = await wait_until(lambda: _offline(nvr, "late"), 10, "status offline")
        assert "late" in cam["last_error"]
        server = SimServer(host="127.0.0.1", port=port, cameras=[SimCamera(name="cam1", **SMALL)])
        await server.start()
        appeared = time.time()
        try:
            await wait_until(lambda: _status_is(nvr, "late", "online"), 10, "online")
            rows = await wait_until(lambda: _rows(nvr, "late"), 20, "a segment")
        finally:
            await server.stop()
    # back within the 5 s reconnect cap (plus the wait for a keyframe of a 2 s GOP)
    assert _ts(rows[0]["start"]) - appeared < 5 + 2.5


async def _offline(nvr, name):
    cam = (await nvr.cameras())[name]
    return cam if cam["status"] == "offline" and cam["last_error"] else None


async def _status_is(nvr, name, status):
    return (await nvr.cameras())[name]["status"] == status


async def test_camera_stall_detected_and_other_camera_undisturbed(sim, tmp_path):
    cameras = [{"name": "stalls", "url": sim.url("cam1"), "audio": True},
               {"name": "steady", "url": sim.url("cam2")}]
    clock = SkippableClock()
    async with running_nvr(tmp_path, cameras, clock=clock) as nvr:
        await wait_until(lambda: _rows(nvr, "stalls"), 20, "first segment")
        sim.fault("cam1").stall(None)
        stalled_wall = time.time()
        # skip past the 5 s stall timeout instead of waiting for it (again at each poll:
        # a frame still in flight when the stall began counts as the last one seen)
        cam = await wait_until(lambda: _skip_until_offline(nvr, "stalls", clock), 5,
                               "stall detected")
        assert "stopped sending" in cam["last_error"]
        before = len(await nvr.recordings("stalls"))
        sim.fault("cam1").resume()
        clock.skip(5)  # past the reconnect backoff
        await wait_until(lambda: _status_is(nvr, "stalls", "online"), 20, "back online")
        await wait_until(lambda: _more(nvr, "stalls", before + 1), 20, "recording resumed")
        resumed_wall = time.time()
        steady = await wait_until(lambda: _after(nvr, "steady", resumed_wall), 20,
                                  "the steady camera's segment after the stall")
        steady = await nvr.recordings("steady")
    # the other camera kept recording without a gap the whole time, stall included
    assert _contiguous(steady), [(r["start"], r["end"]) for r in steady]
    assert _ts(steady[0]["start"]) < stalled_wall
    assert _ts(steady[-1]["end"]) > resumed_wall


async def _skip_until_offline(nvr, name, clock):
    cam = await _offline(nvr, name)
    if cam is None:
        clock.skip(6)
    return cam


async def _more(nvr, camera, n):
    rows = await nvr.recordings(camera)
    return rows if len(rows) >= n else None


async def test_camera_reboot_recording_resumes_within_5s(sim, tmp_path):
    async with running_nvr(tmp_path, [{"name": "cam", "url": sim.url("cam2")}]) as nvr:
        await wait_until(lambda: _rows(nvr, "cam"), 20, "first segment")
        sim.fault("cam2").reboot(9)
        back = time.time() + 9
        await wait_until(lambda: _offline(nvr, "cam"), 10, "camera seen offline")
        # the camera refuses connections until `back`; then nvr has 15 s to record again
        rows = await wait_until(lambda: _after(nvr, "cam", back), 9 + 15,
                                "a segment after reboot")
    first_after = min(_ts(r["start"]) for r in rows)
    assert first_after - back <= 5.0, first_after - back


async def _after(nvr, camera, t):
    return [r for r in await nvr.recordings(camera) if _ts(r["start"]) >= t - 0.5]


async def test_wrong_password_auth_failed_and_slow_retry(sim, tmp_path):
    url = sim.url("locked", "admin", "badpass")
    clock = SkippableClock()
    async with running_nvr(tmp_path, [{"name": "locked", "url": url}], clock=clock) as nvr:
        cam = await wait_until(lambda: _auth_failed(nvr), 10, "auth_failed")
        assert "locked" in cam["last_error"] and "badpass" not in cam["last_error"]
        client = nvr.nvr.cameras["locked"]
        attempts = client.state.attempts
        clock.skip(25)  # the normal backoff (at most 5 s) would have retried 5 times
        await wait_until(lambda: _auth_failed(nvr), 1, "still auth_failed")
        assert client.state.attempts == attempts
        clock.skip(6)  # 31 s after the failure: one more try, refused again
        await wait_until(lambda: client.state.attempts == attempts + 1, 5, "the 30 s retry")
        await wait_until(lambda: _auth_failed(nvr), 5, "auth_failed again")
        sim.fault("locked").set_password("badpass")  # the installer fixes the camera
        clock.skip(31)
        await wait_until(lambda: _status_is(nvr, "locked", "online"), 10, "online")


async def _auth_failed(nvr):
    cam = (await nvr.cameras())["locked"]
    return cam if cam["status"] == "auth_failed" else None


async def test_udp_packet_loss_keeps_recording(sim, tmp_path):
    sim.fault("cam2").udp_loss(0.03)
    cam = {"name": "lossy", "url": sim.url("cam2"), "transport": "udp"}
    async with running_nvr(tmp_path, [cam]) as nvr:
        rows = await wait_until(lambda: _more(nvr, "lossy", 3), 30, "3 segments despite loss")
        assert (await nvr.cameras())["lossy"]["status"] == "online"
        assert nvr.nvr.cameras["lossy"].state.lost_packets > 0
    for r in rows:
        info = ffprobe(tmp_path / "data" / r["path"])
        assert info["streams"][0]["codec_name"] == "h264"


async def test_timestamp_wrap_jump_and_ssrc_change_keep_segments_sane(sim, tmp_path):
    # the camera's RTP timestamps wrap 3 s (video) and 5.6 s (audio) after PLAY
    cameras = [{"name": "wrap", "url": sim.url("wraps"), "audio": True}]
    async with running_nvr(tmp_path, cameras) as nvr:
        # three 2 s segments: past both wraps (3 s video, 5.6 s audio after PLAY)
        await wait_until(lambda: _more(nvr, "wrap", 3), 20, "segments across the wraps")
        faults = sim.fault("wraps")
        faults.ts_jump(90000 * 3600 * 5)  # a five-hour jump
        await wait_until(lambda: _more(nvr, "wrap", 5), 20, "segments after the jump")
        faults.ssrc_change()
        n = len(await nvr.recordings("wrap"))
        await wait_until(lambda: _more(nvr, "wrap", n + 3), 20, "segments after the faults")
        rows = await nvr.recordings("wrap")
        assert (await nvr.cameras())["wrap"]["status"] == "online"
    for r in rows:
        # no segment absorbs the jump: each is about segment_seconds (2 s GOP) long
        assert 0 < r["duration"] <= 4.1, r
        assert decode_errors(tmp_path / "data" / r["path"]) == ""
    assert _contiguous(rows), "\n".join(f'{r["start"]} {r["end"]}' for r in rows)
    span = _ts(rows[-1]["end"]) - _ts(rows[0]["start"])
    assert span < 60  # wall-clock times did not jump with the RTP timestamps


async def test_audio_requested_but_camera_has_none(sim, tmp_path):
    cam = {"name": "mute", "url": sim.url("cam2"), "audio": True}
    async with running_nvr(tmp_path, [cam]) as nvr:
        rows = await wait_until(lambda: _rows(nvr, "mute"), 20, "a video-only segment")
        assert (await nvr.cameras())["mute"]["status"] == "online"
    streams = ffprobe(tmp_path / "data" / rows[0]["path"])["streams"]
    assert [s["codec_type"] for s in streams] == ["video"]


async def test_keepalive_holds_a_session_with_a_short_timeout(tmp_path):
    # this camera drops any session that sends no request for 4 s
    server = SimServer(host="127.0.0.1", port=0, session_timeout=4,
                       cameras=[SimCamera(name="strict", **SMALL)])
    await server.start()
    try:
        async with running_nvr(tmp_path, [{"name": "strict", "url": server.url("strict")}]) as nvr:
            await wait_until(lambda: _status_is(nvr, "strict", "online"), 15, "online")
            await asyncio.sleep(13)
            state = nvr.nvr.cameras["strict"].state
            assert (state.sessions, state.attempts) == (1, 1)
            rows = await nvr.recordings("strict")
    finally:
        await server.stop()
    assert len(rows) >= 4 and _contiguous(rows)


async def test_auto_transport_uses_udp_and_falls_back_to_tcp(tmp_path):
    tcp_only = SimServer(host="127.0.0.1", port=0, udp=False,
                         cameras=[SimCamera(name="noudp", **SMALL)])
    both = SimServer(host="127.0.0.1", port=0, cameras=[SimCamera(name="any", **SMALL)])
    await tcp_only.start()
    await both.start()
    try:
        cameras = [{"name": "fallback", "url": tcp_only.url("noudp"), "transport": "auto"},
                   {"name": "udp", "url": both.url("any"), "transport": "auto"}]
        async with running_nvr(tmp_path, cameras) as nvr:
            for name in ("fallback", "udp"):
                await wait_until(lambda n=name: _rows(nvr, n), 30, f"a segment of {name}")
            assert nvr.nvr.cameras["fallback"]._transport_now() == "tcp"
            assert nvr.nvr.cameras["udp"]._transport_now() == "udp"
    finally:
        await tcp_only.stop()
        await both.stop()


async def test_bug_in_one_camera_is_logged_once_shown_and_restarted(sim, tmp_path,
                                                                    monkeypatch, caplog):
    from nvr.rtsp.camera import CameraClient

    real = CameraClient._make_receivers
    broken = {"on": True}

    def make_receivers(self, tracks, receivers):
        if self.name == "buggy" and broken["on"]:
            raise RuntimeError("simulated bug in the receivers")
        return real(self, tracks, receivers)

    monkeypatch.setattr(CameraClient, "_make_receivers", make_receivers)
    caplog.set_level(logging.INFO)
    clock = SkippableClock()
    cameras = [{"name": "buggy", "url": sim.url("cam1")}, {"name": "fine", "url": sim.url("cam2")}]
    async with running_nvr(tmp_path, cameras, clock=clock) as nvr:
        cam = await wait_until(lambda: _status(nvr, "buggy", "error"), 10, "status error")
        assert "internal error" in cam["last_error"] and "RuntimeError" in cam["last_error"]
        for _ in range(3):  # restarted with backoff, again and again: logged once
            failures = nvr.nvr.supervisor.failures("camera buggy")
            clock.skip(70)
            await wait_until(lambda f=failures: nvr.nvr.supervisor.failures("camera buggy") > f,
                             5, "a restart")
        tracebacks = [r for r in caplog.records if r.exc_info and "buggy" in r.getMessage()]
        assert len(tracebacks) == 1
        assert await _status(nvr, "fine", "online")
        broken["on"] = False  # the next restart works
        clock.skip(70)
        await wait_until(lambda: _status(nvr, "buggy", "online"), 10, "buggy back online")
        await wait_until(lambda: _rows(nvr, "fine"), 20, "the other camera recorded")


async def _status(nvr, name, status):
    cam = (await nvr.cameras())[name]
    return cam if cam["status"] == status else None
