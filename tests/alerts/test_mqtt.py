"""MqttPublisher against a real Mosquitto broker, read back with an aiomqtt subscriber.

Each test uses its own topic prefix, so the retained messages of one test never
meet another's on the shared (module-scoped) broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest

from nvr.alerts.mqtt import MqttPublisher
from nvr.clock import ManualClock, SkippableClock
from nvr.config.mqtt import MqttConfig

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # upper bound for a message to arrive; reached only when a test fails
PASSWORD = "s3cret-broker-pw"

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(MOSQUITTO is None,
                       reason="mosquitto is not installed (apt-get install mosquitto; "
                              ".ci/run installs it)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One Mosquitto process on a fixed port; stop and start again on the same port."""

    def __init__(self, directory: Path, extra: str = "") -> None:
        self.port = free_port()
        self.conf = directory / f"mosquitto-{self.port}.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nuser root\n{extra}\n")
        self.log = directory / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert MOSQUITTO is not None
        for _ in range(3):
            if self._start():
                return
            # the free port was taken by another test process before mosquitto bound it
            _, rest = self.conf.read_text().split("\n", 1)
            self.port = free_port()
            self.conf.write_text(f"listener {self.port} 127.0.0.1\n{rest}")
        raise RuntimeError(f"mosquitto did not start: {self.log.read_text()}")

    def _start(self) -> bool:
        """Whether mosquitto itself now listens on the port (not someone else)."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(0.2)  # a mosquitto that could not bind exits at once
                return self.proc.poll() is None
            except OSError:
                if self.proc.poll() is not None:
                    return False
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {self.log.read_text()}") \
                        from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    one = Broker(tmp_path_factory.mktemp("mosquitto"), "allow_anonymous true")
    one.start()
    yield one
    one.stop()


@pytest.fixture
def spare_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own, not started: the test stops and starts it."""
    one = Broker(tmp_path, "allow_anonymous true")
    yield one
    one.stop()


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed (Debian package mosquitto)")
    directory = tmp_path_factory.mktemp("mosquitto-auth")
    passwords = directory / "passwords"
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", str(passwords), "nvr", PASSWORD], check=True)
    passwords.chmod(0o600)
    one = Broker(directory, f"allow_anonymous false\npassword_file {passwords}")
    one.start()
    yield one
    one.stop()


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a broker certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "broker.pem", directory / "broker.key", directory / "broker.csr"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nauthorityKeyIdentifier=keyid,issuer\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=nvr test CA"],
        [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(c) for c in command], check=True, capture_output=True)
    return ca, cert, key


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Path]]:
    directory = tmp_path_factory.mktemp("mosquitto-tls")
    ca, cert, key = make_certificates(directory)
    one = Broker(directory, f"allow_anonymous true\ncafile {ca}\ncertfile {cert}\n"
                            f"keyfile {key}")
    one.start()
    yield one, ca
    one.stop()


class Subscriber:
    """Collects what arrives under a topic filter; ``wait`` for a topic's payload."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.seen: dict[str, list[bytes]] = defaultdict(list)

    async def wait(self, topic: str, payload: bytes | None = None, count: int = 1) -> bytes:
        def found() -> bytes | None:
            got = [p for p in self.seen[topic] if payload is None or p == payload]
            return got[-1] if len(got) >= count else None

        async with asyncio.timeout(WAIT):
            while (hit := found()) is None:
                message = await anext(aiter(self.client.messages))
                assert isinstance(message.payload, bytes)
                self.seen[str(message.topic)].append(message.payload)
        return hit


@contextlib.asynccontextmanager
async def subscribe(broker: Broker, topic: str, **auth: str) -> AsyncIterator[Subscriber]:
    async with aiomqtt.Client("127.0.0.1", broker.port, **auth) as client:  # type: ignore[arg-type]
        await client.subscribe(topic, qos=1)
        yield Subscriber(client)


@contextlib.asynccontextmanager
async def running(publisher: MqttPublisher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(publisher.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool]) -> None:
    """Poll the publisher's state (it has no event to wait on; that is what tests read)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_mqtt_events_motion_status_and_availability(broker: Broker):
    config = MqttConfig(url=broker.url, topic_prefix="t1/nvr")
    publisher = MqttPublisher(config, ["cam1"])
    payload = {"version": 1, "event_id": 7, "phase": "start", "type": "motion",
               "camera": "cam1"}
    async with subscribe(broker, "t1/nvr/#") as sub, running(publisher) as task:
        await sub.wait("t1/nvr/available", b"online")
        publisher.event(payload)
        publisher.event(json.dumps({**payload, "phase": "end"}))
        publisher.motion("cam1", True)
        publisher.status("cam1", "online")
        assert json.loads(await sub.wait("t1/nvr/events")) == payload
        assert json.loads(await sub.wait("t1/nvr/events", count=2))["phase"] == "end"
        await sub.wait("t1/nvr/cam1/motion", b"ON")
        publisher.motion("cam1", False)
        publisher.status("cam1", "offline")
        await sub.wait("t1/nvr/cam1/status", b"offline")
        await until(lambda: publisher.state.sent == 6)  # each acknowledged by the broker
        assert publisher.state.connected and publisher.state.queued == 0

        # a subscriber joining later gets the retained state, newest values
        async with subscribe(broker, "t1/nvr/#") as late:
            assert await late.wait("t1/nvr/cam1/motion") == b"OFF"
            assert await late.wait("t1/nvr/cam1/status") == b"offline"
            assert await late.wait("t1/nvr/available") == b"online"
            assert late.seen["t1/nvr/events"] == []  # events are not retained

        # a clean shutdown publishes offline itself
        task.cancel()
        async with asyncio.timeout(WAIT):  # a hang guard: the goodbye is bounded (~2 s)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await sub.wait("t1/nvr/available", b"offline")
    assert publisher.state.connected is False


async def test_mqtt_last_will_after_kill_9(broker: Broker):
    script = (
        "import asyncio, sys\n"
        "from nvr.alerts.mqtt import MqttPublisher\n"
        "from nvr.config.mqtt import MqttConfig\n"
        "asyncio.run(MqttPublisher(MqttConfig(url=sys.argv[1], topic_prefix='t2'),"
        " ['cam1']).run())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    async with subscribe(broker, "t2/available") as sub:
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, broker.url,
                                                     env=env, cwd=ROOT)
        try:
            await sub.wait("t2/available", b"online")
            child.send_signal(signal.SIGKILL)
            await child.wait()
            await sub.wait("t2/available", b"offline")
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    async with subscribe(broker, "t2/available") as late:  # and the will is retained
        assert await late.wait("t2/available") == b"offline"


async def test_mqtt_queues_while_broker_down_and_sends_after_reconnect(spare_broker: Broker):
    clock = ManualClock()  # reconnects happen only when the test moves time on
    publisher = MqttPublisher(MqttConfig(url=spare_broker.url, topic_prefix="t3"), ["cam1"],
                              clock)
    async with running(publisher):
        await until(lambda: publisher.state.last_error is not None)
        publisher.motion("cam1", True)
        publisher.event({"n": 1})
        publisher.event({"n": 2})
        state = publisher.state
        assert (state.connected, state.queued) == (False, 3)

        spare_broker.start()
        async with subscribe(spare_broker, "t3/#") as sub:
            await clock.advance(60)
            await sub.wait("t3/available", b"online")
            assert json.loads(await sub.wait("t3/events", count=2)) == {"n": 2}
            assert [json.loads(p) for p in sub.seen["t3/events"]] == [{"n": 1}, {"n": 2}]
            await sub.wait("t3/cam1/motion", b"ON")
        await until(lambda: publisher.state.queued == 0)
        assert publisher.state.connected

        # the broker restarts (its retained messages gone): state comes back by itself
        spare_broker.stop()
        await until(lambda: not publisher.state.connected)
        publisher.event({"n": 3})
        spare_broker.start()
        async with subscribe(spare_broker, "t3/#") as sub:
            await clock.advance(60)
            assert json.loads(await sub.wait("t3/events")) == {"n": 3}
            await sub.wait("t3/available", b"online")
            await sub.wait("t3/cam1/motion", b"ON")  # republished, not queued again
        assert publisher.state.connects == 2


async def test_mqtt_home_assistant_discovery_and_snapshot(broker: Broker):
    config = MqttConfig(url=broker.url, topic_prefix="t4", discovery=True,
                        discovery_prefix="ha4")
    publisher = MqttPublisher(config, ["cam1", "cam2"])
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
    async with subscribe(broker, "ha4/#") as ha, running(publisher):
        expected = {f"ha4/{component}/t4/{cam}_{kind}/config"
                    for cam in ("cam1", "cam2")
                    for component, kind in (("binary_sensor", "motion"), ("sensor", "status"),
                                            ("camera", "snapshot"))}
        for topic in sorted(expected):
            await ha.wait(topic)
        configs = {t: json.loads(p[-1]) for t, p in ha.seen.items() if t in expected}
        assert len({c["unique_id"] for c in configs.values()}) == 6
        for topic, body in configs.items():
            cam = "cam1" if "/cam1_" in topic else "cam2"
            assert body["availability_topic"] == "t4/available"
            assert body["device"]["identifiers"] == [f"t4_{cam}"]
            assert body["device"]["name"] == cam
        motion = configs["ha4/binary_sensor/t4/cam1_motion/config"]
        assert (motion["state_topic"], motion["device_class"]) == ("t4/cam1/motion", "motion")
        assert (motion["payload_on"], motion["payload_off"]) == ("ON", "OFF")
        assert configs["ha4/sensor/t4/cam2_status/config"]["state_topic"] == "t4/cam2/status"
        assert configs["ha4/camera/t4/cam1_snapshot/config"]["topic"] == "t4/cam1/snapshot"

        # the camera entity shows the snapshot's bytes, retained
        publisher.snapshot("cam1", jpeg)
        async with subscribe(broker, "t4/cam1/snapshot") as viewer:
            assert await viewer.wait("t4/cam1/snapshot") == jpeg

        # Home Assistant restarted: it says so, and gets its entities again
        await ha.client.publish("ha4/status", b"online", qos=1)
        await ha.wait("ha4/binary_sensor/t4/cam1_motion/config", count=2)

    async with subscribe(broker, "ha4/#") as late:  # and they are retained
        for topic in sorted(expected):
            await late.wait(topic)


async def test_mqtt_username_password(auth_broker: Broker, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    good = MqttPublisher(MqttConfig(url=auth_broker.url, topic_prefix="t5",
                                    username="nvr", password=PASSWORD), ["cam1"])
    clock = SkippableClock()
    bad = MqttPublisher(MqttConfig(url=auth_broker.url, topic_prefix="t5bad",
                                   username="nvr", password=PASSWORD + "-wrong"), ["cam1"],
                        clock)
    async with subscribe(auth_broker, "t5/#", username="nvr", password=PASSWORD) as sub, \
            running(good), running(bad):
        good.status("cam1", "online")
        await sub.wait("t5/cam1/status", b"online")
        await until(lambda: bad.state.last_error is not None)
        error = bad.state.last_error or ""
        assert "not authori" in error.lower() or "bad user name" in error.lower()
        assert bad.state.connected is False
        assert bad.state.connects == 0
    assert "retrying in" in caplog.text  # the refusal was logged, without the password
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(good._config)  # noqa: SLF001


async def test_mqtt_tls_checks_the_broker_certificate(tls_broker: tuple[Broker, Path]):
    broker, ca = tls_broker
    url = f"mqtts://127.0.0.1:{broker.port}"
    trusting = MqttPublisher(MqttConfig(url=url, topic_prefix="t6", tls_ca=ca), ["cam1"])
    strict = MqttPublisher(MqttConfig(url=url, topic_prefix="t6x"), ["cam1"], SkippableClock())
    async with running(trusting), running(strict):
        trusting.status("cam1", "online")
        await until(lambda: trusting.state.sent >= 1)
        await until(lambda: strict.state.last_error is not None)
    assert "certificate verify failed" in (strict.state.last_error or "")
    assert strict.state.connects == 0
    assert trusting.state.connects == 1


async def test_mqtt_shutdown_ends_even_when_the_broker_hangs(spare_broker: Broker):
    spare_broker.start()
    publisher = MqttPublisher(MqttConfig(url=spare_broker.url, topic_prefix="t7"), ["cam1"])
    task = asyncio.create_task(publisher.run())
    assert spare_broker.proc is not None
    try:
        await until(lambda: publisher.state.connected)
        spare_broker.proc.send_signal(signal.SIGSTOP)  # no more acknowledgements
        task.cancel()
        async with asyncio.timeout(WAIT):  # a hang guard: the goodbye is bounded (~2 s)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert task.cancelled()
    finally:
        spare_broker.proc.send_signal(signal.SIGCONT)
        if not task.done():
            task.cancel()
    async with subscribe(spare_broker, "t7/available") as late:  # the goodbye still lands
        assert await late.wait("t7/available") == b"offline"
