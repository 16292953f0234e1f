"""``nvr run`` serving HTTPS itself: a real TLS client, Secure cookies, HSTS,
and what a hostile client sends over the wire."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from nvrharness import ADMIN_PASSWORD, free_port, nvr_process, toml_value

WRONG = "hunter2-wrong-password"


def _trust(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def https_nvr(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("https")
    cert, key = _certificate(tmp)
    port = free_port()
    config = tmp / "config.toml"
    config.write_text(
        f"[server]\ndata_dir = {toml_value(tmp / 'data')}\nhttp = \"127.0.0.1:{port}\"\n"
        f"tls_cert = {toml_value(cert)}\ntls_key = {toml_value(key)}\n")
    log = tmp / "nvr.log"
    process = nvr_process(config, log)
    base = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", verify=_trust(cert), timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "nvr did not answer over HTTPS"
        time.sleep(0.2)
    yield base, cert, port, log
    process.terminate()
    assert process.wait(20) == 0


def test_https_login_sets_secure_cookies_and_hsts(https_nvr):
    base, cert, _, _ = https_nvr
    with httpx.Client(base_url=base, verify=_trust(cert)) as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert page.headers["strict-transport-security"].startswith("max-age=")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        wrong = client.post("/login", data={"username": "admin", "password": WRONG,
                                            "csrf_token": token})
        assert wrong.status_code == 401
        answer = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD,
                                             "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 303
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("nvr_session="))
        assert "Secure" in session and "HttpOnly" in session
        assert client.get("/api/me").json()["username"] == "admin"


def test_plain_http_on_the_tls_port_gets_nothing(https_nvr):
    _, _, port, _ = https_nvr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)


def _raw(port: int, cert: Path, request: bytes) -> bytes:
    context = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(request)
            data = b""
            try:
                while chunk := conn.recv(65536):
                    data += chunk
                    if b"\r\n\r\n" in data:
                        break
            except (ssl.SSLError, ConnectionError):
                pass
            return data


def test_oversized_headers_get_a_4xx_and_the_server_carries_on(https_nvr):
    base, cert, port, _ = https_nvr
    huge = b"GET /api/me HTTP/1.1\r\nHost: x\r\nCookie: nvr_session=" + b"a" * 200_000 + \
        b"\r\n\r\n"
    answer = _raw(port, cert, huge)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    assert status is None or 400 <= status < 500  # refused, or the connection dropped
    binary = _raw(port, cert, b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Bad: \xff\xfe\x80\r\n"
                  b"Authorization: Basic \xff\xff\r\n\r\n")
    assert binary.startswith((b"HTTP/1.1 400", b"HTTP/1.1 401")), binary[:100]
    assert httpx.get(f"{base}/healthz", verify=_trust(cert)).status_code == 200


def test_no_password_in_the_log(https_nvr):
    base, cert, _, log = https_nvr
    wrong = httpx.get(f"{base}/api/me", auth=("admin", WRONG), verify=_trust(cert))
    assert wrong.status_code == 401
    time.sleep(0.2)
    text = log.read_text()
    assert "failed basic login for user 'admin'" in text
    assert WRONG not in text and ADMIN_PASSWORD not in text
