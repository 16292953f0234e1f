"""Browser sessions in the database.

The cookie holds 256 random bits; the table keys sessions by the SHA-256 of
that value, so a copy of the database cannot be replayed as a cookie. Each
session carries its own CSRF token. Synchronous; run in a thread.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import LoginSession


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id_hash: str
    user_id: int
    csrf: str
    created_us: int
    last_seen_us: int


def session_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "surrogateescape")).hexdigest()


class SessionStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, user_id: int, now_us: int, address: str | None,
               user_agent: str | None) -> tuple[str, SessionInfo]:
        """A new session: the cookie value (never stored) and its row."""
        cookie = secrets.token_urlsafe(32)
        info = SessionInfo(id_hash=session_hash(cookie), user_id=user_id,
                           csrf=secrets.token_urlsafe(32), created_us=now_us,
                           last_seen_us=now_us)
        with self._sessions.begin() as session:
            session.add(LoginSession(
                id_hash=info.id_hash, user_id=user_id, csrf=info.csrf, created_us=now_us,
                last_seen_us=now_us, address=(address or "")[:64] or None,
                user_agent=(user_agent or "")[:256] or None))
        return cookie, info

    def get(self, id_hash: str) -> SessionInfo | None:
        with self._sessions() as session:
            row = session.get(LoginSession, id_hash)
            if row is None:
                return None
            return SessionInfo(id_hash=row.id_hash, user_id=row.user_id, csrf=row.csrf,
                               created_us=row.created_us, last_seen_us=row.last_seen_us)

    def touch(self, id_hash: str, now_us: int) -> None:
        with self._sessions.begin() as session:
            session.execute(update(LoginSession).where(LoginSession.id_hash == id_hash)
                            .values(last_seen_us=now_us))

    def delete(self, id_hash: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(LoginSession).where(LoginSession.id_hash == id_hash))

    def prune(self, idle_before_us: int, created_before_us: int) -> int:
        """Delete sessions idle since ``idle_before_us`` or created before
        ``created_before_us``; returns how many."""
        with self._sessions.begin() as session:
            result = session.execute(delete(LoginSession).where(or_(
                LoginSession.last_seen_us < idle_before_us,
                LoginSession.created_us < created_before_us)))
            return getattr(result, "rowcount", 0) or 0

    def ids(self) -> set[str]:
        with self._sessions() as session:
            return set(session.scalars(select(LoginSession.id_hash)))
