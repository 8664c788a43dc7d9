"""Screening and enrollment: the eligibility form evaluated live by the eligibility rules, enrollment only
when eligible and consented, screen failures with their reasons.

Notes
-----
Subject identifiers are assigned per site by :func:`oligotrial.services.data.create_subject`
(``<site>-<4-digit sequence>``). The eligibility form ``ELIG`` lives at event ``SCREENING``; each save
re-evaluates every criterion of the protocol (:func:`oligotrial.rules.eligibility.evaluate_eligibility`)
and returns met / not met / missing with the deciding value. ``enroll_subject`` re-evaluates the stored
form in the same transaction and refuses (409 ``ENROLL-001``) unless the verdict is *eligible* (which
includes consent on or before the first study procedure, criterion ``INC-16``); it records the ``ENROLL``
form at event ``ENROLLMENT`` and sets the subject ``enrolled``. ``record_screen_failure`` records
``SCRFAIL`` with the criteria not met (or a stated reason) and sets the subject ``screen_failed``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, Problem
from oligotrial.protocol import Protocol
from oligotrial.rules.eligibility import EligibilityResult, evaluate_eligibility, parse_candidate
from oligotrial.services._context import Actor, Edc, Permission, read_transaction, write_transaction
from oligotrial.services.data import load_subject, set_subject_status
from oligotrial.services.workflow._store import (
    WorkflowView,
    default_protocol,
    find_form,
    load_model,
    record_form,
    require_status,
    workflow_view,
    write_form,
)
from oligotrial.services.workflow.forms import EligibilityForm, ScreenFailureForm, check_form_values
from oligotrial.store.tables import Form, Subject

__all__ = [
    "enroll_subject",
    "evaluate_screening",
    "get_eligibility",
    "get_metastatic_organ_count",
    "record_screen_failure",
    "save_eligibility",
]

SCREENING = "SCREENING"
ENROLLMENT = "ENROLLMENT"


def evaluate_screening(form: EligibilityForm, protocol: Protocol) -> dict[str, Any]:
    """The eligibility verdict and every criterion with its status, value and reason (JSON-ready)."""
    result = evaluate_eligibility(parse_candidate(form.candidate(), protocol), protocol)
    return _result_dict(result, protocol)


def _result_dict(result: EligibilityResult, protocol: Protocol) -> dict[str, Any]:
    return {
        "verdict": result.verdict,
        "rule": "oligotrial.rules.eligibility.evaluate_eligibility",
        "protocol_version": protocol.protocol.version,
        "criteria": [
            {
                "id": c.id,
                "kind": c.kind,
                "text": c.text,
                "field": c.field,
                "status": c.status,
                "value": _jsonable(c.value),
                "reason": c.reason,
            }
            for c in result.criteria
        ],
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def save_eligibility(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    values: Any,
    *,
    base_version: int | None = None,
    reason: str | None = None,
    protocol: Protocol | None = None,
) -> WorkflowView:
    """Enter or change the eligibility form of a subject in screening; returns the live evaluation.

    Raises
    ------
    InputError
        ``ELIG-101`` an item of the wrong type or range, ``ELIG-102`` an organ outside the protocol's
        vocabulary, ``ELIG-001`` contradictory items (age and birth date).
    ConflictError
        ``WF-001`` the subject is not in screening.
    """
    protocol = protocol or default_protocol()

    def before(
        _session: Session, _actor: Actor, _subject: Subject, _code: str, form: EligibilityForm
    ) -> None:
        parse_candidate(form.candidate(), protocol)  # the rules' own consistency checks, before the write

    def after(
        _session: Session, _actor: Actor, _subject: Subject, _row: Form, form: EligibilityForm
    ) -> dict[str, Any]:
        return evaluate_screening(form, protocol)

    return record_form(
        edc,
        actor,
        subject_code,
        "ELIG",
        values,
        event_code=None,
        new_event=lambda session, subject, model: (SCREENING, model.screening_date),
        allowed_status=("screening",),
        base_version=base_version,
        reason=reason,
        protocol=protocol,
        before=before,
        after=after,
    )


def get_eligibility(
    edc: Edc, actor: Actor, subject_code: str, *, protocol: Protocol | None = None
) -> WorkflowView:
    """The stored eligibility form with its evaluation now (404 ``EDC-020`` when none was entered)."""
    protocol = protocol or default_protocol()
    with read_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        row = find_form(session, subject, SCREENING, "ELIG")
        if row is None:
            from oligotrial.errors import NotFoundError

            raise NotFoundError(
                Problem("EDC-020", "ELIG", "no eligibility form was entered for this subject")
            )
        return workflow_view(session, row, evaluate_screening(load_model("ELIG", row), protocol))


def get_metastatic_organ_count(
    session: Session, subject: Subject, protocol: Protocol | None = None
) -> tuple[int | None, int | None]:
    """The number of metastatic organs on the subject's eligibility form (all distant lymph nodes one organ,
    as the eligibility rules count them) and the form's version, in the caller's transaction; ``None`` when
    no form or no metastatic lesions were entered."""
    protocol = protocol or default_protocol()
    row = find_form(session, subject, SCREENING, "ELIG")
    if row is None:
        return None, None
    form: EligibilityForm = load_model("ELIG", row)
    return parse_candidate(form.candidate(), protocol).metastatic_organ_count, row.version


def enroll_subject(
    edc: Edc, actor: Actor, subject_code: str, enrollment_date: date, *, protocol: Protocol | None = None
) -> WorkflowView:
    """Enroll a screened subject whose eligibility form is evaluated *eligible* (consent included).

    Raises
    ------
    ConflictError
        ``WF-001`` the subject is not in screening; ``ENROLL-001`` the eligibility form is missing or its
        verdict is not *eligible* (one problem per criterion not met or missing); ``ENROLL-002`` the
        enrollment date is before the informed consent.
    """
    protocol = protocol or default_protocol()
    with write_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        actor.require(Permission.ENTER_DATA, subject.site_id)
        require_status(subject, ("screening",), "enroll")
        row = find_form(session, subject, SCREENING, "ELIG")
        if row is None:
            raise ConflictError(Problem("ENROLL-001", "ELIG", "enter the eligibility form before enrolling"))
        form: EligibilityForm = load_model("ELIG", row)
        evaluation = evaluate_screening(form, protocol)
        if evaluation["verdict"] != "eligible":
            raise ConflictError(
                [
                    Problem(
                        "ENROLL-001",
                        f"ELIG.{c['field']}",
                        f"criterion {c['id']} ({c['text']}) is {c['status']}: {c['reason']}",
                        value=c["value"],
                    )
                    for c in evaluation["criteria"]
                    if c["status"] != "met"
                ]
            )
        assert form.consent_date is not None  # INC-16 is met
        if enrollment_date < form.consent_date:
            raise ConflictError(
                Problem(
                    "ENROLL-002",
                    "enrollment_date",
                    f"enrollment is before the informed consent of {form.consent_date}",
                    value=enrollment_date.isoformat(),
                )
            )
        values = {
            "enrollment_date": enrollment_date.isoformat(),
            "consent_date": form.consent_date.isoformat(),
            "eligibility_form_version": row.version,
            "verdict": "eligible",
            "protocol_version": protocol.protocol.version,
        }
        enrolled = write_form(
            session, actor, subject, ENROLLMENT, "ENROLL", values, event_date=enrollment_date
        )
        set_subject_status(session, actor, subject, "enrolled", "enrolled: eligible and consented")
        return workflow_view(session, enrolled, evaluation)


def record_screen_failure(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    failure_date: date,
    reason: str | None = None,
    *,
    protocol: Protocol | None = None,
) -> WorkflowView:
    """Record a screen failure: the criteria not met on the stored eligibility form, and/or a stated reason.

    Raises
    ------
    InputError
        ``SCRFAIL-101`` no criterion is failed and no reason is given.
    ConflictError
        ``WF-001`` the subject is not in screening.
    """
    protocol = protocol or default_protocol()
    with write_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        actor.require(Permission.ENTER_DATA, subject.site_id)
        require_status(subject, ("screening",), "record a screen failure")
        row = find_form(session, subject, SCREENING, "ELIG")
        evaluation = evaluate_screening(load_model("ELIG", row), protocol) if row is not None else {}
        failed = tuple(c["id"] for c in evaluation.get("criteria", []) if c["status"] == "not met")
        if not failed and not (reason or "").strip():
            raise InputError.single(
                "SCRFAIL-101",
                "reason",
                "no eligibility criterion is failed: state why the subject is not enrolled",
            )
        form: ScreenFailureForm = check_form_values(
            "SCRFAIL",
            {"date": failure_date.isoformat(), "criteria_not_met": list(failed), "reason": reason or None},
            protocol,
        )
        stored = write_form(
            session,
            actor,
            subject,
            SCREENING,
            "SCRFAIL",
            form.model_dump(mode="json"),
            event_date=failure_date,
        )
        set_subject_status(
            session, actor, subject, "screen_failed", "screen failure: " + (", ".join(failed) or str(reason))
        )
        return workflow_view(session, stored, evaluation)
