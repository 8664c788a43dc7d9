"""Aggregate reports: counts only, never subject-level data (what DSMB members may see)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from oligotrial.services._context import Actor, Edc, Permission, read_transaction
from oligotrial.services.data import SUBJECT_STATUSES, readable_sites
from oligotrial.services.views import EnrollmentReport
from oligotrial.store.tables import Site, Subject

__all__ = ["enrollment_report"]


def enrollment_report(edc: Edc, actor: Actor) -> list[EnrollmentReport]:
    """Subjects per site and status, over the sites of the actor's ``read_aggregate`` roles."""
    sites = readable_sites(actor, Permission.READ_AGGREGATE)
    with read_transaction(edc) as session:
        site_stmt: Any = select(Site.id, Site.code).order_by(Site.code)
        count_stmt: Any = select(Subject.site_id, Subject.status, func.count()).group_by(
            Subject.site_id, Subject.status
        )
        if sites is not None:
            site_stmt = site_stmt.where(Site.id.in_(sites))
            count_stmt = count_stmt.where(Subject.site_id.in_(sites))
        by_site = {
            sid: (code, dict.fromkeys(SUBJECT_STATUSES, 0)) for sid, code in session.execute(site_stmt).all()
        }
        for site_id, status, n in session.execute(count_stmt).all():
            by_site[site_id][1][status] = int(n)
        return [
            EnrollmentReport(site=code, by_status=counts, total=sum(counts.values()))
            for code, counts in by_site.values()
        ]
