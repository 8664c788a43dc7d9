"""What the workflow use cases share: writing a typed form inside the caller's transaction (versioned and
audited by the same :func:`oligotrial.services.data.write_form_version` as the generic form save), edit-check queries, subject status
changes, and the views they return."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, NotFoundError, Problem
from oligotrial.protocol import Protocol, load_protocol
from oligotrial.services._context import Actor, Edc, Permission, write_transaction
from oligotrial.services.data import load_subject, write_form_version
from oligotrial.services.views import FormView
from oligotrial.services.workflow.forms import FORM_MODELS, check_form_values
from oligotrial.store.tables import DataQuery, Event, Form, Site, Subject

POST_ENROLLMENT = ("enrolled", "withdrawn", "completed", "died")


class WorkflowView(BaseModel):
    """A saved workflow form with what the rules derived from it and the edit-check queries now open."""

    model_config = ConfigDict(frozen=True)

    form: FormView
    derived: dict[str, Any]
    open_queries: list[dict[str, Any]]


@functools.cache
def default_protocol() -> Protocol:
    """The protocol shipped with the package (the one ``oligotrial init`` records in the database)."""
    return load_protocol()


def require_status(subject: Subject, allowed: Iterable[str], action: str) -> None:
    allowed = tuple(allowed)
    if subject.status not in allowed:
        raise ConflictError(
            Problem(
                "WF-001",
                "subject",
                f"cannot {action}: the subject is {subject.status!r}, expected {' or '.join(allowed)}",
                value=subject.status,
            )
        )


def find_form(session: Session, subject: Subject, event_code: str, form_code: str) -> Form | None:
    return session.execute(
        select(Form)
        .join(Event, Event.id == Form.event_id)
        .where(Form.subject_id == subject.id, Event.event_code == event_code, Form.form_code == form_code)
    ).scalar_one_or_none()


def subject_forms(session: Session, subject_id: int, form_code: str) -> list[tuple[Form, str]]:
    """Forms of one code of a subject, with their event codes, in event-code order."""
    rows = session.execute(
        select(Form, Event.event_code)
        .join(Event, Event.id == Form.event_id)
        .where(Form.subject_id == subject_id, Form.form_code == form_code)
        .order_by(Event.event_code)
    ).all()
    return [(f, code) for f, code in rows]


def next_sequence(session: Session, subject_id: int, prefix: str) -> int:
    """The next free number of a repeating event (``AE.001``, ``AE.002`` ...). Writes are serialized by the
    audit chain lock, so two saves cannot draw the same number."""
    codes = session.execute(
        select(Event.event_code).where(Event.subject_id == subject_id, Event.event_code.like(f"{prefix}.%"))
    ).scalars()
    numbers = [int(c.split(".", 1)[1]) for c in codes if c.split(".", 1)[1].isdigit()]
    return max(numbers, default=0) + 1


def write_form(
    session: Session,
    actor: Actor,
    subject: Subject,
    event_code: str,
    form_code: str,
    values: Mapping[str, Any],
    *,
    event_date: date | None,
    base_version: int | None = None,
    reason: str | None = None,
) -> Form:
    """Create or change a form in the caller's transaction with
    :func:`oligotrial.services.data.write_form_version`: a new version per change, audited; a change needs
    the current ``base_version`` (409 ``EDC-023``) and a reason (``EDC-010``); a locked form refuses it."""
    stored, _ = write_form_version(
        session,
        actor,
        subject,
        event_code,
        form_code,
        values,
        event_date=event_date,
        base_version=base_version,
        reason=reason,
    )
    # the ORM form as stored: a change is written with plain statements (an ORM form of this session, read
    # before, would still hold the previous version)
    session.flush()  # a first entry's content hash is still pending: not to be overwritten by the reload
    form = session.get(Form, stored.id, populate_existing=True)
    assert form is not None  # just written
    return form


def open_queries(session: Session, form: Form) -> list[dict[str, Any]]:
    rows = session.execute(
        select(DataQuery.id, DataQuery.item, DataQuery.check_code, DataQuery.state)
        .where(DataQuery.form_id == form.id, DataQuery.state != "closed")
        .order_by(DataQuery.id)
    ).all()
    return [{"id": i, "item": item, "check_code": code, "state": state} for i, item, code, state in rows]


def form_view(session: Session, form: Form) -> FormView:
    session.flush()
    subject_code, site_code, event_code, event_date = session.execute(
        select(Subject.code, Site.code, Event.event_code, Event.event_date)
        .select_from(Form)
        .join(Subject, Subject.id == Form.subject_id)
        .join(Site, Site.id == Form.site_id)
        .join(Event, Event.id == Form.event_id)
        .where(Form.id == form.id)
    ).one()
    return FormView(
        id=form.id,
        subject=subject_code,
        site=site_code,
        event_code=event_code,
        event_date=event_date,
        form_code=form.form_code,
        version=form.version,
        values=form.item_values,
        content_hash=form.content_hash,
        status=form.status,
        is_locked=form.is_locked,
        is_verified=form.verified_version == form.version,
        updated_at=form.updated_at,
        verified_version=form.verified_version,
    )


def workflow_view(session: Session, form: Form, derived: dict[str, Any] | None = None) -> WorkflowView:
    return WorkflowView(
        form=form_view(session, form), derived=derived or {}, open_queries=open_queries(session, form)
    )


Hook = Any  # (session, actor, subject, form row, model) -> derived dict


def record_form(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    form_code: str,
    values: Any,
    *,
    event_code: str | None,
    new_event: Any,
    allowed_status: Iterable[str],
    base_version: int | None = None,
    reason: str | None = None,
    protocol: Protocol | None = None,
    is_term_deferred: bool = False,
    before: Hook | None = None,
    after: Hook | None = None,
) -> WorkflowView:
    """The common shape of a workflow use case, in one transaction: check the subject and the actor's right to
    enter its data (404, 403), validate the values with the form's model and the protocol (422), check the
    subject's status (409), write the form (a new instance at ``new_event(session, subject, model)`` when
    ``event_code`` is ``None``, else a change of that event's form), then run ``after`` to derive values and
    raise edit-check queries. ``before(session, actor, subject, event code, model)`` runs before the write."""
    protocol = protocol or default_protocol()
    with write_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        actor.require(Permission.ENTER_DATA, subject.site_id)  # a refusal says nothing of the values
        model = check_form_values(form_code, values, protocol, is_term_deferred=is_term_deferred)
        require_status(subject, allowed_status, f"record {form_code}")
        if event_code is None:
            event_code, event_date = new_event(session, subject, model)
        else:
            if find_form(session, subject, event_code, form_code) is None:
                raise NotFoundError(
                    Problem("EDC-020", "event_code", f"no {form_code} form at this event", value=event_code)
                )
            event_date = new_event(session, subject, model)[1]
        if before is not None:
            before(session, actor, subject, event_code, model)
        row = write_form(
            session,
            actor,
            subject,
            event_code,
            form_code,
            model.model_dump(mode="json"),
            event_date=event_date,
            base_version=base_version,
            reason=reason,
        )
        derived = after(session, actor, subject, row, model) if after is not None else {}
        return workflow_view(session, row, derived)


def load_model(form_code: str, form: Form) -> Any:
    """The stored values of a workflow form as its model (validated when saved, so no protocol check)."""
    return FORM_MODELS[form_code].model_validate(form.item_values)
