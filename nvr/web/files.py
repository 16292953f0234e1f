"""Files served from disk resolve under ``data_dir``; a path that escapes it is
refused (404, as if absent), logged and audited."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from nvr.auth import audit
from nvr.auth.principal import Principal
from nvr.web.services import Services

log = logging.getLogger(__name__)


def resolve_under(root: Path, relative: str) -> Path | None:
    """``root / relative`` with links and ``..`` resolved, or None when it leaves root."""
    if "\x00" in relative:
        return None
    base = root.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) else None


async def under_data_dir(services: Services, relative: str, user: Principal,
                         conn: HTTPConnection) -> Path:
    path = resolve_under(services.data_dir, relative)
    if path is None:
        address = conn.client.host if conn.client else None
        log.warning("refused a path outside data_dir: %r (user %s from %s)", relative[:200],
                    user.username, address)
        await services.auth.record(audit.PATH_REFUSED, actor=user.username, address=address,
                                   target=relative[:256])
        raise HTTPException(404, "no such file")
    return path
