"""Reading and verifying the audit trail. Nothing here, nor anywhere in the API, changes or deletes entries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, or_, select
from sqlalchemy.orm import Session

from oligotrial.errors import NotFoundError, Problem
from oligotrial.services._context import Actor, Edc, Permission, read_transaction, snapshot_transaction
from oligotrial.services.data import readable_sites
from oligotrial.services.views import AuditEntryView, AuditPage
from oligotrial.store.audit import AuditReport, verify_audit_chain
from oligotrial.store.tables import (
    AuditEntry,
    DataQuery,
    Event,
    Form,
    RadiotherapyCourseRow,
    RadiotherapyPlanRow,
    RandomizationRecord,
    Signature,
    Site,
    Subject,
)

__all__ = ["read_audit", "verify_audit"]


def read_audit(
    edc: Edc,
    actor: Actor,
    *,
    table: str | None = None,
    record_id: str | None = None,
    subject: str | None = None,
    after: int = 0,
    before: int | None = None,
    limit: int = 100,
) -> AuditPage:
    """Audit entries in chain order after position ``after``, or newest first before position ``before``
    (``before=0``: from the newest). Study-wide readers see all, site readers the entries of their sites'
    records only (entries about accounts and settings are study-wide).

    ``subject`` (a subject's code) keeps the entries about that subject's records: the subject itself, its
    randomization and radiotherapy plan, its events, forms, queries, signatures and radiotherapy courses.
    ``table`` and ``record_id`` keep one table's entries, or one record's. The page's ``next_after`` (chain
    order) or ``next_before`` (newest first) is the cursor of the next page, ``None`` on the last.
    """
    sites = readable_sites(actor, Permission.READ_AUDIT)
    with read_transaction(edc) as session:
        stmt: Any = select(AuditEntry, Site.code).outerjoin(Site, Site.id == AuditEntry.site_id)
        if sites is not None:
            stmt = stmt.where(AuditEntry.site_id.in_(sites))
        if table is not None:
            stmt = stmt.where(AuditEntry.table_name == table)
        if record_id is not None:
            stmt = stmt.where(AuditEntry.record_id == record_id)
        if subject is not None:
            stmt = stmt.where(_about_subject(session, sites, subject))
        if before is None:
            stmt = stmt.where(AuditEntry.id > after).order_by(AuditEntry.id)
        else:
            if before > 0:
                stmt = stmt.where(AuditEntry.id < before)
            stmt = stmt.order_by(AuditEntry.id.desc())
        rows = session.execute(stmt.limit(limit + 1)).all()
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
        more = entries[-1].id if len(rows) > limit else None
        return AuditPage(
            entries=entries,
            next_after=more if before is None else None,
            next_before=more if before is not None else None,
        )


def _about_subject(session: Session, sites: frozenset[int] | None, code: str) -> ColumnElement[bool]:
    """The condition of the audit entries about the subject ``code``'s records (404 when the reader may not
    see the subject). Its subject, randomization and radiotherapy plan entries are keyed by the subject's
    code; the others by the id of a row that carries the subject."""
    found = session.execute(select(Subject.id, Subject.site_id).where(Subject.code == code)).first()
    if found is None or (sites is not None and found.site_id not in sites):
        raise NotFoundError(Problem("EDC-020", "subject", "no such subject", value=code))

    def ids(column: Any, *where: Any) -> Any:
        return select(cast(column, String)).where(*where)

    forms = select(Form.id).where(Form.subject_id == found.id)
    keyed_by_id = {
        Event.__tablename__: ids(Event.id, Event.subject_id == found.id),
        Form.__tablename__: ids(Form.id, Form.subject_id == found.id),
        DataQuery.__tablename__: ids(DataQuery.id, DataQuery.form_id.in_(forms)),
        Signature.__tablename__: ids(Signature.id, Signature.subject_id == found.id),
        RadiotherapyCourseRow.__tablename__: ids(
            RadiotherapyCourseRow.id, RadiotherapyCourseRow.subject_id == found.id
        ),
    }
    keyed_by_code = (
        Subject.__tablename__,
        RandomizationRecord.__tablename__,
        RadiotherapyPlanRow.__tablename__,
    )
    return or_(
        and_(AuditEntry.table_name.in_(keyed_by_code), AuditEntry.record_id == code),
        *(
            and_(AuditEntry.table_name == name, AuditEntry.record_id.in_(records))
            for name, records in keyed_by_id.items()
        ),
    )


def verify_audit(edc: Edc) -> AuditReport:
    """Verify the whole hash chain in one read snapshot (operators, through ``oligotrial audit verify``)."""
    with snapshot_transaction(edc) as session:
        return verify_audit_chain(session)
