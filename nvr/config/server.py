"""``[server]``: the data directory, the web address, the database URL, and the
public address alerts link to.

``data_dir`` is resolved against the config file's directory, which the loader
passes as ``base_dir`` in the validation context. The database URL may hold a
password: ``repr()`` shows it as ``***``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from nvr.config.types import STRICT, split_host_port

__all__ = ["ServerConfig"]


class ServerConfig(BaseModel):
    """``[server]``: where data lives and where the web API listens."""

    model_config = STRICT

    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory for recordings and the SQLite database. A relative path "
        "is resolved against the config file's directory; '~' is expanded.",
    )
    http: str = Field(
        default="127.0.0.1:8080",
        min_length=1,
        max_length=300,
        description='Address of the web UI and API, "host:port" ("[::1]:8080" for IPv6); '
        "port 1-65535.",
    )
    database: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="SQLAlchemy database URL; unset means sqlite:///<data_dir>/nvr.db.",
    )

    tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate (chain) to serve HTTPS directly; needs tls_key. "
        "Relative to the config file's directory.",
    )
    tls_key: Path | None = Field(
        default=None,
        description="PEM private key of tls_cert.",
    )

    public_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description='The address users reach the web UI at, e.g. "https://nvr.example.com": '
        "alerts link to snapshots and clips under it. A trailing slash is dropped.",
    )

    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description='Addresses of reverse proxies in front of nvr, e.g. ["127.0.0.1"] or '
        '["10.0.0.0/8"]: their X-Forwarded-For and X-Forwarded-Proto headers are believed '
        "(the client's address for the login throttle and the audit log; https for "
        "cookies and the same-origin check). Unset: those headers are ignored.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        out = []
        for entry in value:
            try:
                text = entry.strip()
                out.append(str(ipaddress.ip_network(text, strict=False)) if "/" in text
                           else str(ipaddress.ip_address(text)))
            except ValueError:
                raise PydanticCustomError(
                    "trusted_proxies", "'{entry}' is not an IP address or network "
                    '(e.g. "127.0.0.1", "::1" or "10.0.0.0/8")', {"entry": entry[:60]},
                ) from None
        return out

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise PydanticCustomError("public_url", "not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PydanticCustomError(
                "public_url", 'must be an http:// or https:// URL with a host, '
                'e.g. "https://nvr.example.com"')
        if parts.username is not None or parts.query or parts.fragment:
            raise PydanticCustomError(
                "public_url", "must not hold a user, a query or a fragment")
        return value.rstrip("/")

    @field_validator("data_dir", "tls_cert", "tls_key")
    @classmethod
    def _resolve_data_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None:
            path = Path(os.path.normpath(Path(base) / path))
        return path

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise ValidationError.from_exception_data("ServerConfig", [InitErrorDetails(
                type=PydanticCustomError(
                    "tls", "missing: tls_cert and tls_key go together, set both or neither"),
                loc=(missing,), input=None)])
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _tls_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise PydanticCustomError("tls", "no such file: {path}", {"path": str(value)})
        return value

    @field_validator("http")
    @classmethod
    def _check_http(cls, value: str) -> str:
        split_host_port(value)
        return value

    @field_validator("database")
    @classmethod
    def _check_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise PydanticCustomError(
                "database_url", 'not a SQLAlchemy URL (e.g. "postgresql+psycopg://u@host/nvr")'
            ) from None
        return value

    @property
    def http_host(self) -> str:
        """The host part of ``http``, without IPv6 brackets."""
        return split_host_port(self.http)[0]

    @property
    def http_port(self) -> int:
        """The port part of ``http``."""
        return split_host_port(self.http)[1]

    @property
    def database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database is not None:
            return self.database
        return f"sqlite:///{self.data_dir / 'nvr.db'}"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "database" and value is not None:
                value = make_url(value).render_as_string(hide_password=True)
            yield name, value
