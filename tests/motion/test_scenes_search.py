"""Motion search answers on the scripted scenes: the grids the detector stores for the
simulator's ``moving`` and ``zone`` scenes, searched by region through MotionIndex
(what ``GET /api/cameras/{name}/motion`` answers from), match where the script put
the moving object — and nothing is found where nothing moved."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_scenes import STREET, T0, run_scene

from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.events.motion_index import MotionIndex
from nvr.sim.scenes import BOX_WIDTH, SCENES


@pytest.fixture
def index(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'motion.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield MotionIndex(make_sessionmaker(engine))
    engine.dispose()


def test_search_by_region_finds_when_the_object_crossed_it(index: MotionIndex) -> None:
    (watch,) = run_scene("moving")
    index.add("yard", watch.seconds)
    start, end = int(T0), int(T0) + SCENES["moving"].seconds
    everything = index.search("yard", start, end, None)
    assert everything == sorted(s for s, _ in watch.seconds)
    move = SCENES["moving"].moves[0]
    right = index.search("yard", start, end, (0.75, 0.0, 1.0, 1.0))
    crossing = [s for s in right if s < T0 + move.end]
    # the seconds in which the object's right edge was in the right quarter ...
    there = {int(T0) + k for k in range(int(move.start), int(move.end))
             if move.left(k + 1) + BOX_WIDTH >= 0.75}
    assert there and there <= set(crossing)
    # ... and hardly any other (a coding artifact may light a stray cell once)
    assert len(set(crossing) - there) <= 1
    # above and below its path: nothing but, at most, that one stray second
    assert len(index.search("yard", start, end, (0.0, 0.0, 1.0, 0.25))) <= 1
    assert len(index.search("yard", start, end, (0.0, 0.8, 1.0, 1.0))) <= 1


def test_search_in_the_zone_and_away_from_it(index: MotionIndex) -> None:
    scene = SCENES["zone"]
    assert scene.region is not None
    (watch,) = run_scene("zone")
    index.add("gate", watch.seconds)
    start, end = int(T0), int(T0) + scene.seconds
    region = scene.region
    inside = index.search("gate", start, end, (region.x0, region.y0, region.x1, region.y1))
    move = scene.moves[0]
    assert inside and min(inside) <= T0 + move.start + 1 and max(inside) >= T0 + move.end - 2
    street = (STREET.x0, STREET.y0, STREET.x1, STREET.y1)
    assert index.search("gate", start, end, street) == []
