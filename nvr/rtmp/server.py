"""The asyncio RTMP server: sockets and timeouts around :class:`ServerConnection`.

One task per connection reads the socket, feeds the sans-I/O
:class:`~nvr.rtmp.protocol.ServerConnection` and acts on its events; what to
allow is asked of a :class:`StreamApp` (the app glue, :mod:`nvr.rtmpapp`),
which checks keys and names and hands back a :class:`Publication` for a
publisher or a Feed for a player. Players of one Feed share a
:class:`~nvr.rtmp.fanout.Fanout` (one task per played feed).

Limits: the handshake and ``connect`` must be done within ``handshake_timeout``
seconds; a publisher (or a connection that neither publishes nor plays) that
sends nothing for ``idle_timeout`` seconds is dropped; a player whose socket
does not drain for ``stall_timeout`` seconds is dropped (found by its Fanout, which
checks all its players once a second: a playing connection has no timer); beyond
``max_connections`` new sockets are closed at once. Every task (connections,
fanouts) is owned here and awaited by :meth:`RtmpServer.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Coroutine
from typing import Any, Protocol

from nvr.feed import CodecParams, Feed
from nvr.rtmp import amf0
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.events import (
    ConnectionFailed,
    ConnectRequested,
    Event,
    MediaReceived,
    PauseRequested,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
)
from nvr.rtmp.fanout import MAX_QUEUE, Fanout, Player
from nvr.rtmp.protocol import ServerConnection
from nvr.rtmp.publish import Publication

__all__ = ["RtmpServer", "StreamApp"]

log = logging.getLogger("nvr.rtmp")

READ_SIZE = 64 * 1024
CHUNK_SIZE = 4096
HEVC_REFUSED = ("H.265 needs an Enhanced RTMP client (fourCcList hvc1), e.g. ffmpeg/ffplay "
                "6.1+ with -rtmp_enhanced_codecs hvc1")


class StreamApp(Protocol):
    """What the server asks of the application (names, keys, feeds, events).

    ``publish`` returns a :class:`Publication` (its feed registered) or a reason
    to refuse (sent as NetStream.Publish.BadName); ``play`` returns the Feed or a
    reason (NetStream.Play.StreamNotFound). ``unpublished`` is told when an
    accepted publisher leaves. ``name`` is ``<app>/<stream>`` without the query.
    """

    async def publish(self, name: str, query: dict[str, str],
                      peer: str) -> Publication | str: ...

    def play(self, name: str, query: dict[str, str], peer: str) -> Feed | str: ...

    async def unpublished(self, publication: Publication) -> None: ...


class RtmpServer:
    def __init__(self, app: StreamApp, *, max_connections: int = 200,
                 handshake_timeout: float = 10.0, idle_timeout: float = 30.0,
                 stall_timeout: float = 10.0, max_queue: int = MAX_QUEUE) -> None:
        self.app = app
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.stall_timeout = stall_timeout
        self.max_queue = max_queue
        self.fanouts: dict[str, Fanout] = {}
        self.publications: dict[str, Publication] = {}
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None
                     ) -> int:
        """Start accepting on ``host:port`` (0: any free port); returns the port."""
        server = await asyncio.start_server(self._accept, host, port, ssl=ssl_context,
                                            reuse_address=True)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, end every connection and fanout, and await their tasks."""
        for server in self._servers:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections = sum(1 for t in self._tasks if t.get_name().startswith("rtmp conn"))
        if connections >= self.max_connections:
            log.warning("rtmp: %d connections: refusing %s", connections, _peer(writer))
            writer.close()
            return
        self._spawn(_Connection(self, reader, writer).run(), f"rtmp conn {_peer(writer)}")

    def _fanout(self, name: str, feed: Feed) -> Fanout:
        fanout = self.fanouts.get(name)
        if fanout is None or fanout.feed is not feed:
            fanout = Fanout(name, feed, max_queue=self.max_queue,
                            stall_timeout=self.stall_timeout, on_empty=self._ended)
            self.fanouts[name] = fanout
            self._spawn(fanout.run(), f"rtmp fanout {name}")
        return fanout

    def _ended(self, fanout: Fanout) -> None:
        if self.fanouts.get(fanout.name) is fanout:
            del self.fanouts[fanout.name]


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def _four_ccs(event: ConnectRequested) -> list[str]:
    """The Enhanced RTMP video codecs (of those we send) a client says it takes:
    ``fourCcList`` (v1), or the keys of v2's ``videoFourCcInfoMap`` whose flags say
    CanDecode (1) or CanForward (4); ``"*"`` stands for any codec (v2)."""
    listed = list(event.four_cc_list)
    info = event.params.get("videoFourCcInfoMap")
    if isinstance(info, dict):
        listed += [k for k, v in info.items()
                   if amf0.is_finite_number(v) and 0 <= v < 2**32 and int(v) & 0b101]
    if "*" in listed:
        return ["hvc1", "avc1"]
    return [f for f in ("hvc1", "avc1") if f in listed]


class _Connection:
    """One socket: the read loop, the decisions, what it published and plays."""

    def __init__(self, server: RtmpServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.peer = _peer(writer)
        self.conn = ServerConnection()
        self.publications: dict[int, Publication] = {}
        self.players: dict[int, tuple[Fanout, Player]] = {}
        self.four_cc: list[str] = []
        self.connect_query: dict[str, str] = {}  # OBS may give ?key= with the app

    async def run(self) -> None:
        try:
            async with asyncio.timeout(self.server.handshake_timeout):
                while self.conn.state in ("handshake", "connect", "deciding"):
                    if not await self._read():
                        return
            while not self.conn.closed:
                # a player may rightly send nothing (its Fanout finds stalls); a
                # publisher, or a connection doing nothing, must send within idle_timeout
                if self.players:
                    if not await self._read():
                        return
                    continue
                try:
                    async with asyncio.timeout(self.server.idle_timeout):
                        if not await self._read():
                            return
                except TimeoutError:
                    log.info("rtmp %s: %s nothing for %.0f s: dropped", self.peer,
                             "publisher sent" if self.publications else "sent",
                             self.server.idle_timeout)
                    return
        except TimeoutError:
            log.info("rtmp %s: no handshake and connect within %.0f s", self.peer,
                     self.server.handshake_timeout)
        except ProtocolError as exc:
            log.info("rtmp %s: %s", self.peer, exc)
        except (ConnectionError, OSError):
            pass
        finally:
            await self._cleanup()

    async def _read(self) -> bool:
        data = await self.reader.read(READ_SIZE)
        if not data:
            return False
        events = self.conn.receive_data(data)
        while events:
            more = False
            for event in events:
                more = await self._event(event) or more
            events = self.conn.receive_data(b"") if more else []
        self._flush()
        return not self.conn.closed

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.writer.write(out)

    async def _event(self, event: Event) -> bool:
        """Act on one event; True when a decision was taken (more input may wait)."""
        conn = self.conn
        if isinstance(event, MediaReceived):
            pub = self.publications.get(event.stream_id)
            if pub is not None:
                pub.media(event.kind, event.timestamp, event.payload)
            return False
        if isinstance(event, ConnectRequested):
            self.four_cc = _four_ccs(event)
            self.connect_query = dict(event.query)
            conn.accept_connect(chunk_size=CHUNK_SIZE, four_cc_list=self.four_cc or None)
            return True
        if isinstance(event, PublishRequested):
            result = await self.server.app.publish(f"{conn.app}/{event.stream_key}",
                                                   self.connect_query | event.query,
                                                   self.peer)
            if isinstance(result, str):
                conn.reject_publish(event.stream_id, description=result)
            else:
                conn.accept_publish(event.stream_id)
                self.publications[event.stream_id] = result
                self.server.publications[result.name] = result
            return True
        if isinstance(event, PlayRequested):
            name = f"{conn.app}/{event.stream_name}"
            feed = self.server.app.play(name, self.connect_query | event.query, self.peer)
            if isinstance(feed, str):
                conn.reject_play(event.stream_id, description=feed)
                return True
            current = self.server.fanouts.get(name)
            video = current.video if current is not None and current.feed is feed else None
            reason = self.refusal(video or feed.video)
            if reason is not None:
                log.info("rtmp %s: play %s refused: %s", self.peer, name, reason)
                conn.reject_play(event.stream_id, "NetStream.Play.Failed", reason)
                return True
            conn.accept_play(event.stream_id)
            self._flush()
            fanout = self.server._fanout(name, feed)
            player = Player(conn, event.stream_id, self.peer, self.writer.write,
                            self.writer.transport.get_write_buffer_size,
                            on_stall=self.writer.transport.abort,
                            on_video=self.codec_changed)
            self.players[event.stream_id] = (fanout, player)
            fanout.add(player)
            return True
        if isinstance(event, PauseRequested):
            played = self.players.get(event.stream_id)
            if played is not None:
                played[1].pause(event.paused)
        elif isinstance(event, StreamDeleted):
            await self._end_stream(event.stream_id)
        elif isinstance(event, ConnectionFailed):
            log.info("rtmp %s: %s", self.peer, event.reason)
        return False

    async def _end_stream(self, stream_id: int) -> None:
        pub = self.publications.pop(stream_id, None)
        if pub is not None:
            if self.server.publications.get(pub.name) is pub:
                del self.server.publications[pub.name]
            pub.close()
            await self.server.app.unpublished(pub)
        played = self.players.pop(stream_id, None)
        if played is not None:
            played[0].remove(played[1])

    def refusal(self, video: CodecParams | None) -> str | None:
        """Why this client cannot play ``video``, else None: H.265 goes out only as
        Enhanced RTMP, which a client must ask for with ``hvc1`` in ``fourCcList``
        (Debian's ffmpeg 5.1, rtmpdump and VLC do not; they would get bytes they
        cannot decode)."""
        if video is not None and video.codec == "h265" and "hvc1" not in self.four_cc:
            return HEVC_REFUSED
        return None

    def codec_changed(self, fanout: Fanout, player: Player, video: CodecParams) -> None:
        """The played feed's video parameters change (``fanout.video``: the old ones).

        A new codec mid-play (a camera reconfigured, a publisher switching) ends
        the play before any of it is sent: NetStream.Play.Failed for a client that
        cannot decode it, else the end of stream (UnpublishNotify, StreamEOF) as when a
        publisher leaves: FFmpeg's FLV demuxer does not follow a codec change within
        one stream (it fails on garbage), and a player that reconnects gets the new
        codec from its start. New parameters of the same codec go on with a new
        sequence header. A connection left with nothing to do after a failed play is
        closed (the onStatus goes first): Debian's ffmpeg 5.1 would wait on silently."""
        old = fanout.video
        reason = self.refusal(video)
        if reason is None and (old is None or old.codec == video.codec):
            return
        fanout.remove(player)
        self.players.pop(player.stream_id, None)
        if reason is not None:
            log.info("rtmp %s: play %s ended: %s", self.peer, fanout.name, reason)
            self.conn.fail_play(player.stream_id, reason)
            if not self.players and not self.publications:
                self._flush()
                self.writer.close()  # ffmpeg 5.1 would otherwise wait on, playing nothing
                return
        else:
            log.info("rtmp %s: play %s ended: its codec changed from %s to %s", self.peer,
                     fanout.name, old.codec if old else None, video.codec)
            self.conn.end_play(player.stream_id)
        self._flush()

    async def _cleanup(self) -> None:
        for sid in list(self.publications) + list(self.players):
            try:
                await self._end_stream(sid)
            except Exception:  # noqa: BLE001 - the socket still closes
                log.exception("rtmp %s: ending stream %d failed", self.peer, sid)
        self.writer.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(2):
                await self.writer.wait_closed()


