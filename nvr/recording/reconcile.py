"""Start-up reconcile: make the index and the files under ``recordings/`` agree.

See docs/design/recording.md for the invariants this restores. In short:

1. a segment file without a row (the process died before the writer's insert)
   is probed and indexed with what the file holds;
2. a file with nothing playable in it (zero bytes, only ``ftyp``/``moov``,
   garbage) is deleted;
3. a row whose file is gone (a crash between unlink and row delete, or a file
   removed by hand) is deleted;
4. paths in ``skip`` (being written right now) are left alone on both sides.

Files whose names are not segment names are logged and left untouched.
Synchronous; run it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy.exc import IntegrityError

from nvr.recording.index import SegmentIndex, SegmentInfo
from nvr.recording.probe import RECORDINGS_DIR, parse_segment_relpath, probe_segment

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReconcileReport:
    added: int = 0  # files indexed from a probe
    removed: int = 0  # rows deleted because their file was gone
    deleted_empty: int = 0  # unplayable files deleted
    ignored: list[str] = field(default_factory=list)  # files that are not segment names


def reconcile(data_dir: Path, index: SegmentIndex, skip: Set[str] = frozenset()) -> ReconcileReport:
    """Bring ``index`` in line with ``<data_dir>/recordings``.

    ``skip`` holds paths relative to ``data_dir`` (posix) currently being written.
    """
    report = ReconcileReport()
    root = data_dir / RECORDINGS_DIR
    on_disk = set(_segment_files(data_dir, root, report))
    known = index.paths()

    for rel in sorted(on_disk - known - skip):
        _index_file(data_dir, rel, index, report)

    gone = sorted(path for path in known - on_disk - skip if not (data_dir / path).is_file())
    if gone:
        report.removed = index.delete_paths(gone)
        for path in gone:
            log.warning("reconcile: removed row for missing file %s", path)

    log.info(
        "reconcile %s: %d indexed, %d rows removed, %d empty files deleted, %d ignored",
        root,
        report.added,
        report.removed,
        report.deleted_empty,
        len(report.ignored),
    )
    return report


def _segment_files(data_dir: Path, root: Path, report: ReconcileReport) -> Iterator[str]:
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if parse_segment_relpath(rel) is None:
            report.ignored.append(path.relative_to(data_dir).as_posix())
            log.warning("reconcile: not a segment name, left alone: %s", path)
            continue
        yield path.relative_to(data_dir).as_posix()


def _index_file(data_dir: Path, rel: str, index: SegmentIndex, report: ReconcileReport) -> None:
    name = parse_segment_relpath(PurePosixPath(rel).relative_to(RECORDINGS_DIR))
    assert name is not None  # filtered by _segment_files
    path = data_dir / rel
    probe = probe_segment(path)
    if probe is None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("reconcile: cannot delete unplayable %s: %s", path, exc)
            return
        report.deleted_empty += 1
        log.warning("reconcile: deleted unplayable segment %s", rel)
        return
    info = SegmentInfo(
        camera=name.camera,
        start_us=name.start_us,
        end_us=name.start_us + round(probe.duration * 1_000_000),
        duration=probe.duration,
        bytes=probe.bytes,
        path=rel,
        video_codec=probe.video_codec,
        audio_codec=probe.audio_codec,
        width=probe.width,
        height=probe.height,
    )
    try:
        index.add(info)
    except IntegrityError:  # indexed meanwhile by someone else
        log.info("reconcile: %s was indexed meanwhile", rel)
        return
    report.added += 1
    log.info("reconcile: indexed %s (%.2f s)", rel, probe.duration)
