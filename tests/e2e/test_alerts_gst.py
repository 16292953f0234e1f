"""Motion to webhook and MQTT, end to end: GStreamer's RTSP server as the cameras
(pattern ``ball`` moves, ``solid`` does not), nvr detecting motion, a real HTTP
receiver that refuses the first deliveries and checks every signature, a real
Mosquitto, and an nvr restart in the middle. The receiver sees the event's start
once and its end once; MQTT subscribers see motion ON, the event and the status."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pytest
from gst_peer import start_gst_camera
from nvrharness import free_port, running_nvr, wait_until
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alerts"))
from receiver import Receiver  # noqa: E402
from test_mqtt import MOSQUITTO, Broker, subscribe  # noqa: E402

from nvr.db.models import Event, MotionSecond  # noqa: E402

SECRET = "e2e-webhook-secret-0123"
MOTION = {"enabled": True, "post_seconds": 30}


def _events(nvr, camera: str) -> list[Event]:
    assert nvr.nvr.sessions is not None
    with nvr.nvr.sessions() as session:
        return list(session.scalars(select(Event).where(Event.camera == camera,
                                                         Event.type == "motion")))


def _grid_seconds(nvr, camera: str) -> int:
    assert nvr.nvr.sessions is not None
    with nvr.nvr.sessions() as session:
        return session.scalar(select(func.count()).select_from(MotionSecond)
                              .where(MotionSecond.camera == camera)) or 0


async def test_motion_reaches_webhook_and_mqtt_once_per_phase_across_a_restart(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    receiver = await Receiver(SECRET).start()
    receiver.scripts["/hook"] = collections.deque([503, 503, 503])
    broker = Broker(tmp_path, "allow_anonymous true")
    broker.start()
    extra = (f'\n[[webhooks]]\nname = "e2e"\nurl = "{receiver.url("/hook")}"\n'
             f'secret = "{SECRET}"\nevents = ["motion"]\n'
             f'\n[mqtt]\nurl = "{broker.url}"\ntopic_prefix = "e2e"\n')
    port = free_port()
    try:
        async with start_gst_camera(extra_args=["--pattern", "ball"]) as ball, \
                start_gst_camera(extra_args=["--pattern", "solid"]) as solid, \
                subscribe(broker, "e2e/#") as mqtt:
            cameras = [{"name": "yard", "url": ball.url, "motion": MOTION},
                       {"name": "wall", "url": solid.url, "motion": MOTION}]
            async with running_nvr(tmp_path, cameras, extra=extra, port=port) as nvr:
                events = await wait_until(lambda: _events(nvr, "yard"), 40, "a motion event")
                await wait_until(lambda: receiver.requests >= 1, 20, "a first delivery try")
                assert events[0].end_us is None  # the ball keeps moving
                await mqtt.wait("e2e/yard/motion", b"ON")
                await mqtt.wait("e2e/yard/status", b"online")
                await mqtt.wait("e2e/available", b"online")
                started = json.loads(await mqtt.wait("e2e/events"))
                assert (started["camera"], started["phase"]) == ("yard", "start")
                assert (await mqtt.wait("e2e/yard/snapshot"))[:2] == b"\xff\xd8"
                await wait_until(lambda: _grid_seconds(nvr, "yard") >= 2, 20, "motion grids")
            # stopped mid-event: the event was ended at shutdown; deliveries still owed
            async with running_nvr(tmp_path, cameras, extra=extra, port=port) as nvr:
                await wait_until(lambda: receiver.accepted["/hook"], 40, "the start delivered")
                await wait_until(
                    lambda: any(b["phase"] == "end" for b in receiver.accepted["/hook"]), 40,
                    "the end delivered")
                first = _events(nvr, "yard")[0]
                snapshot = nvr.data_dir / (first.snapshot_path or "missing")
                assert snapshot.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
                assert _events(nvr, "wall") == []  # the solid picture never moved
            assert mqtt.seen.get("e2e/wall/motion", [b"OFF"])[-1] == b"OFF"
    finally:
        await receiver.stop()
        broker.stop()
    assert receiver.bad_signatures == 0
    first_id = first.id
    got = [(b["event_id"], b["phase"]) for b in receiver.accepted["/hook"]]
    assert got.count((first_id, "start")) == 1 and got.count((first_id, "end")) == 1
    assert got.index((first_id, "start")) < got.index((first_id, "end"))
    start = next(b for b in receiver.accepted["/hook"] if b["phase"] == "start")
    assert start["type"] == "motion" and start["camera"] == "yard"
    assert len(set(receiver.keys["/hook"])) == len(receiver.keys["/hook"])  # no duplicates
