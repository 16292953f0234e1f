"""MotionIndex: per-second motion grids stored, searched by region, counted for bars."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import MotionSecond
from nvr.events.motion_index import MotionIndex, merge_ranges, region_mask

T = 1_700_000_000  # a Unix second


def grid(*cells: tuple[int, int]) -> bytes:
    """18 bytes with the given (column, row) cells set, as the detector packs them."""
    bits = np.zeros((9, 16), bool)
    for col, row in cells:
        bits[row, col] = True
    return np.packbits(bits.reshape(-1)).tobytes()


def stored(sessions: sessionmaker[Session]) -> dict[tuple[str, int], tuple[int, bytes]]:
    with sessions() as session:
        return {(r.camera, r.second): (r.cells, r.grid)
                for r in session.scalars(select(MotionSecond))}


def test_the_grid_layout_matches_the_detectors_packing() -> None:
    from nvr.motion.detector import pack_grid, unpack_grid  # heavy (cv2): only here

    cells = np.zeros((9, 16), np.uint8)
    cells[2, 13] = 255
    packed = pack_grid(cells)
    assert packed == grid((13, 2))
    assert unpack_grid(packed)[2, 13]
    # the cell at column 13, row 2 is x 13/16..14/16, y 2/9..3/9
    assert int.from_bytes(packed, "big") & region_mask((0.82, 0.25, 0.86, 0.3))
    assert not int.from_bytes(packed, "big") & region_mask((0.0, 0.0, 0.8, 1.0))


def test_add_twice_keeps_the_or_of_both_grids(sessions) -> None:
    index = MotionIndex(sessions)
    index.add("front", [(T, grid((0, 0))), (T + 1, grid((1, 1)))])
    index.add("front", [(T, grid((15, 8))), (T, grid((2, 0)))])  # same second twice in a batch
    index.add("back", [(T, grid((5, 5))), (T + 1, bytes(18))])  # an empty grid is no motion
    rows = stored(sessions)
    assert rows[("front", T)] == (3, grid((0, 0), (15, 8), (2, 0)))
    assert rows[("front", T + 1)] == (1, grid((1, 1)))
    assert rows[("back", T)] == (1, grid((5, 5)))
    assert ("back", T + 1) not in rows


def test_search_by_region_and_without(sessions) -> None:
    index = MotionIndex(sessions)
    index.add("front", [(T, grid((0, 0))),        # top left corner
                        (T + 1, grid((15, 8))),   # bottom right corner
                        (T + 2, grid((7, 4))),    # middle (x 7/16..8/16)
                        (T + 9, grid((0, 8)))])   # bottom left
    index.add("back", [(T, grid((8, 4)))])
    assert index.search("front", T, T + 10, None) == [T, T + 1, T + 2, T + 9]
    assert index.search("front", T + 1, T + 9, None) == [T + 1, T + 2]  # end exclusive
    assert index.search("front", T, T + 10, (0.0, 0.0, 0.5, 0.5)) == [T, T + 2]
    assert index.search("front", T, T + 10, (0.0, 0.5, 0.2, 1.0)) == [T + 9]
    assert index.search("front", T, T + 10, (0.9, 0.9, 1.0, 1.0)) == [T + 1]
    assert index.search("front", T, T + 10, (0.0, 0.0, 1.0, 1.0)) == [T, T + 1, T + 2, T + 9]
    assert index.search("nobody", T, T + 10, None) == []


def test_region_mask_edges() -> None:
    whole = region_mask((0, 0, 1, 1))
    assert whole == (1 << 144) - 1
    # a rectangle exactly on cell borders takes only the cells inside it
    assert region_mask((0, 0, 1 / 16, 1 / 9)) == 1 << 143
    # a point still selects the cell it is in; the far edge belongs to the last cell
    assert region_mask((0.5, 0.5, 0.5, 0.5)).bit_count() == 1
    assert region_mask((1, 1, 1, 1)) == 1
    for bad in ((0.5, 0, 0.4, 1), (0, 0, 1.1, 1), (-0.1, 0, 1, 1), (0, 0.6, 1, 0.5)):
        with pytest.raises(ValueError):
            region_mask(bad)


def test_merge_ranges_joins_seconds_one_apart() -> None:
    assert merge_ranges([]) == []
    assert merge_ranges([5, 6, 7, 9, 12]) == [(5, 10), (12, 13)]
    assert merge_ranges([5, 7], gap=0) == [(5, 6), (7, 8)]
    assert merge_ranges([5, 8], gap=2) == [(5, 9)]


def test_intensity_is_the_share_of_seconds_with_motion_per_bucket(sessions) -> None:
    index = MotionIndex(sessions)
    index.add("front", [(T + s, grid((0, 0))) for s in range(30)])     # half of minute 0
    index.add("front", [(T + 120, grid((3, 3)))])                      # one second of minute 2: 2 %
    index.add("front", [(T + 180 + s, grid((1, 1))) for s in range(60)])  # all of minute 3
    index.add("front", [(T - 1, grid((1, 1))), (T + 240, grid((1, 1)))])  # outside
    assert index.intensity("front", T, T + 240, 4) == [50, 0, 2, 100]
    assert index.intensity("front", T, T + 240, 1) == [38]
    assert index.intensity("back", T, T + 240, 4) == [0, 0, 0, 0]
    assert index.intensity("front", T, T, 4) == []


def test_prune_one_camera_or_all(sessions) -> None:
    index = MotionIndex(sessions)
    index.add("front", [(T, grid((0, 0))), (T + 100, grid((0, 0)))])
    index.add("back", [(T, grid((0, 0))), (T + 100, grid((0, 0)))])
    assert index.prune("front", T + 50) == 1
    assert sorted(stored(sessions)) == [("back", T), ("back", T + 100), ("front", T + 100)]
    assert index.prune(None, T + 101) == 3
    assert stored(sessions) == {} and index.cameras() == []


def test_bad_grids_are_refused(sessions) -> None:
    with pytest.raises(ValueError, match="18"):
        MotionIndex(sessions).add("front", [(T, b"\x00" * 17)])
