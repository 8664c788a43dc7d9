"""Radiotherapy course entry (experimental arm): one course per irradiated lesion, each save re-running the
protocol's plan check (compliant / advisory / deviation per lesion, the 8-week start window after the end of
chemo-immunotherapy and the maintenance restart window after the end of all radiotherapy).

Notes
-----
Only subjects randomized to the protocol's radiotherapy arm (``radiotherapy.arm``) may have courses
(``RT-020`` otherwise, ``RT-021`` before randomization). The end of chemo-immunotherapy is set with the
first course: as given, else the protocol's default, the last induction dose date of the dosing records
(:func:`oligotrial.services.workflow.dosing.get_induction_doses`); changing it or a course later needs a
reason. Every change is audited with the values and the resulting verdicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, NotFoundError, Problem
from oligotrial.protocol import Protocol
from oligotrial.rules.radiotherapy import LQ_CAVEAT, check_radiotherapy_plan, parse_radiotherapy_plan
from oligotrial.services._context import (
    Actor,
    Edc,
    Permission,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services._validate import require_reason
from oligotrial.services.data import load_subject, lock_subject_for_entry
from oligotrial.services.randomization import current_protocol
from oligotrial.services.workflow._trial import randomizations
from oligotrial.services.workflow.dosing import get_induction_doses
from oligotrial.store.tables import RadiotherapyCourseRow, RadiotherapyPlanRow, Subject

__all__ = [
    "RadiotherapyPlanView",
    "get_radiotherapy_plan",
    "record_maintenance_restart",
    "record_radiotherapy_course",
]


class RadiotherapyPlanView(BaseModel):
    """A subject's radiotherapy: the courses with their check, the windows and the overall verdict."""

    model_config = ConfigDict(frozen=True)

    subject: str
    site: str
    chemo_immunotherapy_end: date
    maintenance_restart: date | None
    verdict: str
    courses: list[dict[str, Any]]
    lesions: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    notes: list[str]
    version: int
    caveat: str = LQ_CAVEAT


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _check_arm(session: Session, subject: Subject, protocol: Protocol) -> date:
    """The subject's randomization date (the site's day), once randomized to the radiotherapy arm."""
    randomized = randomizations(session, [subject.id]).get(subject.id)
    if randomized is None:
        raise ConflictError(
            Problem("RT-021", "subject", "the subject is not randomized yet", value=subject.code)
        )
    day, arm = randomized
    if arm != protocol.radiotherapy.arm:
        raise ConflictError(
            Problem(
                "RT-020",
                "subject",
                f"radiotherapy is given in the {protocol.radiotherapy.arm} arm only; this subject is in "
                f"the {arm} arm (radiotherapy.arm)",
                value=subject.code,
            )
        )
    return day


def _evaluate(
    session: Session,
    subject: Subject,
    plan_row: RadiotherapyPlanRow,
    courses: list[RadiotherapyCourseRow],
    protocol: Protocol,
) -> None:
    plan = parse_radiotherapy_plan(
        {
            "chemo_immunotherapy_end": plan_row.chemo_immunotherapy_end.isoformat(),
            "maintenance_restart": None
            if plan_row.maintenance_restart is None
            else plan_row.maintenance_restart.isoformat(),
            "courses": [c.course for c in courses],
        },
        protocol,
    )
    check = check_radiotherapy_plan(plan, protocol)
    by_lesion = {lesion.lesion_id: lesion for lesion in check.lesions}
    for row in courses:
        lesion = by_lesion[row.lesion_id]
        row.verdict = lesion.verdict
        row.findings = _jsonable(dataclasses.asdict(lesion))
    plan_row.verdict = check.verdict
    plan_row.check_result = _jsonable(
        {
            "verdict": check.verdict,
            "windows": [dataclasses.asdict(f) for f in check.windows],
            "notes": list(check.notes),
        }
    )


def _view(session: Session, subject: Subject, site_code: str) -> RadiotherapyPlanView:
    plan = session.execute(
        select(RadiotherapyPlanRow).where(RadiotherapyPlanRow.subject_id == subject.id)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFoundError(
            Problem("RT-023", "subject", "no radiotherapy is recorded for the subject", value=subject.code)
        )
    courses = (
        session.execute(
            select(RadiotherapyCourseRow)
            .where(RadiotherapyCourseRow.subject_id == subject.id)
            .order_by(RadiotherapyCourseRow.id)
        )
        .scalars()
        .all()
    )
    return RadiotherapyPlanView(
        subject=subject.code,
        site=site_code,
        chemo_immunotherapy_end=plan.chemo_immunotherapy_end,
        maintenance_restart=plan.maintenance_restart,
        verdict=plan.verdict,
        courses=[{**c.course, "version": c.version, "verdict": c.verdict} for c in courses],
        lesions=[c.findings for c in courses],
        windows=plan.check_result.get("windows", []),
        notes=plan.check_result.get("notes", []),
        version=plan.version,
    )


def record_radiotherapy_course(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    course: Mapping[str, Any],
    *,
    chemo_immunotherapy_end: date | None = None,
    reason: str | None = None,
    protocol: Protocol | None = None,
) -> RadiotherapyPlanView:
    """Enter (or correct, with a reason) the radiotherapy of one lesion and re-check the whole plan.

    Parameters
    ----------
    course
        ``lesion_id``, ``lesion_type`` (primary|metastasis), ``organ``, ``technique`` (SBRT|conventional),
        ``dose_per_fraction_gy``, ``fractions``, ``start_date``, ``end_date``.
    chemo_immunotherapy_end
        End of chemo-immunotherapy, set with the first course; when not given then, the last induction dose
        date of the subject's dosing records (the protocol's default rule).

    Raises
    ------
    ConflictError
        ``RT-020`` the subject is in the control arm; ``RT-021`` not randomized.
    InputError
        ``RT-010``/``RT-011``/``RT-012`` (see :func:`oligotrial.rules.radiotherapy.parse_radiotherapy_plan`);
        ``RT-025`` the course starts before the randomization (the site's day);
        ``RT-022`` the end of chemo-immunotherapy is neither given nor derivable (no induction dose
        recorded); ``EDC-010`` a change without a reason.
    """
    protocol = protocol or current_protocol()
    if not isinstance(course, Mapping):
        raise InputError.single("RT-010", "course", "expected an object")
    with write_transaction(edc) as session:
        subject, site_code = lock_subject_for_entry(session, actor, subject_code)
        randomized = _check_arm(session, subject, protocol)
        # validate the course alone first, so that a malformed entry is named by its own fields
        end = chemo_immunotherapy_end or date(2000, 1, 1)
        single = parse_radiotherapy_plan(
            {"chemo_immunotherapy_end": end.isoformat(), "courses": [dict(course)]}, protocol
        )
        if single.courses[0].start_date < randomized:
            raise InputError.single(
                "RT-025",
                "plan.courses[0].start_date",
                f"radiotherapy follows randomization: a course starts on or after the randomization on "
                f"{randomized.isoformat()}",
                value=single.courses[0].start_date.isoformat(),
            )
        values = _jsonable(single.courses[0].model_dump())
        now = datetime.now(UTC)
        plan = session.execute(
            select(RadiotherapyPlanRow).where(RadiotherapyPlanRow.subject_id == subject.id)
        ).scalar_one_or_none()
        end_source: str | None = None
        if plan is None:
            end_source = "given"
            if chemo_immunotherapy_end is None:
                doses = get_induction_doses(session, subject)
                if not doses:
                    raise InputError.single(
                        "RT-022",
                        "chemo_immunotherapy_end",
                        "no induction dose is recorded: record the induction doses, or give the end of "
                        "chemo-immunotherapy (the last induction dose date) with the first course",
                    )
                last = max(doses, key=lambda d: d.date)
                chemo_immunotherapy_end = last.date
                end_source = f"last induction dose (C{last.cycle}D1)"
            plan = RadiotherapyPlanRow(
                subject_id=subject.id,
                site_id=subject.site_id,
                chemo_immunotherapy_end=chemo_immunotherapy_end,
                maintenance_restart=None,
                verdict="compliant",
                check_result={},
                version=1,
                updated_at=now,
            )
            session.add(plan)
        elif chemo_immunotherapy_end is not None and chemo_immunotherapy_end != plan.chemo_immunotherapy_end:
            change = require_reason(reason)
            write_audit(
                session,
                actor,
                "update",
                "radiotherapy_plans",
                subject.code,
                site_id=subject.site_id,
                old={"chemo_immunotherapy_end": plan.chemo_immunotherapy_end.isoformat()},
                new={"chemo_immunotherapy_end": chemo_immunotherapy_end.isoformat()},
                reason=change,
            )
            plan.chemo_immunotherapy_end = chemo_immunotherapy_end
            plan.version += 1
        courses = list(
            session.execute(
                select(RadiotherapyCourseRow)
                .where(RadiotherapyCourseRow.subject_id == subject.id)
                .order_by(RadiotherapyCourseRow.id)
            ).scalars()
        )
        row = next((c for c in courses if c.lesion_id == values["lesion_id"]), None)
        old: dict[str, Any] | None = None
        text: str | None = None
        if row is None:
            row = RadiotherapyCourseRow(
                subject_id=subject.id,
                site_id=subject.site_id,
                lesion_id=values["lesion_id"],
                course=values,
                verdict="compliant",
                findings={},
                version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            courses.append(row)
        elif row.course != values:
            text = require_reason(reason)
            old = dict(row.course)
            row.course = values
            row.version += 1
            row.updated_at = now
        else:
            return _view(session, subject, site_code)
        _evaluate(session, subject, plan, courses, protocol)
        plan.updated_at = now
        session.flush()
        write_audit(
            session,
            actor,
            "create" if old is None else "update",
            "radiotherapy_courses",
            row.id,
            site_id=subject.site_id,
            old=old,
            new={
                "subject": subject.code,
                "course": values,
                "verdict": row.verdict,
                "plan": plan.verdict,
                **(
                    {}
                    if end_source is None
                    else {
                        "chemo_immunotherapy_end": plan.chemo_immunotherapy_end.isoformat(),
                        "chemo_immunotherapy_end_source": end_source,
                    }
                ),
            },
            reason=text,
        )
        return _view(session, subject, site_code)


def record_maintenance_restart(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    restart: date,
    *,
    reason: str | None = None,
    protocol: Protocol | None = None,
) -> RadiotherapyPlanView:
    """Record the first camrelizumab dose after radiotherapy and check the restart window (``RT-W03``)."""
    protocol = protocol or current_protocol()
    with write_transaction(edc) as session:
        subject, site_code = load_subject(session, actor, subject_code)
        actor.require(Permission.ENTER_DATA, subject.site_id)
        _check_arm(session, subject, protocol)
        plan = session.execute(
            select(RadiotherapyPlanRow).where(RadiotherapyPlanRow.subject_id == subject.id)
        ).scalar_one_or_none()
        if plan is None:
            raise ConflictError(
                Problem("RT-024", "subject", "enter the radiotherapy courses before the maintenance restart")
            )
        if plan.maintenance_restart == restart:
            return _view(session, subject, site_code)
        text = None if plan.maintenance_restart is None else require_reason(reason)
        old = None if plan.maintenance_restart is None else plan.maintenance_restart.isoformat()
        plan.maintenance_restart = restart
        plan.version += 1
        plan.updated_at = datetime.now(UTC)
        courses = list(
            session.execute(
                select(RadiotherapyCourseRow).where(RadiotherapyCourseRow.subject_id == subject.id)
            ).scalars()
        )
        _evaluate(session, subject, plan, courses, protocol)
        write_audit(
            session,
            actor,
            "update",
            "radiotherapy_plans",
            subject.code,
            site_id=subject.site_id,
            old={"maintenance_restart": old},
            new={"maintenance_restart": restart.isoformat(), "verdict": plan.verdict},
            reason=text,
        )
        return _view(session, subject, site_code)


def get_radiotherapy_plan(edc: Edc, actor: Actor, subject_code: str) -> RadiotherapyPlanView:
    """A subject's radiotherapy with its check (``RT-023`` 404 when none is recorded)."""
    with read_transaction(edc) as session:
        subject, site_code = load_subject(session, actor, subject_code)
        return _view(session, subject, site_code)
