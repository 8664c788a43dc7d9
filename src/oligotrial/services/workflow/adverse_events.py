"""Adverse events: CTCAE v5.0 term and grade, seriousness criteria, relation to each study treatment and to
radiotherapy, action taken, outcome; serious events flagged for expedited reporting; follow-up windows.

Notes
-----
One ``AE`` form per event (event ``AE.<nnn>``, numbered per subject). Grades 1..5 (``AE-103``). The term and
grade are checked inside the use case's transaction against the CTCAE terminology loaded by
``oligotrial ctcae import`` (:func:`oligotrial.services.ctcae.check_ctcae_term_grade`): a term of the
workbook is accepted with the grades the workbook defines for it (``AE-105`` for a grade whose cell is "-",
e.g. grade 4 of Nausea); the protocol's expected toxicities are always accepted (with any grade 1..5 when the
loaded workbook lacks the term); any other term is refused (``AE-104``; without a workbook every term but the
expected toxicities). Derived on save (protocol ``adverse_events``): ``serious`` events are due to the sponsor
``sae_report_within_hours`` after the site became aware (``site_aware_at``, else the start date); the
reporting window ends ``reporting_days_after_last_treatment`` after the last treatment and, for grade >=
``severe_grade``, follow-up continues ``severe_follow_up_days_after_last_treatment`` (both from the
end-of-treatment form, when there is one); ``expected`` says whether the term is among the protocol's expected
toxicities; ``soc`` is the system organ class (of the expected toxicity, else of the CTCAE term).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from oligotrial.errors import InputError, Problem
from oligotrial.protocol import Protocol
from oligotrial.rules.ctcae import term_key
from oligotrial.services._context import Actor, Edc, read_transaction
from oligotrial.services.ctcae import CtcaeTermView, check_ctcae_term_grade, get_ctcae_term
from oligotrial.services.workflow._store import (
    POST_ENROLLMENT,
    WorkflowView,
    default_protocol,
    find_form,
    load_model,
    next_sequence,
    record_form,
)
from oligotrial.services.workflow.forms import AdverseEventForm, TermLookup
from oligotrial.store.tables import Form, Subject

__all__ = ["ae_reporting", "check_ae_term", "ctcae_term_lookup", "record_adverse_event"]


def ctcae_term_lookup(edc: Edc) -> TermLookup | None:
    """A lookup of the loaded CTCAE terms (term -> system organ class, ``None`` when unknown), each call in
    its own read transaction: for callers outside a use case (a live form preview). The AE use case checks the
    term and grade itself, inside its transaction (:func:`check_ae_term`)."""

    def find(term: str) -> str | None:
        with read_transaction(edc) as session:
            view = get_ctcae_term(session, term)
            return None if view is None else view.soc

    return find


def check_ae_term(
    session: Session, form: AdverseEventForm, protocol: Protocol | None = None
) -> CtcaeTermView | None:
    """Check an adverse event's term and grade against the loaded CTCAE terms, in the caller's transaction;
    returns the term (``None`` for an expected toxicity the loaded workbook lacks).

    Raises
    ------
    InputError
        ``AE-104`` (field ``values.term``) the term is neither a loaded CTCAE term nor one of the protocol's
        expected toxicities (``CTCAE-001``); ``AE-105`` (``values.grade``) the term does not define that grade
        (``CTCAE-003``); ``AE-103`` a grade outside 1..5 (``CTCAE-002``).
    """
    protocol = protocol or default_protocol()
    is_expected = term_key(form.term) in {
        term_key(t.term) for t in protocol.adverse_events.expected_toxicities
    }
    try:
        return check_ctcae_term_grade(session, form.term, form.grade, protocol)
    except InputError as error:
        problems = []
        for p in error.problems:
            if p.code == "CTCAE-001":
                if is_expected:
                    continue  # the protocol's expected toxicities are always accepted
                problems.append(
                    Problem("AE-104", "values.term", f"unknown adverse event term: {p.message}", form.term)
                )
            elif p.code == "CTCAE-003":
                problems.append(Problem("AE-105", "values.grade", p.message, form.grade))
            else:
                problems.append(Problem("AE-103", "values.grade", p.message, form.grade))
        if problems:
            raise InputError(problems) from None
        return None


def ae_reporting(
    form: AdverseEventForm,
    protocol: Protocol,
    last_treatment: date | None,
    term: CtcaeTermView | None = None,
) -> dict[str, Any]:
    """What the protocol requires of this event: expedited report deadline, reporting and follow-up windows
    (``term``: the CTCAE term found by :func:`check_ae_term`, for its system organ class)."""
    settings = protocol.adverse_events
    expected = {term_key(t.term): t for t in settings.expected_toxicities}
    toxicity = expected.get(term_key(form.term))
    aware = form.site_aware_at or form.start_date
    derived: dict[str, Any] = {
        "serious": form.serious,
        "expected": toxicity is not None,
        "soc": toxicity.soc if toxicity is not None else term.soc if term is not None else None,
        "severe": form.grade >= settings.severe_grade,
        "expedited_report_due": (
            (
                datetime.combine(aware, time(0), UTC) + timedelta(hours=settings.sae_report_within_hours)
            ).isoformat()
            if form.serious
            else None
        ),
        "protocol_version": protocol.protocol.version,
    }
    if last_treatment is not None:
        days = (
            settings.severe_follow_up_days_after_last_treatment
            if form.grade >= settings.severe_grade
            else settings.reporting_days_after_last_treatment
        )
        derived["follow_up_until"] = (last_treatment + timedelta(days=days)).isoformat()
        derived["within_reporting_window"] = form.start_date <= last_treatment + timedelta(
            days=settings.reporting_days_after_last_treatment
        )
    return derived


def record_adverse_event(
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
    """Enter (``event_code`` None: a new ``AE.<nnn>``) or change an adverse event.

    Raises
    ------
    InputError
        ``AE-103`` grade outside 1..5, ``AE-104`` unknown term, ``AE-105`` a grade the CTCAE term does not
        define (:func:`check_ae_term`, in the transaction), ``AE-102`` a seriousness criterion or a treatment
        outside the protocol, ``AE-101`` other items. Nothing is stored.
    """
    protocol = protocol or default_protocol()
    found: dict[str, CtcaeTermView | None] = {}

    def new_event(session: Session, subject: Subject, form: AdverseEventForm) -> tuple[str, date]:
        return f"AE.{next_sequence(session, subject.id, 'AE'):03d}", form.start_date

    def before(session: Session, _a: Actor, _s: Subject, _code: str, form: AdverseEventForm) -> None:
        found["term"] = check_ae_term(session, form, protocol)

    def after(
        session: Session, _a: Actor, subject: Subject, _row: Form, form: AdverseEventForm
    ) -> dict[str, Any]:
        eot = find_form(session, subject, "EOT", "EOT")
        last = load_model("EOT", eot).last_dose_date if eot is not None else None
        return ae_reporting(form, protocol, last, found.get("term"))

    return record_form(
        edc,
        actor,
        subject_code,
        "AE",
        values,
        event_code=event_code,
        new_event=new_event,
        allowed_status=POST_ENROLLMENT,
        base_version=base_version,
        reason=reason,
        protocol=protocol,
        is_term_deferred=True,
        before=before,
        after=after,
    )
