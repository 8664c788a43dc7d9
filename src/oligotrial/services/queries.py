"""Data queries on form items: raised by edit checks or by monitors and data managers, answered by the site,
closed (or re-opened) by monitors and data managers; with history and counts per site.

Notes
-----
States: ``open`` -> ``answered`` (site answers) -> ``closed``; ``open`` may be closed directly and
``answered``/``closed`` re-opened. Each step is a message in the query's history and an audit entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, NotFoundError, Problem
from oligotrial.services._context import (
    Actor,
    Edc,
    Permission,
    paged,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services._validate import check_code
from oligotrial.services.data import load_form, readable_sites
from oligotrial.services.views import QueryCounts, QueryMessageView, QueryView
from oligotrial.store.tables import DataQuery, Event, Form, QueryMessage, Site, Subject, User

__all__ = [
    "QUERY_STATES",
    "answer_query",
    "close_query",
    "count_queries",
    "get_query",
    "list_queries",
    "raise_query",
    "reopen_query",
]

QUERY_STATES = ("open", "answered", "closed")
_TRANSITIONS = {
    "answer": ({"open"}, "answered", Permission.ANSWER_QUERY),
    "close": ({"open", "answered"}, "closed", Permission.CLOSE_QUERY),
    "reopen": ({"answered", "closed"}, "open", Permission.CLOSE_QUERY),
}


def _text(text: str, field: str = "text") -> str:
    text = (text or "").strip()
    if not 1 <= len(text) <= 4000:
        raise InputError.single("EDC-030", field, "expected a text of 1-4000 characters")
    return text


def _view(session: Session, query: DataQuery) -> QueryView:
    subject_code, site_code, event_code, form_code = session.execute(
        select(Subject.code, Site.code, Event.event_code, Form.form_code)
        .select_from(Form)
        .join(Subject, Subject.id == Form.subject_id)
        .join(Site, Site.id == Form.site_id)
        .join(Event, Event.id == Form.event_id)
        .where(Form.id == query.form_id)
    ).one()
    messages = session.execute(
        select(QueryMessage, User.username)
        .outerjoin(User, User.id == QueryMessage.author_id)
        .where(QueryMessage.query_id == query.id)
        .order_by(QueryMessage.id)
    ).all()
    return QueryView(
        id=query.id,
        form_id=query.form_id,
        subject=subject_code,
        site=site_code,
        event_code=event_code,
        form_code=form_code,
        item=query.item,
        origin=query.origin,
        check_code=query.check_code,
        state=query.state,
        form_version=query.form_version,
        created_at=query.created_at,
        updated_at=query.updated_at,
        messages=[
            QueryMessageView(action=m.action, text=m.text, author=name or "edit check", at=m.created_at)
            for m, name in messages
        ],
    )


def _load(session: Session, actor: Actor, query_id: int, *, for_update: bool = False) -> DataQuery:
    sites = readable_sites(actor)
    stmt = select(DataQuery).where(DataQuery.id == query_id)
    if for_update:
        stmt = stmt.with_for_update(key_share=True)
    query = session.execute(stmt).scalar_one_or_none()
    if query is None or (sites is not None and query.site_id not in sites):
        raise NotFoundError(Problem("EDC-031", "query_id", "no such query", value=query_id))
    return query


def raise_query(edc: Edc, actor: Actor, form_id: int, item: str, text: str) -> QueryView:
    """Open a query on one item of a form (monitors, data managers)."""
    check_code(item, "item")
    text = _text(text)
    with write_transaction(edc) as session:
        form = load_form(session, actor, form_id)
        actor.require(Permission.RAISE_QUERY, form.site_id)
        # the subject row shared until the commit: a casebook lock (which takes it for update before it
        # counts the unsettled queries) waits for this query, and then sees it
        session.execute(select(Subject.id).where(Subject.id == form.subject_id).with_for_update(read=True))
        now = datetime.now(UTC)
        query = DataQuery(
            form_id=form.id,
            subject_id=form.subject_id,
            site_id=form.site_id,
            item=item,
            origin="manual",
            check_code=None,
            state="open",
            form_version=form.version,
            raised_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(query)
        session.flush()
        session.add(
            QueryMessage(
                query_id=query.id, action="raise", text=text, author_id=actor.user_id, created_at=now
            )
        )
        write_audit(
            session,
            actor,
            "create",
            "data_queries",
            query.id,
            site_id=form.site_id,
            new={"form_id": form.id, "item": item, "origin": "manual", "state": "open", "text": text},
        )
        session.flush()
        return _view(session, query)


def _transition(edc: Edc, actor: Actor, query_id: int, action: str, text: str) -> QueryView:
    allowed_from, target, permission = _TRANSITIONS[action]
    text = _text(text)
    with write_transaction(edc) as session:
        query = _load(session, actor, query_id, for_update=True)
        actor.require(permission, query.site_id)
        if query.state not in allowed_from:
            raise ConflictError(
                Problem(
                    "EDC-032",
                    "state",
                    f"a query in state {query.state!r} cannot be {action}ed",
                    value=query.state,
                )
            )
        now = datetime.now(UTC)
        old = query.state
        query.state = target
        query.updated_at = now
        session.add(
            QueryMessage(query_id=query.id, action=action, text=text, author_id=actor.user_id, created_at=now)
        )
        write_audit(
            session,
            actor,
            "update",
            "data_queries",
            query.id,
            site_id=query.site_id,
            old={"state": old},
            new={"state": target, "text": text},
            reason=text,
        )
        session.flush()
        return _view(session, query)


def answer_query(edc: Edc, actor: Actor, query_id: int, text: str) -> QueryView:
    """Answer an open query (site staff)."""
    return _transition(edc, actor, query_id, "answer", text)


def close_query(edc: Edc, actor: Actor, query_id: int, text: str) -> QueryView:
    """Close an open or answered query (monitors, data managers)."""
    return _transition(edc, actor, query_id, "close", text)


def reopen_query(edc: Edc, actor: Actor, query_id: int, text: str) -> QueryView:
    """Re-open an answered or closed query (monitors, data managers)."""
    return _transition(edc, actor, query_id, "reopen", text)


def get_query(edc: Edc, actor: Actor, query_id: int) -> QueryView:
    """One query of the actor's sites, with its history."""
    with read_transaction(edc) as session:
        return _view(session, _load(session, actor, query_id))


def list_queries(
    edc: Edc,
    actor: Actor,
    *,
    state: str | None = None,
    site_code: str | None = None,
    subject_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[QueryView], int]:
    """Queries of the actor's sites, optionally filtered, with the total count."""
    if state is not None and state not in QUERY_STATES:
        raise InputError.single("EDC-033", "state", f"expected one of {', '.join(QUERY_STATES)}", value=state)
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        stmt: Any = select(DataQuery)
        if sites is not None:
            stmt = stmt.where(DataQuery.site_id.in_(sites))
        if state is not None:
            stmt = stmt.where(DataQuery.state == state)
        if site_code is not None:
            stmt = stmt.join(Site, Site.id == DataQuery.site_id).where(Site.code == site_code)
        if subject_code is not None:
            stmt = stmt.join(Subject, Subject.id == DataQuery.subject_id).where(Subject.code == subject_code)
        result, total = paged(session, stmt, [DataQuery.id], limit, offset)
        return [_view(session, q) for q in result.scalars().all()], total


def count_queries(edc: Edc, actor: Actor) -> list[QueryCounts]:
    """Queries per site and state, over the actor's sites."""
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        stmt: Any = (
            select(Site.code, DataQuery.state, func.count())
            .select_from(Site)
            .join(DataQuery, DataQuery.site_id == Site.id)
            .group_by(Site.code, DataQuery.state)
        )
        site_stmt: Any = select(Site.code).order_by(Site.code)
        if sites is not None:
            stmt = stmt.where(Site.id.in_(sites))
            site_stmt = site_stmt.where(Site.id.in_(sites))
        counts: dict[str, dict[str, int]] = {
            code: dict.fromkeys(QUERY_STATES, 0) for code in session.execute(site_stmt).scalars()
        }
        for code, state, n in session.execute(stmt).all():
            counts[code][state] = int(n)
        return [QueryCounts(site=code, **c) for code, c in counts.items()]
