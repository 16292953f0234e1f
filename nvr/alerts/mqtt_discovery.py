"""Home Assistant MQTT discovery: the retained config messages that make each
camera a device with three entities.

Home Assistant reads ``<discovery_prefix>/<component>/<node_id>/<object_id>/config``
and creates the entity it describes; the entity then follows its state topic.
Per camera we announce a motion ``binary_sensor`` (``ON``/``OFF`` on
``<prefix>/<camera>/motion``), a status ``sensor`` (``<prefix>/<camera>/status``)
and a ``camera`` that shows the JPEG bytes last published on
``<prefix>/<camera>/snapshot``. All three share ``<prefix>/available`` as their
availability topic, so they go *unavailable* when nvr's last will fires.

Pure functions: the publisher (``nvr.alerts.mqtt``) sends what they return.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["STATUS_OPTIONS", "discovery_messages", "node_id", "topics"]

# The camera status strings (nvr.source.STATUSES; alerts may not import nvr.source).
STATUS_OPTIONS = ("online", "connecting", "offline", "auth_failed", "error")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def node_id(topic_prefix: str) -> str:
    """The discovery node id for this nvr: its topic prefix made id-safe.

    Two nvr instances on one broker need different topic prefixes anyway, so
    the prefix also keeps their entities apart in Home Assistant.
    """
    return _UNSAFE.sub("_", topic_prefix)


def topics(topic_prefix: str, camera: str) -> dict[str, str]:
    """The per-camera state topics: ``motion``, ``status``, ``snapshot``."""
    return {kind: f"{topic_prefix}/{camera}/{kind}" for kind in ("motion", "status", "snapshot")}


def discovery_messages(topic_prefix: str, discovery_prefix: str,
                       camera: str) -> list[tuple[str, dict[str, Any]]]:
    """``(config topic, config)`` of the three entities of ``camera``."""
    node = node_id(topic_prefix)
    obj = _UNSAFE.sub("_", camera)
    state = topics(topic_prefix, camera)
    common: dict[str, Any] = {
        "availability_topic": f"{topic_prefix}/available",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [f"{node}_{obj}"],
            "name": camera,
            "manufacturer": "nvr",
            "model": "IP camera",
        },
        "origin": {"name": "nvr"},
    }
    motion = {
        **common,
        "name": "Motion",
        "unique_id": f"{node}_{obj}_motion",
        "state_topic": state["motion"],
        "device_class": "motion",
        "payload_on": "ON",
        "payload_off": "OFF",
    }
    status = {
        **common,
        "name": "Status",
        "unique_id": f"{node}_{obj}_status",
        "state_topic": state["status"],
        "device_class": "enum",
        "options": list(STATUS_OPTIONS),
        "entity_category": "diagnostic",
    }
    snapshot = {
        **common,
        "name": "Snapshot",
        "unique_id": f"{node}_{obj}_snapshot",
        "topic": state["snapshot"],
    }
    base = f"{discovery_prefix}/{{}}/{node}/{obj}_{{}}/config"
    return [
        (base.format("binary_sensor", "motion"), motion),
        (base.format("sensor", "status"), status),
        (base.format("camera", "snapshot"), snapshot),
    ]
