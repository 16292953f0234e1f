"""Debian's nginx as an HTTPS reverse proxy in front of nvr (how many people run it).

:class:`NginxProxy` terminates TLS on 127.0.0.1:``port`` with the given certificate
and forwards everything, WebSocket upgrades included, to nvr's plain HTTP port the
way a typical site config does: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` set,
and nginx's default ``Host`` (the upstream's address, not the one the browser
used). Runs as a :class:`~peers.nginx_process.NginxProcess`.
"""

from __future__ import annotations

from pathlib import Path

from peers.nginx_process import NginxProcess, nginx_binary


def nginx_http_or_skip() -> str | None:
    """None when nginx is installed, else the reason to skip."""
    if nginx_binary() is None:
        return "nginx is not installed (apt-get install nginx)"
    return None


class NginxProxy(NginxProcess):
    """https://127.0.0.1:``port`` → http://127.0.0.1:``upstream``."""

    def __init__(self, root: Path, upstream: int, cert: Path, key: Path) -> None:
        super().__init__(root)
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        temp = " ".join(f"{kind}_temp_path {root}/tmp/{kind};"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf.write_text(f"""\
{self.preamble}http {{
    access_log off;
    {temp}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
""")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"
