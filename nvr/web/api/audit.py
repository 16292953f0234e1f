"""``GET /api/audit`` (admins): the audit log, newest first."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.api.recordings import iso

router = APIRouter()


class AuditPublic(BaseModel):
    id: int
    at: str
    action: str
    user: str | None
    address: str | None
    target: str | None
    details: dict[str, Any] | None


@router.get("/api/audit", response_model=list[AuditPublic])
async def list_audit(
    services: ServicesDep,
    _admin: AdminDep,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, description="an entry id: older entries than it"),
    action: str | None = Query(None, max_length=32),
    user: str | None = Query(None, max_length=64),
) -> list[AuditPublic]:
    rows = await asyncio.to_thread(services.auth.audit.query, limit=limit, before=before,
                                   action=action, actor=user)
    return [AuditPublic(id=r.id, at=iso(r.at_us), action=r.action, user=r.actor,
                        address=r.address, target=r.target, details=r.details) for r in rows]
