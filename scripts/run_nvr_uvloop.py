#!/usr/bin/env python3
"""``nvr`` on uvloop: installs uvloop's event loop policy, then runs nvr's command line.

    .venv/bin/python scripts/run_nvr_uvloop.py run --config nvr.toml

Same arguments as ``nvr``; ``asyncio.run`` inside nvr then creates a uvloop loop.
Used by ``scripts/bench_record.py --uvloop``.
"""

from __future__ import annotations

import asyncio

import uvloop

from nvr.cli import main

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    raise SystemExit(main())
