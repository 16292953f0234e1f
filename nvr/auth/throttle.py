"""Guessing is throttled: after :data:`FREE_FAILURES` consecutive failures for
one username from one address, further attempts are refused (429 with
Retry-After) for a delay that doubles with each further failure, from
:data:`FIRST_DELAY` up to :data:`MAX_DELAY`. A success clears the count.

Memory is bounded: at most :data:`MAX_KEYS` (username, address) pairs are
kept, the stalest dropped first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from nvr.clock import SYSTEM_CLOCK, Clock

FREE_FAILURES = 5
FIRST_DELAY = 30.0
MAX_DELAY = 15 * 60.0
MAX_KEYS = 10_000


@dataclass(slots=True)
class _Record:
    failures: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return username.casefold()[:128], address

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until ``username`` may try again from ``address`` (0: now)."""
        record = self._records.get(self._key(username, address))
        if record is None:
            return 0
        wait = record.locked_until - self._clock.monotonic()
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, address: str) -> int:
        """Count a failure; returns the consecutive failures so far."""
        key = self._key(username, address)
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recent last
        record.failures += 1
        if record.failures >= FREE_FAILURES:
            delay = min(MAX_DELAY, FIRST_DELAY * 2 ** (record.failures - FREE_FAILURES))
            record.locked_until = self._clock.monotonic() + delay
        while len(self._records) > MAX_KEYS:
            self._records.popitem(last=False)
        return record.failures

    def succeeded(self, username: str, address: str) -> None:
        self._records.pop(self._key(username, address), None)
