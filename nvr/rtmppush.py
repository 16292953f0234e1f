"""``[[cameras]] push``: each enabled camera's feed pushed to its RTMP targets.

One :class:`~nvr.rtmp.push.Pusher` per (camera, URL), each a supervised task named
``push <camera> <n>`` (n from 1, in config order). A Pusher retries by itself; the
supervisor only restarts one after a bug, and the push then shows ``error`` with
the exception's type (never its text, which could hold the URL). The API reads
:meth:`Pushes.states`; URLs appear only redacted (:func:`redact_rtmp_url`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config.cameras import CameraConfig
from nvr.config.rtmp import redact_rtmp_url
from nvr.registry import FeedRegistry
from nvr.rtmp.push import Pusher, PushState
from nvr.supervisor import Factory, OnError

__all__ = ["Pushes", "StartTask"]

log = logging.getLogger(__name__)

StartTask = Callable[[str, Factory, OnError], None]  # Supervisor.start


class Pushes:
    """The push targets of every camera (see the module docstring)."""

    def __init__(self, registry: FeedRegistry, start: StartTask,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.registry = registry
        self._start = start
        self.clock = clock
        self.pushers: dict[str, list[Pusher]] = {}
        self._states: dict[str, list[PushState]] = {}  # per camera, in config order

    def start(self, cameras: Iterable[CameraConfig]) -> None:
        """A task per push URL of every enabled camera whose feed exists. A URL nvr
        cannot push to (no stream key after the application) shows as ``error``."""
        for cam in cameras:
            feed = self.registry.get(cam.name)
            if not cam.enabled or not cam.push or feed is None:
                continue
            states = self._states.setdefault(cam.name, [])
            for n, url in enumerate(cam.push, 1):
                label = redact_rtmp_url(url)
                try:
                    pusher = Pusher(feed, url, label=label, clock=self.clock)
                except ValueError as exc:
                    log.error("camera %s: cannot push to %s: %s", cam.name, label, exc)
                    states.append(PushState(url=label, status="error", last_error=str(exc),
                                            since=self.clock.time()))
                    continue
                self.pushers.setdefault(cam.name, []).append(pusher)
                states.append(pusher.state)
                self._start(f"push {cam.name} {n}", pusher.run, _on_error(pusher))

    def states(self) -> dict[str, list[PushState]]:
        """Each camera's push states, in config order (cameras without push: absent)."""
        return {name: list(states) for name, states in self._states.items()}


def _on_error(pusher: Pusher) -> OnError:
    def failed(exc: BaseException) -> None:
        pusher.state.status = "error"
        pusher.state.last_error = f"internal error ({type(exc).__name__}); restarting the push"
    return failed
