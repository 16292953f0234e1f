"""Image caches: recorded frames on disk, live snapshots in memory.

:class:`FrameCache` keeps the JPEGs of recorded keyframes under
``<data_dir>/cache/frames/<camera>/<keyframe µs>-<width>.jpg``, so scrubbing back
and forth over a timeline decodes each keyframe once. It is bounded
(``max_bytes``, 200 MiB by default): past it, the least recently used files go
until it is down to 80 %. Its methods block (file I/O): call them from a thread.

:class:`Snapshots` keeps each camera's latest live JPEG for ``max_age`` seconds
(and for as long as the camera sends no new keyframe), with one decode at a time
per camera however many ask at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nvr.feed import AccessUnit
from nvr.web.files import resolve_under

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
CACHE_DIR = "cache/frames"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FrameCache:
    def __init__(self, data_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.data_dir = data_dir
        self.root = data_dir / CACHE_DIR
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes in the cache, counted on first use
        self.hits = self.misses = 0

    def path(self, camera: str, keyframe_us: int, width: int) -> Path | None:
        """Where that image lives, or None for a name that could leave the cache."""
        if not _NAME.match(camera):
            return None
        return resolve_under(self.data_dir, f"{CACHE_DIR}/{camera}/{keyframe_us}-{width}.jpg")

    def get(self, camera: str, keyframe_us: int, width: int) -> bytes | None:
        path = self.path(camera, keyframe_us, width)
        try:
            if path is None:
                return None
            data = path.read_bytes()
            os.utime(path)  # recently used: pruned last
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, camera: str, keyframe_us: int, width: int, data: bytes) -> None:
        path = self.path(camera, keyframe_us, width)
        if path is None or len(data) > self.max_bytes:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{threading.get_ident()}")
            temporary.write_bytes(data)
            old = path.stat().st_size if path.exists() else 0
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("frame cache: cannot write %s: %s", path, exc.strerror or exc)
            return
        with self._lock:
            total = self._count() + len(data) - old
            self._total = total
            if total > self.max_bytes:
                self._prune(int(self.max_bytes * 0.8))

    def total(self) -> int:
        with self._lock:
            return self._count()

    def _files(self) -> list[tuple[float, int, Path]]:
        out = []
        for directory in (self.root.iterdir() if self.root.is_dir() else ()):
            if not directory.is_dir():
                continue
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_file() and entry.name.endswith(".jpg"):
                        st = entry.stat()
                        out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def _count(self) -> int:
        if self._total is None:
            self._total = sum(size for _, size, _ in self._files())
        return self._total

    def _prune(self, target: int) -> None:
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= target:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
        self._total = total


@dataclass
class _Snapshot:
    keyframe: AccessUnit
    made: float  # monotonic seconds
    jpeg: bytes


class Snapshots:
    """The latest live JPEG per camera, made at most once per ``max_age`` seconds."""

    def __init__(self, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._cache: dict[str, _Snapshot] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.made = 0  # JPEGs encoded (for tests and curiosity)

    def _fresh(self, camera: str, keyframe: AccessUnit) -> bytes | None:
        cached = self._cache.get(camera)
        if cached is None:
            return None
        if cached.keyframe is keyframe or time.monotonic() - cached.made < self.max_age:
            return cached.jpeg
        return None

    async def get(self, camera: str, keyframe: AccessUnit,
                  make: Callable[[AccessUnit], Awaitable[bytes]]) -> bytes:
        """The JPEG of ``keyframe`` (the feed's latest), or one at most ``max_age`` old."""
        hit = self._fresh(camera, keyframe)
        if hit is not None:
            return hit
        lock = self._locks.setdefault(camera, asyncio.Lock())
        async with lock:
            hit = self._fresh(camera, keyframe)  # another request made it meanwhile
            if hit is not None:
                return hit
            data = await make(keyframe)
            self.made += 1
            self._cache[camera] = _Snapshot(keyframe, time.monotonic(), data)
            return data
