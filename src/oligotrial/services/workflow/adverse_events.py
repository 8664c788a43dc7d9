"""Adverse events: CTCAE v5.0 term and grade, seriousness criteria, relation to each study treatment and to
radiotherapy, action taken, outcome; serious events flagged for expedited reporting; follow-up windows.

Notes
-----
One ``AE`` form per event (event ``AE.<nnn>``, numbered per subject). Terms: the protocol's expected
toxicities are always accepted; the terms of an imported CTCAE workbook are accepted when the terminology
service is installed (:func:`ctcae_term_lookup`, the seam to ``oligotrial.services.ctcae``); any other term is
refused with ``AE-104``. Grades 1..5 (``AE-103``). Derived on save (protocol ``adverse_events``): ``serious``
events are due to the sponsor ``sae_report_within_hours`` after the site became aware (``site_aware_at``,
else the start date); the reporting window ends ``reporting_days_after_last_treatment`` after the last
treatment and, for grade >= ``severe_grade``, follow-up continues ``severe_follow_up_days_after_last_treatment``
(both from the end-of-treatment form, when there is one); ``expected`` says whether the term is among the
protocol's expected toxicities.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from oligotrial.protocol import Protocol
from oligotrial.services._context import Actor, Edc
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

__all__ = ["ae_reporting", "ctcae_term_lookup", "record_adverse_event"]


def ctcae_term_lookup(edc: Edc) -> TermLookup | None:
    """The CTCAE term lookup of the terminology service, or ``None`` while it is not installed.

    Seam: ``oligotrial.services.ctcae`` (issue 7, terminology part) is expected to provide
    ``lookup_term(edc, term) -> <record with .soc> | None``. Without it only the protocol's expected
    toxicities are accepted.
    """
    try:
        module = importlib.import_module("oligotrial.services.ctcae")
    except ImportError:
        return None
    lookup: Callable[..., Any] | None = getattr(module, "lookup_term", None)
    if lookup is None:
        return None

    def find(term: str) -> str | None:
        found = lookup(edc, term)
        return None if found is None else str(getattr(found, "soc", found))

    return find


def ae_reporting(form: AdverseEventForm, protocol: Protocol, last_treatment: date | None) -> dict[str, Any]:
    """What the protocol requires of this event: expedited report deadline, reporting and follow-up windows."""
    settings = protocol.adverse_events
    expected = {t.term.casefold(): t for t in settings.expected_toxicities}
    toxicity = expected.get(form.term.casefold())
    aware = form.site_aware_at or form.start_date
    derived: dict[str, Any] = {
        "serious": form.serious,
        "expected": toxicity is not None,
        "soc": toxicity.soc if toxicity is not None else None,
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
        ``AE-103`` grade outside 1..5, ``AE-104`` unknown term, ``AE-102`` a seriousness criterion or a
        treatment outside the protocol, ``AE-101`` other items. Nothing is stored.
    """
    protocol = protocol or default_protocol()

    def new_event(session: Session, subject: Subject, form: AdverseEventForm) -> tuple[str, date]:
        return f"AE.{next_sequence(session, subject.id, 'AE'):03d}", form.start_date

    def after(
        session: Session, _a: Actor, subject: Subject, _row: Form, form: AdverseEventForm
    ) -> dict[str, Any]:
        eot = find_form(session, subject, "EOT", "EOT")
        last = load_model("EOT", eot).last_dose_date if eot is not None else None
        return ae_reporting(form, protocol, last)

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
        term_lookup=ctcae_term_lookup(edc),
        after=after,
    )
