"""``GET /api/alerts/deliveries`` (admins): the outbox, newest first.

Each webhook or notification delivery with its state, attempts and last error,
so an admin sees why an alert did not arrive. Never a secret: the target is the
entry's name (``notify:<name>`` for Apprise, whose URLs hold tokens), the body
is left out, and the worker scrubs URLs out of ``last_error`` before storing it.
The System page shows the latest rows through :func:`latest`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from nvr.alerts.outbox import Delivery, delivery_counts, list_deliveries
from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.api.recordings import iso
from nvr.web.services import Services

router = APIRouter()

State = Literal["pending", "delivered", "failed"]


class DeliveryPublic(BaseModel):
    id: int
    target: str  # a webhook's name (or its redacted address), or notify:<name>
    event_id: int
    phase: str  # start, update, end
    state: str  # pending, delivered, failed
    attempts: int
    next_attempt: str | None  # when pending: the next try (or the lease's end)
    last_error: str | None
    created: str
    delivered: str | None


class AlertsSummary(BaseModel):
    counts: dict[str, int]  # deliveries per state
    latest: list[DeliveryPublic]


def public(row: Delivery) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id, target=row.target, event_id=row.event_id, phase=row.phase,
        state=row.state, attempts=row.attempts,
        next_attempt=iso(row.next_attempt_us) if row.state == "pending" else None,
        last_error=row.last_error, created=iso(row.created_us),
        delivered=iso(row.delivered_us) if row.delivered_us is not None else None)


async def latest(services: Services, limit: int = 20) -> AlertsSummary | None:
    """The System page's Alerts section; ``None`` without a database."""
    sessions = services.sessions
    if sessions is None:
        return None

    def read() -> AlertsSummary:
        return AlertsSummary(counts=delivery_counts(sessions),
                             latest=[public(r) for r in list_deliveries(sessions, None, limit)])

    return await asyncio.to_thread(read)


@router.get("/api/alerts/deliveries", response_model=list[DeliveryPublic])
async def get_deliveries(
    services: ServicesDep,
    _admin: AdminDep,
    state: Annotated[State | None, Query(description="only deliveries in this state")] = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[DeliveryPublic]:
    sessions = services.sessions
    if sessions is None:
        raise HTTPException(503, "deliveries are not available: no database")
    rows = await asyncio.to_thread(list_deliveries, sessions, state, limit)
    return [public(r) for r in rows]
