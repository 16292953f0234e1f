from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from nvr.db import make_engine, upgrade
from nvr.db.models import datetime_to_us, us_to_datetime


def _inspect(url: str) -> tuple[list[str], list[dict], list[dict], list[str]]:
    engine = make_engine(url)
    try:
        inspector = sa.inspect(engine)
        with engine.connect() as conn:
            versions = list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))
        return (
            inspector.get_table_names(),
            inspector.get_indexes("segments"),
            inspector.get_unique_constraints("segments"),
            versions,
        )
    finally:
        engine.dispose()


def test_upgrade_creates_segments_table_and_index(db_url: str) -> None:
    upgrade(db_url)
    tables, indexes, uniques, versions = _inspect(db_url)
    assert "segments" in tables
    assert {"name": "ix_segments_camera_start", "columns": ["camera", "start_us"]} in [
        {"name": i["name"], "columns": i["column_names"]} for i in indexes
    ]
    assert [u["column_names"] for u in uniques] == [["path"]]
    assert versions == ["0004"]


def test_upgrade_twice_is_noop(db_url: str) -> None:
    upgrade(db_url)
    before = _inspect(db_url)
    upgrade(db_url)
    assert _inspect(db_url) == before


def test_upgrade_columns_match_contract(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        columns = {c["name"]: c for c in sa.inspect(engine).get_columns("segments")}
    finally:
        engine.dispose()
    assert set(columns) == {
        "id", "camera", "start_us", "end_us", "duration", "bytes", "path",
        "video_codec", "audio_codec", "width", "height",
    }  # fmt: skip
    assert isinstance(columns["start_us"]["type"], sa.BigInteger)
    assert isinstance(columns["end_us"]["type"], sa.BigInteger)
    assert columns["audio_codec"]["nullable"] is True
    assert columns["path"]["nullable"] is False


def test_make_engine_sqlite_creates_dir_and_sets_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'nvr.db'}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        engine.dispose()
    assert (tmp_path / "a" / "b" / "nvr.db").exists()


def test_alembic_command_line_honours_x_url(tmp_path: Path) -> None:
    """The developers' alembic.ini at the repository root finds nvr/db/migrations."""
    repo = Path(__file__).resolve().parents[2]
    db = tmp_path / "cli" / "nvr.db"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(repo / "alembic.ini"), "-x",
         f"url=sqlite:///{db}", "upgrade", "head"],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    tables, _, _, versions = _inspect(f"sqlite:///{db}")
    assert "segments" in tables
    assert versions == ["0004"]


def test_us_datetime_round_trip() -> None:
    dt = datetime(2024, 5, 1, 12, 0, 5, 123456, tzinfo=UTC)
    assert datetime_to_us(dt) == 1714564805123456
    assert us_to_datetime(1714564805123456) == dt
    assert datetime_to_us(dt.replace(tzinfo=None)) == 1714564805123456


def test_migrations_match_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from nvr.db.models import Base

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
