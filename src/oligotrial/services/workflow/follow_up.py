"""After induction: end of treatment, survival follow-up, death, new anticancer therapy and disposition.

Notes
-----
``EOT`` (event ``EOT``, once): the date and reason (one of the protocol's ``maintenance.stop_reasons``:
progression, intolerable toxicity, withdrawal, 24 months) with the last dose date; no dose may be recorded
after it. ``FOLLOWUP`` (``FU.<nnn>``): survival contacts. ``DEATH`` (``DEATH``, once). ``NEWTHERAPY``
(``NT.<nnn>``): subsequent anticancer therapy. ``DISPOSITION`` (``DISPOSITION``, once): the end of study
participation; the subject becomes ``completed`` (reason ``COMPLETED``), ``died`` (reason ``DEATH``) or
``withdrawn`` (any other reason, loss to follow-up included). A death or follow-up may still be recorded after the
disposition (vital status found later).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, Problem
from oligotrial.protocol import Protocol
from oligotrial.services._context import Actor, Edc
from oligotrial.services.data import set_subject_status
from oligotrial.services.workflow._store import (
    POST_ENROLLMENT,
    WorkflowView,
    find_form,
    next_sequence,
    record_form,
)
from oligotrial.store.tables import Form, Subject

__all__ = [
    "record_death",
    "record_disposition",
    "record_end_of_treatment",
    "record_follow_up",
    "record_new_therapy",
]


def _once(code: str, form_code: str, attribute: str, is_change: bool) -> Any:
    """The event of a form entered once; a second entry is refused (``<FORM>-105``), a change is not."""

    def new_event(session: Session, subject: Subject, form: Any) -> tuple[str, date]:
        if not is_change and find_form(session, subject, code, form_code) is not None:
            raise ConflictError(
                Problem(
                    f"{form_code}-105", "values", f"{form_code} is already recorded; change it instead", code
                )
            )
        return code, getattr(form, attribute)

    return new_event


def _numbered(prefix: str, attribute: str) -> Any:
    def new_event(session: Session, subject: Subject, form: Any) -> tuple[str, date]:
        return f"{prefix}.{next_sequence(session, subject.id, prefix):03d}", getattr(form, attribute)

    return new_event


def _save(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    form_code: str,
    values: Any,
    new_event: Any,
    event_code: str | None,
    base_version: int | None,
    reason: str | None,
    protocol: Protocol | None,
    allowed: tuple[str, ...] = POST_ENROLLMENT,
    after: Any = None,
) -> WorkflowView:
    return record_form(
        edc,
        actor,
        subject_code,
        form_code,
        values,
        event_code=event_code,
        new_event=new_event,
        allowed_status=allowed,
        base_version=base_version,
        reason=reason,
        protocol=protocol,
        after=after,
    )


def record_end_of_treatment(
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
    """End of study treatment (``EOT-102`` a reason outside the protocol's stop reasons; ``EOT-105`` twice)."""
    return _save(
        edc,
        actor,
        subject_code,
        "EOT",
        values,
        _once("EOT", "EOT", "date", event_code is not None),
        event_code,
        base_version,
        reason,
        protocol,
    )


def record_follow_up(
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
    """A survival follow-up contact (``FU.<nnn>``)."""
    return _save(
        edc,
        actor,
        subject_code,
        "FOLLOWUP",
        values,
        _numbered("FU", "date"),
        event_code,
        base_version,
        reason,
        protocol,
    )


def record_death(
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
    """Death: date and cause (``DEATH-105`` when already recorded)."""
    return _save(
        edc,
        actor,
        subject_code,
        "DEATH",
        values,
        _once("DEATH", "DEATH", "date", event_code is not None),
        event_code,
        base_version,
        reason,
        protocol,
    )


def record_new_therapy(
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
    """A subsequent anticancer therapy (``NT.<nnn>``)."""
    return _save(
        edc,
        actor,
        subject_code,
        "NEWTHERAPY",
        values,
        _numbered("NT", "start_date"),
        event_code,
        base_version,
        reason,
        protocol,
    )


_STATUS_AFTER = {"COMPLETED": "completed", "DEATH": "died"}
"""Subject status after the disposition, by its reason (``withdrawn`` for any other reason)."""


def record_disposition(
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
    """End of study participation; sets the subject ``completed`` (reason ``COMPLETED``), ``died`` (``DEATH``)
    or ``withdrawn`` (any other reason); ``DISPOSITION-105`` when entered twice."""

    def after(session: Session, a: Actor, subject: Subject, _row: Form, form: Any) -> dict[str, Any]:
        status = _STATUS_AFTER.get(form.reason, "withdrawn")
        set_subject_status(session, a, subject, status, f"disposition: {form.reason}")
        return {"subject_status": status}

    return _save(
        edc,
        actor,
        subject_code,
        "DISPOSITION",
        values,
        _once("DISPOSITION", "DISPOSITION", "date", event_code is not None),
        event_code,
        base_version,
        reason,
        protocol,
        after=after,
    )
