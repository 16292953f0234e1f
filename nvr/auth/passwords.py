"""Password hashing (argon2id), generated passwords and the rules names and
passwords must follow.

Hashing costs tens of milliseconds and 64 MiB by design; callers on the event
loop run it in a thread, and at most :data:`MAX_PARALLEL_HASHES` at once so a
flood of logins cannot exhaust memory.
"""

from __future__ import annotations

import re
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing a megabyte would be a cheap way to burn CPU
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ROLES = ("admin", "viewer")
MAX_PARALLEL_HASHES = 2

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106's second choice)
_gate = threading.BoundedSemaphore(MAX_PARALLEL_HASHES)
_dummy_hash: str | None = None


class InvalidInput(ValueError):
    """A username, password or role that breaks the rules; the message says which."""


def check_username(name: str) -> str:
    if not USERNAME_RE.fullmatch(name):
        raise InvalidInput("username: 1-64 characters, letters, digits and . _ @ -, "
                           "starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role: one of {', '.join(ROLES)}")
    return role


def use_hasher(hasher: PasswordHasher) -> None:
    """Replace the hasher's parameters (tests use a cheap one; old hashes still verify)."""
    global _hasher, _dummy_hash
    _hasher, _dummy_hash = hasher, None


def hash_password(password: str) -> str:
    with _gate:
        return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed hash is a mismatch."""
    if len(password) > MAX_PASSWORD:
        return False
    with _gate:
        try:
            return _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def verify_dummy(password: str) -> None:
    """Spend the time a real check takes, for a user that does not exist, so the
    answer's timing does not tell whether the user exists."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    verify_password(_dummy_hash, password[:MAX_PASSWORD])


def generate_password() -> str:
    """A strong password that is easy to type: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)
