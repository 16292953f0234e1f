#!/usr/bin/env python3
"""Motion search benchmark: ``MotionIndex`` on a week of one camera.

    .venv/bin/python scripts/bench_motion_search.py                 # SQLite in a temp dir
    .venv/bin/python scripts/bench_motion_search.py --db postgresql+psycopg://...  # an empty db

``search``: 7 days of synthetic grids for one camera (motion in 20 % of the
seconds, in bursts of 1-30 s, each burst a blob of 1-12 cells somewhere in the
16x9 grid: ~121 000 rows) plus a second camera with the same load, so the
primary key has to pick. Timed: ``search`` over the whole week with a region
(a quarter of the frame) and without, ``intensity`` of one day in 1440 buckets
(the timeline's bars) and ``add`` (the rows written in batches of 60 seconds,
what the runtime does, read-merge-upsert). Target: a week's search < 1 s.
Best of ``--runs`` runs, milliseconds.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import load_average, print_table

from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.events.motion_index import MotionIndex

DAY = 86_400
WEEK = 7 * DAY
START = 1_767_225_600  # 2026-01-01T00:00Z
TARGET_MS = 1000.0


def week_of_motion(seed: int, share: float = 0.2) -> list[tuple[int, bytes]]:
    """Bursts of motion covering about ``share`` of a week's seconds."""
    rng = random.Random(seed)
    out: list[tuple[int, bytes]] = []
    second = START
    mean_burst = 15.5
    mean_pause = mean_burst * (1 - share) / share
    while second < START + WEEK:
        second += int(rng.expovariate(1 / mean_pause))
        col, row = rng.randrange(16), rng.randrange(9)
        for _ in range(rng.randint(1, 30)):
            if second >= START + WEEK:
                break
            bits = 0
            for _ in range(rng.randint(1, 12)):
                c = min(15, max(0, col + rng.randint(-2, 2)))
                r = min(8, max(0, row + rng.randint(-1, 1)))
                bits |= 1 << (143 - (r * 16 + c))
            out.append((second, bits.to_bytes(18, "big")))
            second += 1
            col = min(15, max(0, col + rng.choice((-1, 0, 1))))
    return out


def best_ms(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best, result


def bench_search(url: str, runs: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    index = MotionIndex(make_sessionmaker(engine))
    rows = week_of_motion(1)
    t0 = time.perf_counter()
    for i in range(0, len(rows), 60):
        index.add("front", rows[i:i + 60])
    add_s = time.perf_counter() - t0
    other = week_of_motion(2)
    for i in range(0, len(other), 600):
        index.add("back", other[i:i + 600])
    print(f"\n== search: {len(rows)} seconds with motion in a week of one camera "
          f"({len(rows) / WEEK:.0%}), {engine.dialect.name}; load {load_average()}")
    quarter = (0.5, 0.5, 1.0, 1.0)
    region_ms, found = best_ms(lambda: index.search("front", START, START + WEEK, quarter), runs)
    any_ms, every = best_ms(lambda: index.search("front", START, START + WEEK, None), runs)
    day_ms, _ = best_ms(lambda: index.intensity("front", START + DAY, START + 2 * DAY, 1440),
                        runs)
    assert isinstance(found, list) and isinstance(every, list)
    print_table(["what", "best ms", "found", "target"], [
        ("search a week, region 1/4 of the frame", f"{region_ms:.0f}", len(found),
         f"< {TARGET_MS:.0f} ms"),
        ("search a week, any motion", f"{any_ms:.0f}", len(every), ""),
        ("intensity of a day, 1440 buckets", f"{day_ms:.1f}", "", ""),
        ("add, per 60-second batch", f"{add_s * 1000 / (len(rows) / 60):.1f}", "", ""),
    ])
    verdict = "OK" if region_ms < TARGET_MS else "OVER TARGET"
    print(f"week search with a region: {region_ms:.0f} ms ({verdict})")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="an empty database URL (default: SQLite in a temp dir)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.db:
        bench_search(args.db, args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bench_search(f"sqlite:///{Path(tmp) / 'nvr.db'}", args.runs)


if __name__ == "__main__":
    main()
