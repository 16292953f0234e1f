"""Tests for nvr.config.types: sizes, host:port, RTSP URL checks and redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import SECRET, write
from pydantic_core import PydanticCustomError

from nvr.config import load_config, parse_size, redact_url
from nvr.config.types import check_rtsp_url, split_host_port

# --- sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500GB", 500 * 10**9),
        ("20GiB", 20 * 2**30),
        ("1.5TB", 1_500_000_000_000),
        ("100MB", 100 * 10**6),
        ("0", 0),
        ("1000000", 1_000_000),
        ("12KB", 12_000),
        ("3KiB", 3072),
        ("2MiB", 2 * 2**20),
        ("1TiB", 2**40),
        ("500gb", 500 * 10**9),
        ("20gib", 20 * 2**30),
        (" 7 GB ", 7 * 10**9),
        ("10B", 10),
        (0, 0),
        (123, 123),
    ],
)
def test_parse_size_valid(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["5XB", "", "GB", "-1GB", "1 G B", "1e9", "ten", "1.2.3GB"])
def test_parse_size_invalid(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(text)
    assert str(info.value) == f'not a size: "{text}" (use e.g. 500GB, 20GiB, 1000000)'


@pytest.mark.parametrize("value", [-1, True])
def test_parse_size_invalid_non_string(value: int) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(value)


def test_load_size_int_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "[recording]\nmax_bytes = 123456\nmin_free = 0\n")
    recording = load_config(path, env={}).recording
    assert (recording.max_bytes, recording.min_free) == (123456, 0)


# --- host:port -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:1", ("localhost", 1)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_split_host_port_valid(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost", 'must be "host:port", e.g. "127.0.0.1:8080" (got "localhost")'),
        ("h:", 'must be "host:port", e.g. "127.0.0.1:8080" (got "h:")'),
        (":8080", 'host is empty (got ":8080")'),
        ("[]:8080", 'host is empty (got "[]:8080")'),
        ("h:0", 'port must be a number 1-65535 (got "h:0")'),
        ("h:http", 'port must be a number 1-65535 (got "h:http")'),
    ],
)
def test_split_host_port_invalid(text: str, message: str) -> None:
    with pytest.raises(PydanticCustomError) as info:
        split_host_port(text)
    assert info.value.message() == message


# --- urls ------------------------------------------------------------------------------


def test_redact_url_password() -> None:
    url = f"rtsp://admin:{SECRET}@10.0.0.5:554/stream1?x=1"
    assert redact_url(url) == "rtsp://admin:***@10.0.0.5:554/stream1?x=1"


def test_redact_url_percent_encoded() -> None:
    assert redact_url("rtsp://ad%40min:p%40ss%3Aw@cam/s") == "rtsp://ad%40min:***@cam/s"


def test_redact_url_password_absent() -> None:
    assert redact_url("rtsp://cam/s") == "rtsp://cam/s"
    assert redact_url("rtsp://user@cam/s") == "rtsp://user@cam/s"


def test_redact_url_unparseable_hidden() -> None:
    assert redact_url(f"rtsp://admin:{SECRET}@[::1/s") == "***"


@pytest.mark.parametrize(
    "url", ["rtsp://h/", "RTSP://h/", "rtsps://h:322/s", "rtsp://u:p@[::1]:554/s"]
)
def test_check_rtsp_url_valid(url: str) -> None:
    assert check_rtsp_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h/", 'scheme must be rtsp or rtsps: "http://h/"'),
        ("", 'scheme must be rtsp or rtsps: ""'),
        (f"rtsp://admin:{SECRET}@/nohost", 'must have a host: "rtsp://admin:***@/nohost"'),
        (f"rtsp://admin:{SECRET}@h:0/", 'port must be a number 1-65535: "rtsp://admin:***@h:0/"'),
        ("rtsp://h:x/", 'port must be a number 1-65535: "rtsp://h:x/"'),
        (f"rtsp://admin:{SECRET}@[::1/s", 'not a valid URL: "***"'),
    ],
)
def test_check_rtsp_url_invalid(url: str, message: str) -> None:
    with pytest.raises(PydanticCustomError) as info:
        check_rtsp_url(url)
    assert info.value.message() == message
    assert SECRET not in str(info.value)
