"""Fixtures for the simulated camera: a running SimServer and a raw RTSP client."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from nvr.sim.server import SimCamera, SimServer


@dataclass
class Response:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), [""])[0]


@dataclass
class RtpPacket:
    arrival: float
    channel: int
    marker: bool
    pt: int
    seq: int
    ts: int
    ssrc: int
    payload: bytes


@dataclass
class RawRtspClient:
    """A hand-written RTSP client: requests in, responses and interleaved packets out."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    url: str
    cseq: int = 0
    session: str | None = None
    authorization: str | None = None
    packets: list[RtpPacket] = field(default_factory=list)
    rtcp: list[tuple[int, bytes]] = field(default_factory=list)

    @classmethod
    async def connect(cls, server: SimServer, name: str, rcvbuf: int = 0) -> RawRtspClient:
        """Connect; `rcvbuf` sets a small socket receive buffer before connecting."""
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer, server.url(name))

    async def request(self, method: str, url: str | None = None, **headers: str) -> Response:
        self.cseq += 1
        lines = [f"{method} {url or self.url} RTSP/1.0", f"CSeq: {self.cseq}"]
        if self.session:
            lines.append(f"Session: {self.session}")
        if self.authorization:
            lines.append(f"Authorization: {self.authorization}")
        lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            first = await self.reader.readexactly(1)
            if first == b"$":
                await self._read_interleaved()
                continue
            head = first + await self.reader.readuntil(b"\r\n\r\n")
            text = head.decode().split("\r\n")
            parsed: dict[str, list[str]] = {}
            for line in text[1:]:
                if ":" in line:
                    k, _, v = line.partition(":")
                    parsed.setdefault(k.strip().lower(), []).append(v.strip())
            length = int(parsed.get("content-length", ["0"])[0])
            body = await self.reader.readexactly(length) if length else b""
            resp = Response(int(text[0].split()[1]), parsed, body)
            if resp.status == 200 and "session" in parsed:
                self.session = parsed["session"][0].split(";")[0]
            return resp

    async def _read_interleaved(self) -> None:
        head = await self.reader.readexactly(3)
        channel, length = head[0], struct.unpack("!H", head[1:])[0]
        data = await self.reader.readexactly(length)
        if channel % 2:
            self.rtcp.append((channel, data))
            return
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
        assert b0 == 0x80
        loop = asyncio.get_running_loop()
        self.packets.append(
            RtpPacket(loop.time(), channel, bool(b1 & 0x80), b1 & 0x7F, seq, ts, ssrc, data[12:])
        )

    async def play(self, tracks: tuple[int, ...] = (0,)) -> Response:
        resp = await self.request("DESCRIBE", Accept="application/sdp")
        assert resp.status == 200, resp
        for track in tracks:
            resp = await self.request(
                "SETUP",
                f"{self.url}/trackID={track}",
                Transport=f"RTP/AVP/TCP;unicast;interleaved={2 * track}-{2 * track + 1}",
            )
            assert resp.status == 200, resp
        resp = await self.request("PLAY", Range="npt=0.000-")
        assert resp.status == 200, resp
        return resp

    async def read_for(self, seconds: float) -> None:
        """Collect interleaved packets for `seconds` (or until the server closes)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                first = await asyncio.wait_for(self.reader.readexactly(1), left)
            except TimeoutError:
                return
            except asyncio.IncompleteReadError:
                return  # the server closed the connection
            assert first == b"$", first
            await self._read_interleaved()

    async def read_until(self, done: Callable[[], bool], within: float = 5.0) -> None:
        """Collect interleaved packets until `done()` holds (TimeoutError after `within` s)."""
        async with asyncio.timeout(within):
            while not done():
                first = await self.reader.readexactly(1)
                assert first == b"$", first
                await self._read_interleaved()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def rtcp_packets(data: bytes) -> list[tuple[int, bytes]]:
    """The (packet type, whole packet) of each RTCP packet of a compound packet."""
    out = []
    while len(data) >= 4:
        assert data[0] >> 6 == 2, data  # version 2
        size = 4 * (int.from_bytes(data[2:4], "big") + 1)
        out.append((data[1], data[:size]))
        data = data[size:]
    assert not data
    return out


def small_camera(name: str, **kw: object) -> SimCamera:
    options: dict = {"width": 320, "height": 240, "fps": 25, "bitrate_kbps": 400} | kw
    return SimCamera(name, **options)


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Awaitable[SimServer]]]:
    """Start a SimServer from {name: camera options}; stopped after the test."""
    servers: list[SimServer] = []

    async def make(cameras: dict[str, dict], **server_options: object) -> SimServer:
        server = SimServer(
            cameras=[small_camera(name, **kw) for name, kw in cameras.items()],
            **server_options,  # type: ignore[arg-type]
        )
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def sim(sim_factory: Callable[..., Awaitable[SimServer]]) -> SimServer:
    """A server with a few small cameras (encodings are cached across tests)."""
    auth = {"user": "admin", "password": "s3cret"}
    return await sim_factory(
        {
            "plain": {},
            "audio": {"audio": True},
            "digest": {**auth, "auth": "digest"},
            "basic": {**auth, "auth": "basic"},
            "both": {**auth, "auth": "both"},
            "hevc": {"codec": "h265"},
        },
        rtcp_interval=1.0,
    )


@pytest.fixture
async def rtsp(sim: SimServer) -> AsyncIterator[Callable[..., Awaitable[RawRtspClient]]]:
    """Open raw RTSP connections to a camera (of `sim`, or of another server)."""
    clients: list[RawRtspClient] = []

    async def connect(name: str, server: SimServer | None = None, rcvbuf: int = 0) -> RawRtspClient:
        client = await RawRtspClient.connect(server or sim, name, rcvbuf)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()
