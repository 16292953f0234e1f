"""A minimal asyncio RTMP relay around :class:`ServerConnection`, for tests and captures.

Not the real server (that comes later): it accepts every connect, publish and
play, keeps everything one publisher sent (players get all of it from the
start, then live) and records each connection's raw client bytes, so
``capture_vectors.py`` can store them under ``tests/vectors/rtmp/``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nvr.rtmp.events import (
    ConnectionFailed,
    ConnectRequested,
    Event,
    MediaReceived,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
)
from nvr.rtmp.protocol import ServerConnection


@dataclass
class Session:
    """One client connection as the relay saw it."""

    received: bytearray = field(default_factory=bytearray)
    events: list[Event] = field(default_factory=list)


class Relay:
    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.media: list[MediaReceived] = []
        self.players: list[tuple[ServerConnection, int, asyncio.StreamWriter]] = []
        self.ended = False  # the publisher left: players are told and closed
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn, session = ServerConnection(), Session()
        self.sessions.append(session)
        try:
            while not conn.closed:
                data = await reader.read(65536)
                if not data:
                    break
                session.received += data
                events = conn.receive_data(data)
                while events:
                    session.events += events
                    for event in events:
                        self._decide(conn, event, writer)
                    events = conn.receive_data(b"")
                writer.write(conn.data_to_send())
                if any(isinstance(e, ConnectionFailed) for e in session.events):
                    break
        except ConnectionError:
            pass
        finally:
            self.players = [p for p in self.players if p[2] is not writer]
            writer.close()

    def players_of(self, conn: ServerConnection) -> bool:
        return any(p[0] is conn for p in self.players)

    def _decide(self, conn: ServerConnection, event: Event,
                writer: asyncio.StreamWriter) -> None:
        accept(conn, event)
        if isinstance(event, PlayRequested):
            for media in self.media:
                conn.send_media(event.stream_id, media.kind, media.timestamp, media.payload)
            if self.ended:
                conn.end_play(event.stream_id)
                conn.closed = True
            else:
                self.players.append((conn, event.stream_id, writer))
        elif isinstance(event, StreamDeleted) and self.media and not self.players_of(conn):
            self.ended = True
            for player, sid, pwriter in self.players:
                player.end_play(sid)
                pwriter.write(player.data_to_send())
                pwriter.close()
        elif isinstance(event, MediaReceived):
            self.media.append(event)
            for player, sid, pwriter in self.players:
                player.send_media(sid, event.kind, event.timestamp, event.payload)
                pwriter.write(player.data_to_send())


def accept(conn: ServerConnection, event: Event) -> None:
    """Say yes to every connect, publish and play (a permissive test server)."""
    if isinstance(event, ConnectRequested):
        conn.accept_connect()
    elif isinstance(event, PublishRequested):
        conn.accept_publish(event.stream_id)
    elif isinstance(event, PlayRequested):
        conn.accept_play(event.stream_id)
