"""Shared fixtures.

``db_url`` runs a test once on SQLite and once on PostgreSQL. PostgreSQL is a
throwaway cluster started once per session (Unix socket only); each test gets
its own empty database. Without PostgreSQL binaries the postgresql case is
skipped, unless ``NVR_REQUIRE_POSTGRES=1`` (CI), which makes it fail.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_db_counter = itertools.count()


@dataclass(frozen=True)
class PostgresServer:
    socket_dir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname="postgres",
            autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(sql)


def _postgres_bindir() -> Path | None:
    candidates = [os.environ.get("NVR_PG_BIN", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("NVR_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (NVR_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        _unavailable("no initdb found (install postgresql, or set NVR_PG_BIN)")
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' user")
        runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
        if runuser is None:
            _unavailable("running as root and runuser(1) is missing")
        prefix = [runuser, "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="nvr-pg-"))
    data, log = base / "data", base / "log"
    port = _free_port()
    options = f"-k {base} -p {port} -c listen_addresses='' -c fsync=off"
    try:
        if owner is not None:
            os.chown(base, owner.pw_uid, owner.pw_gid)
        for argv in (
            [bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "-N"],
            [bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-o", options, "start"],
        ):
            done = subprocess.run([*prefix, *argv], capture_output=True, text=True)
            if done.returncode != 0:
                server_log = log.read_text() if log.exists() else ""
                pytest.fail(f"{argv[0]} failed:\n{done.stdout}{done.stderr}{server_log}")
        yield PostgresServer(socket_dir=base, port=port)
    finally:
        if (data / "postmaster.pid").exists():  # started, even if start-up failed later
            subprocess.run(
                [*prefix, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                capture_output=True,
            )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database (no schema: call nvr.db.upgrade)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'nvr.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"nvrtest_{os.getpid()}_{next(_db_counter)}"
    server.admin(f"CREATE DATABASE {name}")
    try:
        yield server.url(name)
    finally:
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def segment_index(db_url: str) -> Iterator[object]:
    """A ``SegmentIndex`` on a migrated ``db_url``."""
    from nvr.db import make_engine, make_sessionmaker, upgrade
    from nvr.recording.index import SegmentIndex

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield SegmentIndex(make_sessionmaker(engine))
    finally:
        engine.dispose()
