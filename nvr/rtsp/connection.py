"""RTSP control connection: aiortsp's request/response machinery, a lean data path.

aiortsp's ``RTSPConnection`` handles requests, CSeq matching and authentication
retries; we keep that and replace two things:

* ``data_received``: aiortsp re-concatenates its whole buffer for every chunk and
  builds a parser object per interleaved packet. Cameras send hundreds of
  interleaved RTP packets a second, so we split ``$``-framed binary packets
  ourselves from a ``bytearray`` and hand only RTSP text messages (replies, the
  odd server request) to aiortsp's parser, whole.
* authentication: Digest is preferred over Basic when both are offered (Basic
  sends the password in the clear) and Digest answers ``qop=auth`` challenges,
  which many cameras send and aiortsp does not support.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

from aiortsp.rtsp.auth import BasicAuth, DigestAuth
from aiortsp.rtsp.connection import RTSPConnection
from aiortsp.rtsp.errors import RTSPConnectionError, RTSPResponseError
from aiortsp.rtsp.parser import RTSPParser, RTSPResponse

BinaryHandler = Callable[[bytes], None]


class OversizedMessage(RTSPConnectionError):
    """The camera sent (or announced) an RTSP message larger than any camera's."""

_MAX_TEXT = 256 * 1024  # an RTSP message bigger than this is not a camera talking
_TEXT_STARTS = (b"RTSP/", b"OPTIONS", b"DESCRIBE", b"ANNOUNCE", b"SETUP", b"PLAY", b"PAUSE",
                b"TEARDOWN", b"GET_PARAMETER", b"SET_PARAMETER", b"REDIRECT", b"RECORD")


class DigestQopAuth(DigestAuth):
    """RFC 2617 Digest with ``qop=auth`` (nc/cnonce) when the server asks for it."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self._nc = 0

    def _prepare_digest_header(self, method: str, url: str) -> dict:
        base = super()._prepare_digest_header(method, url)
        qops = [q.strip() for q in (self.info or {}).get("qop", "").split(",") if q.strip()]
        if "auth" not in qops:
            return base
        algorithm = self.info.get("algorithm", "MD5").upper()
        digest = self._digest_function(algorithm)
        self._nc += 1
        nc = f"{self._nc:08x}"
        cnonce = os.urandom(8).hex()
        ha1 = digest(f"{self.username}:{self.info.get('realm')}:{self.password}")
        ha2 = digest(f"{method}:{url}")
        base["response"] = digest(f"{ha1}:{self.info.get('nonce')}:{nc}:{cnonce}:auth:{ha2}")
        base["qop"] = "auth"
        base["nc"] = nc
        base["cnonce"] = cnonce
        if "algorithm" in self.info:
            base["algorithm"] = self.info["algorithm"]
        return base

    def _build_digest_header(self, method: str, url: str) -> str:
        base = self._prepare_digest_header(method, url)
        unquoted = {"qop", "nc", "algorithm"}
        opts = ", ".join(f"{k}={v}" if k in unquoted else f'{k}="{v}"' for k, v in base.items())
        return f"Digest {opts}"


class _RedactAuthorization(logging.Filter):
    """aiortsp logs whole requests at debug level: never let credentials through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _AUTH_LINE.sub(r"\1 ***", a) if isinstance(a, str) else a for a in record.args)
        return True


_AUTH_LINE = re.compile(r"(?i)(authorization:\s*\S+)[^\r\n]*")
_WIRE = logging.getLogger("nvr.rtsp.wire")
_WIRE.addFilter(_RedactAuthorization())


class CameraConnection(RTSPConnection):
    """One TCP connection to a camera: RTSP requests plus interleaved RTP/RTCP."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 logger: logging.Logger | logging.LoggerAdapter, timeout: float = 10) -> None:
        extra = getattr(logger, "extra", None) or {}
        # aiortsp's own log lines go through a logger that redacts Authorization headers
        super().__init__(host, port, username, password,
                         logger=logging.LoggerAdapter(_WIRE, extra), timeout=timeout)
        self._auth: BasicAuth | DigestAuth | None = None
        self.parser: RTSPParser = RTSPParser()
        self._buf = bytearray()
        self.channel_handlers: dict[int, BinaryHandler] = {}
        self.bytes_received = 0
        self.handler_errors = 0

    # -- authentication -------------------------------------------------------
    def handle_401(self, resp: RTSPResponse) -> bool:
        if self._auth is None and self.username is not None and self.password is not None:
            offered = resp.headers.get("www-authenticate")
            if not offered:
                raise RTSPResponseError("Invalid 401 response received (no www-authenticate)", resp)
            if not isinstance(offered, list):
                offered = [offered]
            if any(a.lower().startswith("digest ") for a in offered):
                self._auth = DigestQopAuth(self.username, self.password)
                # aiortsp's handler wants the Digest challenge first
                resp.headers["www-authenticate"] = [
                    a for a in offered if a.lower().startswith("digest ")
                ]
            elif any(a.lower().startswith("basic ") for a in offered):
                self._auth = BasicAuth(self.username, self.password)
        if self._auth is not None:
            return self._auth.handle_401(resp.headers)
        return False

    # -- data path ------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        handlers = self.channel_handlers
        try:
            while pos < end:
                first = buf[pos]
                if first == 0x24:  # '$': interleaved binary
                    if end - pos < 4:
                        break
                    size = (buf[pos + 2] << 8) | buf[pos + 3]
                    stop = pos + 4 + size
                    if stop > end:
                        break
                    handler = handlers.get(buf[pos + 1])
                    if handler is not None:
                        try:
                            handler(bytes(buf[pos + 4:stop]))
                        except Exception:  # noqa: BLE001 - one bad packet, not the session
                            self.handler_errors += 1
                            if self.handler_errors in (1, 100, 10000):
                                self.logger.exception("error handling interleaved data")
                    pos = stop
                elif first == 0x52 or first in b"ODSPTGRA":  # text message
                    used = self._text_message(buf, pos, end)
                    if used == 0:
                        break
                    pos += used
                else:
                    pos = self._resync(buf, pos + 1, end)
        finally:
            del buf[:pos]
        if len(buf) > _MAX_TEXT:
            buf.clear()
            self._give_up(f"camera sent an RTSP message over {_MAX_TEXT // 1024} KiB")

    def _text_message(self, buf: bytearray, pos: int, end: int) -> int:
        """Hand one complete RTSP message to aiortsp's parser; return bytes used (0: wait)."""
        head_end = buf.find(b"\r\n\r\n", pos, min(end, pos + _MAX_TEXT))
        if head_end < 0:
            if buf.startswith(b"\r\n", pos):  # stray empty line between messages
                return 2
            if not any(buf.startswith(s[: end - pos], pos) for s in _TEXT_STARTS):
                return self._resync(buf, pos + 1, end) - pos
            return 0
        head = bytes(buf[pos:head_end]).lower()
        length = 0
        idx = head.find(b"content-length:")
        if idx >= 0:
            line_end = head.find(b"\r\n", idx)
            value = head[idx + 15: line_end if line_end >= 0 else len(head)]
            try:
                length = int(value.strip())
            except ValueError:
                length = 0
        if length > _MAX_TEXT:
            self._give_up(f"camera announced an RTSP body of {length} bytes "
                          f"(over {_MAX_TEXT // 1024} KiB)")
            return end - pos
        stop = head_end + 4 + length
        if stop > end:
            return 0
        message = bytes(buf[pos:stop])
        try:
            messages = list(self.parser.parse(message))
        except Exception:  # noqa: BLE001 - a malformed message is skipped, not fatal
            self.parser = RTSPParser()
            self.logger.warning("skipping a malformed RTSP message (%d bytes)", len(message))
            return stop - pos
        for msg in messages:
            if msg.type == "response":
                self.on_response(msg)
                future = self.active_requests.get(msg.cseq)
                if future is not None and not future.done():
                    future.set_result(msg)
            elif msg.type == "request":
                self.on_request(msg)
        return stop - pos

    def _give_up(self, reason: str) -> None:
        """End the connection: pending requests fail with ``reason`` at once."""
        if not self.result.done():
            self.result.set_exception(OversizedMessage(reason))
        if self._transport is not None:
            self._transport.close()

    @staticmethod
    def _resync(buf: bytearray, pos: int, end: int) -> int:
        """Skip garbage up to the next plausible message start."""
        nxt = [i for i in (buf.find(b"$", pos, end), buf.find(b"RTSP/", pos, end)) if i >= 0]
        return min(nxt) if nxt else end

    def on_request(self, request) -> None:  # type: ignore[no-untyped-def]
        # Some cameras send GET_PARAMETER/OPTIONS to us as keepalive probes: answer OK.
        self.send_response(request, 200, "OK")

    def send_interleaved(self, channel: int, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(bytes((0x24, channel, len(data) >> 8, len(data) & 0xFF)) + data)
