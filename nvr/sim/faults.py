"""Fault injection for one simulated camera, switched at run time.

Get the handle with `server.fault("cam1")`; every method acts at once and
affects the camera's current and future RTSP sessions. (What a camera does
from its first request on is set by `SimCamera` fields instead: malformed SDP,
noise, refused transports, RTP right behind the PLAY reply, B-frames and open
GOPs, a slow clock.)

Media:

- `stall(seconds)`: keep connections open but send no media (RTP or RTCP) for
  that long; `stall(None)` stalls until `resume()`. Sending resumes with a
  keyframe (the loop skips ahead to one), with timestamps and sequence numbers
  continuing as if the wall clock had kept running (no seq gap). Called before
  a client's PLAY, it makes a camera that answers PLAY and then sends nothing
  at all ("silent from the start").
- `resume()`: end a stall (and a `hang`) now.
- `garbage(every)`: after every `every`-th valid video frame, send one garbage
  frame (random payload behind valid RTP headers, see nvr.sim.quirks), stamped
  half a frame after the valid one; `garbage(0)` stops it.
- `ts_jump(ticks)`: add `ticks` to every later RTP timestamp of every track
  (cumulative; e.g. `2**32 - 90000` forces a wrap a second later).
- `ssrc_change()`: every session picks a new random SSRC for each track.
- `udp_loss(fraction)`: drop that fraction (0..1) of RTP packets sent over UDP.
- `bye()`: every playing session sends an RTCP BYE (compound SR + SDES + BYE,
  RFC 3550 6.6) for each of its tracks' SSRCs on the track's RTCP channel or
  port, then sends nothing more; connections stay open (a new PLAY restarts).

Connections:

- `disconnect(bye=False)`: close every client connection of the camera now;
  with `bye=True` each playing session first sends its RTCP BYE.
- `refuse(seconds)`: close new connections to the camera, without a reply, for
  that long (a rebooting camera). `reboot(seconds, bye=False)` is
  `disconnect(bye)` + `refuse(seconds)`.
- `hang(seconds)`: accept connections and read requests but answer none for that
  long (`None`: until `resume()`): a camera whose RTSP server is wedged. The
  `unanswered` attribute counts the requests it has left unanswered.
- `set_password(pw)`: the camera demands this password from now on.

RTSP replies:

- `big_header(size)`: every reply carries one more header line, ``X-Filler:``
  with `size` bytes in all (100 kB by default); `big_header(0)` stops it.
- `false_content_length(length)`: replies with a body (DESCRIBE) announce
  ``Content-Length: length`` (10 MB by default) but send only the real body, then
  nothing more on that connection; `false_content_length(0)` stops it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class CameraFaults:
    """The fault state of one camera, read by the server's sessions."""

    def __init__(
        self,
        on_disconnect: Callable[[bool], None],
        on_password: Callable[[str | None], None],
        on_bye: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_disconnect = on_disconnect
        self._on_password = on_password
        self._on_bye = on_bye
        self._clock = clock
        self._stall_until = 0.0
        self._refuse_until = 0.0
        self._hang_until = 0.0
        self.ts_offset = 0
        self.ssrc_epoch = 0
        self.loss = 0.0
        self.garbage_every = 0
        self.filler_header: str | None = None  # the whole "X-Filler: ..." line
        self.claimed_length = 0
        self.unanswered = 0  # requests read during a hang

    # --- media -------------------------------------------------------------------

    def stall(self, seconds: float | None) -> None:
        """Send no media for `seconds` (None: until `resume()`)."""
        self._stall_until = math.inf if seconds is None else self._clock() + seconds

    def resume(self) -> None:
        """End a stall and a hang now."""
        self._stall_until = 0.0
        self._hang_until = 0.0

    def garbage(self, every: int) -> None:
        """Send a garbage frame after every `every`-th video frame (0: never)."""
        if every < 0:
            raise ValueError(f"garbage interval must be >= 0, got {every}")
        self.garbage_every = every

    def ts_jump(self, ticks: int) -> None:
        """Add `ticks` to all later RTP timestamps (mod 2**32)."""
        self.ts_offset = (self.ts_offset + ticks) & 0xFFFFFFFF

    def ssrc_change(self) -> None:
        """Make every session switch to new random SSRCs."""
        self.ssrc_epoch += 1

    def udp_loss(self, fraction: float) -> None:
        """Drop `fraction` (0..1) of the RTP packets sent over UDP."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"udp loss fraction must be within 0..1, got {fraction}")
        self.loss = fraction

    def bye(self) -> None:
        """Every playing session sends RTCP BYE for its SSRCs, then goes silent."""
        self._on_bye()

    # --- connections ---------------------------------------------------------------

    def disconnect(self, bye: bool = False) -> None:
        """Close every client connection of this camera now (after an RTCP BYE)."""
        self._on_disconnect(bye)

    def refuse(self, seconds: float) -> None:
        """Close new connections to this camera for `seconds`."""
        self._refuse_until = self._clock() + seconds

    def reboot(self, seconds: float, bye: bool = False) -> None:
        """Drop all connections (after an RTCP BYE) and refuse new ones for `seconds`."""
        self.refuse(seconds)
        self.disconnect(bye)

    def hang(self, seconds: float | None = None) -> None:
        """Answer no RTSP request for `seconds` (None: until `resume()`)."""
        self._hang_until = math.inf if seconds is None else self._clock() + seconds

    def set_password(self, password: str | None) -> None:
        """Require `password` from now on (None: no authentication)."""
        self._on_password(password)

    # --- replies -----------------------------------------------------------------------

    def big_header(self, size: int = 100_000) -> None:
        """Add a header line of `size` bytes to every reply (0: stop)."""
        prefix = "X-Filler: "
        if size and size < len(prefix) + 1:
            raise ValueError(f"a header line takes at least {len(prefix) + 1} bytes")
        self.filler_header = prefix + "x" * (size - len(prefix)) if size else None

    def false_content_length(self, length: int = 10_000_000) -> None:
        """Announce `length` as the Content-Length of replies with a body (0: stop)."""
        self.claimed_length = length

    # --- queries -----------------------------------------------------------------------

    def stalled(self) -> bool:
        return self._clock() < self._stall_until

    def refusing(self) -> bool:
        return self._clock() < self._refuse_until

    def hanging(self) -> bool:
        return self._clock() < self._hang_until
