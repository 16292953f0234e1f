"""``nvr export``: a camera's recordings of a time range as one MP4, from the shell.

Reads the segment index and the files straight from the database and ``data_dir``
of the config (no running server needed) and writes the same MP4 as
``GET /api/cameras/{name}/export.mp4`` (``nvr.playback.export``): from the keyframe
at or before ``--start`` to the last frame shown before ``--end``, gaps skipped.
The file is written as ``<output>.part`` (the media copied by the kernel where it
can) and renamed when complete, so a failed or interrupted export leaves no file
under the name asked for; like ``cp``, it is not fsynced. A progress bar goes to
stderr. Audited as a download by ``cli``.

Exit status: 0 written; 1 nothing recorded in the range, or a file or the
database could not be read or written; 2 a bad time or range.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from nvr.config import Config

COMMAND = "export"
ACTOR = "cli"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "write a camera's recordings of a time range as one MP4"
    p = sub.add_parser(COMMAND, help=text, description=text)
    p.add_argument("--config", default="config.toml")
    p.add_argument("--camera", required=True, help="the camera's name")
    p.add_argument("--start", required=True, metavar="ISO",
                   help="e.g. 2024-05-01T12:00:00Z (UTC when no zone is given)")
    p.add_argument("--end", required=True, metavar="ISO", help="frames shown before it")
    p.add_argument("-o", "--output", required=True, type=Path, help="the MP4 to write")


def parse_iso(value: str) -> int:
    """ISO 8601 → microseconds since the epoch (a time without zone is UTC)."""
    when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000 + when.microsecond


class Progress:
    """A text progress bar: redrawn in place on a terminal (at most 10 times a second),
    a line per tenth otherwise."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 1)
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self._shown = -1.0
        self._tenth = -1

    def update(self, done: int, final: bool = False) -> None:
        fraction = min(done / self.total, 1.0)
        now = time.monotonic()
        if self.tty:
            if not final and now - self._shown < 0.1:
                return
            self._shown = now
            self.out.write("\r" + self.line(done) + ("\n" if final else ""))
        else:
            tenth = int(fraction * 10)
            if tenth == self._tenth:
                return
            self._tenth = tenth
            self.out.write(self.line(done) + "\n")
        self.out.flush()

    def line(self, done: int) -> str:
        fraction = min(done / self.total, 1.0)
        filled = int(fraction * self.width)
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:3.0f}% "
                f"{done / 1e6:.1f}/{self.total / 1e6:.1f} MB")


def run(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from nvr.auth import audit
    from nvr.auth.audit import AuditLog
    from nvr.db.session import make_engine, make_sessionmaker
    from nvr.playback.export import plan_export, range_problem
    from nvr.playback.stream import SegmentRef, iso
    from nvr.recording.index import SegmentIndex

    try:
        start_us, end_us = parse_iso(args.start), parse_iso(args.end)
    except ValueError as exc:
        return _fail(f"not an ISO 8601 time: {exc}", 2)
    problem = range_problem(start_us, end_us)
    if problem:
        return _fail(problem, 2)
    data_dir = config.server.data_dir.resolve()
    try:
        engine = make_engine(config.database_url)
        sessions = make_sessionmaker(engine)
        rows = SegmentIndex(sessions).query(args.camera, start_us, end_us)
    except (SQLAlchemyError, OSError) as exc:
        return _fail(f"cannot read the database: {str(exc).splitlines()[0]}")
    refs = []
    for row in rows:
        path = (data_dir / row.path).resolve()
        if path.is_relative_to(data_dir):
            refs.append(SegmentRef(path, row.start_us, row.end_us, row.id))
    plan = plan_export(refs, start_us, end_us)
    if plan is None:
        engine.dispose()
        return _fail(f"no recordings of {args.camera} between {iso(start_us)} and "
                     f"{iso(end_us)}")
    output: Path = args.output
    partial = output.with_name(output.name + ".part")
    progress = Progress(plan.size)
    try:
        with partial.open("wb") as out:
            written = plan.copy_to(out.fileno(), progress.update)
        progress.update(written, final=True)
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        engine.dispose()
        return _fail(f"export failed: {exc}")
    except KeyboardInterrupt:
        partial.unlink(missing_ok=True)
        engine.dispose()
        print(file=sys.stderr)
        return 130
    try:
        AuditLog(sessions).add(int(time.time() * 1_000_000), audit.DOWNLOAD, actor=ACTOR,
                               target=f"{args.camera}/export",
                               details={"start": args.start, "end": args.end,
                                        "bytes": plan.size, "file": str(output)})
    except SQLAlchemyError as exc:
        print(f"nvr: warning: could not write the audit log: {exc}", file=sys.stderr)
    finally:
        engine.dispose()
    print(f"{output}: {plan.duration:.1f} s from {iso(plan.first_us)}, "
          f"{plan.segments} segments, {plan.size / 1e6:.1f} MB")
    return 0


def _fail(message: str, status: int = 1) -> int:
    print(f"nvr: {message}", file=sys.stderr)
    return status
