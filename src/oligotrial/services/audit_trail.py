"""Reading and verifying the audit trail. Nothing here, nor anywhere in the API, changes or deletes entries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from oligotrial.services._context import Actor, Edc, Permission, read_transaction, snapshot_transaction
from oligotrial.services.data import readable_sites
from oligotrial.services.views import AuditEntryView, AuditPage
from oligotrial.store.audit import AuditReport, verify_audit_chain
from oligotrial.store.tables import AuditEntry, Site

__all__ = ["read_audit", "verify_audit"]


def read_audit(
    edc: Edc,
    actor: Actor,
    *,
    table: str | None = None,
    record_id: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> AuditPage:
    """Audit entries in chain order after position ``after``: study-wide readers see all, site readers see
    the entries of their sites' records only (entries about accounts and settings are study-wide)."""
    sites = readable_sites(actor, Permission.READ_AUDIT)
    with read_transaction(edc) as session:
        stmt: Any = select(AuditEntry, Site.code).outerjoin(Site, Site.id == AuditEntry.site_id)
        if sites is not None:
            stmt = stmt.where(AuditEntry.site_id.in_(sites))
        if table is not None:
            stmt = stmt.where(AuditEntry.table_name == table)
        if record_id is not None:
            stmt = stmt.where(AuditEntry.record_id == record_id)
        rows = session.execute(
            stmt.where(AuditEntry.id > after).order_by(AuditEntry.id).limit(limit + 1)
        ).all()
        entries = [
            AuditEntryView(
                id=e.id,
                at=e.at,
                actor=e.actor_username,
                action=e.action,
                table=e.table_name,
                record_id=e.record_id,
                site=code,
                old=None if e.old_values is None else json.loads(e.old_values),
                new=None if e.new_values is None else json.loads(e.new_values),
                reason=e.reason,
                source=e.source,
                hash=e.hash,
            )
            for e, code in rows[:limit]
        ]
        return AuditPage(entries=entries, next_after=entries[-1].id if len(rows) > limit else None)


def verify_audit(edc: Edc) -> AuditReport:
    """Verify the whole hash chain in one read snapshot (operators, through ``oligotrial audit verify``)."""
    with snapshot_transaction(edc) as session:
        return verify_audit_chain(session)
