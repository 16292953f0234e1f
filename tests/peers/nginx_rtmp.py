"""Debian's nginx with ``libnginx-mod-rtmp``: a second, independent RTMP server to push to.

:class:`NginxRtmp` writes a minimal config under a temporary directory (one
``live`` application, no recording, players start at a keyframe) and runs as a
:class:`~peers.nginx_process.NginxProcess`. :func:`nginx_or_skip` says why a test
cannot run here.
"""

from __future__ import annotations

from pathlib import Path

from peers.nginx_process import NginxProcess, nginx_binary

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
    if nginx_binary() is None:
        return "nginx is not installed (apt-get install nginx libnginx-mod-rtmp)"
    if rtmp_module() is None:
        return "nginx's rtmp module is not installed (apt-get install libnginx-mod-rtmp)"
    return None


class NginxRtmp(NginxProcess):
    """One nginx-rtmp on 127.0.0.1:``port`` (a free one by default)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root, port)
        module = rtmp_module()
        if module is None:
            raise RuntimeError(nginx_or_skip())
        self.conf.write_text(f"""\
load_module {module};
{self.preamble}rtmp {{
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
