"""First start: with no user in the database, create ``admin``.

The password comes from ``NVR_ADMIN_PASSWORD``; when that is unset a strong one
is generated and shown once. Later starts leave existing users alone, whatever
``NVR_ADMIN_PASSWORD`` says (change passwords with ``nvr user passwd``).
"""

from __future__ import annotations

import logging
import sys

from nvr.auth import audit as actions
from nvr.auth.accounts import Accounts
from nvr.auth.audit import AuditLog
from nvr.auth.passwords import InvalidInput, check_password, generate_password

log = logging.getLogger(__name__)
FIRST_ADMIN = "admin"


def ensure_admin(accounts: Accounts, audit: AuditLog, env_password: str | None,
                 now_us: int, config_path: str = "config.toml") -> bool:
    """Create the first admin when there are no users; True when it did."""
    if accounts.count_users() > 0:
        if not any(u.role == "admin" and not u.disabled for u in accounts.users()):
            log.warning("no enabled admin account: add one with 'nvr user add NAME --role "
                        "admin' (or enable one with 'nvr user enable NAME')")
        return False
    generated = not env_password
    password = generate_password() if generated else env_password
    assert password is not None
    if not generated:
        try:
            check_password(password)
        except InvalidInput as exc:
            raise InvalidInput(f"NVR_ADMIN_PASSWORD: {exc}") from None
    accounts.add_user(FIRST_ADMIN, password, "admin", (), now_us)
    audit.add(now_us, actions.USER_ADD, actor="nvr", target=FIRST_ADMIN,
              details={"role": "admin", "first_start": True})
    if generated:
        message = (
            f"\n  First start: created user {FIRST_ADMIN!r} with the password\n\n"
            f"      {password}\n\n"
            "  It is shown this once. Log in at the web UI and change it there, or run\n"
            f"      nvr user passwd {FIRST_ADMIN} --config {config_path}\n")
        print(message, file=sys.stderr, flush=True)
        log.warning("first start: created user %r with a generated password (shown once "
                    "above); change it with 'nvr user passwd %s'", FIRST_ADMIN, FIRST_ADMIN)
    else:
        log.info("first start: created user %r with the password from NVR_ADMIN_PASSWORD",
                 FIRST_ADMIN)
    return True
