"""One Feed to many RTMP players, each message converted and chunked once.

A :class:`Fanout` exists per played feed while it has players: one
subscription to the Feed (``start="keyframe"``, so the first player starts from
the cached GOP at once), each access unit converted to an FLV tag body
(:mod:`nvr.rtmp.flv`) and chunked once per chunk size with
:func:`~nvr.rtmp.protocol.encode_media_delta`; the same bytes go to every player.

Timestamps: one :class:`~nvr.rtmp.flv.Timeline` per Fanout, and each player's
start (its first keyframe) subtracted, so every player starts at 0 (messages
from before its start are not sent to it). Chunk-once survives the rebasing
because a live message is chunked with a format-1 header, whose timestamp is a
delta from the previous message on the same chunk stream: the same for every
player. A player gets its own format-0 header (its own timestamp) where it did
not get that previous message: its intro and GOP, new sequence headers, after
dropped frames. Deltas add modulo 2^32, so nothing special happens where the
24-bit header field or the 32-bit timestamp wraps.

Late joiners get onMetaData, the sequence headers and the Fanout's own GOP
(what it sent since the last video keyframe, bounded in bytes) at once, then
the live messages.

Pause: a paused player is sent nothing (a live stream does not wait) and goes
on from the next keyframe when it unpauses.

Back-pressure: a player's queue is its transport's write buffer, bounded by
``max_queue`` bytes; past it the player's messages are dropped until the next
video keyframe that fits. A player whose buffer has not come down to
``low_water`` for ``stall_timeout`` seconds is removed and its connection
aborted (:attr:`Player.on_stall`); the Fanout checks all its players once a
second, so a connection that plays needs no timer of its own. Nothing here
blocks on a socket.

Cost per player (profiled with py-spy at 200 players of 4 Mbit/s): the socket
write itself (the kernel's loopback send) is most of it, so the per-player
Python work in :meth:`Fanout._convert` is kept to a buffer check, two list
lookups that say it got the previous message, and one ``write`` of the shared
bytes, straight to the transport: a player's
:class:`ServerConnection` is only used on the slow paths (intro, new headers,
the end), which drain whatever it holds first so the order on the wire stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nvr.feed import AccessUnit, CodecParams, Feed
from nvr.rtmp import amf0, flv
from nvr.rtmp.events import MediaKind
from nvr.rtmp.flv import FlvError
from nvr.rtmp.protocol import MEDIA_CSIDS, ServerConnection, encode_media_delta

__all__ = ["Fanout", "Player"]

log = logging.getLogger("nvr.rtmp")

MAX_QUEUE = 4 * 1024 * 1024  # bytes waiting for one player's socket
LOW_WATER = 64 * 1024  # at or below: the player's socket counts as drained
GOP_BYTES = 16 * 1024 * 1024  # the Fanout's own GOP cache for late joiners
STALL_TIMEOUT = 10.0  # seconds a player's socket may stay above LOW_WATER
_FOURCC_IDS = {"h264": 7, "h265": int.from_bytes(b"hvc1", "big")}
_U32, _HALF = 0xFFFFFFFF, 0x80000000


@dataclass(eq=False)
class Player:
    """One playing stream of one connection; ``write`` sends bytes to its socket and
    ``buffered`` says how many wait there; ``on_stall`` (e.g. the transport's
    ``abort``) ends a connection whose player stalled; ``on_video(fanout, player,
    params)`` is told new video parameters before they go out (``fanout.video`` is
    still the old ones) and may end the play."""

    conn: ServerConnection
    stream_id: int
    address: str
    write: Callable[[bytes], None]
    buffered: Callable[[], int]
    bytes_sent: int = 0
    dropped: int = 0
    started: bool = False  # metadata and sequence headers sent
    base: int = 0  # the Fanout timestamp this player's timestamps count from
    skipping: bool = False
    paused: bool = False  # the client asked to pause: nothing until it unpauses
    drained_at: float = field(default_factory=time.monotonic)
    on_stall: Callable[[], None] | None = None
    on_video: Callable[[Fanout, Player, CodecParams], None] | None = None
    # for the fast path: the chunk size (the server sets it at connect, before any
    # play); per media chunk stream id, the Fanout timestamp of the last message this
    # player got there (which counts only while the connection's media_owner there
    # is this player: no other play of the connection sent one since)
    chunk_size: int = field(init=False)
    last: list[int] = field(init=False)
    owner: list[object] = field(init=False)  # the connection's media_owner

    def __post_init__(self) -> None:
        self.chunk_size = self.conn.chunk_size
        self.owner = self.conn.media_owner
        self.last = [-1] * len(self.owner)

    def send(self, data: bytes) -> None:
        """``data`` after whatever the connection holds (the slow path)."""
        self.conn.send_encoded(data)
        out = self.conn.data_to_send()
        self.bytes_sent += len(out)
        self.write(out)

    def send_media(self, kind: MediaKind, ts: int, body: bytes) -> None:
        """One message with this player's own timestamp (a format-0 header): the slow
        path, where the player may not have had the previous message."""
        csid = MEDIA_CSIDS[kind]
        self.owner[csid] = self
        self.last[csid] = ts
        self.send(self.conn.encode_media(self.stream_id, kind, (ts - self.base) & _U32, body))

    def pause(self, paused: bool) -> None:
        """The client's pause (a live stream does not wait: it misses what goes on
        meanwhile) or unpause (it goes on from the next keyframe)."""
        self.paused = paused
        self.skipping = True

    def before_start(self, ts: int) -> bool:
        """True for a Fanout timestamp earlier than this player's start."""
        return (ts - self.base) & _U32 >= _HALF

    def stalled(self, timeout: float, low_water: int = LOW_WATER) -> bool:
        """True when the socket has not drained to ``low_water`` for ``timeout`` s."""
        now = time.monotonic()
        if self.buffered() <= low_water:
            self.drained_at = now
        return now - self.drained_at > timeout


def _aac(params: CodecParams | None) -> bool:
    return params is not None and params.kind == "audio" and params.codec == "aac"


def metadata(video: CodecParams | None, audio: CodecParams | None) -> bytes:
    """onMetaData for players: only the tracks that are sent (players wait for an
    announced track)."""
    meta: dict[str, object] = {}
    if video is not None:
        meta.update(width=float(video.width), height=float(video.height),
                    videocodecid=float(_FOURCC_IDS[video.codec]))
    if audio is not None:
        meta.update(audiocodecid=10.0, audiosamplerate=float(audio.sample_rate),
                    stereo=audio.channels > 1)
    return amf0.encode("onMetaData", meta)


class Fanout:
    """The players of one Feed (see the module docstring); ``run`` is its task."""

    def __init__(self, name: str, feed: Feed, *, max_queue: int = MAX_QUEUE,
                 stall_timeout: float = STALL_TIMEOUT,
                 on_empty: Callable[[Fanout], None] | None = None) -> None:
        self.name = name
        self.feed = feed
        self.players: list[Player] = []
        self.max_queue = max_queue
        self.stall_timeout = stall_timeout
        self._next_stall_check = 0.0
        self.started = time.time()
        self.bytes_in = 0  # FLV bytes converted, for the bitrate
        self._on_empty = on_empty
        self._timeline = flv.Timeline()
        self._video: CodecParams | None = None
        self._audio: CodecParams | None = None
        self._gop: list[tuple[MediaKind, int, bytes]] = []
        self._gop_bytes = 0
        # per media chunk stream id, the timestamp of the last message (-2: none yet)
        self._prev_ts = [-2] * (max(MEDIA_CSIDS.values()) + 1)

    # -- players -------------------------------------------------------------
    def add(self, player: Player) -> None:
        """A player whose play was just accepted: it gets the GOP at once if any."""
        self.players.append(player)
        if self._gop and self._video is not None:
            self._intro(player, self._gop[0][1])
            for kind, ts, body in self._gop:
                if not player.before_start(ts):  # audio stamped before the keyframe
                    player.send_media(kind, ts, body)

    @property
    def video(self) -> CodecParams | None:
        """The video parameters players get now (a late joiner's GOP and headers)."""
        return self._video

    def remove(self, player: Player) -> None:
        if player in self.players:
            self.players.remove(player)

    def _intro(self, player: Player, ts: int) -> None:
        """Metadata and sequence headers before the player's first keyframe, at ``ts``:
        the player's timestamps count from there."""
        if self._audio is None and _aac(self.feed.audio):
            self._audio = self.feed.audio  # announce the audio the feed says is coming
        player.base = ts
        player.send_media("data", ts, metadata(self._video, self._audio))
        if self._video is not None:
            player.send_media("video", ts, flv.video_sequence_header(self._video))
        if self._audio is not None:
            player.send_media("audio", ts, flv.audio_sequence_header(self._audio))
        player.started = True

    # -- the task ------------------------------------------------------------
    async def run(self) -> None:
        """Until the feed ends or the last player leaves (noticed within a second);
        players are told the end. One wake-up per batch of frames, not per frame."""
        sub = self.feed.subscribe(maxsize=1024, start="keyframe")
        try:
            while self.players:
                await sub.wait(1.0)
                while self.players and (au := sub.get_nowait()) is not None:
                    self._au(au)
                self._check_stalls()
                if sub.closed and not len(sub):
                    for player in list(self.players):
                        player.conn.end_play(player.stream_id)
                        player.send(b"")
                    break
        finally:
            sub.close()
            if self._on_empty is not None:
                self._on_empty(self)

    def _check_stalls(self) -> None:
        """At most once a second: players whose socket has not drained for
        ``stall_timeout`` are removed and their connection ended."""
        now = time.monotonic()
        if now < self._next_stall_check:
            return
        self._next_stall_check = now + min(1.0, self.stall_timeout)
        for player in list(self.players):
            if player.stalled(self.stall_timeout):
                log.info("rtmp %s: player not reading for %.0f s: dropped", player.address,
                         self.stall_timeout)
                self.remove(player)
                if player.on_stall is not None:
                    player.on_stall()

    def _au(self, au: AccessUnit) -> None:
        try:
            self._convert(au)
        except FlvError:
            return  # a codec FLV cannot carry (e.g. not AAC): that track is not sent

    def _convert(self, au: AccessUnit) -> None:
        ts = self._timeline.timestamp(au)
        video = au.params.kind == "video"
        key = video and au.keyframe
        headers: list[tuple[MediaKind, bytes]] = []
        if video and au.params is not self._video:
            if not au.keyframe:
                return  # new parameters start at a keyframe
            for player in list(self.players):  # they may end their plays
                if player.on_video is not None:
                    player.on_video(self, player, au.params)
            self._video = au.params
            headers.append(("video", flv.video_sequence_header(au.params)))
        elif not video and not _aac(au.params):
            return  # FLV carries AAC only; the track is not announced either
        elif not video and au.params is not self._audio:
            self._audio = au.params
            headers.append(("audio", flv.audio_sequence_header(au.params)))
        kind: MediaKind = "video" if video else "audio"
        body = flv.video_tag(au) if video else flv.audio_tag(au)
        self.bytes_in += len(body)
        if key:
            self._gop, self._gop_bytes = [], 0
        if self._video is not None and self._gop_bytes + len(body) <= GOP_BYTES:
            self._gop.append((kind, ts, body))
            self._gop_bytes += len(body)
        csid = MEDIA_CSIDS[kind]
        prev = self._prev_ts[csid]
        self._prev_ts[csid] = ts
        delta = (ts - prev) & _U32  # what the shared format-1 header says
        encoded: dict[int, bytes] = {}  # chunk size → the shared format-1 chunks
        max_queue = self.max_queue
        for player in list(self.players):
            if headers or player.skipping or not player.started:
                if not self._prepare(player, ts, key, headers):
                    continue
            elif player.buffered() >= max_queue:
                player.skipping = True  # dropped until a keyframe fits
                player.dropped += 1
                continue
            last = player.last
            if last[csid] != prev or player.owner[csid] is not player:
                # it did not get the previous message here: its own header
                if not player.before_start(ts):
                    player.send_media(kind, ts, body)
                continue
            last[csid] = ts
            size = player.chunk_size
            data = encoded.get(size)
            if data is None:
                data = encoded[size] = encode_media_delta(kind, delta, body, size)
            player.bytes_sent += len(data)
            player.write(data)

    def _prepare(self, player: Player, ts: int, key: bool,
                 headers: list[tuple[MediaKind, bytes]]) -> bool:
        """The slow path before a message: a player's intro at its first keyframe, new
        sequence headers (paused or not), leaving or staying in the skipping state;
        False: the message is not for this player."""
        if not player.started:
            if not key or player.paused:
                return False
            self._intro(player, ts)
        else:
            for hkind, hbody in headers:
                player.send_media(hkind, ts, hbody)
        if player.paused:
            return False
        buffered = player.buffered()
        if player.skipping or buffered >= self.max_queue:
            if not (key and buffered < self.max_queue):
                player.skipping = True
                player.dropped += 1
                return False
            player.skipping = False
        return True
