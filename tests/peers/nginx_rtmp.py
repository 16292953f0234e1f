"""Debian's nginx with ``libnginx-mod-rtmp``: a second, independent RTMP server to push to.

:class:`NginxRtmp` writes a minimal config under a temporary directory (one
``live`` application, no recording, players start at a keyframe), runs nginx in
the foreground as a single process, and is ready once its port accepts
connections. ``stop()`` and ``start()`` again reuse the same port (a server going
away and coming back). :func:`nginx_or_skip` says why a test cannot run here.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MODULE_PATHS = (Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),)
MODULE_CONF = Path("/usr/share/nginx/modules-available/mod-rtmp.conf")


def rtmp_module() -> Path | None:
    """The rtmp module's .so: the known path, else the one the Debian snippet loads."""
    for path in MODULE_PATHS:
        if path.exists():
            return path
    if MODULE_CONF.exists():
        for word in MODULE_CONF.read_text().replace(";", " ").split():
            if word.endswith(".so") and Path(word).exists():
                return Path(word)
    return None


def nginx_or_skip() -> str | None:
    """None when nginx and its rtmp module are installed, else the reason to skip."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "nginx is not installed (apt-get install nginx libnginx-mod-rtmp)"
    if rtmp_module() is None:
        return "nginx's rtmp module is not installed (apt-get install libnginx-mod-rtmp)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NginxRtmp:
    """One nginx-rtmp on 127.0.0.1:``port`` (a free one by default)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        module = rtmp_module()
        if module is None:
            raise RuntimeError(nginx_or_skip())
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.conf = root / "nginx.conf"
        self.conf.write_text(f"""\
load_module {module};
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{self.port};
        chunk_size 4096;
        application live {{
            live on;
            record off;
            wait_key on;
            wait_video on;
        }}
    }}
}}
""")

    def url(self, stream: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{stream}"

    def start(self, timeout: float = 10.0) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.root), "-c", str(self.conf), "-e",
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
