"""Engine, sessions and schema upgrades.

The schema is created and changed only by the Alembic scripts in
``nvr/db/migrations/`` (package data, installed with the package);
``upgrade(url)`` runs them programmatically, without any alembic.ini.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_LOCK = 0x6E7672  # "nvr": the advisory lock key schema upgrades hold


def migrations_dir() -> Path:
    """The Alembic scripts: ``migrations/`` inside this package (``nvr/db/migrations``).

    They ship as package data, so this is the same in a checkout and in an
    installed wheel; Alembic needs them as real files, which a wheel install gives.
    """
    return Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite: WAL, synchronous=NORMAL, foreign keys, busy timeout.

    The parent directory of a SQLite database file is created if missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` and the package's migrations, built in code.

    No alembic.ini is read (an installed nvr has none); the repository's
    alembic.ini is only for developers running the ``alembic`` command by hand.
    """
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # '%' is interpolation syntax in ConfigParser; the URL goes in attributes too.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creates the SQLite file if needed)."""
    engine = make_engine(url)  # creates the SQLite parent dir and applies pragmas
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # two processes starting at once (nvr run, an nvr user command) take
                # turns: concurrent CREATE TABLEs collide in the catalog
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK})
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
