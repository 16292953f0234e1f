"""One nginx in the foreground as a single process, for the tests' peers.

:class:`NginxProcess` runs ``nginx -p root -c root/nginx.conf`` (no daemon, no
master; the subclass writes the config) and is ready once ``port`` accepts
connections. ``stop()`` and ``start()`` again reuse the same port (a server going
away and coming back).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str | None:
    """nginx's path, or None when it is not installed."""
    found = shutil.which("nginx")
    if found is None and Path("/usr/sbin/nginx").exists():
        found = "/usr/sbin/nginx"
    return found


class NginxProcess:
    """nginx with the config at ``root/nginx.conf``, listening on 127.0.0.1:``port``."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = root / "nginx.conf"
        (root / "logs").mkdir(parents=True, exist_ok=True)

    @property
    def preamble(self) -> str:
        """The config's top: one process in the foreground, pid and log under root."""
        return (f"daemon off;\nmaster_process off;\nworker_processes 1;\n"
                f"pid {self.root}/nginx.pid;\nerror_log {self.root}/logs/error.log info;\n"
                "events { worker_connections 64; }\n")

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [nginx_binary() or "nginx", "-p", str(self.root), "-c", str(self.conf), "-e",
             str(self.root / "logs" / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.proc.returncode}): {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM): the connections close at once."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log(self) -> str:
        path = self.root / "logs" / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""
