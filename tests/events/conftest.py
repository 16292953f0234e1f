"""Fixtures for the events package's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.session import make_engine, make_sessionmaker, upgrade


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A sessionmaker on a migrated, empty database (SQLite, then PostgreSQL)."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()
