"""``nvr user ...`` and ``nvr token ...``: accounts and API tokens from the shell.

Each command brings the database schema up to date, does its work, writes an
audit entry (actor ``cli``) and exits: 0 on success, 1 with a one-line message
on stderr otherwise. A running ``nvr run`` re-reads users and tokens at most
once a second, so a change applies to it within about a second.

Passwords are read twice from the terminal (without echo), or, when stdin is
not a terminal, from its first line; a second line that follows at once must
be the same (so ``printf 'pw\\npw\\n' | nvr user add ...`` works like typing it
twice). No password is ever printed, and a token only once, by ``token create``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import select
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nvr.auth.accounts import Accounts, UserInfo
    from nvr.auth.audit import AuditLog
    from nvr.config import Config

COMMANDS = ("user", "token")
ACTOR = "cli"
MAX_EXPIRES_DAYS = 100 * 366  # far enough; beyond, microseconds overflow a BIGINT
SECOND_LINE_WAIT = 1.0  # how long a piped confirmation line may lag behind the first


class CliError(Exception):
    """A message for stderr; the command exits with status 1."""


@dataclass(frozen=True)
class _Context:
    accounts: Accounts
    audit: AuditLog
    config: Config

    def record(self, action: str, target: str, **details: Any) -> None:
        self.audit.add(now_us(), action, actor=ACTOR, target=target, details=details or None)


Handler = Callable[[argparse.Namespace, _Context], None]


def now_us() -> int:
    return int(time.time() * 1_000_000)


# -- the command line -------------------------------------------------------------------
def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``user`` and ``token`` (with their actions) on nvr's subparsers."""
    p_user = sub.add_parser("user", help="manage user accounts (see nvr user --help)")
    p_user.add_argument("--config", default="config.toml")
    users = p_user.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = _leaf(users, "add", user_add, "add a user (asks for the password)")
    p.add_argument("name")
    p.add_argument("--role", required=True, metavar="admin|viewer")
    p.add_argument("--cameras", metavar="A,B", help="cameras the user may see (default: all)")
    p = _leaf(users, "passwd", user_passwd, "set a user's password; ends their sessions")
    p.add_argument("name")
    _leaf(users, "list", user_list, "list the users")
    p = _leaf(users, "change", user_change, "change a user's role or cameras")
    p.add_argument("name")
    p.add_argument("--role", metavar="admin|viewer")
    cams = p.add_mutually_exclusive_group()
    cams.add_argument("--cameras", metavar="A,B", help="the cameras the user may see")
    cams.add_argument("--all-cameras", action="store_true", help="let the user see every camera")
    for action, handler, text in (
            ("remove", user_remove, "remove a user with their sessions and tokens"),
            ("disable", user_disable, "stop a user from logging in; ends their sessions"),
            ("enable", user_enable, "let a disabled user log in again")):
        _leaf(users, action, handler, text).add_argument("name")

    p_token = sub.add_parser("token", help="manage API tokens (see nvr token --help)")
    p_token.add_argument("--config", default="config.toml")
    tokens = p_token.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = _leaf(tokens, "create", token_create, "create a token; prints it once, last")
    p.add_argument("--user", required=True, help="whose token it is")
    p.add_argument("--name", required=True, metavar="LABEL", help="a unique label")
    p.add_argument("--expires", metavar="DURATION", help='e.g. "30d", "12h" (default: never)')
    _leaf(tokens, "list", token_list, "list the tokens (never their values)")
    _leaf(tokens, "revoke", token_revoke, "revoke a token by its label").add_argument("label")


def _leaf(parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
          handler: Handler, text: str) -> argparse.ArgumentParser:
    p = parent.add_parser(name, help=text, description=text)
    # SUPPRESS: "nvr user --config F list" and "nvr user list --config F" both work.
    p.add_argument("--config", default=argparse.SUPPRESS, help="default: config.toml")
    p.set_defaults(handler=handler)
    return p


def run(args: argparse.Namespace, config: Config) -> int:
    """Run the parsed ``user``/``token`` command; the exit status."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from nvr.auth.accounts import Accounts, Conflict
    from nvr.auth.audit import AuditLog
    from nvr.auth.passwords import InvalidInput
    from nvr.db.session import make_engine, make_sessionmaker, upgrade

    try:
        upgrade(config.database_url)
        engine = make_engine(config.database_url)
    except (SQLAlchemyError, CommandError, OSError) as exc:
        return _fail(f"cannot open the database: {_first_line(exc)}")
    try:
        sessions = make_sessionmaker(engine)
        args.handler(args, _Context(Accounts(sessions), AuditLog(sessions), config))
        return 0
    except (CliError, Conflict, InvalidInput) as exc:
        return _fail(str(exc))
    except SQLAlchemyError as exc:
        return _fail(f"database error: {_first_line(exc)}")
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    finally:
        engine.dispose()


def _fail(message: str) -> int:
    print(f"nvr: {message}", file=sys.stderr)
    return 1


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # the driver's words, without the SQL
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


# -- users ------------------------------------------------------------------------------
def user_add(args: argparse.Namespace, ctx: _Context) -> None:
    from nvr.auth import audit
    from nvr.auth.accounts import check_cameras
    from nvr.auth.passwords import check_role, check_username

    check_username(args.name)
    check_role(args.role)
    cameras = check_cameras(_camera_list(args.cameras))
    if ctx.accounts.user(args.name) is not None:
        raise CliError(f"user {args.name!r} exists")
    _warn_unknown_cameras(ctx, cameras)
    password = read_password()
    user = ctx.accounts.add_user(args.name, password, args.role, cameras, now_us())
    ctx.record(audit.USER_ADD, user.username, role=user.role, cameras=list(user.cameras))
    print(f"added {user.role} {user.username!r} (cameras: {_cameras(user.cameras)})")
    if not any(u.is_admin and not u.disabled for u in ctx.accounts.users()):
        print("nvr: warning: there is no enabled admin; add one with "
              "'nvr user add NAME --role admin'", file=sys.stderr)


def user_passwd(args: argparse.Namespace, ctx: _Context) -> None:
    from nvr.auth import audit
    from nvr.auth.passwords import hash_password

    _existing(ctx, args.name)
    password_hash = hash_password(read_password())
    ctx.accounts.change_user(args.name, now_us(), password_hash=password_hash)
    ctx.record(audit.PASSWORD_CHANGE, args.name)
    print(f"changed the password of {args.name!r}; their sessions have ended")


def user_list(args: argparse.Namespace, ctx: _Context) -> None:
    users = ctx.accounts.users()
    if not users:
        print("no users")
        return
    print(_table(("NAME", "ROLE", "CAMERAS", "DISABLED", "CREATED", "LAST LOGIN"), [
        (u.username, u.role, _cameras(u.cameras), "yes" if u.disabled else "no",
         _time(u.created_us), _time(u.last_login_us, "never")) for u in users]))


def user_change(args: argparse.Namespace, ctx: _Context) -> None:
    from nvr.auth import audit
    from nvr.auth.accounts import check_cameras
    from nvr.auth.passwords import check_role

    cameras: tuple[str, ...] | None = None
    if args.all_cameras:
        cameras = ()
    elif args.cameras is not None:
        cameras = check_cameras(_camera_list(args.cameras))
        _warn_unknown_cameras(ctx, cameras)
    if args.role is not None:
        check_role(args.role)
    if cameras is None and args.role is None:
        raise CliError("nothing to change: give --role, --cameras or --all-cameras")
    user = _change(ctx, args.name, role=args.role, cameras=cameras)
    changed = [k for k, v in (("role", args.role), ("cameras", cameras)) if v is not None]
    ctx.record(audit.USER_CHANGE, args.name, changed=changed, role=user.role,
               cameras=list(user.cameras))
    print(f"{user.username!r} is now {user.role} (cameras: {_cameras(user.cameras)})")


def user_remove(args: argparse.Namespace, ctx: _Context) -> None:
    from nvr.auth import audit
    from nvr.auth.accounts import NotFound

    try:
        ctx.accounts.remove_user(args.name)
    except NotFound:
        raise CliError(f"no user {args.name!r}") from None
    ctx.record(audit.USER_REMOVE, args.name)
    print(f"removed user {args.name!r} with their sessions and tokens")


def user_disable(args: argparse.Namespace, ctx: _Context) -> None:
    _set_disabled(ctx, args.name, True)
    print(f"disabled {args.name!r}; their sessions have ended")


def user_enable(args: argparse.Namespace, ctx: _Context) -> None:
    _set_disabled(ctx, args.name, False)
    print(f"enabled {args.name!r}")


def _set_disabled(ctx: _Context, name: str, disabled: bool) -> None:
    from nvr.auth import audit

    _change(ctx, name, disabled=disabled)
    ctx.record(audit.USER_CHANGE, name, changed=["disabled"], disabled=disabled)


def _change(ctx: _Context, name: str, **changes: Any) -> UserInfo:
    from nvr.auth.accounts import NotFound

    try:
        return ctx.accounts.change_user(name, now_us(), **changes)
    except NotFound:
        raise CliError(f"no user {name!r}") from None


def _existing(ctx: _Context, name: str) -> None:
    if ctx.accounts.user(name) is None:
        raise CliError(f"no user {name!r}")


def _camera_list(text: str | None) -> list[str]:
    return [] if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _warn_unknown_cameras(ctx: _Context, cameras: Sequence[str]) -> None:
    known = {c.name for c in ctx.config.cameras}
    unknown = [c for c in cameras if c not in known]
    if unknown:
        print(f"nvr: warning: not in the config (yet): {', '.join(unknown)}", file=sys.stderr)


# -- tokens -----------------------------------------------------------------------------
def token_create(args: argparse.Namespace, ctx: _Context) -> None:
    from nvr.auth import audit
    from nvr.auth.accounts import NotFound

    now = now_us()
    expires = None if args.expires is None else now + _expiry_us(args.expires)
    user = ctx.accounts.user(args.user)
    if user is None:
        raise CliError(f"no user {args.user!r}")
    try:
        token, info = ctx.accounts.create_token(args.user, args.name, now, expires)
    except NotFound:
        raise CliError(f"no user {args.user!r}") from None
    ctx.record(audit.TOKEN_CREATE, info.name, user=info.username, expires=args.expires)
    if user.disabled:
        print(f"nvr: warning: {user.username!r} is disabled; the token works once they are "
              "enabled", file=sys.stderr)
    print(f"token {info.name!r} for {info.username!r}, expires "
          f"{_time(info.expires_us, 'never')}. Shown this once; only its hash is stored:")
    print(token, flush=True)


def token_list(args: argparse.Namespace, ctx: _Context) -> None:
    tokens = ctx.accounts.tokens()
    if not tokens:
        print("no tokens")
        return
    now = now_us()
    print(_table(("LABEL", "USER", "CREATED", "EXPIRES", "LAST USED"), [
        (t.name, t.username, _time(t.created_us),
         _time(t.expires_us, "never") + (" (expired)" if t.expires_us and t.expires_us <= now
                                          else ""),
         _time(t.last_used_us, "never")) for t in tokens]))


def token_revoke(args: argparse.Namespace, ctx: _Context) -> None:
    from nvr.auth import audit
    from nvr.auth.accounts import NotFound

    try:
        ctx.accounts.revoke_token(args.label)
    except NotFound:
        raise CliError(f"no token {args.label!r}") from None
    ctx.record(audit.TOKEN_REVOKE, args.label)
    print(f"revoked token {args.label!r}")


def _expiry_us(text: str) -> int:
    from nvr.config.types import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise CliError(f"--expires: {exc}") from None
    if not 0 < seconds <= MAX_EXPIRES_DAYS * 86400:
        raise CliError(f"--expires: more than 0 s and at most {MAX_EXPIRES_DAYS} d")
    return int(seconds * 1_000_000)


# -- passwords --------------------------------------------------------------------------
def read_password() -> str:
    """The new password: typed twice on a terminal, or the first line of stdin."""
    from nvr.auth.passwords import check_password

    if sys.stdin is not None and sys.stdin.isatty():
        first = check_password(getpass.getpass("New password: "))
        again: str | None = getpass.getpass("Repeat it: ")
    else:
        first, again = _piped_password()
        check_password(first)
    if again is not None and again != first:
        raise CliError("the passwords do not match")
    return first


def _piped_password() -> tuple[str, str | None]:
    """The first line of stdin, and the second when it comes with it (else None).

    Read from the descriptor, so waiting for a second line that never comes (a
    writer that keeps the pipe open) ends after :data:`SECOND_LINE_WAIT`.
    """
    if sys.stdin is None:
        raise CliError("no password: stdin is closed")
    fd = sys.stdin.fileno()
    data = b""
    while data.count(b"\n") < 2 and len(data) < 16_384:
        if b"\n" in data and not select.select([fd], [], [], SECOND_LINE_WAIT)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    if not data:
        raise CliError("no password on stdin (pipe one in, or run this in a terminal)")
    try:
        lines = [line.removesuffix("\r") for line in data.decode("utf-8").split("\n")]
    except UnicodeDecodeError:
        raise CliError("the password on stdin is not valid UTF-8") from None
    return lines[0], (lines[1] if len(lines) > 1 and lines[1] else None)


# -- output -----------------------------------------------------------------------------
def _cameras(cameras: Sequence[str]) -> str:
    return ",".join(cameras) if cameras else "all"


def _time(us: int | None, missing: str = "-") -> str:
    if us is None:
        return missing
    return datetime.fromtimestamp(us / 1e6).astimezone().strftime("%Y-%m-%d %H:%M")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in (header, *rows))
