"""SQLAlchemy 2.0 models.

Wall-clock times are integer microseconds since the Unix epoch (UTC), the one
wall-clock unit inside nvr; the datetime properties are for display and APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Base(DeclarativeBase):
    pass


def us_to_datetime(us: int) -> datetime:
    """Microseconds since the epoch → aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def datetime_to_us(dt: datetime) -> int:
    """Aware datetime → microseconds since the epoch (naive is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Segment(Base):
    """One recorded fMP4 file under ``<data_dir>/recordings``."""

    __tablename__ = "segments"
    __table_args__ = (
        Index("ix_segments_camera_start", "camera", "start_us"),
        UniqueConstraint("path", name="uq_segments_path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(128))
    start_us: Mapped[int] = mapped_column(BigInteger)
    end_us: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(512))
    video_codec: Mapped[str] = mapped_column(String(32))
    audio_codec: Mapped[str | None] = mapped_column(String(32), nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)

    @property
    def start(self) -> datetime:
        return us_to_datetime(self.start_us)

    @property
    def end(self) -> datetime:
        return us_to_datetime(self.end_us)

    def __repr__(self) -> str:
        return f"Segment(id={self.id!r}, camera={self.camera!r}, path={self.path!r})"


class User(Base):
    """A person or script that may sign in. ``cameras`` is a JSON list of camera
    names a viewer may see; empty means every camera. Sessions created before
    ``sessions_after_us`` are void (log out everywhere, password change)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username", name="uq_users_username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    cameras: Mapped[str] = mapped_column(Text, default="[]")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_us: Mapped[int] = mapped_column(BigInteger)
    last_login_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sessions_after_us: Mapped[int] = mapped_column(BigInteger, default=0)


class ApiToken(Base):
    """A bearer token for scripts; only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("name", name="uq_api_tokens_name"),
        UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_api_tokens_user"))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_us: Mapped[int] = mapped_column(BigInteger)
    expires_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LoginSession(Base):
    """A browser session; the primary key is the SHA-256 of the cookie value."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_login_sessions_user"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_us: Mapped[int] = mapped_column(BigInteger)
    last_seen_us: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)


class AuditEntry(Base):
    """Who did what, when and from where (never a password or token)."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_at", "at_us"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at_us: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)


class Event(Base):
    """Something that happened on a camera (motion, offline, a recording gap...).

    ``end_us`` is null while the event is ongoing; ``score`` is the peak;
    ``zones`` a JSON list of zone names; ``details`` a JSON object."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_camera_start", "camera", "start_us"),
                      Index("ix_events_start", "start_us", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    start_us: Mapped[int] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    zones: Mapped[str] = mapped_column(Text, default="[]")
    snapshot_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    details: Mapped[str] = mapped_column(Text, default="{}")


class OutboxRow(Base):
    """One webhook delivery still to make (or made, or given up): written in the
    same transaction as the event it tells of. ``state``: pending, delivered, failed."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_us"),
        Index("ix_outbox_event", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE", name="fk_outbox_event"))
    phase: Mapped[str] = mapped_column(String(8))
    payload: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_us: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_us: Mapped[int] = mapped_column(BigInteger)
    delivered_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MotionSecond(Base):
    """One second of one camera in which something moved: the 16x9 grid of cells
    that changed (18 bytes, a bit per cell, row by row) and how many cells did
    (the timeline's motion bars). Seconds without motion have no row."""

    __tablename__ = "motion_seconds"

    camera: Mapped[str] = mapped_column(String(128), primary_key=True)
    second: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix seconds, UTC
    cells: Mapped[int] = mapped_column(SmallInteger)
    grid: Mapped[bytes] = mapped_column(LargeBinary(18))
