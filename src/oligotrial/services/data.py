"""Subjects, events and versioned forms: the data entry use cases, with site isolation.

Notes
-----
Site isolation: every read, list and count is filtered to the sites where the actor holds ``read_data``;
a record of another site is reported as not found (404), exactly like a record that does not exist, so a
denial reveals nothing. An actor without ``read_data`` anywhere gets 403 before any lookup. Changes after
first entry need a reason (21 CFR 11.10(e)); a form update must name the version it was based on
(optimistic concurrency, 409 when stale) and a locked form refuses changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal, NamedTuple, Protocol, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, Problem
from oligotrial.services._context import (
    Actor,
    Edc,
    Permission,
    paged,
    read_connection,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services._validate import check_code, check_item_values, require_reason
from oligotrial.services.admin import get_site_id
from oligotrial.services.auth import BearerToken, actor_in, token_check
from oligotrial.services.views import CasebookProgress, FormVersionView, FormView, SubjectView
from oligotrial.store.audit import canonical_json
from oligotrial.store.prepared import Prepared
from oligotrial.store.tables import DataQuery, Event, Form, FormVersion, QueryMessage, Site, Subject, User

__all__ = [
    "SUBJECT_STATUSES",
    "StoredForm",
    "create_subject",
    "form_content_hash",
    "get_form",
    "get_form_history",
    "get_subject",
    "list_casebook_progress",
    "list_forms",
    "list_forms_to_verify",
    "list_recent_forms",
    "list_subjects",
    "load_form",
    "load_subject",
    "lock_casebook",
    "lock_form",
    "lock_subject_for_entry",
    "readable_sites",
    "save_form",
    "set_subject_status",
    "sync_edit_check_queries",
    "unlock_casebook",
    "unlock_form",
    "update_subject_status",
    "verify_form",
    "verify_forms",
    "write_form_version",
]

SUBJECT_STATUSES = ("screening", "screen_failed", "enrolled", "withdrawn", "completed", "died")
"""Subject statuses; a new subject starts in ``screening``."""

FormStatus = Literal["incomplete", "complete"]


def readable_sites(actor: Actor, permission: Permission = Permission.READ_DATA) -> frozenset[int] | None:
    """Sites whose records the actor may read (``None``: all); 403 ``AUTH-100`` when none at all."""
    if not actor.has_anywhere(permission):
        raise PermissionDeniedError(
            Problem("AUTH-100", "", f"your roles do not allow this action ({permission.value})")
        )
    return actor.sites_for(permission)


def _scoped(stmt: Any, column: Any, sites: frozenset[int] | None) -> Any:
    return stmt if sites is None else stmt.where(column.in_(sites))


def _not_found(what: str, field: str, value: object) -> NotFoundError:
    return NotFoundError(Problem("EDC-020", field, f"no such {what}", value=value))


def load_subject(session: Session, actor: Actor, code: str) -> tuple[Subject, str]:
    """The subject with ``code`` and its site code, if the actor may read it (else 404; 403 without any)."""
    sites = readable_sites(actor)
    found: Any = session.execute(_SUBJECT_BY_CODE, {"code": code}).first() or (None, None)
    subject, site_code = found
    if subject is None or (sites is not None and subject.site_id not in sites):
        raise _not_found("subject", "subject", code)
    return subject, site_code


class _SubjectKey(NamedTuple):
    """What a form save needs of its subject, read as plain columns (no ORM object): the use case's first
    read, made with its token check (:func:`~oligotrial.services.auth.actor_in`)."""

    id: int
    site_id: int
    code: str


class _SubjectOfForm(Protocol):
    """A form's subject as :func:`write_form_version` reads it: a :class:`_SubjectKey` or an ORM subject."""

    @property
    def id(self) -> int: ...

    @property
    def site_id(self) -> int: ...

    @property
    def code(self) -> str: ...


def _subject_key(
    session: Session, actor: Actor, code: str, found: tuple[Any, ...] | None
) -> tuple[_SubjectKey, str]:
    """As :func:`load_subject`, from ``found`` (the subject's id, site and site code, each ``None`` when there
    is no such subject) when the token check read it already, else read here; as columns, without the ORM."""
    sites = readable_sites(actor)
    if found is None:
        found = _SUBJECT_KEY_BY_CODE.first(session.connection(), {"code": code})
    subject_id, site_id, site_code = found or (None, None, None)
    if subject_id is None or (sites is not None and site_id not in sites):
        raise _not_found("subject", "subject", code)
    return _SubjectKey(subject_id, site_id, code), site_code


def lock_subject_for_entry(session: Session, actor: Actor, code: str) -> tuple[Subject, str]:
    """The subject with ``code`` and its site code, for a use case that enters data on it: the actor must
    hold ``ENTER_DATA`` at its site (404/403 as :func:`load_subject`), and its row stays locked until the
    transaction ends, so that two such use cases on one subject run one after the other."""
    subject, site_code = load_subject(session, actor, code)
    actor.require(Permission.ENTER_DATA, subject.site_id)
    session.execute(select(Subject.id).where(Subject.id == subject.id).with_for_update())
    return subject, site_code


# Statements of the busiest use cases (form save and read), built once: values are bound at execution, so
# each execution skips building the statement again; those run without the ORM are prepared
# (:mod:`oligotrial.store.prepared`: compiled once, run on the driver's cursor).
_SUBJECT_BY_CODE = (
    select(Subject, Site.code).join(Site, Site.id == Subject.site_id).where(Subject.code == bindparam("code"))
)
_SUBJECT_KEY_COLUMNS = (Subject.id, Subject.site_id, Site.code)
_SUBJECT_KEY_BY_CODE = Prepared(
    select(*_SUBJECT_KEY_COLUMNS)
    .join(Site, Site.id == Subject.site_id)
    .where(Subject.code == bindparam("code"))
)
_SUBJECT_WITH_TOKEN_CHECK = Prepared(
    token_check(*_SUBJECT_KEY_COLUMNS)
    .outerjoin(Subject, Subject.code == bindparam("code"))
    .outerjoin(Site, Site.id == Subject.site_id)
)
"""A request's token check and the subject it names, in one round trip (:func:`~oligotrial.services.auth.actor_in`)."""


def load_form(session: Session, actor: Actor, form_id: int) -> Form:
    """The form with ``form_id`` if the actor may read it (else 404; 403 without read access anywhere)."""
    sites = readable_sites(actor)
    form = session.get(Form, form_id)
    if form is None or (sites is not None and form.site_id not in sites):
        raise _not_found("form", "form_id", form_id)
    return form


def _subject_view(subject: Subject, site_code: str) -> SubjectView:
    return SubjectView(
        code=subject.code,
        site=site_code,
        status=subject.status,
        version=subject.version,
        created_at=subject.created_at,
        updated_at=subject.updated_at,
    )


def create_subject(edc: Edc, actor: Actor, site_code: str) -> SubjectView:
    """Register a new subject at a site: identifier ``<site code>-<4-digit sequence>``, status ``screening``.

    Raises
    ------
    NotFoundError
        ``EDC-003``/``EDC-020`` the site does not exist or is not one of the actor's.
    PermissionDeniedError
        The actor may not enter data at this site.
    """
    sites = readable_sites(actor, Permission.ENTER_DATA)
    with write_transaction(edc) as session:
        site_id = get_site_id(session, site_code)
        if not actor.can(Permission.READ_DATA, site_id):  # the same answer as for a site that does not exist
            raise NotFoundError(Problem("EDC-003", "site", "no such site", value=site_code))
        if sites is not None and site_id not in sites:
            actor.require(Permission.ENTER_DATA, site_id)
        site = session.execute(
            select(Site).where(Site.id == site_id).with_for_update(key_share=True)
        ).scalar_one()
        if not site.is_active:
            raise ConflictError(Problem("EDC-021", "site", "the site is not active", value=site_code))
        seq = site.next_subject_seq
        site.next_subject_seq = seq + 1
        now = datetime.now(UTC)
        subject = Subject(
            site_id=site_id,
            seq=seq,
            code=f"{site.code}-{seq:04d}",
            status="screening",
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(subject)
        session.flush()
        write_audit(
            session,
            actor,
            "create",
            "subjects",
            subject.code,
            site_id=site_id,
            new={"code": subject.code, "status": subject.status},
        )
        return _subject_view(subject, site.code)


def get_subject(edc: Edc, actor: Actor, code: str) -> SubjectView:
    """One subject of the actor's sites."""
    with read_transaction(edc) as session:
        return _subject_view(*load_subject(session, actor, code))


def list_subjects(
    edc: Edc,
    actor: Actor,
    *,
    site_code: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[SubjectView], int]:
    """Subjects of the actor's sites (optionally one site, one status), with the total count."""
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        stmt = _scoped(
            select(Subject, Site.code).join(Site, Site.id == Subject.site_id), Subject.site_id, sites
        )
        if site_code is not None:
            stmt = stmt.where(Site.code == site_code)
        if status is not None:
            stmt = stmt.where(Subject.status == status)
        rows, total = paged(session, stmt, [Subject.id], limit, offset)
        return [_subject_view(s, c) for s, c in rows], total


def update_subject_status(
    edc: Edc, actor: Actor, code: str, status: str, base_version: int, reason: str | None
) -> SubjectView:
    """Change a subject's status (a change after first entry: reason required; stale version: 409)."""
    if status not in SUBJECT_STATUSES:
        raise InputError.single(
            "EDC-022", "status", f"expected one of {', '.join(SUBJECT_STATUSES)}", value=status
        )
    with write_transaction(edc) as session:
        subject, site_code = load_subject(session, actor, code)
        actor.require(Permission.ENTER_DATA, subject.site_id)
        text = require_reason(reason)
        _check_version(subject.version, base_version)
        set_subject_status(session, actor, subject, status, text)
        return _subject_view(subject, site_code)


def set_subject_status(session: Session, actor: Actor, subject: Subject, status: str, reason: str) -> None:
    """Change a subject's status, bumping its version and auditing old -> new (in the caller's transaction);
    nothing happens when the status is already ``status``."""
    if subject.status == status:
        return
    old = subject.status
    subject.status = status
    subject.version += 1
    subject.updated_at = datetime.now(UTC)
    write_audit(
        session,
        actor,
        "update",
        "subjects",
        subject.code,
        site_id=subject.site_id,
        old={"status": old},
        new={"status": status, "version": subject.version},
        reason=reason,
    )


def _check_version(current: int, base: int | None, field: str = "base_version") -> None:
    if base != current:
        raise ConflictError(
            Problem(
                "EDC-023",
                field,
                f"the record changed since you read it (current version {current}); reload, re-apply, save again",
                value=base,
            )
        )


def form_content_hash(
    form_id: int, subject_code: str, event_code: str, form_code: str, version: int, values: Mapping[str, Any]
) -> str:
    """SHA-256 of the canonical JSON of a form version: what a signature binds to."""
    document = {
        "form_id": form_id,
        "subject": subject_code,
        "event": event_code,
        "form": form_code,
        "version": version,
        "values": dict(values),
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


_FORM_VIEW_COLUMNS = (
    Form.id,
    Subject.code,
    Site.code,
    Event.event_code,
    Event.event_date,
    Form.form_code,
    Form.version,
    Form.item_values,
    Form.content_hash,
    Form.status,
    Form.is_locked,
    Form.verified_version,
    Form.updated_at,
    Form.site_id,
)
"""What :func:`_form_view_of` is built from: plain columns (the busiest read makes no ORM object)."""


def _joined_for_form_view(statement: Any, *, isouter: bool = False) -> Any:
    """``statement`` with the tables of :data:`_FORM_VIEW_COLUMNS` joined to its form."""
    return (
        statement.join(Subject, Subject.id == Form.subject_id, isouter=isouter)
        .join(Site, Site.id == Form.site_id, isouter=isouter)
        .join(Event, Event.id == Form.event_id, isouter=isouter)
    )


def _form_rows() -> Any:
    return _joined_for_form_view(select(*_FORM_VIEW_COLUMNS))


def _form_view(form: StoredForm, subject_code: str, site_code: str) -> FormView:
    return _form_view_of(
        (
            form.id,
            subject_code,
            site_code,
            form.event_code,
            form.event_date,
            form.form_code,
            form.version,
            form.item_values,
            form.content_hash,
            form.status,
            form.is_locked,
            form.verified_version,
            form.updated_at,
        )
    )


def _form_view_of(row: Sequence[Any]) -> FormView:
    """The view of a form from its :data:`_FORM_VIEW_COLUMNS` (the last, its site, is not read)."""
    (
        form_id,
        subject_code,
        site_code,
        event_code,
        event_date,
        form_code,
        version,
        item_values,
        content_hash,
        status,
        is_locked,
        verified_version,
        updated_at,
    ) = row[:13]
    return FormView(
        id=form_id,
        subject=subject_code,
        site=site_code,
        event_code=event_code,
        event_date=event_date,
        form_code=form_code,
        version=version,
        values=item_values,
        content_hash=content_hash,
        status=status,
        is_locked=is_locked,
        is_verified=verified_version == version,
        updated_at=updated_at,
        verified_version=verified_version,
    )


_FORM_BY_ID = Prepared(_form_rows().where(Form.id == bindparam("form_id")))
_FORM_WITH_TOKEN_CHECK = Prepared(
    _joined_for_form_view(
        token_check(*_FORM_VIEW_COLUMNS).outerjoin(Form, Form.id == bindparam("form_id")), isouter=True
    )
)
"""A request's token check and the form it names, in one round trip (:func:`~oligotrial.services.auth.actor_in`)."""
_EVENT_OF_SUBJECT = select(Event).where(
    Event.subject_id == bindparam("subject_id"), Event.event_code == bindparam("event_code")
)
_FORM_AND_EVENT_FOR_UPDATE = Prepared(
    select(
        Form.id,
        Form.subject_id,
        Form.site_id,
        Form.event_id,
        Event.event_code,
        Event.event_date,
        Form.form_code,
        Form.version,
        Form.item_values,
        Form.content_hash,
        Form.status,
        Form.is_locked,
        Form.verified_version,
        Form.updated_at,
    )
    .join(Event, Event.id == Form.event_id)
    .where(
        Event.subject_id == bindparam("subject_id"),
        Event.event_code == bindparam("event_code"),
        Form.form_code == bindparam("form_code"),
    )
    .with_for_update(of=Form, key_share=True)
)
"""A stored form and its event, as :class:`StoredForm`'s fields."""
_EVENTS = cast(Table, Event.__table__)
_UPDATE_EVENT_DATE = Prepared(
    update(_EVENTS).where(_EVENTS.c.id == bindparam("event_id")).values(event_date=bindparam("event_date"))
)


@dataclass(frozen=True)
class StoredForm:
    """A form as :func:`write_form_version` leaves it stored, with its event: plain values, no ORM object
    (the change of a form, the busiest write, runs without the ORM: issue 6)."""

    id: int
    subject_id: int
    site_id: int
    event_id: int
    event_code: str
    event_date: date | None
    form_code: str
    version: int
    item_values: dict[str, Any]
    content_hash: str
    status: str
    is_locked: bool
    verified_version: int | None
    updated_at: datetime


class _FormOfQueries(Protocol):
    """What :func:`sync_edit_check_queries` reads of a form: a :class:`StoredForm` or an ORM form."""

    @property
    def id(self) -> int: ...

    @property
    def subject_id(self) -> int: ...

    @property
    def site_id(self) -> int: ...

    @property
    def version(self) -> int: ...


def _view_of(session: Session, form_id: int) -> FormView:
    # through the session: after the ORM's flush
    return _form_view_of(session.execute(_FORM_BY_ID.statement, {"form_id": form_id}).one())


def write_form_version(
    session: Session,
    actor: Actor,
    subject: _SubjectOfForm,
    event_code: str,
    form_code: str,
    values: Mapping[str, Any],
    *,
    event_date: date | None = None,
    base_version: int | None = None,
    reason: str | None = None,
    status: FormStatus = "complete",
) -> tuple[StoredForm, bool]:
    """Create or change a form in the caller's transaction; returns the form as stored and whether anything
    changed.

    Notes
    -----
    The storage rule of every form save (:func:`save_form` and the workflow use cases of
    :mod:`oligotrial.services.workflow`): the event is created when missing; the first entry is version 1
    (``base_version`` must be absent); a change needs the current ``base_version`` (409 ``EDC-023``) and a
    reason (``EDC-010``) and becomes a new version with its content hash (:func:`form_content_hash`); a
    locked form refuses it (409 ``EDC-025``); saving identical values, status and date stores nothing and
    audits nothing. Every write is audited. The caller has checked the actor's permission and the values.

    A change is read and written with plain statements, not the ORM's unit of work: an ORM form or event
    of the caller's session that it changes is not brought up to date (reload it, as
    :func:`oligotrial.services.workflow._store.write_form` does).
    """
    values = dict(values)
    now = datetime.now(UTC)
    session.flush()  # the caller's pending changes first, as the ORM's own reads would (autoflush)
    connection = session.connection()
    # a change (the usual save) finds its form and event in one round trip; a first entry looks for the event
    found = _FORM_AND_EVENT_FOR_UPDATE.first(
        connection, {"subject_id": subject.id, "event_code": event_code, "form_code": form_code}
    )
    if found is None:
        return _write_first_version(
            session, actor, subject, event_code, form_code, values, event_date, base_version, status, now
        ), True
    stored = StoredForm(*found)
    if stored.is_locked:
        raise ConflictError(Problem("EDC-025", "form", "the form is locked; ask a data manager to unlock it"))
    _check_version(stored.version, base_version)
    date_changed = event_date is not None and event_date != stored.event_date
    changed = sorted(
        k
        for k in set(stored.item_values) | set(values)
        if stored.item_values.get(k, _MISSING) != values.get(k, _MISSING)
    )
    if not changed and status == stored.status and not date_changed:
        return stored, False
    text = require_reason(reason)
    if date_changed:
        write_audit(
            session,
            actor,
            "update",
            "events",
            stored.event_id,
            site_id=subject.site_id,
            old={"event_date": _iso(stored.event_date)},
            new={"event_date": _iso(event_date)},
            reason=text,
        )
        _UPDATE_EVENT_DATE.run(connection, {"event_id": stored.event_id, "event_date": event_date})
    old: dict[str, Any] = {
        "version": stored.version,
        "values": {k: stored.item_values.get(k) for k in changed},
    }
    new: dict[str, Any] = {"version": stored.version + 1, "values": {k: values.get(k) for k in changed}}
    if status != stored.status:
        old["status"], new["status"] = stored.status, status
    version = stored.version + 1
    content_hash = form_content_hash(stored.id, subject.code, event_code, form_code, version, values)
    current = {
        "version": version,
        "item_values": values,
        "status": status,
        "updated_at": now,
        "content_hash": content_hash,
    }
    _store_change(
        connection,
        {**current, "form_id": stored.id, "saved_by": actor.user_id, "saved_at": now, "reason": text},
    )
    write_audit(
        session,
        actor,
        "update",
        "forms",
        stored.id,
        site_id=subject.site_id,
        old=old,
        new=new,
        reason=text,
    )
    return replace(
        stored,
        event_date=event_date if date_changed else stored.event_date,
        version=version,
        item_values=values,
        status=status,
        updated_at=now,
        content_hash=content_hash,
    ), True


def _write_first_version(
    session: Session,
    actor: Actor,
    subject: _SubjectOfForm,
    event_code: str,
    form_code: str,
    values: dict[str, Any],
    event_date: date | None,
    base_version: int | None,
    status: FormStatus,
    now: datetime,
) -> StoredForm:
    """A form's first entry (version 1), its event created when missing; see :func:`write_form_version`."""
    if base_version is not None:
        _check_version(0, base_version)
    event = session.execute(
        _EVENT_OF_SUBJECT, {"subject_id": subject.id, "event_code": event_code}
    ).scalar_one_or_none()
    if event is None:
        event = Event(subject_id=subject.id, event_code=event_code, event_date=event_date, created_at=now)
        session.add(event)
        session.flush()
        write_audit(
            session,
            actor,
            "create",
            "events",
            event.id,
            site_id=subject.site_id,
            new={"subject": subject.code, "event_code": event_code, "event_date": _iso(event_date)},
        )
    form = Form(
        subject_id=subject.id,
        site_id=subject.site_id,
        event_id=event.id,
        form_code=form_code,
        version=1,
        item_values=values,
        content_hash="",
        status=status,
        is_locked=False,
        created_at=now,
        updated_at=now,
    )
    session.add(form)
    session.flush()
    form.content_hash = form_content_hash(form.id, subject.code, event_code, form_code, 1, values)
    session.add(
        FormVersion(
            form_id=form.id,
            version=1,
            item_values=values,
            content_hash=form.content_hash,
            saved_by=actor.user_id,
            saved_at=now,
            reason=None,
        )
    )
    write_audit(
        session,
        actor,
        "create",
        "forms",
        form.id,
        site_id=subject.site_id,
        new={
            "subject": subject.code,
            "event_code": event_code,
            "form_code": form_code,
            "version": 1,
            "status": status,
            "values": values,
        },
    )
    return StoredForm(
        form.id,
        subject.id,
        subject.site_id,
        event.id,
        event_code,
        event.event_date,
        form_code,
        1,
        values,
        form.content_hash,
        status,
        False,
        None,
        now,
    )


_FORMS = cast(Table, Form.__table__)
_UPDATE_FORM_STATEMENT = (
    update(_FORMS)
    .where(_FORMS.c.id == bindparam("form_id"))
    .values({c: bindparam(c) for c in ("version", "item_values", "status", "updated_at", "content_hash")})
)
_INSERT_FORM_VERSION_STATEMENT = insert(cast(Table, FormVersion.__table__)).values(
    {
        c: bindparam(c)
        for c in ("form_id", "version", "item_values", "content_hash", "saved_by", "saved_at", "reason")
    }
)
_UPDATE_FORM = Prepared(_UPDATE_FORM_STATEMENT)
_INSERT_FORM_VERSION = Prepared(_INSERT_FORM_VERSION_STATEMENT)
_UPDATE_FORM_WITH_VERSION = Prepared(
    _INSERT_FORM_VERSION_STATEMENT.add_cte(_UPDATE_FORM_STATEMENT.cte("changed_form"))
)
"""The form's update and its version's insert as one statement (a data-modifying ``WITH``, PostgreSQL)."""


def _store_change(connection: Connection, parameters: Mapping[str, Any]) -> None:
    """Store a form's change: its new state and its version row (the parameters of both statements).

    Notes
    -----
    On PostgreSQL one statement does both (:data:`_UPDATE_FORM_WITH_VERSION`): one database round trip fewer
    inside the write turn, which every other writer of the process waits for (issue 6). SQLite has no
    data-modifying ``WITH``; its statements run in process, so two cost no round trip.
    """
    if connection.dialect.name == "postgresql":
        _UPDATE_FORM_WITH_VERSION.run(connection, parameters)
    else:
        _UPDATE_FORM.run(connection, parameters)
        _INSERT_FORM_VERSION.run(connection, parameters)


def save_form(
    edc: Edc,
    actor: Actor | BearerToken,
    subject_code: str,
    event_code: str,
    form_code: str,
    values: Mapping[str, Any],
    *,
    base_version: int | None = None,
    reason: str | None = None,
    event_date: date | None = None,
    status: FormStatus = "complete",
) -> FormView:
    """Enter or change a form's item values; each save that changes something is a new version.

    Notes
    -----
    First entry: ``base_version`` must be ``None``/absent, no reason needed. A change: ``base_version`` must
    be the current version (else 409 ``EDC-023``) and a reason is required (``EDC-010``). Saving identical
    values, status and date stores nothing and audits nothing (:func:`write_form_version`). Edit checks
    registered for the form run on the saved values and open a query per new problem (and close their own
    queries no longer raised). The forms of the trial workflow (``ELIG``, ``DOSE``, ``TUMOUR``, ``AE`` ...,
    :data:`oligotrial.services.workflow.forms.WORKFLOW_FORMS`) are refused here (409 ``EDC-026``): they are
    written only by their workflow use case, which validates them against the protocol.

    ``actor`` may be a request's unchecked :class:`~oligotrial.services.auth.BearerToken`: the token is then
    checked first, in this use case's transaction (:func:`~oligotrial.services.auth.actor_in`).
    """
    with write_transaction(edc) as session:
        actor, found = actor_in(
            session.connection(), actor, _SUBJECT_WITH_TOKEN_CHECK, {"code": subject_code}
        )
        check_code(event_code, "event_code")
        check_code(form_code, "form_code")
        _refuse_workflow_form(form_code)
        if status not in ("incomplete", "complete"):
            raise InputError.single("EDC-024", "status", "expected incomplete or complete", value=status)
        values = check_item_values(values)
        subject, site_code = _subject_key(session, actor, subject_code, found)
        actor.require(Permission.ENTER_DATA, subject.site_id)
        stored, is_changed = write_form_version(
            session,
            actor,
            subject,
            event_code,
            form_code,
            values,
            event_date=event_date,
            base_version=base_version,
            reason=reason,
            status=status,
        )
        if is_changed:
            _run_edit_checks(edc, session, actor, stored, datetime.now(UTC))
            session.flush()
        return _form_view(stored, subject.code, site_code)


def _refuse_workflow_form(form_code: str) -> None:
    # imported here: the workflow package builds on this module
    from oligotrial.services.workflow.forms import WORKFLOW_FORMS

    entry = WORKFLOW_FORMS.get(form_code)
    if entry is not None:
        use_case, endpoint = entry
        raise ConflictError(
            Problem(
                "EDC-026",
                "form_code",
                f"{form_code} forms belong to the trial workflow, whose rules the generic form save would "
                f"skip; enter it with {endpoint} (oligotrial.services.workflow.{use_case})",
                value=form_code,
            )
        )


_MISSING = object()


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _run_edit_checks(edc: Edc, session: Session, actor: Actor, form: StoredForm, now: datetime) -> None:
    checks = [c for key in (form.form_code, "*") if (c := edc.edit_checks.get(key)) is not None]
    if not checks:
        return
    problems = [p for check in checks for p in check(form.event_code, form.form_code, form.item_values)]
    sync_edit_check_queries(session, actor, form, problems, now=now)


def sync_edit_check_queries(
    session: Session,
    actor: Actor,
    form: _FormOfQueries,
    problems: Iterable[Problem],
    *,
    checks: Iterable[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Open a data query per new edit-check problem on ``form`` and close the form's open edit-check queries
    that no longer fire, each audited (in the caller's transaction).

    ``checks`` limits the queries considered to those check codes (a use case that runs only some checks);
    ``None`` considers every edit-check query of the form.
    """
    now = now or datetime.now(UTC)
    found = {(p.code, (p.field or "<form>")[:64]): p for p in problems}
    codes = None if checks is None else set(checks)
    existing = (
        session.execute(
            select(DataQuery).where(DataQuery.form_id == form.id, DataQuery.origin == "edit_check")
        )
        .scalars()
        .all()
    )
    active: dict[tuple[str | None, str], DataQuery] = {
        (q.check_code, q.item): q
        for q in existing
        if q.state != "closed" and (codes is None or q.check_code in codes)
    }
    for key, problem in found.items():
        if key in active:
            continue
        query = DataQuery(
            form_id=form.id,
            subject_id=form.subject_id,
            site_id=form.site_id,
            item=key[1],
            origin="edit_check",
            check_code=problem.code,
            state="open",
            form_version=form.version,
            raised_by=None,
            created_at=now,
            updated_at=now,
        )
        session.add(query)
        session.flush()
        session.add(
            QueryMessage(
                query_id=query.id, action="raise", text=problem.message, author_id=None, created_at=now
            )
        )
        write_audit(
            session,
            actor,
            "create",
            "data_queries",
            query.id,
            site_id=form.site_id,
            new={
                "form_id": form.id,
                "item": query.item,
                "origin": "edit_check",
                "check_code": problem.code,
                "state": "open",
                "text": problem.message,
            },
        )
    for active_key, query in active.items():
        if active_key not in found:
            old_state = query.state
            query.state = "closed"
            query.updated_at = now
            text = "closed automatically: the edit check no longer fires on the saved values"
            session.add(
                QueryMessage(query_id=query.id, action="close", text=text, author_id=None, created_at=now)
            )
            write_audit(
                session,
                actor,
                "update",
                "data_queries",
                query.id,
                site_id=form.site_id,
                old={"state": old_state},
                new={"state": "closed"},
                reason=text,
            )


def get_form(edc: Edc, actor: Actor | BearerToken, form_id: int) -> FormView:
    """One form of the actor's sites (else 404; 403 without read access anywhere), read in one statement.

    ``actor`` may be a request's unchecked :class:`~oligotrial.services.auth.BearerToken`, checked first in
    the same read transaction (:func:`~oligotrial.services.auth.actor_in`).
    """
    with read_connection(edc) as connection:
        actor, row = actor_in(connection, actor, _FORM_WITH_TOKEN_CHECK, {"form_id": form_id})
        sites = readable_sites(actor)
        if row is None:
            row = _FORM_BY_ID.first(connection, {"form_id": form_id})
        if row is None or row[0] is None or (sites is not None and row[-1] not in sites):
            raise _not_found("form", "form_id", form_id)
        return _form_view_of(row)


def list_forms(edc: Edc, actor: Actor, subject_code: str) -> list[FormView]:
    """All forms of one subject in the order of the trial: those of an undated event first (screening),
    then by event date, event code and form code."""
    with read_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        rows = session.execute(
            _form_rows()
            .where(Form.subject_id == subject.id)
            .order_by(Event.event_date.is_not(None), Event.event_date, Event.event_code, Form.form_code)
        ).all()
        return [_form_view_of(row) for row in rows]


def list_recent_forms(edc: Edc, actor: Actor, form_code: str, *, limit: int = 10) -> list[FormView]:
    """The forms of one code at the actor's sites, the latest changed first (a dashboard's recent adverse
    events)."""
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        stmt = _scoped(_form_rows(), Form.site_id, sites).where(Form.form_code == form_code)
        rows = session.execute(stmt.order_by(Form.updated_at.desc(), Form.id.desc()).limit(limit)).all()
        return [_form_view_of(row) for row in rows]


def list_forms_to_verify(
    edc: Edc,
    actor: Actor,
    *,
    site_code: str | None = None,
    subject_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[FormView], int]:
    """Forms awaiting source-data verification at the sites where the actor verifies (monitors): never
    verified, or changed since (the current version is not the one verified); by subject, event and form
    code, with the total count."""
    sites = readable_sites(actor, Permission.VERIFY_SOURCE)
    with read_transaction(edc) as session:
        stmt = _scoped(_form_rows(), Form.site_id, sites).where(
            or_(Form.verified_version.is_(None), Form.verified_version != Form.version)
        )
        if site_code is not None:
            stmt = stmt.where(Site.code == site_code)
        if subject_code is not None:
            stmt = stmt.where(Subject.code == subject_code)
        rows, total = paged(session, stmt, [Subject.code, Event.event_code, Form.form_code], limit, offset)
        return [_form_view_of(row) for row in rows], total


def list_casebook_progress(edc: Edc, actor: Actor, *, site_code: str | None = None) -> list[CasebookProgress]:
    """Per subject of the actor's sites (optionally one site), by subject code: forms entered, verified at
    their current version and locked, and queries open or answered; subjects without a form count zeros."""
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        forms = (
            select(
                Form.subject_id,
                func.count().label("forms"),
                func.count().filter(Form.verified_version == Form.version).label("verified"),
                func.count().filter(Form.is_locked).label("locked"),
            )
            .group_by(Form.subject_id)
            .subquery()
        )
        pending = (
            select(DataQuery.subject_id, func.count().label("pending"))
            .where(DataQuery.state != "closed")
            .group_by(DataQuery.subject_id)
            .subquery()
        )
        stmt = _scoped(
            select(
                Subject.code,
                Site.code,
                func.coalesce(forms.c.forms, 0),
                func.coalesce(forms.c.verified, 0),
                func.coalesce(forms.c.locked, 0),
                func.coalesce(pending.c.pending, 0),
            )
            .join(Site, Site.id == Subject.site_id)
            .outerjoin(forms, forms.c.subject_id == Subject.id)
            .outerjoin(pending, pending.c.subject_id == Subject.id),
            Subject.site_id,
            sites,
        )
        if site_code is not None:
            stmt = stmt.where(Site.code == site_code)
        return [
            CasebookProgress(
                subject=code, site=site, forms=n, verified=verified, locked=locked, pending_queries=queries
            )
            for code, site, n, verified, locked, queries in session.execute(stmt.order_by(Subject.code))
        ]


def get_form_history(edc: Edc, actor: Actor, form_id: int) -> list[FormVersionView]:
    """Every saved version of a form, oldest first, with who saved it, when and why."""
    with read_transaction(edc) as session:
        load_form(session, actor, form_id)
        rows = session.execute(
            select(FormVersion, User.username)
            .outerjoin(User, User.id == FormVersion.saved_by)
            .where(FormVersion.form_id == form_id)
            .order_by(FormVersion.version)
        ).all()
        return [
            FormVersionView(
                version=v.version,
                values=v.item_values,
                content_hash=v.content_hash,
                saved_by=name or "system",
                saved_at=v.saved_at,
                reason=v.reason,
            )
            for v, name in rows
        ]


def _form_for_change(session: Session, actor: Actor, form_id: int, permission: Permission) -> Form:
    form = load_form(session, actor, form_id)
    actor.require(permission, form.site_id)
    locked = session.execute(
        select(Form).where(Form.id == form_id).with_for_update(key_share=True)
    ).scalar_one()
    return locked


def lock_form(edc: Edc, actor: Actor, form_id: int) -> FormView:
    """Lock a form against changes (data managers)."""
    with write_transaction(edc) as session:
        _set_lock(session, actor, _form_for_change(session, actor, form_id, Permission.LOCK_FORM), True, None)
        return _view_of(session, form_id)


def unlock_form(edc: Edc, actor: Actor, form_id: int, reason: str | None) -> FormView:
    """Unlock a form (data managers); the reason is recorded."""
    with write_transaction(edc) as session:
        form = _form_for_change(session, actor, form_id, Permission.LOCK_FORM)
        _set_lock(session, actor, form, False, require_reason(reason))
        return _view_of(session, form_id)


def _set_lock(session: Session, actor: Actor, form: Form, locked: bool, reason: str | None) -> None:
    """Lock or unlock ``form`` (a row locked for update), audited, unless it is so already."""
    if form.is_locked != locked:
        form.is_locked = locked
        write_audit(
            session,
            actor,
            "update",
            "forms",
            form.id,
            site_id=form.site_id,
            old={"is_locked": not locked},
            new={"is_locked": locked},
            reason=reason,
        )


def lock_casebook(edc: Edc, actor: Actor, subject_code: str) -> list[FormView]:
    """Lock every form of a subject (data managers), as when its follow-up ends or before a database lock.

    Refused (409 ``EDC-027``) while a query on the subject is open or answered: a casebook is locked with
    its questions settled. Each form locked is audited as :func:`lock_form` audits it; a form entered later
    is not locked. Returns the subject's forms.
    """
    with write_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        actor.require(Permission.LOCK_FORM, subject.site_id)
        # the subject row for update: a query being raised on the subject (which shares it) commits first
        # and is counted below
        session.execute(select(Subject.id).where(Subject.id == subject.id).with_for_update())
        pending = session.execute(
            select(func.count())
            .select_from(DataQuery)
            .where(DataQuery.subject_id == subject.id, DataQuery.state != "closed")
        ).scalar_one()
        if pending:
            raise ConflictError(
                Problem(
                    "EDC-027",
                    "queries",
                    f"{pending} queries on this subject are open or answered: close them before locking "
                    "its casebook",
                    value=pending,
                )
            )
        _set_casebook_lock(session, actor, subject, locked=True, reason=None)
    return list_forms(edc, actor, subject_code)


def unlock_casebook(edc: Edc, actor: Actor, subject_code: str, reason: str | None) -> list[FormView]:
    """Unlock every locked form of a subject (data managers); the reason is recorded on each. Returns the
    subject's forms."""
    with write_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        actor.require(Permission.LOCK_FORM, subject.site_id)
        _set_casebook_lock(session, actor, subject, locked=False, reason=require_reason(reason))
    return list_forms(edc, actor, subject_code)


def _set_casebook_lock(
    session: Session, actor: Actor, subject: Subject, *, locked: bool, reason: str | None
) -> None:
    """Lock (or unlock) each of the subject's forms that is not so yet, each audited on its own."""
    forms = session.execute(
        select(Form)
        .where(Form.subject_id == subject.id, Form.is_locked == (not locked))
        .order_by(Form.id)
        .with_for_update(key_share=True)
    ).scalars()
    for form in forms:
        _set_lock(session, actor, form, locked, reason)


def verify_form(edc: Edc, actor: Actor, form_id: int, version: int) -> FormView:
    """Record source-data verification of one version of a form (monitors); a later change clears it."""
    with write_transaction(edc) as session:
        _verify(session, actor, form_id, version, "version")
        return _view_of(session, form_id)


def verify_forms(edc: Edc, actor: Actor, versions: Mapping[int, int]) -> list[FormView]:
    """Record source-data verification of several forms at once (``versions``: form id -> the version the
    monitor compared with the source), all or none: a form changed since (409 ``EDC-023``, its field
    ``forms.<id>.version``), unknown or not the monitor's (404/403) verifies none."""
    with write_transaction(edc) as session:
        for form_id, version in versions.items():
            _verify(session, actor, form_id, version, f"forms.{form_id}.version")
        return [_view_of(session, form_id) for form_id in versions]


def _verify(session: Session, actor: Actor, form_id: int, version: int, field: str) -> None:
    form = _form_for_change(session, actor, form_id, Permission.VERIFY_SOURCE)
    _check_version(form.version, version, field)
    if form.verified_version != version:
        old = form.verified_version
        form.verified_version = version
        write_audit(
            session,
            actor,
            "update",
            "forms",
            form.id,
            site_id=form.site_id,
            old={"verified_version": old},
            new={"verified_version": version},
        )
