"""nvr's Recorder on a Feed of its own, for tests that feed it frames directly: the
rows it indexes are kept in :attr:`RecorderRig.rows` (no database)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nvr.feed import Feed
from nvr.recording.index import SegmentInfo
from nvr.recording.recorder import Recorder


class RecorderRig:
    def __init__(self, data_dir: Path, segment_seconds: float, camera: str = "cam") -> None:
        self.feed = Feed(camera)
        self.rows: list[SegmentInfo] = []
        self.recorder = Recorder(camera, self.feed, data_dir, segment_seconds, self._add)
        self.task: asyncio.Task[None] | None = None

    async def _add(self, info: SegmentInfo) -> None:
        self.rows.append(info)

    async def start(self) -> RecorderRig:
        """The recorder running and subscribed to the feed."""
        self.task = asyncio.create_task(self.recorder.run())
        await asyncio.sleep(0)
        return self

    async def stop(self) -> list[SegmentInfo]:
        """Close the feed: the recorder writes what is queued, closes and indexes its
        segment and returns (within a minute); the rows indexed."""
        self.feed.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)
        return self.rows
