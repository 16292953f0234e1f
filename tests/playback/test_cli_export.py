"""``nvr export`` as a user runs it: a subprocess on a config, its database and files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fmp4_media import decode_errors

from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.playback.export import plan_export
from nvr.recording.index import SegmentIndex

REPO = Path(__file__).resolve().parents[2]
START, END = "2023-11-14T22:13:23.5Z", "2023-11-14T22:13:40Z"


@pytest.fixture(scope="module")
def config(library, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    data_dir = root / "data"
    shutil.copytree(library.data_dir / "recordings", data_dir / "recordings")
    url = f"sqlite:///{data_dir / 'nvr.db'}"
    upgrade(url)
    engine = make_engine(url)
    index = SegmentIndex(make_sessionmaker(engine))
    for row in library.rows:
        index.add(row)
    engine.dispose()
    path = root / "nvr.toml"
    path.write_text(f'[server]\ndata_dir = "{data_dir}"\n\n[[cameras]]\nname = "cam1"\n'
                    'url = "rtsp://127.0.0.1:9/none"\n')
    return path


def nvr_export(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvr", "export", "--config", str(config),
                           "--camera", "cam1", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_export_writes_the_same_mp4_as_the_api(config, library, tmp_path):
    out = tmp_path / "clip.mp4"
    done = nvr_export(config, "--start", START, "--end", END, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and "[" in done.stderr  # the progress bar
    assert done.stdout.startswith(f"{out}: 13.0 s from 2023-11-14T22:13:23.000000Z")
    assert decode_errors(out) == ""
    refs = [r._replace(path=config.parent / "data" / r.path.relative_to(library.data_dir))
            for r in library.refs]
    plan = plan_export(refs, 1_700_000_003_500_000, 1_700_000_020_000_000)
    assert plan is not None
    assert out.read_bytes() == b"".join(plan.blocks())
    assert not out.with_name("clip.mp4.part").exists()


@pytest.mark.parametrize(("start", "end", "status", "says"), [
    ("2023-11-14T22:13:27Z", "2023-11-14T22:13:29Z", 1, "no recordings of cam1 between"),
    ("2023-11-14T22:13:29Z", "2023-11-14T22:13:27Z", 2, "start must be before end"),
    ("2023-11-13T00:00:00Z", "2023-11-14T22:13:27Z", 2, "24 hours"),
    ("tomorrow", "2023-11-14T22:13:27Z", 2, "not an ISO 8601 time"),
])
def test_export_refuses_with_one_line(config, tmp_path, start, end, status, says):
    out = tmp_path / "clip.mp4"
    done = nvr_export(config, "--start", start, "--end", end, "-o", str(out))
    assert done.returncode == status and says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists() and not out.with_name("clip.mp4.part").exists()
