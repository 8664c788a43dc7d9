"""The calendar of each subject from the schedule rules, overdue and out-of-window items per site, and
recorded protocol deviations.

Notes
-----
A subject's calendar starts at the first induction dose and follows the subject's course
(:func:`oligotrial.rules.schedule.derive_calendar`): the randomization date and arm, the end of radiotherapy,
the maintenance doses given (each later one is due a dose interval after the one before as given, as the
dosing edit check counts), the recorded end of treatment (``EOT``: its date, last dose date and reason; the
reason ``progression`` documents progression), whether a grade >= ``severe_grade`` adverse event was
recorded, and death or the end of study (the earlier of ``DEATH`` and ``DISPOSITION``). Actual dates come
from the forms that fulfil each item: ``C<k>D1``/``M<nn>`` doses (in the experimental arm the first
maintenance dose is ``MAINTSTART``, the restart after radiotherapy), ``BASELINE`` the earliest tumour
assessment, later assessments and ``FOLLOWUP`` contacts matched by
:func:`oligotrial.rules.schedule.match_actual_dates` (to ``ASMT<nn>``, ``SURV<nn>`` and the adverse-event
follow-up ``AEFU``/``AEFU-SEVERE``, also closed by the death or end-of-study record), ``RAND`` the randomization, ``RTSTART`` the first radiotherapy course,
``EOT`` the end of treatment. :func:`oligotrial.rules.schedule.derive_visit_status` then says on time / early
/ late / missed / due / upcoming. Deviations are ``DEVIATION`` forms (``DEV.<nnn>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import InputError
from oligotrial.protocol import Protocol
from oligotrial.rules.schedule import derive_calendar, derive_visit_status, match_actual_dates
from oligotrial.services._context import Actor, Edc, read_transaction
from oligotrial.services.data import load_subject, readable_sites
from oligotrial.services.workflow._store import (
    POST_ENROLLMENT,
    WorkflowView,
    default_protocol,
    load_model,
    next_sequence,
    record_form,
    subject_forms,
    workflow_view,
)
from oligotrial.services.workflow._trial import radiotherapy_courses, randomizations
from oligotrial.store.tables import Event, Form, Site, Subject

__all__ = [
    "CalendarItem",
    "SubjectCalendar",
    "get_subject_calendar",
    "list_deviations",
    "list_schedule_exceptions",
    "list_subject_calendars",
    "record_deviation",
]


class CalendarItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    phase: str
    label: str
    target: date | None
    earliest: date
    latest: date
    status: str
    actual: date | None
    days_outside: int


class SubjectCalendar(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    site: str
    as_of: date
    first_dose: date | None
    items: list[CalendarItem]
    problems: list[dict[str, Any]] = []
    """In :func:`list_subject_calendars`, the calendar rules the subject's recorded dates break (then no
    items); :func:`get_subject_calendar` refuses such a subject (``InputError``) instead."""


PROGRESSION_REASON = "progression"
"""The end-of-treatment reason (one of the protocol's ``maintenance.stop_reasons``) that documents
progression: the subject is then followed for survival only (PROTOCOL.md section 1)."""


_CALENDAR_FORMS = ("DOSE", "EOT", "DEATH", "DISPOSITION", "AE", "TUMOUR", "FOLLOWUP")
"""The forms a calendar is derived from."""


@dataclass(frozen=True)
class _CalendarInputs:
    """What the calendars of some subjects are derived from, read in three statements whatever their
    number: each subject's forms of :data:`_CALENDAR_FORMS` by code, randomization and radiotherapy
    courses."""

    forms: dict[int, dict[str, list[Form]]]
    randomized: dict[int, tuple[date, str]]
    courses: dict[int, list[dict[str, Any]]]

    @classmethod
    def read(cls, session: Session, subject_ids: Sequence[int]) -> _CalendarInputs:
        forms: dict[int, dict[str, list[Form]]] = {sid: {} for sid in subject_ids}
        rows = session.execute(
            select(Form)
            .join(Event, Event.id == Form.event_id)
            .where(Form.subject_id.in_(subject_ids), Form.form_code.in_(_CALENDAR_FORMS))
            .order_by(Event.event_code)
        ).scalars()
        for form in rows:
            forms[form.subject_id].setdefault(form.form_code, []).append(form)
        return cls(forms, randomizations(session, subject_ids), radiotherapy_courses(session, subject_ids))


def _calendar(
    inputs: _CalendarInputs, subject: Subject, site: str, as_of: date, protocol: Protocol
) -> SubjectCalendar:
    forms = inputs.forms.get(subject.id, {})

    def models(code: str) -> list[Any]:
        return [load_model(code, row) for row in forms.get(code, [])]

    doses = models("DOSE")
    induction = sorted((d for d in doses if d.phase == "induction"), key=lambda d: d.cycle)
    maintenance = sorted((d for d in doses if d.phase == "maintenance"), key=lambda d: d.cycle)
    first = next((d.date for d in induction if d.cycle == 1), None)
    if first is None:
        return SubjectCalendar(subject=subject.code, site=site, as_of=as_of, first_dose=None, items=[])
    randomized = inputs.randomized.get(subject.id)
    courses = inputs.courses.get(subject.id, [])
    eot = models("EOT")
    ends = [record.date for code in ("DEATH", "DISPOSITION") for record in models(code)]
    severe = any(ae.grade >= protocol.adverse_events.severe_grade for ae in models("AE"))
    rt_end = max((date.fromisoformat(str(c["end_date"])) for c in courses if c.get("end_date")), default=None)
    arm = randomized[1] if randomized else None
    with_radiotherapy = arm is not None and protocol.arm(arm).radiotherapy
    ended = eot[0] if eot else None
    events = derive_calendar(
        protocol,
        first,
        randomized=randomized[0] if randomized else None,
        arm=arm,
        rt_end=rt_end if with_radiotherapy else None,
        maintenance_start=next((d.date for d in maintenance if d.cycle == 1), None) if randomized else None,
        maintenance_given={d.cycle: d.date for d in maintenance if d.cycle > 1} if randomized else None,
        last_dose=ended.last_dose_date if ended else None,
        end_of_treatment=ended.date if ended else None,
        progression=ended.date if ended and ended.reason == PROGRESSION_REASON else None,
        off_study=min(ends, default=None),
        severe_adverse_event=severe,
    )
    actual: dict[str, date] = {f"C{d.cycle}D1": d.date for d in induction}
    for dose in maintenance:
        # experimental arm: the first maintenance dose is the restart after radiotherapy
        key = "MAINTSTART" if with_radiotherapy and dose.cycle == 1 else f"M{dose.cycle:02d}"
        actual[key] = dose.date
    assessments = sorted(assessment.date for assessment in models("TUMOUR"))
    if assessments and assessments[0] <= first:
        actual["BASELINE"] = assessments[0]
        assessments = assessments[1:]
    actual.update(match_actual_dates(events, "assessment", assessments))
    follow_ups = sorted(contact.date for contact in models("FOLLOWUP"))
    actual.update(match_actual_dates(events, "survival follow-up", follow_ups))
    # a death or end-of-study record also closes the adverse-event follow-up
    actual.update(match_actual_dates(events, "adverse event follow-up", sorted(follow_ups + ends)))
    if randomized:
        actual["RAND"] = randomized[0]
    starts = [date.fromisoformat(str(c["start_date"])) for c in courses if c.get("start_date")]
    if starts:
        actual["RTSTART"] = min(starts)
    if ended:
        actual["EOT"] = ended.date
    ids = {e.id for e in events}
    statuses = derive_visit_status(events, {k: v for k, v in actual.items() if k in ids}, as_of)
    items = [
        CalendarItem(
            id=s.event.id,
            kind=s.event.kind,
            phase=s.event.phase,
            label=s.event.label,
            target=s.event.target,
            earliest=s.event.earliest,
            latest=s.event.latest,
            status=s.status,
            actual=s.actual,
            days_outside=s.days_outside,
        )
        for s in statuses
    ]
    return SubjectCalendar(subject=subject.code, site=site, as_of=as_of, first_dose=first, items=items)


def get_subject_calendar(
    edc: Edc, actor: Actor, subject_code: str, as_of: date, *, protocol: Protocol | None = None
) -> SubjectCalendar:
    """The calendar of one subject as of a day (empty before the first induction dose)."""
    with read_transaction(edc) as session:
        subject, site = load_subject(session, actor, subject_code)
        inputs = _CalendarInputs.read(session, [subject.id])
        return _calendar(inputs, subject, site, as_of, protocol or default_protocol())


def list_subject_calendars(
    edc: Edc, actor: Actor, as_of: date, *, site_code: str | None = None, protocol: Protocol | None = None
) -> list[SubjectCalendar]:
    """The calendars of the subjects on study at the actor's sites (optionally one site) as of a day, by site
    and subject, read in a few statements whatever their number. A subject whose recorded dates break a
    calendar rule (``SCHED-*``) has no items and the ``problems`` instead."""
    protocol = protocol or default_protocol()
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        stmt = (
            select(Subject, Site.code)
            .join(Site, Site.id == Subject.site_id)
            .where(Subject.status == "enrolled")
        )
        if sites is not None:
            stmt = stmt.where(Subject.site_id.in_(sites))
        if site_code is not None:
            stmt = stmt.where(Site.code == site_code)
        subjects = session.execute(stmt.order_by(Site.code, Subject.code)).all()
        inputs = _CalendarInputs.read(session, [subject.id for subject, _ in subjects])
        calendars = []
        for subject, site in subjects:
            try:
                calendars.append(_calendar(inputs, subject, site, as_of, protocol))
            except InputError as error:
                problems = [problem.to_dict() for problem in error.problems]
                calendars.append(
                    SubjectCalendar(
                        subject=subject.code,
                        site=site,
                        as_of=as_of,
                        first_dose=None,
                        items=[],
                        problems=problems,
                    )
                )
        return calendars


def list_schedule_exceptions(
    edc: Edc, actor: Actor, as_of: date, *, site_code: str | None = None, protocol: Protocol | None = None
) -> list[dict[str, Any]]:
    """Overdue (missed) and out-of-window (early, late) calendar items of the subjects on study at the actor's
    sites (optionally one site), by site and subject.

    A subject whose recorded dates break a calendar rule (``SCHED-*``, e.g. an allocation dated before the
    first dose) has, instead of its items, one entry ``id`` ``CALENDAR``, ``status`` ``unavailable`` and the
    ``problems``: the others are still listed."""
    found: list[dict[str, Any]] = []
    for calendar in list_subject_calendars(edc, actor, as_of, site_code=site_code, protocol=protocol):
        where = {"site": calendar.site, "subject": calendar.subject}
        if calendar.problems:
            found.append({**where, "id": "CALENDAR", "status": "unavailable", "problems": calendar.problems})
        found += [
            {**where, **item.model_dump(mode="json")}
            for item in calendar.items
            if item.status in ("missed", "late", "early")
        ]
    return found


def record_deviation(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    values: Any,
    *,
    event_code: str | None = None,
    base_version: int | None = None,
    reason: str | None = None,
    protocol: Protocol | None = None,
) -> WorkflowView:
    """Record (or change) a protocol deviation of a subject (``DEV.<nnn>``)."""
    return record_form(
        edc,
        actor,
        subject_code,
        "DEVIATION",
        values,
        event_code=event_code,
        new_event=lambda session, subject, form: (
            f"DEV.{next_sequence(session, subject.id, 'DEV'):03d}",
            form.date,
        ),
        allowed_status=("screening", "screen_failed", *POST_ENROLLMENT),
        base_version=base_version,
        reason=reason,
        protocol=protocol,
    )


def list_deviations(edc: Edc, actor: Actor, subject_code: str) -> list[WorkflowView]:
    """The protocol deviations recorded for a subject."""
    with read_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        return [workflow_view(session, row) for row, _ in subject_forms(session, subject.id, "DEVIATION")]
