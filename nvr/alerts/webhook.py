"""Webhook request signing (``docs/ref/webhooks.md``).

``X-NVR-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with
the webhook's secret. :func:`verify` is what a receiver does; the tests and the
documentation use it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["CLIP_TYPES", "SCHEMA_VERSION", "SIGNATURE_HEADER", "SNAPSHOT_TYPES",
           "request_headers", "sign", "verify"]

SCHEMA_VERSION = 1
SNAPSHOT_TYPES = frozenset({"motion"})  # event types that keep a snapshot JPEG
CLIP_TYPES = frozenset({"motion"})  # event types whose recording window is a clip
SIGNATURE_HEADER = "X-NVR-Signature"
USER_AGENT = "nvr-webhook/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_headers(secret: str, timestamp: int, body: bytes, idempotency_key: str,
                    extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every header of one delivery: the webhook's own ``extra`` first, then ours."""
    headers = dict(extra or {})
    headers.update({
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key,
        SIGNATURE_HEADER: f"t={timestamp},v1={sign(secret, timestamp, body)}",
    })
    return headers


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """Whether ``header`` (an X-NVR-Signature value) signs ``body`` under ``secret`` and
    its timestamp is within ``tolerance`` seconds of ``now``."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))
