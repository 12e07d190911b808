"""The audit log: who did what to which object, when and why (promotions, gates, deletions, exports, connection
and role changes). Every writer and reader of it goes through here."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from studio import db


class AuditEntry(BaseModel):
    at: float
    actor: str
    action: str  # promote, rollback, gates, set role, delete dataset, export, ...
    model: str  # the object acted on: a model name, or "dataset:<id>", "user:<email>", "connection:<name>"
    version: str | None
    alias: str | None
    reason: str
    detail: dict[str, Any]


def write(conn: sa.Connection, *, actor: str, action: str, target: str, version: str | None = None,
          alias: str | None = None, reason: str = "", detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry inside the caller's transaction."""
    entry = AuditEntry(at=time.time(), actor=actor, action=action, model=target, version=version, alias=alias,
                       reason=reason, detail=detail or {})
    conn.execute(sa.insert(db.audit_log).values(
        at=entry.at, actor=entry.actor, action=entry.action, model=entry.model, version=entry.version,
        alias=entry.alias, reason=entry.reason, detail_json=json.dumps(entry.detail)))
    return entry


def read(engine: sa.Engine, *, target: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """Entries, newest first; `target` keeps one object's."""
    query = sa.select(db.audit_log).order_by(db.audit_log.c.seq.desc()).limit(limit)
    if target is not None:
        query = query.where(db.audit_log.c.model == target)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [AuditEntry(at=r["at"], actor=r["actor"], action=r["action"], model=r["model"], version=r["version"],
                       alias=r["alias"], reason=r["reason"], detail=json.loads(r["detail_json"])) for r in rows]
