"""Feed access units → fMP4 for a browser's MediaSource: one fragment per frame.

The live view subscribes to a feed with ``start="keyframe"`` and hands every
access unit to :meth:`LiveMuxer.push`, once per feed (``nvr.live.stream.SharedMux``:
every viewer of the feed gets the same bytes); what comes back goes to the browser
as it is: first :attr:`LiveMuxer.init` (``ftyp``+``moov``), then each fragment
(``moof``+``mdat``) as soon as its frame arrives, so latency is one frame's
transport, not a GOP. :attr:`LiveMuxer.mime` is the type to give
``MediaSource.isTypeSupported`` and ``addSourceBuffer``.

Time: video decode times count from the first video frame's dts, composition
times from its pts (the composition shift of :class:`~nvr.fmp4.TrackQueue`);
audio is placed by wall clock against that first frame, in its own sample
clock, so both tracks share time 0. Every fragment carries its own decode time
(``tfdt``), so a frame whose duration was estimated (the last one of a fragment
cannot know the next dts) never shifts the ones after it.

Anything before the first video keyframe, and audio before the first video
frame, is dropped: a browser cannot start decoding there.
"""

from __future__ import annotations

from nvr.feed import AccessUnit, CodecParams
from nvr.fmp4.codecs import codec_string
from nvr.fmp4.fragment import fragment
from nvr.fmp4.init import AUDIO_TRACK, VIDEO_TRACK, init_segment
from nvr.fmp4.track import TrackQueue

__all__ = ["LiveMuxer"]

DEFAULT_FRAME_TICKS = 3600  # 25 fps at 90 kHz, until two frames have been seen


class LiveMuxer:
    def __init__(self, video: CodecParams, audio: CodecParams | None = None) -> None:
        self.video = video
        self.audio = audio
        self.init = init_segment(video, audio)
        codecs = codec_string(video) + (f", {codec_string(audio)}" if audio else "")
        self.mime = f'video/mp4; codecs="{codecs}"'
        self._video = TrackQueue(VIDEO_TRACK)
        self._audio = TrackQueue(AUDIO_TRACK, origin=0) if audio is not None else None
        self._sequence = 0
        self._started_wall: float | None = None
        self._last_dts: int | None = None
        self._frame_ticks = DEFAULT_FRAME_TICKS
        self._last_audio_pts = -1

    @property
    def started(self) -> bool:
        return self._started_wall is not None

    def push(self, au: AccessUnit) -> bytes | None:
        """The fragment for this access unit, or None when it is not sent (before the
        first keyframe, another session's parameters, audio out of order)."""
        if au.params.kind == "video":
            return self._push_video(au)
        return self._push_audio(au)

    def _push_video(self, au: AccessUnit) -> bytes | None:
        if au.params is not self.video:
            return None  # new parameters need a new init segment: a new LiveMuxer
        if self._started_wall is None:
            if not au.keyframe:
                return None
            self._started_wall = au.wallclock
        if self._last_dts is not None and au.dts > self._last_dts:
            self._frame_ticks = au.dts - self._last_dts
        self._last_dts = au.dts
        self._video.add(au.data, au.dts, au.duration or self._frame_ticks, au.keyframe, au.pts)
        return self._fragment(self._video)

    def _push_audio(self, au: AccessUnit) -> bytes | None:
        if self._audio is None or self._started_wall is None or au.params is not self.audio:
            return None
        pts = round((au.wallclock - self._started_wall) * au.params.clock_rate)
        if pts <= self._last_audio_pts or pts < 0:
            return None
        self._last_audio_pts = pts
        self._audio.add(au.data, pts, au.duration or 1024)
        return self._fragment(self._audio)

    def _fragment(self, queue: TrackQueue) -> bytes | None:
        run = queue.take()
        if run is None:
            return None
        self._sequence += 1
        return fragment(self._sequence, [run])
