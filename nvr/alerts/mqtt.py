"""MQTT publisher: events, motion, camera status and snapshots to a broker.

Topics (``<prefix>`` is ``[mqtt] topic_prefix``, ``nvr`` by default):

- ``<prefix>/available``: ``online`` (retained) while connected; the last will
  sets it to ``offline`` (retained) when nvr dies, and a clean shutdown
  publishes ``offline`` itself.
- ``<prefix>/events``: each event delivery's JSON (the webhook body).
- ``<prefix>/<camera>/motion``: ``ON``/``OFF``, retained.
- ``<prefix>/<camera>/status``: the camera status string, retained.
- ``<prefix>/<camera>/snapshot``: the last event snapshot's JPEG bytes, retained.
- With ``discovery``: Home Assistant config messages (``nvr.alerts.mqtt_discovery``).

Why it is built this way: the callers are the event loop's hot paths (motion,
camera status), so every public method only appends to an in-memory queue
and returns; one task (:meth:`MqttPublisher.run`) owns the connection. The
broker may be down for minutes, so the queue is bounded (oldest dropped and
counted) and each message leaves it only once the broker acknowledged it
(QoS 1), so nothing queued before an outage is lost to it. Retained state is
kept per topic and published again after every (re)connect: a broker that
restarted without persistence gets it back, and a reconnect never shows a
stale ``offline``. A topic with a change still queued is left to the queue,
so the broker's last word on it is always the newest value.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt

from nvr.alerts.mqtt_discovery import discovery_messages, node_id, topics
from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config.mqtt import MqttConfig

__all__ = ["MqttPublisher", "MqttState"]

log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_CAP = 30.0
STABLE_SECONDS = 30.0  # a connection that lasted this long resets the backoff
REMINDER_SECONDS = 300.0
GOODBYE_SECONDS = 1.5  # shutdown: time for the ``offline`` message and DISCONNECT
PUBLISH_TIMEOUT = 10.0  # broker acknowledgement (QoS 1)


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class MqttState:
    """What the system page shows about the broker connection."""

    enabled: bool
    broker: str | None  # host:port, never credentials
    connected: bool
    last_error: str | None
    queued: int
    dropped: int
    sent: int
    connects: int


class MqttPublisher:
    """Publishes nvr's state to an MQTT broker; one long-lived :meth:`run` task.

    The public methods are synchronous and never block: call them from the
    event loop at any time, connected or not.
    """

    def __init__(self, config: MqttConfig, cameras: Sequence[str],
                 clock: Clock = SYSTEM_CLOCK, *, max_queued: int = 1000,
                 max_queued_bytes: int = 32 * 2**20) -> None:
        self._config = config
        self._clock = clock
        self._prefix = config.topic_prefix
        self._available = f"{self._prefix}/available"
        self._max_queued = max_queued
        self._max_queued_bytes = max_queued_bytes
        self._queue: deque[_Message] = deque()
        self._queued_bytes = 0
        self._retained: dict[str, _Message] = {}
        self._cameras: list[str] = []
        self._wake = asyncio.Event()
        self._resend = False
        self._connected = False
        self._last_error: str | None = None
        self._dropped = 0
        self._sent = 0
        self._connects = 0
        self._ssl: ssl.SSLContext | None = None
        for camera in dict.fromkeys(cameras):
            self._add_camera(camera, announce=False)

    # --- public, non-blocking ------------------------------------------------------

    @property
    def state(self) -> MqttState:
        """A snapshot of the connection and queue counters."""
        config = self._config
        return MqttState(
            enabled=config.enabled,
            broker=f"{config.host}:{config.port}" if config.enabled else None,
            connected=self._connected, last_error=self._last_error,
            queued=len(self._queue), dropped=self._dropped, sent=self._sent,
            connects=self._connects)

    def event(self, payload: str | bytes | dict[str, Any]) -> None:
        """Queue an event delivery's JSON for ``<prefix>/events`` (not retained)."""
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"))
        if isinstance(payload, str):
            payload = payload.encode()
        self._publish(_Message(f"{self._prefix}/events", payload, retain=False))

    def motion(self, camera: str, on: bool) -> None:
        """Set ``<prefix>/<camera>/motion`` to ``ON`` or ``OFF`` (retained)."""
        self._set_state(camera, "motion", b"ON" if on else b"OFF")

    def status(self, camera: str, status: str) -> None:
        """Set ``<prefix>/<camera>/status`` to the camera's status (retained)."""
        self._set_state(camera, "status", status.encode())

    def snapshot(self, camera: str, jpeg: bytes) -> None:
        """Set ``<prefix>/<camera>/snapshot`` to these JPEG bytes (retained)."""
        self._add_camera(camera)
        self._publish(_Message(topics(self._prefix, camera)["snapshot"], bytes(jpeg), True))

    # --- queue ---------------------------------------------------------------------

    def _set_state(self, camera: str, kind: str, payload: bytes) -> None:
        self._add_camera(camera)
        topic = topics(self._prefix, camera)[kind]
        current = self._retained.get(topic)
        if current is not None and current.payload == payload:
            return  # unchanged: nothing new for the broker
        self._publish(_Message(topic, payload, retain=True))

    def _add_camera(self, camera: str, announce: bool = True) -> None:
        """Remember ``camera``; with discovery on, announce it to Home Assistant."""
        if camera in self._cameras:
            return
        self._cameras.append(camera)
        if not self._config.discovery:
            return
        for topic, body in discovery_messages(self._prefix, self._config.discovery_prefix,
                                              camera):
            message = _Message(topic, json.dumps(body, separators=(",", ":")).encode(), True)
            if announce:
                self._publish(message)
            else:  # published with the rest of the retained state on connect
                self._retained[topic] = message

    def _publish(self, message: _Message) -> None:
        if not self._config.enabled:
            return
        if message.retain:
            self._retained[message.topic] = message
        self._queue.append(message)
        self._queued_bytes += len(message.payload)
        while len(self._queue) > 1 and (len(self._queue) > self._max_queued
                                        or self._queued_bytes > self._max_queued_bytes):
            old = self._queue.popleft()
            self._queued_bytes -= len(old.payload)
            self._dropped += 1
        self._wake.set()

    def _requeue(self, message: _Message) -> None:
        """Put back a message whose publish did not complete (sent again later)."""
        if len(self._queue) >= self._max_queued:
            self._dropped += 1
            return
        self._queue.appendleft(message)
        self._queued_bytes += len(message.payload)

    # --- the connection task -------------------------------------------------------

    async def run(self) -> None:
        """Connect, publish, reconnect with backoff; until cancelled.

        On cancellation it publishes ``offline`` on ``<prefix>/available`` and
        disconnects, within about 2 s. Returns at once when MQTT is disabled.
        """
        if not self._config.enabled:
            return
        backoff = BACKOFF_START
        reported: str | None = None
        reported_at = 0.0
        while True:
            started = self._clock.monotonic()
            error = "connection ended"
            try:
                await self._session()
            except (aiomqtt.MqttError, OSError) as exc:
                error = self._describe(exc)
            self._connected = False
            self._last_error = error
            now = self._clock.monotonic()
            if now - started >= STABLE_SECONDS:
                backoff = BACKOFF_START
            if error != reported or now - reported_at >= REMINDER_SECONDS:
                still = " (still)" if error == reported else ""
                log.warning("mqtt %s: %s%s; retrying in %.0f s, %d message(s) queued",
                            self.state.broker, error, still, backoff, len(self._queue))
                reported, reported_at = error, now
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_CAP)

    def _describe(self, exc: BaseException) -> str:
        """One line for logs and the system page, never the password."""
        text = str(exc) or type(exc).__name__
        if isinstance(exc, aiomqtt.MqttError) and exc.__cause__ is not None and \
                not isinstance(exc, aiomqtt.MqttCodeError):
            text = f"{text}: {exc.__cause__}"
        password = self._config.password
        if password:
            text = text.replace(password, "***")
        return text.splitlines()[0][:200] if text else "error"

    def _client(self) -> aiomqtt.Client:
        config = self._config
        will = aiomqtt.Will(self._available, b"offline", qos=1, retain=True)
        # unique per connection, at most 23 characters (the MQTT 3.1.1 minimum brokers take)
        identifier = f"nvr-{node_id(self._prefix)[:10]}-{secrets.token_hex(4)}"
        return aiomqtt.Client(
            config.host, config.port, username=config.username, password=config.password,
            identifier=identifier, will=will, keepalive=30, timeout=PUBLISH_TIMEOUT,
            tls_context=self._tls_context(),
            logger=logging.getLogger(f"{__name__}.client"))

    def _tls_context(self) -> ssl.SSLContext | None:
        """``mqtts://``: the broker's certificate checked against ``tls_ca`` or the system's CAs."""
        if not self._config.tls:
            return None
        if self._ssl is None:  # made once: it reads the CA file
            ca = self._config.tls_ca
            self._ssl = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
        return self._ssl

    async def _session(self) -> None:
        """One connection: announce, serve until it breaks (raises) or cancelled."""
        client = self._client()
        await client.__aenter__()  # connect; no ``async with``: its exit must not
        try:                       # turn a cancellation into an MqttError
            self._connected = True
            self._connects += 1
            self._last_error = None
            log.info("mqtt %s: connected", self.state.broker)
            await self._serve(client)
        except asyncio.CancelledError:
            await self._goodbye(client)
            raise
        finally:
            self._connected = False
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)  # DISCONNECT, bounded by timeout

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Send and listen until one of them fails; raises that MqttError."""
        sender = asyncio.create_task(self._send(client), name="mqtt send")
        listener = asyncio.create_task(self._listen(client), name="mqtt listen")
        try:
            done, _ = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._stop_tasks(sender, listener)
        for task in done:
            task.result()  # the MqttError that ended the connection
        raise aiomqtt.MqttError("connection ended")  # pragma: no cover - tasks never return

    @staticmethod
    async def _stop_tasks(*tasks: asyncio.Task[None]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Clean shutdown: ``offline`` retained (the will only fires on a crash)."""
        client.timeout = GOODBYE_SECONDS / 2  # bounds the DISCONNECT wait on exit too
        try:
            await asyncio.wait_for(
                client.publish(self._available, b"offline", qos=1, retain=True),
                GOODBYE_SECONDS)
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            log.warning("mqtt %s: could not publish offline at shutdown: %s",
                        self.state.broker, self._describe(exc))

    async def _republish(self, client: aiomqtt.Client) -> None:
        """Availability and every retained state whose newest value is not queued."""
        await client.publish(self._available, b"online", qos=1, retain=True)
        pending = {message.topic for message in self._queue}
        for message in list(self._retained.values()):
            if message.topic not in pending:
                await client.publish(message.topic, message.payload, qos=1, retain=True)

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish the retained state, then the queue in order, forever."""
        await self._republish(client)
        while True:
            self._wake.clear()
            if self._resend:
                self._resend = False
                await self._republish(client)
            while self._queue:
                message = self._queue.popleft()
                self._queued_bytes -= len(message.payload)
                try:
                    await client.publish(message.topic, message.payload, qos=1,
                                         retain=message.retain)
                except BaseException:
                    self._requeue(message)
                    raise
                self._sent += 1
            await self._wake.wait()

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Notice a broken connection; with discovery, answer Home Assistant's restart.

        Home Assistant publishes ``online`` on ``<discovery_prefix>/status`` when it
        starts; its discovered entities then need their configs and states again.
        """
        if self._config.discovery:
            await client.subscribe(f"{self._config.discovery_prefix}/status", qos=1)
        try:
            async for message in client.messages:  # raises MqttError when disconnected
                if message.payload == b"online":
                    self._resend = True
                    self._wake.set()
        except aiomqtt.MqttError as exc:
            cause = exc.__cause__
            raise aiomqtt.MqttError(f"connection lost ({cause})" if cause else
                                    "connection lost") from None
        raise aiomqtt.MqttError("connection lost")  # pragma: no cover - the stream never ends
