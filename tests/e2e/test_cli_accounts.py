"""``nvr user ...`` and ``nvr token ...`` as an administrator runs them: real
processes on SQLite and PostgreSQL, and their effect on a running ``nvr run``.

CLI calls that do not depend on each other run at the same time, and one nvr
process per database kind serves every test that needs one, to keep this fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from nvrharness import ADMIN_PASSWORD, REPO, free_port, nvr_process, toml_value

_names = itertools.count()


# -- running the CLI -------------------------------------------------------------------
def write_config(path: Path, db_url: str, port: int | None = None) -> Path:
    lines = ["[server]", f"data_dir = {toml_value(path.parent / 'data')}",
             f"database = {toml_value(db_url)}"]
    if port is not None:
        lines.append(f'http = "127.0.0.1:{port}"')
    path.write_text("\n".join(lines) + "\n")
    return path


Started = tuple[subprocess.Popen[str], str | None]


def start(cfg: Path, *args: str, stdin: str | None = None) -> Started:
    """``nvr ARGS --config CFG``, its stdin a pipe carrying ``stdin`` (or /dev/null)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nvr", *args, "--config", str(cfg)], cwd=REPO, text=True,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, stdin


def finish(started: Started) -> subprocess.CompletedProcess[str]:
    proc, stdin = started
    out, err = proc.communicate(stdin, timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def nvr(cfg: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return finish(start(cfg, *args, stdin=stdin))


def together(cfg: Path, *calls: tuple[tuple[str, ...], str | None]
             ) -> list[subprocess.CompletedProcess[str]]:
    """Independent CLI calls ``(args, stdin)``, run at the same time."""
    return [finish(p) for p in [start(cfg, *args, stdin=stdin) for args, stdin in calls]]


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done


def refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit status 1 and one clear line on stderr, no traceback."""
    assert done.returncode == 1, (done.args, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def in_terminal(cfg: Path, args: list[str], answers: list[str]
                ) -> subprocess.CompletedProcess[str]:
    """Run with a terminal as stdin, typing each answer after its prompt appears."""
    master, slave = os.openpty()
    # A new session has no controlling terminal, so getpass reads the pty on stdin.
    proc = subprocess.Popen([sys.executable, "-m", "nvr", *args, "--config", str(cfg)],
                            cwd=REPO, stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    os.close(slave)
    assert proc.stderr is not None
    err = b""
    try:
        for count, answer in enumerate(answers, 1):
            deadline = time.monotonic() + 30
            while err.count(b": ") < count:  # the prompts end in ": "
                assert proc.poll() is None, err
                assert time.monotonic() < deadline, f"no prompt {count}: {err!r}"
                if select.select([proc.stderr], [], [], 0.5)[0]:
                    err += os.read(proc.stderr.fileno(), 4096)
            os.write(master, answer.encode() + b"\n")
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    # stderr without the prompts (they were all written before the last answer)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), rest.decode())


def add_users(db_url: str, users: dict[str, str]) -> None:
    """Viewers added directly, where how they were added is not the point; their
    hashes are cheap to check (argon2 reads the cost from the hash)."""
    from argon2 import PasswordHasher

    from nvr.auth.accounts import Accounts
    from nvr.db.session import make_engine, make_sessionmaker, upgrade

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        accounts = Accounts(make_sessionmaker(engine))
        for name, password in users.items():
            accounts.add_user(name, password, "viewer", (), int(time.time() * 1e6),
                              password_hash=cheap.hash(password))
    finally:
        engine.dispose()


def table(listing: str) -> dict[str, list[str]]:
    """The rows of a ``list`` table by their first column (columns split on 2+ spaces)."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in listing.strip().splitlines()]
    return {row[0]: row for row in rows[1:]}


# -- users and tokens on a fresh database ----------------------------------------------
def test_user_add_list_and_what_is_refused(db_url, tmp_path):
    cfg = write_config(tmp_path / "config.toml", db_url)
    # alone: the first command on a fresh database creates the schema
    added = ok(nvr(cfg, "user", "add", "carol", "--role", "viewer", "--cameras", "front,back",
                   stdin="carol-pw-1\ncarol-pw-1\n"))
    short, mismatch, bad_role, duplicate, unknown, listing = together(
        cfg, (("user", "add", "shorty", "--role", "viewer"), "seven77\nseven77\n"),
        (("user", "add", "typo", "--role", "viewer"), "typo-pw-1\ntypo-pw-2\n"),
        (("user", "add", "dan", "--role", "superuser"), "dan-pw-123\n"),
        (("user", "add", "carol", "--role", "viewer"), "other-pw-1\n"),
        (("user", "passwd", "nobody"), "nobody-pw-1\n"),
        (("user", "list"), None))
    refused(short, "at least 8 characters")
    refused(mismatch, "do not match")
    refused(bad_role, "role: one of admin, viewer")
    refused(duplicate, "'carol' exists")
    refused(unknown, "no user 'nobody'")
    rows = table(ok(listing).stdout)
    assert rows["carol"][:4] == ["carol", "viewer", "front,back", "no"]
    assert rows["carol"][-1] == "never"  # last login
    assert set(rows) == {"carol"}  # the refused ones were not added, nor changed
    everything = "".join(d.stdout + d.stderr for d in (
        added, short, mismatch, bad_role, duplicate, unknown, listing))
    for password in ("carol-pw-1", "seven77", "typo-pw-1", "other-pw-1", "nobody-pw-1"):
        assert password not in everything


def test_token_is_printed_once_and_only_its_hash_is_stored(db_url, tmp_path):
    cfg = write_config(tmp_path / "config.toml", db_url)
    add_users(db_url, {"robot": "robot-pw-1"})
    created = ok(nvr(cfg, "token", "create", "--user", "robot", "--name", "backup-script",
                     "--expires", "30d"))
    token = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"nvr_[A-Za-z0-9_-]{40,}", token), created.stdout
    assert created.stdout.count(token) == 1 and token not in created.stderr
    listing, again = together(
        cfg, (("token", "list"), None),
        (("token", "create", "--user", "robot", "--name", "backup-script"), None))
    row = table(ok(listing).stdout)["backup-script"]
    assert row[1] == "robot" and row[-1] == "never"  # never used
    refused(again, "'backup-script' exists")
    for done in (listing, again):
        assert token not in done.stdout + done.stderr

    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as db:
            stored = db.execute(sqlalchemy.text(
                "SELECT token_hash FROM api_tokens WHERE name = 'backup-script'")).scalar_one()
            assert stored == hashlib.sha256(token.encode()).hexdigest()
            audit = db.execute(sqlalchemy.text("SELECT action, actor, target FROM audit")).all()
            assert ("token_create", "cli", "backup-script") in [tuple(r) for r in audit]
            for name in sqlalchemy.inspect(db).get_table_names():  # nowhere in the clear
                rows = db.execute(sqlalchemy.text(f"SELECT * FROM {name}")).all()
                assert token not in repr(rows), name
    finally:
        engine.dispose()


def test_password_is_typed_twice_on_a_terminal(tmp_path):
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path / 'nvr.db'}")
    typo = in_terminal(cfg, ["user", "add", "tess", "--role", "viewer"],
                       ["tess-pw-one", "tess-pw-two"])
    refused(typo, "do not match")
    added = ok(in_terminal(cfg, ["user", "add", "tess", "--role", "viewer"],
                           ["tess-pw-one", "tess-pw-one"]))
    assert "tess-pw" not in typo.stdout + typo.stderr + added.stdout + added.stderr
    assert table(ok(nvr(cfg, "user", "list")).stdout)["tess"][:3] == ["tess", "viewer", "all"]


# -- against a running nvr --------------------------------------------------------------
@dataclass
class Live:
    cfg: Path
    base: str

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return nvr(self.cfg, *args, stdin=stdin)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10, **kwargs)

    def me(self, **kwargs: Any) -> httpx.Response:
        with self.client(**kwargs) as client:
            return client.get("/api/me")

    @contextlib.contextmanager
    def login(self, username: str, password: str) -> Iterator[httpx.Client]:
        """A client with a browser session, logged in through the form."""
        with self.client() as client:
            yield self._login(client, username, password)

    @staticmethod
    def _login(client: httpx.Client, username: str, password: str) -> httpx.Client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, page.text
        answer = client.post("/login", data={"username": username, "password": password,
                                              "csrf_token": match.group(1)})
        assert answer.status_code == 303, answer.text
        assert "nvr_session" in client.cookies
        return client


def eventually(check: Callable[[], bool], what: str, within: float = 3.0) -> None:
    """``check`` holds within ``within`` s (the server re-reads accounts every second)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


USERS = {"carol": "carol-pass-1", "dave": "dave-pass-1", "erin": "erin-pass-1"}


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    """One ``nvr run`` (no cameras) per database kind, with carol (added by the CLI),
    dave and erin, added once it has created its admin."""
    tmp = tmp_path_factory.mktemp(f"live-{request.param}")
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'nvr.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"nvrcli_{os.getpid()}_{next(_names)}"
        server.admin(f"CREATE DATABASE {name}")
        url = server.url(name)
        drop = lambda: server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # noqa: E731
    port = free_port()
    cfg = write_config(tmp / "config.toml", url, port)
    proc = nvr_process(cfg, tmp / "nvr.log")
    live = Live(cfg, f"http://127.0.0.1:{port}")
    try:
        # on a busy machine start-up (imports, migrations, password hashing) takes a while
        eventually(lambda: _healthy(live, proc), "nvr serves HTTP", within=60)
        ok(live.cli("user", "add", "carol", "--role", "viewer", stdin=f"{USERS['carol']}\n"))
        add_users(url, {name: USERS[name] for name in ("dave", "erin")})
        yield live
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drop()


def _healthy(live: Live, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "nvr run exited during start-up"
    try:
        return live.me(auth=("admin", ADMIN_PASSWORD)).status_code == 200
    except httpx.HTTPError:
        return False


def test_cli_user_and_token_work_on_the_running_nvr_until_revoked(live):
    eventually(lambda: live.me(auth=("carol", USERS["carol"])).status_code == 200,
               "the new user can use HTTP Basic")
    me = live.me(auth=("carol", USERS["carol"])).json()
    assert (me["username"], me["role"], me["cameras"]) == ("carol", "viewer", [])

    created = ok(live.cli("token", "create", "--user", "carol", "--name", "carol-script"))
    bearer = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    eventually(lambda: live.me(headers=bearer).status_code == 200, "the token works")
    assert live.me(headers=bearer).json()["auth"] == "token"
    ok(live.cli("token", "revoke", "carol-script"))
    eventually(lambda: live.me(headers=bearer).status_code == 401,
               "the revoked token is refused")


def test_disable_ends_the_users_basic_auth_and_browser_session(live):
    eventually(lambda: live.me(auth=("dave", USERS["dave"])).status_code == 200,
               "the new user can use HTTP Basic")
    with live.login("dave", USERS["dave"]) as browser:
        assert browser.get("/api/me").json()["auth"] == "session"
        ok(live.cli("user", "disable", "dave"))
        eventually(lambda: browser.get("/api/me").status_code == 401,
                   "the disabled user's session ends")
    assert live.me(auth=("dave", USERS["dave"])).status_code == 401


def test_passwd_ends_the_users_session_and_changes_the_password(live):
    eventually(lambda: live.me(auth=("erin", USERS["erin"])).status_code == 200,
               "the new user can use HTTP Basic")
    with live.login("erin", USERS["erin"]) as browser:
        assert browser.get("/api/me").status_code == 200
        changed = ok(live.cli("user", "passwd", "erin", stdin="erin-new-pass\nerin-new-pass\n"))
        assert "erin-new-pass" not in changed.stdout + changed.stderr
        eventually(lambda: browser.get("/api/me").status_code == 401,
                   "the session ends with the new password")
    eventually(lambda: live.me(auth=("erin", "erin-new-pass")).status_code == 200,
               "the new password works")
    assert live.me(auth=("erin", USERS["erin"])).status_code == 401


def test_the_only_admin_cannot_be_removed_disabled_or_demoted(live):
    removed, disabled, demoted = together(
        live.cfg, (("user", "remove", "admin"), None), (("user", "disable", "admin"), None),
        (("user", "change", "admin", "--role", "viewer"), None))
    refused(removed, "last enabled admin")
    refused(disabled, "last enabled admin")
    refused(demoted, "last enabled admin")
    with live.client(auth=("admin", ADMIN_PASSWORD)) as admin:
        users = {u["username"]: u for u in admin.get("/api/users").json()}  # from the DB
    assert users["admin"]["role"] == "admin" and not users["admin"]["disabled"]
