"""``[[cameras]] push`` in the app: which tasks nvr starts and what the API is handed."""

from __future__ import annotations

from nvr.config.cameras import CameraConfig
from nvr.feed import Feed
from nvr.registry import FeedRegistry
from nvr.rtmppush import Pushes
from nvr.supervisor import Factory, OnError


def test_a_task_per_push_url_of_enabled_cameras_and_states_without_keys() -> None:
    registry = FeedRegistry()
    for name in ("yard", "door", "shed"):
        registry.add(Feed(name))
    cameras = [
        CameraConfig(name="yard", url="rtsp://h/1", push=[
            "rtmp://a.rtmp.youtube.com/live2/yt-secret-1", "rtmp://h/tw-secret-2"]),
        CameraConfig(name="door", url="rtsp://h/2"),
        CameraConfig(name="shed", url="rtsp://h/3", enabled=False,
                     push=["rtmp://h/live/shed-secret"]),
    ]
    started: list[str] = []

    def start(name: str, factory: Factory, on_error: OnError) -> None:
        started.append(name)

    pushes = Pushes(registry, start)
    pushes.start(cameras)
    assert started == ["push yard 1"]  # the second URL has no application: not pushable
    states = pushes.states()
    assert list(states) == ["yard"]
    first, second = states["yard"]
    assert (first.url, first.status) == ("rtmp://a.rtmp.youtube.com/live2/***", "connecting")
    assert second.status == "error" and second.url == "rtmp://h/***"
    assert second.last_error and "application" in second.last_error
    assert "secret" not in repr(states)


def test_a_push_task_that_fails_unexpectedly_shows_as_error() -> None:
    registry = FeedRegistry()
    registry.add(Feed("yard"))
    handlers: list[OnError] = []
    pushes = Pushes(registry, lambda name, factory, on_error: handlers.append(on_error))
    pushes.start([CameraConfig(name="yard", url="rtsp://h/1",
                               push=["rtmp://h/live/secretkey"])])
    handlers[0](RuntimeError("rtmp://h/live/secretkey went wrong"))
    state = pushes.states()["yard"][0]
    assert state.status == "error" and "RuntimeError" in (state.last_error or "")
    assert "secretkey" not in (state.last_error or "")
