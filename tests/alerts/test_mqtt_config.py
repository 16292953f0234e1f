"""[mqtt] config and the publisher's queue, without a broker."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nvr.alerts.mqtt import MqttPublisher
from nvr.alerts.mqtt_discovery import discovery_messages
from nvr.config.model import Config
from nvr.config.mqtt import MqttConfig


def test_mqtt_is_off_without_url():
    config = Config()
    assert config.mqtt.enabled is False
    assert config.mqtt.topic_prefix == "nvr"
    assert config.mqtt.discovery is False


@pytest.mark.parametrize(("url", "host", "port", "tls"), [
    ("mqtt://broker.lan", "broker.lan", 1883, False),
    ("mqtt://10.0.0.5:1884", "10.0.0.5", 1884, False),
    ("mqtts://broker.lan", "broker.lan", 8883, True),
    ("MQTTS://[::1]:9999/", "::1", 9999, True),
])
def test_mqtt_url_gives_host_port_and_tls(url: str, host: str, port: int, tls: bool):
    config = MqttConfig(url=url)
    assert (config.enabled, config.host, config.port, config.tls) == (True, host, port, tls)


@pytest.mark.parametrize(("url", "message"), [
    ("http://broker:1883", "scheme must be mqtt or mqtts"),
    ("mqtt://:1883", "must have a host"),
    ("mqtt://broker:99999", "port must be a number"),
    ("mqtt://broker:0", "port must be a number"),
    ("mqtt://me:hunter2secret@broker", "mqtt.username and mqtt.password"),
    ("mqtt://broker/topic", "just scheme, host and port"),
])
def test_mqtt_bad_url_is_refused_without_showing_a_password(url: str, message: str):
    with pytest.raises(ValidationError) as info:
        MqttConfig(url=url)
    assert message in str(info.value)
    assert "hunter2secret" not in str(info.value)


@pytest.mark.parametrize("prefix", ["nvr/#", "a/+/b", "/nvr", "nvr/", "a//b"])
def test_mqtt_topic_prefix_with_wildcards_or_empty_levels_is_refused(prefix: str):
    with pytest.raises(ValidationError, match="topic_prefix"):
        MqttConfig(url="mqtt://b", topic_prefix=prefix)


def test_mqtt_password_hidden_and_needs_a_username():
    config = MqttConfig(url="mqtt://b", username="nvr", password="hunter2secret")
    assert "hunter2secret" not in repr(config)
    assert "hunter2secret" not in str(config)
    assert "hunter2secret" not in repr(Config(mqtt=config))
    with pytest.raises(ValidationError, match="password is set without username") as info:
        MqttConfig(url="mqtt://b", password="hunter2secret")
    assert "hunter2secret" not in str(info.value)


def test_mqtt_unknown_key_is_an_error():
    with pytest.raises(ValidationError, match="extra"):
        MqttConfig.model_validate({"url": "mqtt://b", "topic": "x"})


async def test_publisher_disabled_does_nothing():
    publisher = MqttPublisher(MqttConfig(), ["cam1"])
    publisher.event({"a": 1})
    publisher.motion("cam1", True)
    await publisher.run()  # returns at once
    state = publisher.state
    assert (state.enabled, state.connected, state.queued, state.broker) == (False, False, 0, None)


def test_publisher_queue_is_bounded_oldest_dropped_and_counted():
    publisher = MqttPublisher(MqttConfig(url="mqtt://127.0.0.1:1"), ["cam1"], max_queued=3)
    for n in range(5):
        publisher.event({"n": n})
    state = publisher.state
    assert (state.queued, state.dropped, state.connected) == (3, 2, False)
    assert state.broker == "127.0.0.1:1"


def test_publisher_repeated_state_is_queued_once():
    publisher = MqttPublisher(MqttConfig(url="mqtt://127.0.0.1:1"), ["cam1"])
    publisher.motion("cam1", True)
    publisher.motion("cam1", True)
    publisher.status("cam1", "online")
    publisher.status("cam1", "online")
    publisher.motion("cam1", False)
    assert publisher.state.queued == 3


def test_discovery_topics_ids_and_availability():
    messages = dict(discovery_messages("home/nvr", "homeassistant", "door"))
    assert set(messages) == {
        "homeassistant/binary_sensor/home_nvr/door_motion/config",
        "homeassistant/sensor/home_nvr/door_status/config",
        "homeassistant/camera/home_nvr/door_snapshot/config",
    }
    ids = {body["unique_id"] for body in messages.values()}
    assert len(ids) == 3
    for body in messages.values():
        assert body["availability_topic"] == "home/nvr/available"
        assert body["device"]["identifiers"] == ["home_nvr_door"]


def test_mqtt_tls_ca_must_exist_and_needs_mqtts(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert MqttConfig(url="mqtts://b", tls_ca=ca).tls_ca == ca
    relative = MqttConfig.model_validate({"url": "mqtts://b", "tls_ca": "ca.pem"},
                                         context={"base_dir": tmp_path})
    assert relative.tls_ca == ca
    with pytest.raises(ValidationError, match="no such file"):
        MqttConfig(url="mqtts://b", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="needs an mqtts:// url"):
        MqttConfig(url="mqtt://b", tls_ca=ca)
