"""Continuous recording of one camera's Feed into fragmented-MP4 segments.

Rules (see docs/design/recording.md):

* A segment starts at a video keyframe and is cut at the first keyframe once it
  is ``segment_seconds`` long (within half a frame: a camera clock a tick short
  must not push a 10 s cut to the next keyframe), or when the codec parameters
  or the audio track change, so every segment plays on its own.
* Decode timestamps come from the feed (computed once at ingest). A frame with
  dts after its pts (the reorder depth was not yet known) or a dts that steps
  back breaks the stream, and recording starts again at the next keyframe with
  a consistent delay. Frames shown before a segment's first keyframe (the
  leading pictures of an open GOP, which need the GOP before it) are dropped
  and counted in ``leading_dropped``.
* Time: a segment's start is the wall-clock time of its first frame; its end is
  start + (pts of the frame that ends it − first pts) / 90 kHz. When a cut
  happens inside an unbroken stream, the next segment starts exactly where the
  previous one ended (same microsecond): no gap, no overlap.
* The stream breaks when pts go backwards or jump (a new RTSP session, a camera
  reboot) or when nothing arrives for ``idle_close_seconds``: the segment is
  then closed with its last frame given the usual frame duration.
* Durability: each GOP becomes one fragment as soon as the next keyframe
  arrives; it is written and fsynced in a worker thread while the loop queues
  the next GOP. The DB row is written when the segment is closed and its file
  fsynced. A crash leaves a file without a row, which start-up reconcile indexes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nvr.clock import SYSTEM_CLOCK, Clock
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


@dataclass(frozen=True)
class OpenSegment:
    """The segment being written, as far as its fragments are on disk (fsynced):
    playable before it is closed and indexed. ``path`` is relative to data_dir."""

    path: str
    start_us: int
    end_us: int


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

    def end_us(self, end_pts: int) -> int:
        """The segment's wall-clock end when its last frame ends at ``end_pts``."""
        return self.start_us + (end_pts - self.first_pts) * 1_000_000 // VIDEO_CLOCK


class Recorder:
    """Records one Feed. Run :meth:`run` as a task. To stop, close the Feed: the recorder
    writes what is queued, closes and indexes its segment, and returns."""

    def __init__(self, camera: str, feed: Feed, data_dir: Path, segment_seconds: float,
                 index_add: IndexAdd, idle_close_seconds: float = 5.0,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.camera = camera
        self.feed = feed
        self.data_dir = data_dir
        self.segment_ticks = int(segment_seconds * VIDEO_CLOCK)
        self.index_add = index_add
        self.idle_close_seconds = idle_close_seconds
        self.clock = clock
        self.log = logging.LoggerAdapter(logging.getLogger("nvr.recorder"), {"camera": camera})
        self.segments_written = 0
        self.frames_written = 0
        self.errors = 0
        self.leading_dropped = 0
        self._seg: _Open | None = None
        self._gop: list[AccessUnit] = []  # the GOP being received (keyframe first), decode order
        self._frame_ticks = VIDEO_CLOCK // 25
        self._continue_at: int | None = None  # start_us for the next segment, if contiguous
        self._sync: asyncio.Future[None] | None = None
        self._written: OpenSegment | None = None

    @property
    def active_path(self) -> str | None:
        return self._seg.relpath if self._seg else None

    @property
    def open_segment(self) -> OpenSegment | None:
        """The segment being written up to its last fsynced fragment (until its row is
        in the index); None before its first fragment is on disk."""
        return self._written

    async def run(self) -> None:
        # woken per keyframe, not per frame: the recorder works a GOP at a time
        sub = self.feed.subscribe(maxsize=2048, wake_on="keyframe")
        last_frame = self.clock.monotonic()
        try:
            while True:
                await sub.wait(1.0)
                batch = sub.drain()
                now = self.clock.monotonic()
                if batch:
                    last_frame = now
                elif sub.closed:
                    break
                elif self._seg is not None and now - last_frame > self.idle_close_seconds:
                    self.log.info("camera %s: no frames for %.0f s, closing segment",
                                  self.camera, self.idle_close_seconds)
                    await self._close(end=None)
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
            await asyncio.shield(self._close(end=None))

    async def _handle(self, au: AccessUnit) -> None:
        if au.params.kind == "audio":
            self._write_audio(au)
            return
        seg, gop = self._seg, self._gop
        if (seg is not None and not au.keyframe and au.params is seg.video
                and seg.first_pts - MAX_REORDER <= au.pts < seg.first_pts):
            self.leading_dropped += 1  # shown before the segment's first frame: a leading
            return  # picture of an open GOP, which needs the previous GOP to decode
        if seg is not None and gop:
            last = gop[-1]
            if (au.params is not seg.video or au.dts <= last.dts or au.dts > au.pts
                    or au.dts - last.dts > MAX_FRAME_GAP or au.pts < seg.first_pts - MAX_REORDER
                    or (au.keyframe and au.pts <= gop[0].pts)):
                # a new session, new parameter sets, a reorder delay that changed, or
                # timestamp trouble: the stream broke
                self.log.debug("camera %s: stream broke at pts %d", self.camera, au.pts)
                await self._close(end=None)
                seg = None
        if seg is None:
            if au.keyframe and au.dts <= au.pts:
                await self._open(au)
                self._gop = [au]
            return  # before the first keyframe there is nothing to start a segment with
        if not au.keyframe:
            self._gop.append(au)
            return
        half_frame = self._frame_ticks // 2
        if (au.pts - seg.first_pts >= self.segment_ticks - half_frame
                or seg.audio is not self.feed.audio):
            await self._close(end=au)
            await self._open(au)
            self._gop = [au]
            return
        self._write_gop(end=au)
        self._gop = [au]
        await self._flush(end_pts=au.pts)

    def _write_gop(self, end: AccessUnit | None) -> AccessUnit | None:
        """Write the frames received since the last keyframe (decode order). A frame's
        duration is the step to the next frame's dts; the last one's ends at ``end`` (the
        next keyframe), or gets the usual frame duration when the stream broke. Returns
        the last frame written."""
        seg, gop = self._seg, self._gop
        self._gop = []
        if seg is None or not gop:
            return None
        steps = [b.dts - a.dts for a, b in zip(gop, gop[1:], strict=False)]
        if steps:
            self._frame_ticks = min(steps)
        nxt = [f.dts for f in gop[1:]] + [end.dts if end is not None else
                                          gop[-1].dts + self._frame_ticks]
        base = seg.first_pts
        for au, next_dts in zip(gop, nxt, strict=True):
            seg.writer.write_video(au.data, au.pts - base, au.dts - base,
                                   max(1, next_dts - au.dts), au.keyframe)
            self.frames_written += 1
        return gop[-1]

    async def _flush(self, end_pts: int) -> None:
        """Write the GOP just queued (it ends at ``end_pts``) as one fragment, and fsync
        it, in a thread: the loop goes on queuing the next GOP meanwhile. Once it is on
        disk, :attr:`open_segment` reaches its end."""
        seg = self._seg
        assert seg is not None
        data = seg.writer.take_fragment()
        await self._wait_sync()
        if data is not None:
            end_us = seg.end_us(end_pts)
            sync = asyncio.ensure_future(asyncio.to_thread(seg.writer.write_fragment, data))
            sync.add_done_callback(lambda done: self._synced(done, seg, end_us))
            self._sync = sync

    def _synced(self, done: asyncio.Future[None], seg: _Open, end_us: int) -> None:
        if done.cancelled() or done.exception() is not None or self._seg is not seg:
            return
        self._written = OpenSegment(seg.relpath, seg.start_us, end_us)

    async def _open(self, au: AccessUnit) -> _Open:
        start_us = self._continue_at if self._continue_at is not None else int(au.wallclock * 1e6)
        self._continue_at = None
        rel = new_segment_path(self.camera, start_us, lambda r: (self.data_dir / r).exists())
        audio = self.feed.audio
        writer = await asyncio.to_thread(SegmentWriter, self.data_dir / rel, au.params, audio,
                                         auto_flush=False)
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
                self.log.warning("camera %s: writing a fragment failed: %s", self.camera, exc)

    async def _close(self, end: AccessUnit | None) -> None:
        """Close the open segment. ``end``: the keyframe that starts the next one, or None
        when the stream broke (the last frame then gets the usual duration)."""
        seg = self._seg
        if seg is None:
            return
        last = max((f.pts for f in self._gop), default=seg.first_pts)
        self._write_gop(end)
        last_end = end.pts if end is not None else last + self._frame_ticks
        self._seg = None
        await self._wait_sync()
        size = await asyncio.to_thread(seg.writer.close)
        end_us = seg.end_us(last_end)
        length_us = end_us - seg.start_us
        self._continue_at = end_us if end is not None else None
        info = SegmentInfo(
            camera=self.camera, start_us=seg.start_us, end_us=end_us,
            duration=length_us / 1e6, bytes=size, path=seg.relpath,
            video_codec=seg.video.codec,
            audio_codec=seg.audio.codec if seg.audio is not None else None,
            width=seg.video.width, height=seg.video.height)
        await self.index_add(info)
        self._written = None  # in the index now
        self.segments_written += 1
        self.log.info("camera %s: segment %s (%.1f s, %d bytes)", self.camera, seg.relpath,
                      info.duration, size)

    async def _abandon(self) -> None:
        """After an error: close what can be closed, leave the file to reconcile."""
        seg = self._seg
        self._seg = None
        self._written = None  # reconcile indexes the file at the next start
        self._gop = []
        self._continue_at = None
        if seg is not None:
            try:
                await self._wait_sync()
                await asyncio.to_thread(seg.writer.close)
            except Exception:  # noqa: BLE001
                self.log.warning("camera %s: could not close %s", self.camera, seg.relpath)
