"""Fault injection for one simulated camera.

Get the handle with `server.fault("cam1")`; every method acts at once and
affects the camera's current and future RTSP sessions:

- `stall(seconds)`: keep connections open but send no media (RTP or RTCP) for
  that long; `stall(None)` stalls until `resume()`. Sending resumes with a
  keyframe (the loop skips ahead to one), with timestamps and sequence numbers
  continuing as if the wall clock had kept running (no seq gap).
- `resume()`: end a stall now.
- `disconnect()`: close every client connection of the camera now.
- `refuse(seconds)`: close new connections to the camera, without a reply, for
  that long (a rebooting camera). `reboot(seconds)` is `disconnect()` + `refuse()`.
- `ts_jump(ticks)`: add `ticks` to every later RTP timestamp of every track
  (cumulative; e.g. `2**32 - 90000` forces a wrap a second later).
- `ssrc_change()`: every session picks a new random SSRC for each track.
- `udp_loss(fraction)`: drop that fraction (0..1) of RTP packets sent over UDP.
- `set_password(pw)`: the camera demands this password from now on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class CameraFaults:
    """The fault state of one camera, read by the server's sessions."""

    def __init__(
        self,
        on_disconnect: Callable[[], None],
        on_password: Callable[[str | None], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_disconnect = on_disconnect
        self._on_password = on_password
        self._clock = clock
        self._stall_until = 0.0
        self._refuse_until = 0.0
        self.ts_offset = 0
        self.ssrc_epoch = 0
        self.loss = 0.0

    # --- injection -------------------------------------------------------------

    def stall(self, seconds: float | None) -> None:
        """Send no media for `seconds` (None: until `resume()`)."""
        self._stall_until = math.inf if seconds is None else self._clock() + seconds

    def resume(self) -> None:
        """End a stall now."""
        self._stall_until = 0.0

    def disconnect(self) -> None:
        """Close every client connection of this camera now."""
        self._on_disconnect()

    def refuse(self, seconds: float) -> None:
        """Close new connections to this camera for `seconds`."""
        self._refuse_until = self._clock() + seconds

    def reboot(self, seconds: float) -> None:
        """Drop all connections and refuse new ones for `seconds`."""
        self.refuse(seconds)
        self.disconnect()

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

    def set_password(self, password: str | None) -> None:
        """Require `password` from now on (None: no authentication)."""
        self._on_password(password)

    # --- queries -----------------------------------------------------------------

    def stalled(self) -> bool:
        return self._clock() < self._stall_until

    def refusing(self) -> bool:
        return self._clock() < self._refuse_until
