"""SQLAlchemy 2.0 models.

Wall-clock times are integer microseconds since the Unix epoch (UTC), the one
wall-clock unit inside nvr; the datetime properties are for display and APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Float, Index, Integer, String, UniqueConstraint
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
