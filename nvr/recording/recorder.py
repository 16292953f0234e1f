"""Continuous recording of one camera's Feed into fragmented-MP4 segments.

Rules (see docs/design/recording.md):

* A segment starts at a video keyframe and is cut at the first keyframe once it
  is ``segment_seconds`` long, or when the codec parameters change, so every
  segment plays on its own.
* Time: a segment's start is the wall-clock time of its first frame; its end is
  start + (pts of the frame that ends it − first pts) / 90 kHz. When a cut
  happens inside an unbroken stream, the next segment starts exactly where the
  previous one ended (same microsecond): no gap, no overlap.
* The stream breaks when pts go backwards or jump (a new RTSP session, a camera
  reboot) or when nothing arrives for ``idle_close_seconds``: the segment is
  then closed with its last frame given the usual frame duration.
* Durability: fragments are fsynced as they are written (one per GOP); the DB
  row is written when the segment is closed and its file fsynced. A crash
  leaves a file without a row, which start-up reconcile indexes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed
from nvr.recording.index import SegmentInfo
from nvr.recording.probe import RECORDINGS_DIR, segment_relpath
from nvr.recording.writer import SegmentWriter

MAX_FRAME_GAP = 5 * VIDEO_CLOCK  # a pts step above this breaks the stream
MAX_REORDER = VIDEO_CLOCK  # B-frames step back less than this; more breaks the stream

IndexAdd = Callable[[SegmentInfo], Awaitable[object]]


def new_segment_path(camera: str, start_us: int, exists: Callable[[str], bool]) -> str:
    """``recordings/<camera>/<YYYY-MM-DD>/<HH-MM-SS>.mp4`` (UTC), made unique with -1, -2..."""
    sequence = 0
    while True:
        rel = f"{RECORDINGS_DIR}/{segment_relpath(camera, start_us, sequence)}"
        if not exists(rel):
            return rel
        sequence += 1


@dataclass
class _Open:
    writer: SegmentWriter
    relpath: str
    video: CodecParams
    audio: CodecParams | None
    start_us: int
    first_pts: int
    audio_base: float  # wall-clock seconds of pts 0 in this segment
    last_audio_pts: int = -1


class Recorder:
    """Records one Feed. Run :meth:`run` as a task. To stop, close the Feed: the recorder
    writes what is queued, closes and indexes its segment, and returns."""

    def __init__(self, camera: str, feed: Feed, data_dir: Path, segment_seconds: float,
                 index_add: IndexAdd, idle_close_seconds: float = 5.0) -> None:
        self.camera = camera
        self.feed = feed
        self.data_dir = data_dir
        self.segment_ticks = int(segment_seconds * VIDEO_CLOCK)
        self.index_add = index_add
        self.idle_close_seconds = idle_close_seconds
        self.log = logging.LoggerAdapter(logging.getLogger("nvr.recorder"), {"camera": camera})
        self.segments_written = 0
        self.frames_written = 0
        self.errors = 0
        self._seg: _Open | None = None
        self._key: AccessUnit | None = None  # keyframe of the GOP being received
        self._gop: list[AccessUnit] = []  # frames after it, decode order, not yet written
        self._last_dts = 0  # of the last video frame written, segment-relative
        self._reorder = 0  # B-frame reordering delay of this stream, 90 kHz ticks
        self._frame_ticks = VIDEO_CLOCK // 25
        self._continue_at: int | None = None  # start_us for the next segment, if contiguous
        self._sync: asyncio.Future[None] | None = None

    @property
    def active_path(self) -> str | None:
        return self._seg.relpath if self._seg else None

    async def run(self) -> None:
        # woken per keyframe, not per frame: the recorder works a GOP at a time
        sub = self.feed.subscribe(maxsize=2048, wake_on="keyframe")
        loop = asyncio.get_running_loop()
        last_frame = loop.time()
        try:
            while True:
                await sub.wait(1.0)
                batch = sub.drain()
                now = loop.time()
                if batch:
                    last_frame = now
                elif sub.closed:
                    break
                elif self._seg is not None and now - last_frame > self.idle_close_seconds:
                    self.log.info("camera %s: no frames for %.0f s, closing segment",
                                  self.camera, self.idle_close_seconds)
                    await self._close(end_pts=None)
                for au in batch:
                    try:
                        await self._handle(au)
                    except Exception:  # noqa: BLE001 - one bad segment must not stop recording
                        self.errors += 1
                        self.log.exception("camera %s: recording error; starting a new segment",
                                           self.camera)
                        await self._abandon()
        finally:
            sub.close()
            await asyncio.shield(self._close(end_pts=None))

    async def _handle(self, au: AccessUnit) -> None:
        if au.params.kind == "audio":
            self._write_audio(au)
            return
        seg, key = self._seg, self._key
        if seg is not None and key is not None:
            last = self._gop[-1] if self._gop else key
            step = au.pts - last.pts
            if (au.params is not seg.video or step > MAX_FRAME_GAP or step < -MAX_REORDER
                    or (au.keyframe and au.pts <= key.pts)):
                # a new session, new parameter sets, or timestamp trouble: the stream broke
                await self._close(end_pts=None)
                seg = None
        if not au.keyframe:
            if seg is not None:
                self._gop.append(au)
            return  # before the first keyframe there is nothing to start a segment with
        if seg is not None:
            if au.pts - seg.first_pts >= self.segment_ticks or seg.audio is not self.feed.audio:
                await self._close(end_pts=au.pts)
                seg = None
            else:
                self._write_gop(end_pts=au.pts)
        if seg is None:
            seg = await self._open(au)
        await self._write_key(au)

    def _write_gop(self, end_pts: int) -> None:
        """Write the frames after the last keyframe, with decode timestamps.

        RTP carries presentation times only. In decode order, the n-th frame of a GOP
        gets the n-th smallest presentation time of the GOP minus the stream's
        reordering delay (0 without B-frames, so dts = pts), which keeps dts rising and
        never after pts. Durations follow the presentation order; the last one ends at
        ``end_pts`` (the next keyframe).
        """
        seg, key, gop = self._seg, self._key, self._gop
        self._gop = []
        if seg is None or key is None or not gop:
            return
        shown = sorted(f.pts for f in (key, *gop))
        reorder = max(s - f.pts for s, f in zip(shown, (key, *gop), strict=True))
        self._reorder = max(self._reorder, reorder)
        steps = [b - a for a, b in zip(shown, shown[1:], strict=False) if b > a]
        if steps:
            self._frame_ticks = min(steps)
        base = seg.first_pts
        for i, au in enumerate(gop, start=1):
            pts = au.pts - base
            dts = min(pts, max(shown[i] - self._reorder - base, self._last_dts + 1))
            nxt = shown[i + 1] if i + 1 < len(shown) else end_pts
            seg.writer.write_video(au.data, pts, dts, max(1, nxt - shown[i]), False)
            self._last_dts = dts
            self.frames_written += 1

    async def _write_key(self, au: AccessUnit) -> None:
        """Write a keyframe at once: muxing it writes out the previous GOP's fragment,
        which is then fsynced (in a thread)."""
        seg = self._seg
        assert seg is not None
        pts = au.pts - seg.first_pts
        dts = pts - self._reorder
        if self._key is not None:  # not the segment's first frame
            dts = max(dts, self._last_dts + 1)
        seg.writer.write_video(au.data, pts, dts, self._frame_ticks, True)
        self._key, self._last_dts = au, dts
        self.frames_written += 1
        await self._wait_sync()
        self._sync = asyncio.ensure_future(asyncio.to_thread(seg.writer.sync))

    async def _open(self, au: AccessUnit) -> _Open:
        start_us = self._continue_at if self._continue_at is not None else int(au.wallclock * 1e6)
        self._continue_at = None
        rel = new_segment_path(self.camera, start_us, lambda r: (self.data_dir / r).exists())
        audio = self.feed.audio
        writer = await asyncio.to_thread(SegmentWriter, self.data_dir / rel, au.params, audio)
        seg = _Open(writer=writer, relpath=rel, video=au.params, audio=audio, start_us=start_us,
                    first_pts=au.pts, audio_base=au.wallclock)
        self._seg = seg
        self.log.debug("camera %s: new segment %s", self.camera, rel)
        return seg

    def _write_audio(self, au: AccessUnit) -> None:
        seg = self._seg
        if seg is None or seg.audio is not au.params:
            return
        rate = au.params.clock_rate
        pts = round((au.wallclock - seg.audio_base) * rate)
        if pts <= seg.last_audio_pts:
            return
        seg.last_audio_pts = pts
        seg.writer.write_audio(au.data, pts, au.duration or 1024)

    async def _wait_sync(self) -> None:
        if self._sync is not None:
            sync, self._sync = self._sync, None
            try:
                await sync
            except OSError as exc:
                self.log.warning("camera %s: fsync failed: %s", self.camera, exc)

    async def _close(self, end_pts: int | None) -> None:
        """Close the open segment. ``end_pts``: pts of the keyframe that starts the next
        one, or None when the stream broke (the last frame then gets the usual duration)."""
        seg, key = self._seg, self._key
        if seg is None:
            return
        if key is not None:
            last = max(f.pts for f in (key, *self._gop))
            end = end_pts if end_pts is not None else last + self._frame_ticks
            self._write_gop(end)
            last_end = end
        else:
            last_end = seg.first_pts
        self._key = None
        self._seg = None
        await self._wait_sync()
        size = await asyncio.to_thread(seg.writer.close)
        length_us = (last_end - seg.first_pts) * 1_000_000 // VIDEO_CLOCK
        end_us = seg.start_us + length_us
        self._continue_at = end_us if end_pts is not None else None
        info = SegmentInfo(
            camera=self.camera, start_us=seg.start_us, end_us=end_us,
            duration=length_us / 1e6, bytes=size, path=seg.relpath,
            video_codec=seg.video.codec,
            audio_codec=seg.audio.codec if seg.audio is not None else None,
            width=seg.video.width, height=seg.video.height)
        await self.index_add(info)
        self.segments_written += 1
        self.log.info("camera %s: segment %s (%.1f s, %d bytes)", self.camera, seg.relpath,
                      info.duration, size)

    async def _abandon(self) -> None:
        """After an error: close what can be closed, leave the file to reconcile."""
        seg = self._seg
        self._seg = None
        self._key = None
        self._gop = []
        self._continue_at = None
        if seg is not None:
            try:
                await self._wait_sync()
                await asyncio.to_thread(seg.writer.close)
            except Exception:  # noqa: BLE001
                self.log.warning("camera %s: could not close %s", self.camera, seg.relpath)
