"""The audit log: logins and failures, account and token changes, downloads.

Entries never hold a password or a token. Synchronous; run in a thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import AuditEntry

# What is audited (later issues add theirs).
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
LOGOUT_ALL = "logout_everywhere"
USER_ADD = "user_add"
USER_CHANGE = "user_change"
USER_REMOVE = "user_remove"
PASSWORD_CHANGE = "password_change"
TOKEN_CREATE = "token_create"
TOKEN_REVOKE = "token_revoke"
DOWNLOAD = "download"
PATH_REFUSED = "path_refused"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at_us: int
    action: str
    actor: str | None
    address: str | None
    target: str | None
    details: dict[str, Any] | None


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, at_us: int, action: str, *, actor: str | None = None,
            address: str | None = None, target: str | None = None,
            details: dict[str, Any] | None = None) -> None:
        with self._sessions.begin() as session:
            session.add(AuditEntry(
                at_us=at_us, action=action, actor=(actor or "")[:64] or None,
                address=(address or "")[:64] or None, target=(target or "")[:256] or None,
                details=json.dumps(details) if details else None))

    def query(self, *, limit: int = 100, before: int | None = None,
              action: str | None = None, actor: str | None = None) -> list[AuditRecord]:
        """Newest first; ``before`` is an entry id (page with the last id seen)."""
        with self._sessions() as session:
            q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if before is not None:
                q = q.where(AuditEntry.id < before)
            if action:
                q = q.where(AuditEntry.action == action)
            if actor:
                q = q.where(AuditEntry.actor == actor)
            return [AuditRecord(id=r.id, at_us=r.at_us, action=r.action, actor=r.actor,
                                address=r.address, target=r.target,
                                details=json.loads(r.details) if r.details else None)
                    for r in session.scalars(q)]

    def prune(self, before_us: int) -> int:
        with self._sessions.begin() as session:
            result = session.execute(delete(AuditEntry).where(AuditEntry.at_us < before_us))
            return getattr(result, "rowcount", 0) or 0
