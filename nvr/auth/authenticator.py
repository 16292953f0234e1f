"""Turns what a request carries (a session cookie, a bearer token, HTTP Basic)
into a :class:`Principal`, and logs people in and out.

Per request this costs dictionary lookups, not database queries or hashing:

- users and tokens are read from the database at most once a second (a
  snapshot), so a change made by ``nvr user`` / ``nvr token`` in another
  process applies within a second, and one made through the API at once;
- sessions are read once and then kept; the time a session was last used is
  written back at most once a minute;
- a successful Basic check is remembered for :data:`BASIC_TTL` seconds, keyed
  by the SHA-256 of the header, and only while the user's password hash is the
  one it was checked against.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import math
from dataclasses import dataclass

from nvr.auth import audit as actions
from nvr.auth.accounts import Accounts, TokenInfo, UserInfo, token_hash
from nvr.auth.audit import AuditLog
from nvr.auth.passwords import MAX_PASSWORD, verify_dummy, verify_password
from nvr.auth.principal import BASIC, SESSION, TOKEN, Principal
from nvr.auth.sessions import SessionInfo, SessionStore, session_hash
from nvr.auth.throttle import LoginThrottle
from nvr.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 1.0
BASIC_TTL = 60.0
TOUCH_EVERY_US = 60_000_000
MAX_CACHED = 10_000
UNKNOWN_TTL = 60.0  # a cookie not found is not looked up again for this long
MAX_CREDENTIAL = 4096  # longer cookies, tokens or Basic headers are not even looked at


@dataclass(frozen=True, slots=True)
class AuthSettings:
    session_idle: float = 24 * 3600.0
    session_max: float = 30 * 86400.0


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


def parse_basic(header: str) -> tuple[str, str] | None:
    """``(user, password)`` of a ``Basic`` credential (the part after the scheme)."""
    if len(header) > MAX_CREDENTIAL:
        return None
    try:
        raw = base64.b64decode(header.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep and user else None


class Authenticator:
    def __init__(self, accounts: Accounts, sessions: SessionStore, audit: AuditLog,
                 settings: AuthSettings | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.accounts, self.sessions, self.audit = accounts, sessions, audit
        self.settings = settings or AuthSettings()
        self.clock = clock
        self.throttle = LoginThrottle(clock)
        self._users: dict[int, UserInfo] = {}
        self._by_name: dict[str, UserInfo] = {}
        self._tokens: dict[str, TokenInfo] = {}
        self._snapshot_at = -math.inf
        self._refreshing: asyncio.Lock | None = None
        self._sessions: dict[str, SessionInfo] = {}
        self._unknown: dict[str, float] = {}  # cookies not in the table → when we looked
        self._seen: dict[str, int] = {}  # session → last use (µs), newer than the row's
        self._basic: dict[bytes, tuple[int, str, float]] = {}  # → user id, hash, until
        self._token_used: dict[int, int] = {}

    def now_us(self) -> int:
        return int(self.clock.time() * 1_000_000)

    # -- the snapshot of users and tokens ------------------------------------------
    async def refresh(self, force: bool = False) -> None:
        if not force and self.clock.monotonic() - self._snapshot_at < SNAPSHOT_TTL:
            return
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if not force and self.clock.monotonic() - self._snapshot_at < SNAPSHOT_TTL:
                return
            users, tokens = await asyncio.to_thread(self._load)
            self._users = {u.id: u for u in users}
            self._by_name = {u.username: u for u in users}
            self._tokens = {t.token_hash: t for t in tokens}
            self._snapshot_at = self.clock.monotonic()

    def _load(self) -> tuple[list[UserInfo], list[TokenInfo]]:
        return self.accounts.users(), self.accounts.tokens()

    def changed(self) -> None:
        """Accounts changed in this process: read them again before the next answer."""
        self._snapshot_at = -math.inf

    def user(self, username: str) -> UserInfo | None:
        return self._by_name.get(username)

    @staticmethod
    def _principal(user: UserInfo, method: str, session: SessionInfo | None = None
                   ) -> Principal:
        return Principal(user_id=user.id, username=user.username, role=user.role,
                         cameras=user.cameras, method=method,
                         session=session.id_hash if session else None,
                         csrf=session.csrf if session else None)

    def _active(self, user_id: int) -> UserInfo | None:
        user = self._users.get(user_id)
        return None if user is None or user.disabled else user

    # -- sessions -------------------------------------------------------------------
    async def from_cookie(self, cookie: str) -> Principal | None:
        if not cookie or len(cookie) > MAX_CREDENTIAL:
            return None
        await self.refresh()
        key = session_hash(cookie)
        info = await self._session(key)
        if info is None:
            return None
        user = self._active(info.user_id)
        now = self.now_us()
        last = max(info.last_seen_us, self._seen.get(key, 0))
        if (user is None or self._void(info, user, now)
                or now - last > self.settings.session_idle * 1e6):
            await self._end_session(key)
            return None
        self._seen[key] = now
        if now - info.last_seen_us > TOUCH_EVERY_US:
            self._sessions[key] = SessionInfo(info.id_hash, info.user_id, info.csrf,
                                              info.created_us, now)
            await asyncio.to_thread(self.sessions.touch, key, now)
        return self._principal(user, SESSION, info)

    async def _session(self, key: str) -> SessionInfo | None:
        """The session of that id hash: cached, else from the database (then cached)."""
        info = self._sessions.get(key)
        if info is not None:
            return info
        seen = self._unknown.get(key)
        if seen is not None and self.clock.monotonic() - seen < UNKNOWN_TTL:
            return None  # a stale or forged cookie asked again: no query per request
        info = await asyncio.to_thread(self.sessions.get, key)
        if info is None:
            if len(self._unknown) >= MAX_CACHED:
                self._unknown.clear()
            self._unknown[key] = self.clock.monotonic()
            return None
        if len(self._sessions) >= MAX_CACHED:
            self._sessions.clear()
            self._seen.clear()
        self._sessions[key] = info
        return info

    def _void(self, info: SessionInfo, user: UserInfo, now_us: int) -> bool:
        """Ended for the user's sake ("log out everywhere", a new password) or past
        ``session_max``; idle time is the caller's."""
        return (info.created_us < user.sessions_after_us
                or now_us - info.created_us > self.settings.session_max * 1e6)

    async def still_valid(self, principal: Principal) -> bool:
        """Whether someone authenticated when a long request began (a live or playback
        WebSocket) may go on: the user still exists, is enabled, with the same role and
        cameras, and a browser session was not ended (logged out, "log out everywhere",
        a password change) nor is past ``session_max``. Idle time does not count here:
        watching is using. Tokens and Basic are checked through their user only."""
        await self.refresh()
        user = self._active(principal.user_id)
        if user is None or user.role != principal.role or user.cameras != principal.cameras:
            return False
        if principal.method != SESSION or principal.session is None:
            return True
        info = await self._session(principal.session)
        return info is not None and not self._void(info, user, self.now_us())

    async def _end_session(self, key: str) -> None:
        self._sessions.pop(key, None)
        self._seen.pop(key, None)
        await asyncio.to_thread(self.sessions.delete, key)

    async def login(self, username: str, password: str, address: str,
                    user_agent: str | None) -> tuple[Principal, str] | None:
        """Check a password from the login form; on success a new session and its
        cookie value. Raises :class:`Throttled`."""
        user = await self._check_password(username, password, address, "form")
        if user is None:
            return None
        now = self.now_us()
        cookie, info = await asyncio.to_thread(self.sessions.create, user.id, now, address,
                                               user_agent)
        self._sessions[info.id_hash] = info
        await asyncio.to_thread(self.accounts.record_login, user.id, now)
        await self.record(actions.LOGIN, actor=user.username, address=address)
        log.info("%s logged in from %s", user.username, address)
        return self._principal(user, SESSION, info), cookie

    async def logout(self, principal: Principal, address: str, everywhere: bool = False
                     ) -> None:
        if everywhere:
            await asyncio.to_thread(self.accounts.void_sessions, principal.username,
                                    self.now_us())
            self.changed()
            for key in [k for k, s in self._sessions.items() if s.user_id == principal.user_id]:
                self._sessions.pop(key, None)
        elif principal.session is not None:
            await self._end_session(principal.session)
        await self.record(actions.LOGOUT_ALL if everywhere else actions.LOGOUT,
                          actor=principal.username, address=address)

    async def new_session(self, principal: Principal, address: str,
                          user_agent: str | None) -> tuple[Principal, str]:
        """A fresh session for someone already authenticated (after a password change)."""
        await self.refresh(force=True)
        user = self._active(principal.user_id)
        assert user is not None
        cookie, info = await asyncio.to_thread(self.sessions.create, user.id, self.now_us(),
                                               address, user_agent)
        self._sessions[info.id_hash] = info
        return self._principal(user, SESSION, info), cookie

    # -- scripts --------------------------------------------------------------------
    async def from_bearer(self, token: str) -> Principal | None:
        if not token or len(token) > MAX_CREDENTIAL:
            return None
        await self.refresh()
        info = self._tokens.get(token_hash(token))
        if info is None:
            return None
        now = self.now_us()
        if info.expires_us is not None and now >= info.expires_us:
            return None
        user = self._active(info.user_id)
        if user is None:
            return None
        if now - self._token_used.get(info.id, 0) > TOUCH_EVERY_US:
            self._token_used[info.id] = now
            await asyncio.to_thread(self.accounts.touch_token, info.id, now)
        return self._principal(user, TOKEN)

    async def from_basic(self, credential: str, address: str) -> Principal | None:
        """``credential`` is the part after ``Basic ``. Raises :class:`Throttled`."""
        await self.refresh()
        key = hashlib.sha256(credential.encode("utf-8", "surrogateescape")).digest()
        cached = self._basic.get(key)
        if cached is not None:
            user_id, stored, until = cached
            user = self._active(user_id)
            if (user is not None and user.password_hash == stored
                    and self.clock.monotonic() < until):
                return self._principal(user, BASIC)
            del self._basic[key]
        parsed = parse_basic(credential)
        if parsed is None:
            return None
        user = await self._check_password(parsed[0], parsed[1], address, "basic")
        if user is None:
            return None
        await asyncio.to_thread(self.accounts.record_login, user.id, self.now_us())
        if len(self._basic) >= MAX_CACHED:
            self._basic.clear()
        self._basic[key] = (user.id, user.password_hash, self.clock.monotonic() + BASIC_TTL)
        return self._principal(user, BASIC)

    # -- passwords ------------------------------------------------------------------
    async def _check_password(self, username: str, password: str, address: str,
                              how: str) -> UserInfo | None:
        """The user when the password is theirs; the same answer in the same time
        for an unknown user, a disabled one and a wrong password."""
        wait = self.throttle.retry_after(username, address)
        if wait:
            raise Throttled(wait)
        await self.refresh()
        user = self._by_name.get(username)
        if user is None or user.disabled or len(password) > MAX_PASSWORD:
            await asyncio.to_thread(verify_dummy, password)
            ok = False
        else:
            ok = await asyncio.to_thread(verify_password, user.password_hash, password)
        if ok and user is not None:
            self.throttle.succeeded(username, address)
            return user
        failures = self.throttle.failed(username, address)
        shown = username[:64].encode("ascii", "backslashreplace").decode()
        log.warning("failed %s login for user %r from %s (%d in a row)", how, shown, address,
                    failures)
        await self.record(actions.LOGIN_FAILED, actor=shown, address=address,
                          details={"via": how})
        return None

    async def verify(self, principal: Principal, password: str, address: str) -> bool:
        """Whether ``password`` is the principal's current password (throttled like a
        login, so a stolen session cannot guess it). Raises :class:`Throttled`."""
        wait = self.throttle.retry_after(principal.username, address)
        if wait:
            raise Throttled(wait)
        await self.refresh(force=True)
        user = self._active(principal.user_id)
        ok = user is not None and await asyncio.to_thread(verify_password,
                                                          user.password_hash, password)
        if ok:
            self.throttle.succeeded(principal.username, address)
        else:
            self.throttle.failed(principal.username, address)
        return ok

    # -- audit and housekeeping -----------------------------------------------------
    async def record(self, action: str, **fields: object) -> None:
        try:
            await asyncio.to_thread(self.audit.add, self.now_us(), action, **fields)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - an audit failure must not fail the request
            log.exception("could not write the audit log")

    async def prune(self, audit_days: float) -> None:
        now = self.now_us()
        await asyncio.to_thread(
            self.sessions.prune, now - int(self.settings.session_idle * 1e6),
            now - int(self.settings.session_max * 1e6))
        await asyncio.to_thread(self.audit.prune, now - int(audit_days * 86400e6))
