from __future__ import annotations

from pathlib import Path

import pytest

from nvr.recording.index import SegmentIndex, SegmentInfo
from nvr.recording.probe import segment_relpath
from nvr.recording.retention import (
    US_PER_DAY,
    CameraRetention,
    Retention,
    RetentionPolicy,
)

S = 1_000_000
T0 = 1_714_521_600 * S  # 2024-05-01T00:00:00Z
NOW = T0 + 10 * US_PER_DAY


class Store:
    """Segments as files under data_dir plus rows, like the recorder leaves them."""

    def __init__(self, data_dir: Path, index: SegmentIndex) -> None:
        self.data_dir = data_dir
        self.index = index

    def add(self, camera: str, start_us: int, size: int = 100, length_s: int = 60) -> str:
        rel = "recordings/" + segment_relpath(camera, start_us).as_posix()
        (self.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.data_dir / rel).write_bytes(b"x" * size)
        self.index.add(
            SegmentInfo(
                camera, start_us, start_us + length_s * S, float(length_s), size, rel,
                "h264", None, 640, 480,
            )
        )  # fmt: skip
        return rel

    def paths(self) -> set[str]:
        rows = self.index.paths()
        files = {
            p.relative_to(self.data_dir).as_posix()
            for p in (self.data_dir / "recordings").rglob("*.mp4")
        }
        assert rows == files, "rows and files disagree"
        return rows


@pytest.fixture
def store(segment_index: SegmentIndex, tmp_path: Path) -> Store:
    return Store(tmp_path, segment_index)


def test_retention_deletes_by_age_with_camera_override(store: Store) -> None:
    old_door = store.add("door", NOW - 8 * US_PER_DAY)
    edge_door = store.add("door", NOW - 7 * US_PER_DAY - 30 * S)  # ends 30 s inside 7 days
    new_door = store.add("door", NOW - 1 * US_PER_DAY)
    old_yard = store.add("yard", NOW - 8 * US_PER_DAY)
    mid_yard = store.add("yard", NOW - 3 * US_PER_DAY)
    policy = RetentionPolicy(retain_days=7, per_camera={"yard": CameraRetention(retain_days=2)})

    report = Retention(store.index, store.data_dir, policy).run_once(NOW)

    assert store.paths() == {edge_door, new_door}
    assert report.deleted_segments == 3
    assert report.deleted_bytes == 300
    assert report.reasons == {"age": 3}
    assert (store.data_dir / old_door).parent == (store.data_dir / edge_door).parent
    assert (store.data_dir / old_door).parent.is_dir()  # day dir still in use kept
    assert not (store.data_dir / old_yard).parent.exists()  # emptied day dir removed
    assert not (store.data_dir / mid_yard).parent.exists()
    assert (store.data_dir / "recordings" / "yard").is_dir()  # camera dir kept


def test_retention_deletes_by_camera_bytes(store: Store) -> None:
    door = [store.add("door", T0 + i * 60 * S, size=100) for i in range(5)]
    yard = [store.add("yard", T0 + i * 60 * S, size=100) for i in range(5)]
    policy = RetentionPolicy(per_camera={"door": CameraRetention(max_bytes=250)})

    report = Retention(store.index, store.data_dir, policy).run_once(NOW)

    assert store.paths() == set(door[3:]) | set(yard)
    assert report.reasons == {"camera_bytes": 3}
    assert store.index.by_camera_bytes() == {"door": 200, "yard": 500}


def test_retention_deletes_by_total_bytes_oldest_first_across_cameras(store: Store) -> None:
    a = store.add("door", T0, size=100)
    b = store.add("yard", T0 + 60 * S, size=100)
    c = store.add("door", T0 + 120 * S, size=100)
    d = store.add("yard", T0 + US_PER_DAY, size=100)
    policy = RetentionPolicy(max_bytes=250)

    report = Retention(store.index, store.data_dir, policy).run_once(NOW)

    assert store.paths() == {c, d}
    assert report.reasons == {"total_bytes": 2}
    assert not (store.data_dir / a).exists() and not (store.data_dir / b).exists()


def test_retention_min_free_deletes_until_enough_space(store: Store) -> None:
    paths = [store.add("door" if i % 2 else "yard", T0 + i * 60 * S, size=1000) for i in range(6)]
    measured: list[Path] = []

    def free_bytes(path: Path) -> int:
        measured.append(path)
        return 500

    policy = RetentionPolicy(min_free=2_600)
    report = Retention(store.index, store.data_dir, policy, free_bytes).run_once(NOW)

    assert store.paths() == set(paths[3:])  # 500 + 3 * 1000 >= 2600
    assert report.reasons == {"min_free": 3}
    assert not report.free_short
    assert measured == [store.data_dir]


def test_retention_min_free_not_reached_reports_short(store: Store) -> None:
    store.add("door", T0, size=10)
    policy = RetentionPolicy(min_free=10**6)
    report = Retention(store.index, store.data_dir, policy, lambda _: 0).run_once(NOW)
    assert store.paths() == set()
    assert report.free_short


def test_retention_min_free_enough_space_deletes_nothing(store: Store) -> None:
    kept = store.add("door", T0)
    policy = RetentionPolicy(min_free=1000)
    report = Retention(store.index, store.data_dir, policy, lambda _: 1000).run_once(NOW)
    assert store.paths() == {kept}
    assert report.deleted_segments == 0


def test_retention_never_deletes_active_segment(store: Store) -> None:
    active = store.add("door", T0 - 30 * US_PER_DAY, size=10_000)  # oldest, and too old
    other = store.add("door", T0, size=100)
    newest = store.add("door", NOW - S, size=100)
    policy = RetentionPolicy(
        retain_days=1,
        max_bytes=1,
        min_free=10**9,
        per_camera={"door": CameraRetention(max_bytes=1)},
    )

    report = Retention(store.index, store.data_dir, policy, lambda _: 0).run_once(
        NOW, active_paths={active}
    )

    assert store.paths() == {active}
    assert report.deleted_segments == 2
    assert report.reasons == {"age": 1, "camera_bytes": 1}
    assert not (store.data_dir / other).exists() and not (store.data_dir / newest).exists()
    assert (store.data_dir / active).parent.is_dir()


def test_retention_missing_file_still_deletes_row(store: Store) -> None:
    gone = store.add("door", T0)
    kept = store.add("door", NOW - S)
    (store.data_dir / gone).unlink()
    policy = RetentionPolicy(retain_days=1)

    report = Retention(store.index, store.data_dir, policy).run_once(NOW)

    assert store.paths() == {kept}
    assert report.reasons == {"age": 1}


def test_retention_no_limits_deletes_nothing(store: Store) -> None:
    paths = {store.add("door", T0 + i * 60 * S) for i in range(3)}
    report = Retention(store.index, store.data_dir, RetentionPolicy()).run_once(NOW)
    assert store.paths() == paths
    assert report.deleted_segments == 0


def test_retention_pages_through_many_segments(store: Store) -> None:
    for i in range(1100):
        store.add("door", T0 + i * 60 * S, size=1)
    policy = RetentionPolicy(max_bytes=10)
    report = Retention(store.index, store.data_dir, policy).run_once(NOW)
    assert report.deleted_segments == 1090
    assert store.index.total_bytes() == 10
    assert len(store.paths()) == 10
