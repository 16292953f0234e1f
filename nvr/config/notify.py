"""``[[notify]]``: phone and chat notifications of events through Apprise.

Each entry holds one or more Apprise URLs (``ntfy://topic``, ``pover://user@token``,
``tgram://bot_token/chat_id``, ``json://host/path`` ...) and the same filters as a
webhook (:class:`~nvr.config.webhooks.AlertFilter`). Apprise URLs carry their
secrets inside them — a topic, a bot token — so no URL is ever shown: not in
``repr()``, not in errors (only the entry and position), not in logs. Apprise's
own logger writes whole URLs when it refuses one, so :func:`quiet_apprise` keeps
its messages (and urllib3's) from reaching the application's log handlers.

Deliveries are filed in the outbox as ``notify:<name>``, or ``notify:<index>``
for an unnamed entry (its position among the ``[[notify]]`` entries; name it to
keep its delivery history when entries are reordered).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from pydantic import Field, PrivateAttr, field_validator
from pydantic_core import PydanticCustomError

from nvr.config.webhooks import AlertFilter

__all__ = ["NOTIFY_PREFIX", "NotifyConfig", "quiet_apprise"]

NOTIFY_PREFIX = "notify:"
# Apprise's own logger, and urllib3's (under Apprise's requests; it logs request
# paths at DEBUG, and a path may be a token). Nothing else in nvr uses urllib3.
QUIET_LOGGERS = ("apprise", "urllib3")

_quiet_lock = threading.Lock()


def quiet_apprise() -> None:
    """Keep Apprise's and urllib3's loggers from propagating to the root logger: their
    messages name whole URLs, secrets included. Apprise hands a failure's messages to
    the caller in its result instead (``nvr.alerts.notify`` scrubs them)."""
    with _quiet_lock:
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            if logger.propagate:
                logger.propagate = False
                logger.addHandler(logging.NullHandler())  # not the "last resort" stderr


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme if sep and scheme.isascii() and scheme.replace("+", "").isalnum() else ""


class NotifyConfig(AlertFilter):
    """One ``[[notify]]`` entry."""

    name: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="A stable name for the deliveries list (notify:<name>); "
        "defaults to the entry's position (notify:0, notify:1, ...).")
    urls: list[str] = Field(
        min_length=1, max_length=20,
        description="Apprise URLs (ntfy://, pover://, tgram://, mailto://, json://, ...); "
        "never shown in logs or errors.")
    _index: int = PrivateAttr(default=0)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        if not value:
            return value
        quiet_apprise()  # before the import: it logs already
        import apprise  # ~0.5 s to import: only when [[notify]] is used

        quiet_apprise()
        for position, url in enumerate(value):
            if apprise.Apprise.instantiate(url) is None:
                scheme = _scheme(url)
                what = f'scheme "{scheme}://"' if scheme else "no scheme://"
                raise PydanticCustomError(
                    "apprise_url", "URL {n} is not one Apprise can send to ({what})",
                    {"n": position + 1, "what": what})
        return value

    def numbered(self, index: int) -> NotifyConfig:
        """Tell the entry its position (``Config`` does, for the unnamed target)."""
        self._index = index
        return self

    @property
    def target(self) -> str:
        """``notify:<name>``, else ``notify:<index>``: never a URL."""
        return f"{NOTIFY_PREFIX}{self.name if self.name is not None else self._index}"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "urls":
                value = [f"{_scheme(u) or '?'}://***" for u in value]
            yield name, value
