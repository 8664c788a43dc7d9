"""Reading what the randomization and radiotherapy services store (issue 7 items 4 and 5, built beside this
package): the randomization date and arm of each subject, and the radiotherapy courses.

Seam: those services own the tables ``randomizations`` and ``radiotherapy_courses``; until their migration
has created them in a database, subjects simply have no randomization and no radiotherapy here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from oligotrial.services.admin import site_date
from oligotrial.store import tables


def _has(session: Session, name: str, table: str) -> bool:
    return hasattr(tables, name) and inspect(session.connection()).has_table(table)


def randomizations(session: Session, subject_ids: Iterable[int]) -> dict[int, tuple[date, str]]:
    """Subject id -> (randomization date, arm id) for the randomized ones among ``subject_ids``.

    The allocation's moment is stored in UTC; its date is the day it was at the subject's site (the site's
    time zone), as every other date of the subject is the site's: a site in Asia/Shanghai that randomizes at
    07:30 on 27 July randomized on 27 July, though it was 26 July in UTC.
    """
    ids = list(subject_ids)
    if not ids or not _has(session, "RandomizationRecord", "randomizations"):
        return {}
    record: Any = tables.RandomizationRecord  # type: ignore[attr-defined,unused-ignore]
    rows = session.execute(
        select(record.subject_id, record.randomized_at, record.arm, tables.Site.time_zone)
        .join(tables.Site, tables.Site.id == record.site_id)
        .where(record.subject_id.in_(ids))
    ).all()
    return {sid: (site_date(at, zone), arm) for sid, at, arm, zone in rows}


def radiotherapy_courses(session: Session, subject_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Subject id -> the radiotherapy courses as entered (lesion, technique, dose, fractions, dates)."""
    ids = list(subject_ids)
    if not ids or not _has(session, "RadiotherapyCourseRow", "radiotherapy_courses"):
        return {}
    course: Any = tables.RadiotherapyCourseRow  # type: ignore[attr-defined,unused-ignore]
    found: dict[int, list[dict[str, Any]]] = {}
    for sid, values in session.execute(
        select(course.subject_id, course.course).where(course.subject_id.in_(ids)).order_by(course.id)
    ).all():
        found.setdefault(sid, []).append(dict(values))
    return found
