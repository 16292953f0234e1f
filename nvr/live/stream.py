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

Every frame is muxed once per feed, not once per viewer (:class:`SharedMux`):
the viewers of a feed get the same fragment bytes, whose times count from the
first keyframe the feed's muxer saw, not from the viewer's own first frame (the
page jumps to the newest frame it holds, and MSE places a fragment by its
``tfdt``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from nvr.feed import AccessUnit, CodecParams, Feed
from nvr.fmp4.live import LiveMuxer

# About 5 s of 25 fps video with audio: more behind than that is not "live".
MAX_QUEUE = 200
STATUS_EVERY = 1.0
# The shared muxer's own queue, emptied whenever a viewer wakes: it only fills
# up when every viewer of the feed is stuck (their own queues then skip first).
SHARED_QUEUE = 5 * MAX_QUEUE


@dataclass(frozen=True, slots=True)
class Status:
    status: str
    error: str | None = None


# an access unit, the muxer of its session (None before the first keyframe) and
# its fragment (None when the muxer sends nothing for it)
_Entry = tuple[AccessUnit, LiveMuxer | None, bytes | None]


class SharedMux:
    """The fragments of one feed, built once for all its live viewers.

    Measured: building a fragment was about a fifth of a viewer's CPU, the same
    work for every viewer of a feed. The feed's muxer has its own subscription,
    made before each viewer's (so it holds everything a viewer will get) and
    emptied lazily by the first viewer that needs a frame it has not muxed. It
    keeps the fragments of the current GOP (a late joiner's start) and of the
    last ``MAX_QUEUE`` frames (what a viewer can still have queued).
    """

    def __init__(self, feed: Feed, audio: bool) -> None:
        self.feed = feed
        self.audio = audio
        self.viewers = 0
        self._sub = feed.subscribe(maxsize=SHARED_QUEUE, start="keyframe")
        self._muxer: LiveMuxer | None = None
        self._done: dict[int, _Entry] = {}  # by id(au), oldest first
        self._since_key = 0  # entries since the last video keyframe, itself included

    def fragment(self, au: AccessUnit) -> _Entry | None:
        """The muxer and fragment of an access unit the feed published, or None
        if it was never muxed (the shared queue overflowed) or is forgotten."""
        entry = self._done.get(id(au))
        if entry is None or entry[0] is not au:
            self._pump()
            entry = self._done.get(id(au))
            if entry is None or entry[0] is not au:
                return None
        return entry

    def _pump(self) -> None:
        done = self._done
        for au in self._sub.drain():
            muxer = self._muxer
            if au.params.kind == "video" and au.keyframe:
                self._since_key = 0
                if muxer is None or au.params is not muxer.video:
                    muxer = self._muxer = LiveMuxer(
                        au.params, self.feed.audio if self.audio else None)
            done[id(au)] = (au, muxer, muxer.push(au) if muxer is not None else None)
            self._since_key += 1
        keep = max(MAX_QUEUE, self._since_key)
        while len(done) > keep:
            del done[next(iter(done))]

    def close(self) -> None:
        self._sub.close()
        self._done.clear()


_shared: dict[tuple[Feed, bool], SharedMux] = {}


def _join(feed: Feed, audio: bool) -> SharedMux:
    shared = _shared.get((feed, audio))
    if shared is None:
        shared = _shared[feed, audio] = SharedMux(feed, audio)
    shared.viewers += 1
    return shared


def _leave(shared: SharedMux) -> None:
    shared.viewers -= 1
    if shared.viewers == 0:
        shared.close()
        if _shared.get((shared.feed, shared.audio)) is shared:
            del _shared[shared.feed, shared.audio]


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
        shared = _join(feed, self._audio)  # subscribes first: it must see all we will
        sub = feed.subscribe(maxsize=self._max_queue, start="keyframe")
        current: LiveMuxer | None = None
        status = self._status
        shown = Status("online")  # said only when it changes, so "mime" comes first
        try:
            while True:
                await sub.wait(STATUS_EVERY)
                batch = sub.drain()
                self.dropped = sub.dropped
                for au in batch:
                    entry = shared.fragment(au)
                    if entry is None:
                        continue
                    _, muxer, fragment = entry
                    if muxer is not current:
                        if muxer is None or not au.keyframe or au.params is not muxer.video:
                            continue  # a viewer starts at its session's first keyframe
                        current = muxer
                        yield json.dumps({"mime": muxer.mime})
                        note = self._describe(au.params) if self._describe else None
                        if note is not None:
                            yield json.dumps(note)
                        yield muxer.init
                    if fragment is not None:
                        self.frames += au.params.kind == "video"
                        yield fragment
                if status is not None:
                    now = status()
                    if now != shown:
                        shown = now
                        yield json.dumps({"status": now.status, "error": now.error})
                if not batch and sub.closed:
                    return
        finally:
            sub.close()
            _leave(shared)
