"""A tiny HTTP/1.1 receiver on asyncio streams for the webhook tests.

Each path has a script of answers: an int status, or ``"hang"`` (never answer
until released). Every request's signature is checked; accepted (2xx) bodies
are kept in order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from nvr.alerts.webhook import verify


@dataclass
class Receiver:
    secret: str
    scripts: dict[str, deque[int | str]] = field(default_factory=dict)
    accepted: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    keys: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    requests: int = 0
    bad_signatures: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hanging: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    port: int = 0

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await reader.readline()
                if not request:
                    return
                path = request.split()[1].decode()
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    key, _, value = line.decode().partition(":")
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                if not verify(self.secret, headers.get("x-nvr-signature", ""), body, time.time()):
                    self.bad_signatures += 1
                script = self.scripts.get(path)
                answer = script.popleft() if script else 200
                if answer == "hang":
                    self.hanging += 1
                    await self.release.wait()
                    return
                assert isinstance(answer, int)
                if 200 <= answer < 300:
                    self.accepted[path].append(json.loads(body))
                    self.keys[path].append(headers.get("idempotency-key", ""))
                writer.write(f"HTTP/1.1 {answer} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
