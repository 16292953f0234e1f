"""Database models and session setup; the schema changes only through Alembic."""

from nvr.db.models import Base, Segment
from nvr.db.session import make_engine, make_sessionmaker, upgrade

__all__ = ["Base", "Segment", "make_engine", "make_sessionmaker", "upgrade"]
