"""Study treatment administrations: induction cycles (regimen, each agent's dose, delays and reductions with
reasons) and camrelizumab maintenance every 3 weeks, checked against the schedule windows.

Notes
-----
One ``DOSE`` form per administration day: induction cycle *k* at event ``C<k>D1``, maintenance dose *n* at
``M<nn>`` (the ids of :func:`oligotrial.rules.schedule.derive_calendar`). Window rules (protocol
``induction`` and ``maintenance``): cycle *k* > 1 is due on cycle 1 day 1 + (k-1) x cycle length, within
+/- ``day1_window_days``; maintenance dose *n* > 1 is due ``interval_days`` after dose *n-1*, within +/-
``window_days``. A dose outside its window that is not recorded as delayed (with a reason) raises the
edit-check query ``DOSE-201``; the first maintenance dose is placed by the subject calendar (it depends on
the arm and radiotherapy). Reductions: an agent given below its ``planned_dose`` needs a reason (``DOSE-101``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, Problem
from oligotrial.protocol import Protocol
from oligotrial.services._context import Actor, Edc
from oligotrial.services.data import sync_edit_check_queries
from oligotrial.services.workflow._store import (
    WorkflowView,
    default_protocol,
    find_form,
    load_model,
    record_form,
    subject_forms,
)
from oligotrial.services.workflow.forms import DoseForm
from oligotrial.store.tables import Form, Subject

__all__ = ["dose_event_code", "dose_window", "get_induction_doses", "record_dose"]


def dose_event_code(form: DoseForm) -> str:
    """``C<k>D1`` for induction cycle *k*, ``M<nn>`` for maintenance dose *n*."""
    return f"C{form.cycle}D1" if form.phase == "induction" else f"M{form.cycle:02d}"


def dose_window(protocol: Protocol, form: DoseForm, reference: date | None) -> dict[str, Any] | None:
    """Target date and window of a dose from its reference date (cycle 1 day 1, or the previous maintenance
    dose); ``None`` when the dose has no window of its own (cycle 1, maintenance dose 1, no reference)."""
    if reference is None or form.cycle == 1:
        return None
    if form.phase == "induction":
        target = reference + timedelta(days=(form.cycle - 1) * protocol.induction.cycle_length_days)
        days = protocol.induction.day1_window_days
    else:
        target = reference + timedelta(days=protocol.maintenance.interval_days)
        days = protocol.maintenance.window_days
    earliest, latest = target - timedelta(days=days), target + timedelta(days=days)
    status = "early" if form.date < earliest else "late" if form.date > latest else "on time"
    return {
        "target": target.isoformat(),
        "earliest": earliest.isoformat(),
        "latest": latest.isoformat(),
        "status": status,
        "days_outside": max((earliest - form.date).days, (form.date - latest).days, 0),
    }


def get_induction_doses(session: Session, subject: Subject) -> list[DoseForm]:
    """The subject's induction administrations in date order (then cycle), in the caller's transaction."""
    doses = [load_model("DOSE", row) for row, _ in subject_forms(session, subject.id, "DOSE")]
    return sorted((d for d in doses if d.phase == "induction"), key=lambda d: (d.date, d.cycle))


def record_dose(
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
    """Enter (``event_code`` None) or change an administration; returns its window status.

    Raises
    ------
    InputError
        ``DOSE-101`` items (a reduction or delay without a reason), ``DOSE-102`` a regimen, cycle or agent
        outside the protocol.
    ConflictError
        ``WF-001`` the subject is not enrolled; ``DOSE-103`` a later cycle before cycle 1, or a dose after the
        end of treatment; ``DOSE-104`` the dose is already recorded (change it with its event code).
    """
    protocol = protocol or default_protocol()

    def reference(session: Session, subject: Subject, form: DoseForm) -> date | None:
        code = "C1D1" if form.phase == "induction" else f"M{form.cycle - 1:02d}"
        row = find_form(session, subject, code, "DOSE")
        return None if row is None else load_model("DOSE", row).date

    def before(session: Session, _actor: Actor, subject: Subject, code: str, form: DoseForm) -> None:
        if code != dose_event_code(form):
            raise ConflictError(
                Problem(
                    "DOSE-104",
                    "values.cycle",
                    f"{code} cannot become {dose_event_code(form)}; enter a new dose",
                )
            )
        if form.phase == "induction" and form.cycle > 1 and reference(session, subject, form) is None:
            raise ConflictError(
                Problem("DOSE-103", "values.cycle", "record induction cycle 1 first", form.cycle)
            )
        eot = find_form(session, subject, "EOT", "EOT")
        if eot is not None and form.date > load_model("EOT", eot).date:
            raise ConflictError(Problem("DOSE-103", "values.date", "the dose is after the end of treatment"))

    def after(session: Session, _actor: Actor, subject: Subject, row: Form, form: DoseForm) -> dict[str, Any]:
        window = dose_window(protocol, form, reference(session, subject, form))
        problems = []
        if window is not None and window["status"] != "on time" and not form.delayed:
            problems.append(
                Problem(
                    "DOSE-201",
                    "date",
                    f"the dose is {window['status']} by {window['days_outside']} days (window {window['earliest']}"
                    f" to {window['latest']}); record the delay and its reason or correct the date",
                )
            )
        sync_edit_check_queries(session, _actor, row, problems, checks={"DOSE-201"})
        return {"event": dose_event_code(form), "window": window}

    def new_event(session: Session, subject: Subject, form: DoseForm) -> tuple[str, date]:
        code = dose_event_code(form)
        if find_form(session, subject, code, "DOSE") is not None and event_code is None:
            raise ConflictError(
                Problem("DOSE-104", "values.cycle", f"{code} is already recorded; change it instead", code)
            )
        return (event_code or code), form.date

    return record_form(
        edc,
        actor,
        subject_code,
        "DOSE",
        values,
        event_code=event_code,
        new_event=new_event,
        allowed_status=("enrolled",),
        base_version=base_version,
        reason=reason,
        protocol=protocol,
        before=before,
        after=after,
    )
