"""The RTMP server as people see it: play URLs, stream rows with push targets, and
the System page's summary.

The rows come from ``Services.rtmp`` (:func:`nvr.rtmpstats.streams`); this module
adds what depends on the request and on other parts: each stream's play URL
(``rtmp://<host>:<port>/live/<name>``, the host being ``[server] public_url``'s or
else the one the browser used, the port ``[rtmp] listen``'s; ``rtmps_url`` the same
on ``rtmps_listen``) and the camera's push targets (``Services.push``, URLs already
without their stream keys). Never a key: not the publish key, and not the play key
either — a player adds ``?key=`` itself when ``play_key`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from nvr.config import Config
from nvr.config.rtmp import APP
from nvr.config.types import split_host_port
from nvr.web.services import PushStateLike, Services

__all__ = ["RtmpSummary", "play_host", "push_rows", "pushed_only", "stream_rows", "summary"]

_HOST_RE = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")  # a name or an address, nothing else


def play_host(conn: HTTPConnection, config: Config | None) -> str:
    """The host players should use: ``public_url``'s, else the one in the request
    (IPv6 in brackets); anything odd in a Host header falls back to ``listen``'s."""
    host: str | None = None
    if config is not None and config.server.public_url:
        host = urlsplit(config.server.public_url).hostname
    if not host:
        host = conn.url.hostname
    if not host or not _HOST_RE.match(host):
        host = split_host_port(config.rtmp.listen)[0] if config is not None else ""
        if host in ("", "0.0.0.0", "::"):  # every address: which one is for us to guess
            host = "localhost"
    return f"[{host}]" if ":" in host else host


def _base(config: Config, host: str, tls: bool) -> str | None:
    """``rtmp://host:port`` (``rtmps://`` for ``tls``), or None when not served."""
    rtmp = config.rtmp
    if not rtmp.enabled:
        return None
    if tls:
        if not rtmp.rtmps_listen:
            return None
        return f"rtmps://{host}:{split_host_port(rtmp.rtmps_listen)[1]}"
    return f"rtmp://{host}:{rtmp.listen_address[1]}"


def push_rows(states: Iterable[PushStateLike]) -> list[dict[str, Any]]:
    """Push targets as the API shows them (the URLs come redacted)."""
    return [dict(url=p.url, status=p.status, last_error=p.last_error,
                 bytes_sent=p.bytes_sent, reconnects=p.reconnects) for p in states]


def _pushes(services: Services) -> Mapping[str, Sequence[PushStateLike]]:
    return services.push() if services.push is not None else {}


def stream_rows(services: Services, host: str) -> list[dict[str, Any]]:
    """``GET /api/rtmp/streams``: the server's rows, each with ``url``, ``rtmps_url``
    and ``push`` (the camera's push targets, on the row that carries its feed)."""
    if services.rtmp is None or services.config is None:
        return []
    rows = [dict(row) for row in services.rtmp()]
    plain, tls = _base(services.config, host, False), _base(services.config, host, True)
    pushes = _pushes(services)
    owner: dict[str, dict[str, Any]] = {}  # camera → the row its push targets go on
    for row in rows:
        row["url"] = f"{plain}/{row['name']}" if plain else None
        row["rtmps_url"] = f"{tls}/{row['name']}" if tls else None
        row["push"] = []
        feed = str(row.get("feed"))  # pushes go by the camera's own feed, not its sub stream
        if feed in pushes and (feed not in owner or row.get("source") == "camera"):
            owner[feed] = row  # live/<camera> before the stream a camera records
    for feed, row in owner.items():
        row["push"] = push_rows(pushes[feed])
    return rows


def pushed_only(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of streams publishers send that no camera records."""
    return [r for r in rows if r.get("source") == "publisher" and not r.get("camera")
            and r.get("publisher")]


@dataclass
class RtmpSummary:
    """The System page's RTMP section."""

    enabled: bool
    listen: str
    rtmps_listen: str | None = None
    server_url: str | None = None  # what OBS calls "Server": rtmp://host:port/live
    rtmps_server_url: str | None = None
    publishing: bool = False  # a publish_key is set (else every publisher is refused)
    play_key: bool = False  # players must add ?key=
    streams: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # camera →


def summary(services: Services, host: str) -> RtmpSummary | None:
    """None without a config (some tests); else the section, also when disabled (then
    with the push targets, which work without the server)."""
    config = services.config
    if config is None:
        return None
    rtmp = config.rtmp
    plain, tls = _base(config, host, False), _base(config, host, True)
    return RtmpSummary(
        enabled=rtmp.enabled and services.rtmp is not None, listen=rtmp.listen,
        rtmps_listen=rtmp.rtmps_listen, server_url=f"{plain}/{APP}" if plain else None,
        rtmps_server_url=f"{tls}/{APP}" if tls else None,
        publishing=rtmp.publish_key is not None, play_key=rtmp.play_key is not None,
        streams=stream_rows(services, host),
        pushes=[(camera, push_rows(states)) for camera, states in _pushes(services).items()
                if states])
