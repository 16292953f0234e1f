"""Users and API tokens in the database.

Every method is synchronous and opens its own short session; callers on the
event loop run them in a thread. Rows leave as frozen dataclasses.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nvr.auth.passwords import (
    InvalidInput,
    check_password,
    check_role,
    check_username,
    hash_password,
)
from nvr.db.models import ApiToken, LoginSession, User

TOKEN_PREFIX = "nvr_"
TOKEN_NAME_MAX = 64


class Conflict(ValueError):
    """The change would clash with existing data (a taken name, the last admin)."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    password_hash: str
    role: str
    cameras: tuple[str, ...]  # empty: every camera
    disabled: bool
    created_us: int
    last_login_us: int | None
    sessions_after_us: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    user_id: int
    username: str
    token_hash: str
    created_us: int
    expires_us: int | None
    last_used_us: int | None


def token_hash(token: str) -> str:
    """SHA-256 of a token: tokens are 256 random bits, a slow hash adds nothing."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_cameras(cameras: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for name in cameras:
        if not isinstance(name, str) or not name or len(name) > 128:
            raise InvalidInput("cameras: a list of camera names")
        if name not in out:
            out.append(name)
    return tuple(out)


def _user(row: User) -> UserInfo:
    return UserInfo(
        id=row.id, username=row.username, password_hash=row.password_hash, role=row.role,
        cameras=tuple(json.loads(row.cameras or "[]")), disabled=row.disabled,
        created_us=row.created_us, last_login_us=row.last_login_us,
        sessions_after_us=row.sessions_after_us)


class Accounts:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- users ----------------------------------------------------------------------
    def count_users(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(User)) or 0

    def users(self) -> list[UserInfo]:
        with self._sessions() as session:
            return [_user(r) for r in session.scalars(select(User).order_by(User.username))]

    def user(self, username: str) -> UserInfo | None:
        with self._sessions() as session:
            row = session.scalar(select(User).where(User.username == username))
            return _user(row) if row else None

    def add_user(self, username: str, password: str, role: str, cameras: tuple[str, ...],
                 now_us: int, password_hash: str | None = None) -> UserInfo:
        """Add a user (``password_hash`` when the caller hashed it already)."""
        check_username(username)
        check_role(role)
        cameras = check_cameras(cameras)
        if password_hash is None:
            password_hash = hash_password(check_password(password))
        try:
            with self._sessions.begin() as session:
                row = User(username=username, password_hash=password_hash, role=role,
                           cameras=json.dumps(list(cameras)), disabled=False,
                           created_us=now_us, sessions_after_us=0)
                session.add(row)
                session.flush()
                return _user(row)
        except IntegrityError:
            raise Conflict(f"user {username!r} exists") from None

    def change_user(self, username: str, now_us: int, *, password_hash: str | None = None,
                    role: str | None = None, cameras: tuple[str, ...] | None = None,
                    disabled: bool | None = None) -> UserInfo:
        """Change what is given. A new password or disabling voids the user's sessions;
        the last enabled admin cannot be demoted or disabled."""
        with self._sessions.begin() as session:
            row = session.scalar(select(User).where(User.username == username))
            if row is None:
                raise NotFound(username)
            if role is not None:
                check_role(role)
            losing_admin = row.role == "admin" and not row.disabled and (
                (role is not None and role != "admin") or disabled)
            if losing_admin and self._enabled_admins(session) <= 1:
                raise Conflict("the last enabled admin cannot be demoted or disabled")
            if role is not None:
                row.role = role
            if cameras is not None:
                row.cameras = json.dumps(list(check_cameras(cameras)))
            if password_hash is not None:
                row.password_hash = password_hash
            if password_hash is not None or disabled:
                self._void_sessions(session, row, now_us)
            if disabled is not None:
                row.disabled = disabled
            session.flush()
            return _user(row)

    def remove_user(self, username: str) -> None:
        with self._sessions.begin() as session:
            row = session.scalar(select(User).where(User.username == username))
            if row is None:
                raise NotFound(username)
            if row.role == "admin" and not row.disabled and self._enabled_admins(session) <= 1:
                raise Conflict("the last enabled admin cannot be removed")
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with its pragma.
            session.execute(delete(LoginSession).where(LoginSession.user_id == row.id))
            session.execute(delete(ApiToken).where(ApiToken.user_id == row.id))
            session.delete(row)

    def void_sessions(self, username: str, now_us: int) -> None:
        """Log the user out everywhere."""
        with self._sessions.begin() as session:
            row = session.scalar(select(User).where(User.username == username))
            if row is None:
                raise NotFound(username)
            self._void_sessions(session, row, now_us)

    def record_login(self, user_id: int, now_us: int) -> None:
        with self._sessions.begin() as session:
            session.execute(update(User).where(User.id == user_id).values(last_login_us=now_us))

    @staticmethod
    def _void_sessions(session: Session, row: User, now_us: int) -> None:
        row.sessions_after_us = max(now_us, row.sessions_after_us + 1)
        session.execute(delete(LoginSession).where(LoginSession.user_id == row.id))

    @staticmethod
    def _enabled_admins(session: Session) -> int:
        """The enabled admins, their rows locked (PostgreSQL) so two concurrent
        demotions cannot both see the other admin and leave none."""
        ids = session.scalars(select(User.id).where(
            User.role == "admin", User.disabled.is_(False)).with_for_update()).all()
        return len(ids)

    # -- tokens ---------------------------------------------------------------------
    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        with self._sessions() as session:
            query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
            if username is not None:
                query = query.where(User.username == username)
            return [TokenInfo(id=t.id, name=t.name, user_id=t.user_id, username=u,
                              token_hash=t.token_hash, created_us=t.created_us,
                              expires_us=t.expires_us, last_used_us=t.last_used_us)
                    for t, u in session.execute(query.order_by(ApiToken.name))]

    def create_token(self, username: str, name: str, now_us: int,
                     expires_us: int | None) -> tuple[str, TokenInfo]:
        """A new token for ``username``: its value (shown once) and its row."""
        if not name or len(name) > TOKEN_NAME_MAX or not name.isprintable():
            raise InvalidInput(f"name: 1-{TOKEN_NAME_MAX} printable characters")
        token = new_token()
        try:
            with self._sessions.begin() as session:
                user = session.scalar(select(User).where(User.username == username))
                if user is None:
                    raise NotFound(username)
                row = ApiToken(name=name, user_id=user.id, token_hash=token_hash(token),
                               created_us=now_us, expires_us=expires_us)
                session.add(row)
                session.flush()
                info = TokenInfo(id=row.id, name=name, user_id=user.id, username=username,
                                 token_hash=row.token_hash, created_us=now_us,
                                 expires_us=expires_us, last_used_us=None)
        except IntegrityError:
            raise Conflict(f"a token named {name!r} exists") from None
        return token, info

    def revoke_token(self, name: str, username: str | None = None) -> None:
        """Delete the token ``name`` (only if it belongs to ``username``, when given)."""
        with self._sessions.begin() as session:
            query = delete(ApiToken).where(ApiToken.name == name)
            if username is not None:
                query = query.where(ApiToken.user_id == select(User.id).where(
                    User.username == username).scalar_subquery())
            if not getattr(session.execute(query), "rowcount", 0):
                raise NotFound(name)

    def touch_token(self, token_id: int, now_us: int) -> None:
        with self._sessions.begin() as session:
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(
                last_used_us=now_us))
