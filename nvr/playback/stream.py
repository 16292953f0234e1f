"""One playback viewer: recorded segments as the messages of the playback WebSocket.

The messages mirror the live view's (``nvr.live.stream``), on one continuous media
timeline that starts at 0 (the contract of ``GET /api/cameras/{name}/playback``,
docs/ref/api.md):

* text ``{"mime": "video/mp4; codecs=\\"...\\""}`` then binary: the init segment;
  again whenever the init changes (new parameter sets, audio appearing, or trick
  play, which is video only);
* text ``{"span": {"media": s, "wall": iso, "end": iso}}`` when a segment starts
  (and after a new init): from media time ``s`` on, the wall-clock time is ``wall``
  plus the media time elapsed, up to ``end``;
* binary: ``moof``+``mdat`` fragments, the recorded ones with only their sequence
  number and decode times rewritten, starting at the keyframe at or before the
  start; consecutive segments and segments after a gap follow each other without
  a hole in the media timeline (a gap is skipped);
* text ``{"end": true}`` when the recordings run out.

The segment being written (a ``growing`` ref) is followed: once its fragments on
disk are sent, the stream looks again every :data:`FOLLOW_INTERVAL` until it has
more (a new ``span`` with the later end is sent) or is closed, and goes on into
the next segment, so playback a moment behind live does not run out.

Flow control: about :data:`INITIAL_SECONDS` of media are sent, then no fragment
starts past the budget until the client asks: ``{"more": s}`` allows ``s`` more
seconds of media past what was sent; ``{"speed": x}`` sets the speed. At
:data:`TRICK_SPEED` and above only keyframes go out, one per fragment, each
lasting until the next one sent, at most :data:`TRICK_RATE` per second of viewing,
so the media timeline keeps wall time and 64x costs about what real time does.

Blocking work (opening and indexing a segment, reading fragments) runs in threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from nvr.feed import VIDEO_CLOCK
from nvr.fmp4.fragment import Sample as OutSample
from nvr.fmp4.fragment import TrackRun, fragment
from nvr.playback.reader import Fragment, Sample, SegmentFile, open_segment
from nvr.playback.tracks import video_only_init

log = logging.getLogger(__name__)

INITIAL_SECONDS = 10.0
TRICK_SPEED = 8.0
TRICK_RATE = 4.0  # keyframes per second of viewing in trick play
MAX_SPEED = 1024.0
MAX_MORE = 3600.0  # seconds of media one "more" may ask for
AUDIO_NUDGE = 0.05  # s: audio overlapping the previous segment's by less is moved later
FOLLOW_INTERVAL = 0.5  # s between looks at a growing segment that has nothing new yet
FOLLOW_WAIT = 10.0  # s a followed camera's next segment may take to have a fragment on disk


class SegmentRef(NamedTuple):
    """A recorded segment: its file and wall-clock span (µs since the epoch, UTC);
    ``growing``: still being written (its end is that of what is on disk)."""

    path: Path
    start_us: int
    end_us: int
    id: int = 0
    growing: bool = False


class Catalog(Protocol):
    async def segments(self, at_us: int, after: SegmentRef | None) -> list[SegmentRef]:
        """With ``after`` None: the segments that cover ``at_us`` or start after it, the
        first few of them, by start. Else the next few after ``after``. [] at the end."""
        ...

    async def follow(self, ref: SegmentRef) -> SegmentRef | None:
        """A growing segment as it is now: further along, or closed (``growing``
        False), or None when it is gone."""
        ...


def iso(us: int) -> str:
    """Microseconds since the epoch → ISO 8601 UTC with a Z."""
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def _open(path: Path) -> SegmentFile | None:
    try:
        return open_segment(path)
    except OSError as exc:  # deleted by retention meanwhile, unreadable
        log.info("playback: skipping %s: %s", path, exc)
        return None


# -- recorded fragments onto the media timeline ---------------------------------------
# A recorded fragment (offsets relative to its own moof) is sent on as it is with two
# fields changed: the mfhd sequence number and each track's tfdt (retime). When part of
# it must go (a start at a keyframe inside it, audio overlapping the previous segment's,
# a fragment cut short by a crash) or it cannot be patched, it is rebuilt from the
# samples that stay with nvr.fmp4.fragment (rebuild).

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def retime(data: bytes, frag: Fragment, sequence: int, decode_times: dict[int, int]
           ) -> bytes | None:
    """The fragment's bytes with a new sequence number and, per track, a new decode time
    of its first sample; None when it cannot be patched (then :func:`rebuild`)."""
    if not frag.patchable or frag.sequence_at is None or frag.tfdt_at is None:
        return None
    if set(decode_times) != set(frag.tfdt_at):
        return None
    out = bytearray(data)
    _U32.pack_into(out, frag.sequence_at, sequence)
    for track_id, (position, width) in frag.tfdt_at.items():
        value = decode_times[track_id]
        if value < 0 or (width == 4 and value > 0xFFFFFFFF):
            return None
        (_U64 if width == 8 else _U32).pack_into(out, position, value)
    return bytes(out)


def samples_of(frag: Fragment, track_id: int) -> list[Sample]:
    """The track's samples in the fragment, in decode order."""
    return [s for run in frag.track(track_id) for s in run.samples()]


class Piece:
    """Samples of one track for a rebuilt fragment, with where their bytes are."""

    __slots__ = ("decode_time", "samples", "track_id")

    def __init__(self, track_id: int, decode_time: int, samples: Sequence[Sample]) -> None:
        self.track_id = track_id
        self.decode_time = decode_time  # the new decode time of the first sample
        self.samples = samples


def rebuild(sequence: int, pieces: Sequence[Piece], data: bytes, data_offset: int,
            durations: dict[int, list[int]] | None = None,
            key_only: bool = False) -> bytes | None:
    """A new fragment from the pieces' samples; their bytes are read from ``data``, which
    holds the file from ``data_offset`` on. ``durations`` replaces a track's sample
    durations (trick play stretches them); ``key_only`` makes every video sample a sync
    sample shown at its decode time. None when nothing is left."""
    runs = []
    for piece in pieces:
        if not piece.samples:
            continue
        new = (durations or {}).get(piece.track_id)
        samples, payloads = [], []
        for i, s in enumerate(piece.samples):
            start = s.offset - data_offset
            payloads.append(data[start : start + s.size])
            duration = new[i] if new is not None else s.duration
            samples.append(OutSample(s.size, duration, s.keyframe or key_only,
                                     0 if key_only else s.composition_offset))
        runs.append(TrackRun(piece.track_id, piece.decode_time, samples, payloads))
    return fragment(sequence, runs) if runs else None


class _Out:
    """What the viewer has been sent: the media timeline so far."""

    def __init__(self) -> None:
        self.sequence = 0
        self.base = 0  # 90 kHz: where the next video fragment starts on the media timeline
        self.init: bytes | None = None
        self.audio_id: int | None = None  # the audio track of the init sent, if any
        self.audio_rate = 0
        self.audio_end = 0  # in audio_rate ticks: where the audio sent so far ends


class PlaybackStream:
    def __init__(self, catalog: Catalog, start_us: int,
                 initial_seconds: float = INITIAL_SECONDS) -> None:
        self.catalog = catalog
        self.start_us = start_us
        self.speed = 1.0
        self._budget_end = round(initial_seconds * VIDEO_CLOCK)
        self._wake = asyncio.Event()
        self._out = _Out()
        self.fragments = 0  # sent
        self.segments = 0  # started
        self.waiting = False  # for the client to ask for more
        self.waits = 0  # times it has waited so

    # -- from the client --------------------------------------------------------------
    def control(self, text: str) -> bool:
        """Apply a client message (``{"more": s}``, ``{"speed": x}``); False when it is
        not one (it is then ignored)."""
        try:
            message = json.loads(text)
        except ValueError:
            return False
        if not isinstance(message, dict):
            return False
        value = next(iter(message.values()), None) if len(message) == 1 else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
                math.isfinite(value) and value > 0):
            return False
        if "more" in message:
            self.more(float(value))
        elif "speed" in message:
            self.set_speed(float(value))
        else:
            return False
        return True

    def more(self, seconds: float) -> None:
        """Allow ``seconds`` more of media past what has been sent (at speed x the
        client asks for about x times what it wants to watch)."""
        media = min(seconds, MAX_MORE)
        self._budget_end = max(self._budget_end, self._out.base) + round(media * VIDEO_CLOCK)
        self._wake.set()

    def set_speed(self, speed: float) -> None:
        self.speed = min(speed, MAX_SPEED)
        self._wake.set()

    @property
    def trick(self) -> bool:
        return self.speed >= TRICK_SPEED

    # -- to the client ----------------------------------------------------------------
    async def messages(self) -> AsyncGenerator[str | bytes, None]:
        """Text and binary messages until the recordings run out (then ``{"end": true}``)."""
        start: int | None = self.start_us
        refs = await self.catalog.segments(self.start_us, None)
        last: SegmentRef | None = None
        while refs:
            for ref in refs:
                last = ref
                seg = await asyncio.to_thread(_open, ref.path)
                if seg is None:
                    continue
                try:
                    async for message in self._segment(seg, ref, start):
                        start = None  # later segments play from their first keyframe
                        yield message
                finally:
                    seg.close()
            refs = await self.catalog.segments(self.start_us, last)
            if not refs and last is not None and last.growing:
                refs = await self._next_after_growing(last)
        yield json.dumps({"end": True})

    async def _next_after_growing(self, last: SegmentRef) -> list[SegmentRef]:
        """After a followed segment closed, the camera's next one, once its first
        fragment is on disk (up to :data:`FOLLOW_WAIT` seconds: else it stopped)."""
        for _ in range(round(FOLLOW_WAIT / FOLLOW_INTERVAL)):
            await asyncio.sleep(FOLLOW_INTERVAL)
            refs = await self.catalog.segments(self.start_us, last)
            if refs:
                return refs
        return []

    async def _wait_budget(self, at: int) -> None:
        while at >= self._budget_end:
            self._wake.clear()
            self.waiting = True
            self.waits += 1
            try:
                await self._wake.wait()
            finally:
                self.waiting = False

    def _init_for(self, seg: SegmentFile) -> tuple[bytes, str, bool]:
        """The init segment and mime type to send for this segment now, and whether they
        include audio."""
        video, audio = seg.video, seg.audio
        assert video is not None
        if audio is None or not self.trick:
            return seg.init, seg.mime, audio is not None
        return (video_only_init(seg.init, video.track_id), f'video/mp4; codecs="{video.codec}"',
                False)

    def _announce(self, seg: SegmentFile, ref: SegmentRef, at: int, rel_pts: int
                  ) -> list[str | bytes]:
        """A new init if it changed, and a span: media time ``at`` (90 kHz) shows the
        segment's presentation time ``rel_pts``."""
        out = self._out
        messages: list[str | bytes] = []
        init, mime, with_audio = self._init_for(seg)
        if init != out.init:
            out.init = init
            audio = seg.audio if with_audio else None
            out.audio_id = audio.track_id if audio else None
            out.audio_rate = audio.timescale if audio else 0
            out.audio_end = at * out.audio_rate // VIDEO_CLOCK
            messages += [json.dumps({"mime": mime}), init]
        wall = ref.start_us + rel_pts * 1_000_000 // VIDEO_CLOCK
        messages.append(json.dumps({"span": {
            "media": round(at / VIDEO_CLOCK, 6), "wall": iso(wall), "end": iso(ref.end_us)}}))
        return messages

    async def _segment(self, seg: SegmentFile, ref: SegmentRef, start_us: int | None
                       ) -> AsyncIterator[str | bytes]:
        video = seg.video
        if video is None or not seg.mime:
            log.info("playback: %s has no playable video track", ref.path)
            return
        rel = 0 if start_us is None else (start_us - ref.start_us) * VIDEO_CLOCK // 1_000_000
        begin = seg.keyframe_at_or_before(rel)
        if begin is None:
            return
        index, first = begin
        vid = video.track_id
        frags = seg.fragments
        key = samples_of(frags[index], vid)[first]
        offset = self._out.base - key.decode_time  # segment decode time → media timeline
        self.segments += 1
        for message in self._announce(seg, ref, self._out.base + key.composition_offset,
                                      key.presentation_time):
            yield message
        mode = self.trick
        reanchor = False
        newer: SegmentFile | None = None  # a later look at a growing file (closed here)
        try:
            while True:
                if index >= len(frags) or (ref.growing and not frags[index].complete):
                    if not ref.growing:
                        return
                    found = await self._follow(ref)
                    if found is None:
                        return
                    ref, opened = found
                    if newer is not None:
                        newer.close()
                    seg = newer = opened
                    frags = seg.fragments
                    reanchor = True  # the span's end moved on
                    continue
                frag = frags[index]
                at = self._out.base
                await self._wait_budget(at)
                if self.trick != mode or reanchor:
                    mode, reanchor = self.trick, False
                    samples = samples_of(frag, vid)
                    if samples:  # re-anchor at this fragment's first video sample
                        s = samples[first] if first < len(samples) else samples[0]
                        for message in self._announce(seg, ref, at + s.composition_offset,
                                                      s.presentation_time):
                            yield message
                if mode:
                    index, data = await self._keyframe(seg, index, first, offset)
                else:
                    data = await self._fragment(seg, frag, first, offset)
                    index += 1
                first = 0
                if data is not None:
                    self.fragments += 1
                    yield data
        finally:
            if newer is not None:
                newer.close()

    async def _follow(self, ref: SegmentRef) -> tuple[SegmentRef, SegmentFile] | None:
        """A growing segment opened again once it has more on disk or is closed; None
        when it is gone."""
        while True:
            await asyncio.sleep(FOLLOW_INTERVAL)
            newer = await self.catalog.follow(ref)
            if newer is None:
                return None
            if newer.growing and newer.end_us <= ref.end_us:
                continue  # nothing new on disk yet
            opened = await asyncio.to_thread(_open, newer.path)
            if opened is None:
                return None
            return newer, opened

    async def _fragment(self, seg: SegmentFile, frag: Fragment, first: int, offset: int
                        ) -> bytes | None:
        """A fragment as recorded, onto the media timeline (from video sample ``first``)."""
        out = self._out
        vid = seg.video.track_id if seg.video else 0
        data = await asyncio.to_thread(seg.read_fragment, frag)
        out.sequence += 1
        pieces: list[Piece] = []
        whole = first == 0
        video = samples_of(frag, vid)[first:]
        if video:
            pieces.append(Piece(vid, video[0].decode_time + offset, video))
            out.base = video[-1].decode_time + video[-1].duration + offset
        if out.audio_id is not None and frag.track(out.audio_id):
            piece, kept_all = self._audio(frag, offset)
            whole = whole and kept_all
            if piece is not None:
                pieces.append(piece)
        if whole:
            times = {p.track_id: p.decode_time for p in pieces}
            patched = retime(data, frag, out.sequence, times)
            if patched is not None:
                return patched
        return rebuild(out.sequence, pieces, data, frag.offset)

    def _audio(self, frag: Fragment, offset: int) -> tuple[Piece | None, bool]:
        """The fragment's audio on the media timeline, after the audio already sent:
        moved later by up to :data:`AUDIO_NUDGE`, samples further back dropped. Also
        whether every sample stays."""
        out = self._out
        assert out.audio_id is not None
        samples = samples_of(frag, out.audio_id)
        shift = round(offset * out.audio_rate / VIDEO_CLOCK)
        floor = out.audio_end - round(AUDIO_NUDGE * out.audio_rate)
        kept = [s for s in samples if s.decode_time + shift >= floor]
        if not kept:
            return None, False
        start = max(kept[0].decode_time + shift, out.audio_end)
        out.audio_end = start + sum(s.duration for s in kept)
        return Piece(out.audio_id, start, kept), len(kept) == len(samples)

    async def _keyframe(self, seg: SegmentFile, index: int, first: int, offset: int
                        ) -> tuple[int, bytes | None]:
        """Trick play: the keyframe of fragment ``index`` alone, lasting until the next
        keyframe sent; returns the index of the fragment that one is in."""
        out = self._out
        vid = seg.video.track_id if seg.video else 0
        frags = seg.fragments
        samples = samples_of(frags[index], vid)
        keys = [s for s in samples[first:] if s.keyframe]
        if not keys:
            return index + 1, None
        key = keys[0]
        stride = round(self.speed / TRICK_RATE * VIDEO_CLOCK)
        following = index + 1
        while following < len(frags):
            start = frags[following].start(vid)
            if start is not None and start >= key.decode_time + stride:
                break
            following += 1
        if following < len(frags):
            until = frags[following].start(vid) or key.decode_time
        else:
            until = max((f.end(vid) or 0) for f in frags)
        duration = max(1, until - key.decode_time)
        payload = await asyncio.to_thread(seg.read, key.offset, key.size)
        out.sequence += 1
        data = rebuild(out.sequence, [Piece(vid, key.decode_time + offset, [key])], payload,
                       key.offset, durations={vid: [duration]}, key_only=True)
        out.base = key.decode_time + offset + duration
        return following, data
