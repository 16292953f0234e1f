"""One live viewer of one Feed, as the messages of the live WebSocket.

The messages, in order (the contract of ``GET /api/cameras/{name}/live``):

1. text ``{"mime": "video/mp4; codecs=\"avc1.64001f, mp4a.40.2\""}``: the exact
   RFC 6381 type, for ``MediaSource.isTypeSupported`` and ``addSourceBuffer``;
2. only when the video was made by nvr from another codec (``?transcode=h264``
   on an H.265 camera; see ``nvr.live.transcode``): text
   ``{"transcoded": true, "from": "h265"}``, so the page can say so;
3. binary: the fMP4 init segment (``ftyp``+``moov``);
4. binary: one ``moof``+``mdat`` per frame, as each frame arrives.

A new camera session (new codec parameters) starts again at 1. Besides those,
text ``{"status": ..., "error": ...}`` says when the source's state changes
(offline, reconnecting) so the page can say so instead of freezing.

The viewer starts from the feed's cached GOP, so the first frame it gets is the
last keyframe, at once. Its queue is bounded: a viewer that cannot keep up (a
slow network) has its queue cleared and resumes at the next keyframe (counted
in ``dropped``); it never slows the camera, the recorder or other viewers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from nvr.feed import CodecParams, Feed
from nvr.fmp4.live import LiveMuxer

# About 5 s of 25 fps video with audio: more behind than that is not "live".
MAX_QUEUE = 200
STATUS_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class Status:
    status: str
    error: str | None = None


class LiveStream:
    def __init__(self, feed: Feed, status: Callable[[], Status] | None = None,
                 audio: bool = True, max_queue: int = MAX_QUEUE,
                 describe: Callable[[CodecParams], dict[str, object] | None] | None = None,
                 ) -> None:
        self.feed = feed
        self._status = status
        self._describe = describe  # a note on the video after its mime message, if any
        self._audio = audio
        self._max_queue = max_queue
        self.dropped = 0
        self.frames = 0

    async def messages(self) -> AsyncIterator[str | bytes]:
        """Text and binary messages until the feed closes (or the caller stops)."""
        feed = self.feed
        sub = feed.subscribe(maxsize=self._max_queue, start="keyframe")
        muxer: LiveMuxer | None = None
        shown = Status("online")  # said only when it changes, so "mime" comes first
        try:
            while True:
                await sub.wait(STATUS_EVERY)
                batch = sub.drain()
                self.dropped = sub.dropped
                for au in batch:
                    if au.params.kind == "video" and au.keyframe and (
                            muxer is None or au.params is not muxer.video):
                        audio = feed.audio if self._audio else None
                        muxer = LiveMuxer(au.params, audio)
                        yield json.dumps({"mime": muxer.mime})
                        note = self._describe(au.params) if self._describe else None
                        if note is not None:
                            yield json.dumps(note)
                        yield muxer.init
                    if muxer is None:
                        continue
                    fragment = muxer.push(au)
                    if fragment is not None:
                        self.frames += au.params.kind == "video"
                        yield fragment
                if self._status is not None:
                    now = self._status()
                    if now != shown:
                        shown = now
                        yield json.dumps({"status": now.status, "error": now.error})
                if not batch and sub.closed:
                    return
        finally:
            sub.close()
