"""The outbox worker: delivers pending webhook and notification rows, at least once,
with retries.

Rows are claimed in a thread (a claimed row gets a lease: it is due again after
the request timeout plus a margin, so a crash mid-delivery retries it after a
restart). Deliveries run concurrently, at most ``per_target`` at a time per
webhook, so a dead or slow target delays only its own rows; rows of one event
and webhook go out in order (an ``end`` never before its ``start``). A 2xx
answer marks a row ``delivered``; anything else reschedules it with exponential
backoff and jitter (``base`` doubling to ``cap``) until ``max_age`` after the
row was written, then it is ``failed``.

``notify:`` targets (``[[notify]]``) are sent with Apprise (``nvr.alerts.notify``)
under the same rules, with the event's snapshot attached. A notification
``start`` of an event type that keeps a snapshot waits up to ``snapshot_wait``
seconds for it (``EventStore.set_snapshot`` makes the row due at once), so the
phone shows the picture. :meth:`OutboxWorker.prune` forgets old finished rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, and_, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from nvr.alerts.notify import AppriseSender, message, scrub
from nvr.alerts.webhook import SNAPSHOT_TYPES, request_headers
from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config.notify import NotifyConfig
from nvr.config.webhooks import WebhookConfig
from nvr.db.models import Event, OutboxRow

__all__ = ["Delivery", "OutboxWorker", "delivery_counts", "list_deliveries", "prune_outbox"]

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as the deliveries list shows it (never the payload's secret:
    there is none in it; the webhook's secret is not stored)."""

    id: int
    target: str
    event_id: int
    phase: str
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_us: int
    last_error: str | None
    created_us: int
    delivered_us: int | None
    payload: str
    snapshot_path: str | None = None  # the event's, for notifications (relative to data_dir)


def _delivery(row: OutboxRow) -> Delivery:
    return Delivery(
        id=row.id, target=row.target, event_id=row.event_id, phase=row.phase,
        idempotency_key=row.idempotency_key, state=row.state, attempts=row.attempts,
        next_attempt_us=row.next_attempt_us, last_error=row.last_error,
        created_us=row.created_us, delivered_us=row.delivered_us, payload=row.payload)


def list_deliveries(sessions: sessionmaker[Session], state: str | None = None,
                    limit: int = 100) -> list[Delivery]:
    """The newest deliveries first (for ``GET /api/alerts/deliveries``)."""
    with sessions() as session:
        query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
        if state is not None:
            query = query.where(OutboxRow.state == state)
        return [_delivery(r) for r in session.scalars(query)]


def delivery_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many deliveries are in each state (the system page's summary)."""
    with sessions() as session:
        rows = session.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state))
        return {state: count for state, count in rows}


def prune_outbox(sessions: sessionmaker[Session], now_us: int, keep_days: float = 7) -> int:
    """Delete delivered and failed rows written more than ``keep_days`` ago; pending
    rows stay (they fail by themselves after a day). Returns how many went."""
    cutoff = now_us - int(keep_days * DAY * 1_000_000)
    with sessions.begin() as session:
        result = session.execute(delete(OutboxRow).where(
            OutboxRow.state.in_([DELIVERED, FAILED]), OutboxRow.created_us < cutoff))
        return cast(CursorResult[Any], result).rowcount


class OutboxWorker:
    def __init__(self, sessions: sessionmaker[Session], webhooks: Sequence[WebhookConfig],
                 clock: Clock = SYSTEM_CLOCK, *, client: httpx.AsyncClient | None = None,
                 per_target: int = 2, timeout: float = 10.0, poll: float = 1.0,
                 base: float = 1.0, cap: float = 600.0, max_age: float = DAY,
                 rng: random.Random | None = None, notify: Sequence[NotifyConfig] = (),
                 data_dir: Path | None = None, snapshot_wait: float = 3.0,
                 notify_timeout: float = 30.0) -> None:
        self._sessions = sessions
        self._webhooks = {hook.target: hook for hook in webhooks}
        self._notify = {entry.target: entry for entry in notify}
        self._targets = [*self._webhooks, *self._notify]
        self._data_dir = data_dir
        self._snapshot_wait_us = int(snapshot_wait * 1_000_000)
        self._notify_timeout = notify_timeout
        self._clock = clock
        self._client = client
        self._per_target = per_target
        self._timeout = timeout
        self._poll = poll
        self._base = base
        self._cap = cap
        self._max_age_us = int(max_age * 1_000_000)
        self._rng = rng or random.Random()
        self._inflight: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._unknown_failed = False  # rows of targets no longer configured marked failed

    def notify(self) -> None:
        """New rows were written: look for due rows now rather than at the next poll."""
        self._wake.set()

    def _now_us(self) -> int:
        return int(self._clock.time() * 1_000_000)

    def prune(self, now_us: int | None = None, keep_days: float = 7) -> int:
        """:func:`prune_outbox` on this worker's database (blocking: run in a thread)."""
        return prune_outbox(self._sessions, self._now_us() if now_us is None else now_us,
                            keep_days)

    def _apprise(self) -> AppriseSender:
        """A thread for every notification that may be in flight at once, so a hung
        service holds only its own target's threads."""
        threads = max(1, min(32, self._per_target * len(self._notify)))
        return AppriseSender(threads=threads, timeout=self._notify_timeout)

    async def run(self) -> None:
        """Deliver until cancelled; every delivery task is owned by this call."""
        apprise = self._apprise()
        try:
            async with self._http() as client, asyncio.TaskGroup() as group:
                while True:
                    for row in await self._claim_now():
                        group.create_task(self._deliver(client, apprise, row))
                    await self._pause(self._poll)
        finally:
            apprise.close()

    async def deliver_due(self) -> int:
        """Claim what is due now and deliver it, waiting for the answers (tests, CLI)."""
        apprise = self._apprise()
        try:
            async with self._http() as client:
                rows = await self._claim_now()
                await asyncio.gather(*(self._deliver(client, apprise, row) for row in rows))
                return len(rows)
        finally:
            apprise.close()

    def _http(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        if self._client is not None:  # injected: the caller closes it
            return contextlib.nullcontext(self._client)
        timeout = httpx.Timeout(self._timeout, connect=min(5.0, self._timeout))
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def _claim_now(self) -> list[Delivery]:
        capacity = {t: self._per_target - self._inflight[t] for t in self._targets}
        capacity = {t: n for t, n in capacity.items() if n > 0}
        rows = await asyncio.to_thread(self._claim, self._now_us(), capacity)
        for row in rows:
            self._inflight[row.target] += 1
        return rows

    async def _pause(self, seconds: float) -> None:
        waiter = asyncio.create_task(self._wake.wait())
        sleeper = asyncio.create_task(self._clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)
        self._wake.clear()

    def _claim(self, now_us: int, capacity: dict[str, int]) -> list[Delivery]:
        earlier = aliased(OutboxRow)
        blocked = exists().where(and_(
            earlier.target == OutboxRow.target, earlier.event_id == OutboxRow.event_id,
            earlier.state == PENDING, earlier.id < OutboxRow.id))
        lease_us = int((self._timeout + 30) * 1_000_000)
        notify_lease_us = int((self._notify_timeout + 5 + 30) * 1_000_000)
        claimed: list[Delivery] = []
        with self._sessions.begin() as session:
            if not self._unknown_failed:  # the targets are fixed for this worker's life
                self._fail_unknown(session, now_us)
                self._unknown_failed = True
            if not capacity:
                return []
            query = (select(OutboxRow)
                     .where(OutboxRow.state == PENDING, OutboxRow.next_attempt_us <= now_us,
                            OutboxRow.target.in_(list(capacity)), ~blocked)
                     .order_by(OutboxRow.next_attempt_us, OutboxRow.id).limit(500)
                     .with_for_update(skip_locked=True))
            for row in session.scalars(query):
                if capacity.get(row.target, 0) <= 0:
                    continue
                snapshot = None
                if row.target in self._notify:
                    event = session.get(Event, row.event_id)
                    snapshot = event.snapshot_path if event is not None else None
                    wait_until = row.created_us + self._snapshot_wait_us
                    if (event is not None and snapshot is None and row.phase == "start"
                            and event.type in SNAPSHOT_TYPES and now_us < wait_until):
                        row.next_attempt_us = wait_until  # the snapshot is on its way
                        continue
                capacity[row.target] -= 1
                row.next_attempt_us = now_us + (
                    notify_lease_us if row.target in self._notify else lease_us)
                claimed.append(replace(_delivery(row), snapshot_path=snapshot))
        return claimed

    def _fail_unknown(self, session: Session, now_us: int) -> None:
        """Rows of a target no longer in the config will never be sent."""
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.state == PENDING, OutboxRow.target.not_in(self._targets))
            .values(state=FAILED, last_error="target no longer configured"))

    async def _deliver(self, client: httpx.AsyncClient, apprise: AppriseSender,
                       row: Delivery) -> None:
        try:
            if row.target in self._notify:
                error = await self._send_notification(apprise, row)
            else:
                error = await self._post(client, row)
            await asyncio.to_thread(self._record, row, error, self._now_us())
        except Exception:  # noqa: BLE001 - one row's trouble must not stop the others
            log.exception("alert target %s: recording delivery %d failed", row.target, row.id)
        finally:
            self._inflight[row.target] -= 1
            self._wake.set()

    async def _send_notification(self, apprise: AppriseSender, row: Delivery) -> str | None:
        """``None`` when Apprise delivered to every URL of the entry, else the error."""
        title, text = message(json.loads(row.payload))
        attachment = None
        if row.snapshot_path and self._data_dir is not None:
            path = (self._data_dir / row.snapshot_path).resolve()
            if path.is_relative_to(self._data_dir.resolve()):
                attachment = path
        return await apprise.send(self._notify[row.target], title, text, attachment)

    async def _post(self, client: httpx.AsyncClient, row: Delivery) -> str | None:
        """``None`` when delivered, else the error in one line."""
        hook = self._webhooks[row.target]
        body = row.payload.encode()
        headers = request_headers(hook.secret, int(self._clock.time()), body,
                                  row.idempotency_key, hook.headers)
        try:
            response = await client.post(hook.url, content=body, headers=headers,
                                         timeout=self._timeout)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:  # the URL's path may be a token: never in the text
            return scrub(f"{type(exc).__name__}: {exc}", [hook.url])[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: ``base`` doubling to ``cap``, then
        jittered down by up to half (so many rows failing together spread out)."""
        delay = min(self._cap, self._base * 2 ** max(0, attempts - 1))
        return delay * (0.5 + 0.5 * self._rng.random())

    def _record(self, row: Delivery, error: str | None, now_us: int) -> None:
        attempts = row.attempts + 1
        same = and_(OutboxRow.id == row.id, OutboxRow.idempotency_key == row.idempotency_key,
                    OutboxRow.state == PENDING)
        with self._sessions.begin() as session:
            if error is None:
                session.execute(update(OutboxRow).where(same).values(
                    state=DELIVERED, attempts=attempts, delivered_us=now_us, last_error=None))
                return
            next_us = now_us + int(self.backoff(attempts) * 1_000_000)
            values: dict[str, object] = {"attempts": attempts, "last_error": error,
                                         "next_attempt_us": next_us}
            if next_us > row.created_us + self._max_age_us:
                values["state"] = FAILED
                log.warning("alert target %s: giving up on %s after %d attempts: %s",
                            row.target, row.idempotency_key, attempts, error)
            result = session.execute(update(OutboxRow).where(same).values(**values))
            if cast(CursorResult[Any], result).rowcount == 0:
                # Replaced meanwhile (a newer update): keep the count, send the new one now.
                session.execute(update(OutboxRow).where(
                    OutboxRow.id == row.id, OutboxRow.state == PENDING).values(
                    attempts=attempts, last_error=error, next_attempt_us=now_us))

