"""Dashboard, subjects with their protocol timeline, form pages (history, queries, verification, locks,
signatures of the form and the signing dialog), query lists and the audit trail (of a subject, a table or a
record; as CSV too)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from oligotrial.errors import InputError, NotFoundError, OligotrialError, PermissionDeniedError, Problem
from oligotrial.services import Permission
from oligotrial.services import queries as query_services
from oligotrial.services.admin import list_sites
from oligotrial.services.audit_trail import read_audit
from oligotrial.services.data import (
    SUBJECT_STATUSES,
    create_subject,
    get_form,
    get_form_history,
    get_subject,
    list_casebook_progress,
    list_forms,
    list_forms_to_verify,
    list_recent_forms,
    list_subjects,
    lock_casebook,
    lock_form,
    unlock_casebook,
    unlock_form,
    verify_form,
    verify_forms,
)
from oligotrial.services.randomization import RandomizationView, get_randomization, list_randomizations
from oligotrial.services.signatures import SIGNATURE_MEANINGS, list_signatures, sign
from oligotrial.services.views import AuditEntryView, AuditPage, FormView, QueryView
from oligotrial.services.workflow import get_subject_calendar, list_deviations, list_subject_calendars
from oligotrial.web import _i18n
from oligotrial.web._messages import DEVIATION_CATEGORIES
from oligotrial.web._render import field_errors, render, site_time_zone
from oligotrial.web._session import Session, WebSession, check_csrf

__all__ = ["EDIT_KINDS", "router", "site_today"]

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=128)]


def site_today(request: Request) -> date:
    """Today in the site's time zone (what "due" and "overdue" are measured against)."""
    return datetime.now(ZoneInfo(site_time_zone(request))).date()


def refused(request: Request, session: WebSession, error: OligotrialError) -> Response:
    """A page for an action the services refused as a whole (not found, not allowed)."""
    kind = "forbidden" if isinstance(error, PermissionDeniedError) else "missing"
    status = 403 if kind == "forbidden" else 404
    return render(request, "error.html", {"kind": kind}, session=session, status_code=status)


EDIT_KINDS: dict[str, str] = {
    "ELIG": "eligibility",
    "DOSE": "dose",
    "TUMOUR": "tumour",
    "AE": "ae",
    "EOT": "end-of-treatment",
    "FOLLOWUP": "follow-up",
    "DEATH": "death",
    "NEWTHERAPY": "new-therapy",
    "DISPOSITION": "disposition",
    "DEVIATION": "deviation",
}
"""Form code -> the kind of the entry page (``/subjects/<code>/<kind>?event=<event>``) that changes it; the
kinds are those of :data:`oligotrial.web._forms.FORMS` (a test keeps the two in step)."""


def edit_link(form: FormView) -> str | None:
    """The entry page that changes an entered workflow form (with a reason), or ``None`` (no such page)."""
    kind = EDIT_KINDS.get(form.form_code)
    if kind is None:
        return None
    if kind == "eligibility":
        return f"/subjects/{form.subject}/eligibility"
    return f"/subjects/{form.subject}/{kind}?event={form.event_code}"


def _deviation_category(value: str | None) -> str:
    msgid = DEVIATION_CATEGORIES.get(value or "")
    return _i18n.gettext(msgid) if msgid else (value or "")


def _done(path: str, key: str) -> RedirectResponse:
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}done={key}", status_code=303)


@router.get("/")
def dashboard(request: Request, session: Session) -> Response:
    """Subjects by status, upcoming and overdue visits with their windows, open queries (and for monitors
    and data managers the answered ones to review, the forms awaiting verification), recent AEs."""
    edc, actor = session.edc, session.actor
    context: dict[str, Any] = {"has_data": actor.has_anywhere(Permission.READ_DATA)}
    if context["has_data"]:
        subjects, _ = list_subjects(edc, actor, limit=1000)
        counts = dict.fromkeys(SUBJECT_STATUSES, 0)
        for subject in subjects:
            counts[subject.status] += 1
        today = site_today(request)
        horizon = today + timedelta(days=14)
        visits = []
        unavailable: list[tuple[str, list[dict[str, Any]]]] = []  # subjects whose dates break a calendar rule
        for calendar in list_subject_calendars(edc, actor, today):
            if calendar.problems:
                unavailable.append((calendar.subject, calendar.problems))
            for item in calendar.items:
                if item.status == "missed" or (
                    item.status in ("due", "upcoming") and item.earliest <= horizon
                ):
                    visits.append((calendar.subject, item))
        visits.sort(key=lambda pair: (pair[1].status != "missed", pair[1].earliest))
        aes = list_recent_forms(edc, actor, "AE", limit=10)
        open_queries, total_open = query_services.list_queries(edc, actor, state="open", limit=20)
        if actor.has_anywhere(Permission.CLOSE_QUERY):  # the monitor's and data manager's to-do
            context["total_answered"] = query_services.list_queries(edc, actor, state="answered", limit=1)[1]
        if actor.has_anywhere(Permission.VERIFY_SOURCE):
            context["to_verify"] = list_forms_to_verify(edc, actor, limit=1)[1]
        context.update(
            counts=counts,
            visits=visits,
            unavailable=unavailable,
            aes=aes,
            open_queries=open_queries,
            total_open=total_open,
            today=today,
        )
    return render(request, "dashboard.html", context, session=session)


@router.get("/subjects")
def subjects_page(request: Request, session: Session, status: str | None = None) -> Response:
    """The subjects of the user's sites (optionally one status) with their arms and randomization days (for
    monitors and data managers, their forms verified and locked and their unsettled queries), and a button
    to register one."""
    edc, actor = session.edc, session.actor
    chosen = status if status in SUBJECT_STATUSES else None
    try:
        subjects, total = list_subjects(edc, actor, status=chosen, limit=1000)
        assignments = {a.subject: a for a in list_randomizations(edc, actor)}
        reviews = actor.has_anywhere(Permission.VERIFY_SOURCE) or actor.has_anywhere(Permission.LOCK_FORM)
        progress = {p.subject: p for p in list_casebook_progress(edc, actor)} if reviews else None
    except OligotrialError as error:
        return refused(request, session, error)
    sites = (
        [s for s in list_sites(edc, actor) if s.is_active]
        if actor.has_anywhere(Permission.ENTER_DATA)
        else []
    )
    return render(
        request,
        "subjects.html",
        {
            "subjects": subjects,
            "assignments": assignments,
            "progress": progress,
            "total": total,
            "status": chosen,
            "statuses": SUBJECT_STATUSES,
            "sites": sites,
        },
        session=session,
    )


@router.post("/subjects")
def subjects_create(
    request: Request, session: Session, csrf_token: Csrf = "", site: Annotated[str, Form(max_length=16)] = ""
) -> Response:
    """Register a new subject at one of the user's sites (status screening)."""
    check_csrf(request, csrf_token, session.token)
    try:
        subject = create_subject(session.edc, session.actor, site)
    except OligotrialError as error:
        return refused(request, session, error)
    return _done(f"/subjects/{subject.code}", "created")


def _timeline(subject: Any, forms: list[Any], calendar: Any) -> list[dict[str, Any]]:
    """The protocol's steps for the subject page: screening and enrollment from the forms, then the
    calendar of :func:`oligotrial.rules.schedule.derive_calendar` (as the workflow service derives it), then
    death and the end of study when entered (the calendar stops at them)."""
    by_code = {(f.event_code, f.form_code): f for f in forms}
    eligibility = by_code.get(("SCREENING", "ELIG"))
    enrolled = by_code.get(("ENROLLMENT", "ENROLL"))
    steps: list[dict[str, Any]] = [
        {
            "id": "SCREENING",
            "kind": "screening",
            "status": "done" if eligibility else "due",
            "actual": eligibility.event_date if eligibility else None,
            "link": f"/subjects/{subject.code}/eligibility",
        },
        {
            "id": "ENROLLMENT",
            "kind": "enrollment",
            "status": "done" if enrolled else ("not started" if subject.status == "screening" else "done"),
            "actual": enrolled.event_date if enrolled else None,
            "link": f"/subjects/{subject.code}/eligibility",
        },
    ]
    links = {
        "induction dose": "/dose",
        "maintenance dose": "/dose",
        "imaging": "/tumour",
        "assessment": "/tumour",
        "randomization": "/randomize",
        "radiotherapy start": "/radiotherapy",
        "end of treatment": "/end-of-treatment",
        "survival follow-up": "/follow-up",
        "adverse event follow-up": "/follow-up",  # closed by a follow-up contact on or after its date
    }
    for item in calendar.items if calendar else []:
        suffix = links.get(item.kind)
        link = f"/subjects/{subject.code}{suffix}" if suffix else None
        if link is not None and suffix == "/dose":
            link += f"?event={item.id}"
        steps.append(
            {
                "id": item.id,
                "kind": item.kind,
                "status": item.status,
                "actual": item.actual,
                "target": item.target,
                "earliest": item.earliest,
                "latest": item.latest,
                "days_outside": item.days_outside,
                "link": link,
            }
        )
    for form_code, kind in (("DEATH", "death"), ("DISPOSITION", "end of study")):
        entered = by_code.get((form_code, form_code))
        if entered is not None:
            steps.append(
                {
                    "id": form_code,
                    "kind": kind,
                    "status": "done",
                    "actual": entered.event_date,
                    "link": f"/subjects/{subject.code}/{EDIT_KINDS[form_code]}",
                }
            )
    return steps


@router.get("/subjects/{code}")
def subject_page(request: Request, session: Session, code: str) -> Response:
    """A subject: status, arm, protocol timeline (done, due, late), its forms, signatures and the sign dialog."""
    try:
        context = _subject_context(request, session, code)
    except OligotrialError as error:
        return refused(request, session, error)
    return render(request, "subject.html", context, session=session)


def _subject_context(request: Request, session: WebSession, code: str) -> dict[str, Any]:
    """What the subject page shows (raises what the services raise when the subject cannot be read)."""
    edc, actor = session.edc, session.actor
    subject = get_subject(edc, actor, code)
    forms = list_forms(edc, actor, code)
    signatures = list_signatures(edc, actor, code)
    deviations = list_deviations(edc, actor, code)
    try:
        assignment: RandomizationView | None = get_randomization(edc, actor, code)
    except NotFoundError:
        assignment = None
    try:
        calendar, calendar_problems = get_subject_calendar(edc, actor, code, site_today(request)), []
    except InputError as error:  # the recorded dates break a calendar rule: the rest of the page still shows
        calendar, calendar_problems = None, list(error.problems)
    return {
        "subject": subject,
        "assignment": assignment,
        "forms": forms,
        "timeline": _timeline(subject, forms, calendar),
        "calendar_problems": calendar_problems,
        "signatures": signatures,
        "deviations": [d.form for d in deviations],
        "deviation_category": _deviation_category,
        "meanings": list(SIGNATURE_MEANINGS),
    }


@router.post("/subjects/{code}/sign")
def subject_sign(
    request: Request,
    session: Session,
    code: str,
    csrf_token: Csrf = "",
    password: Annotated[str, Form(max_length=256)] = "",
    meaning: Annotated[str, Form(max_length=32)] = "",
    form_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Sign the casebook (or one form) after re-entering the password; errors are shown in the dialog."""
    check_csrf(request, csrf_token, session.token)
    edc, actor = session.edc, session.actor
    errors: dict[str, list[Problem]] = {}
    if not password:
        errors["password"] = [Problem("WEB-004", "password", "required")]
    if not meaning:
        errors["meaning"] = [Problem("EDC-040", "meaning", "required")]
    if not errors:
        try:
            sign(edc, actor, code, password, meaning, int(form_id) if form_id.isdigit() else None)
            return _done(f"/subjects/{code}", "signed")
        except (NotFoundError, PermissionDeniedError) as error:
            return refused(request, session, error)
        except OligotrialError as error:
            errors = field_errors(error)
    return _subject_refused(
        request, session, code, errors=errors, typed={"meaning": meaning, "form_id": form_id}, sign_open=True
    )


@router.post("/subjects/{code}/casebook")
def subject_casebook(
    request: Request,
    session: Session,
    code: str,
    csrf_token: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "",
    text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Lock or unlock (with a reason) every form of the subject (data managers); a refusal is shown next to
    the buttons."""
    check_csrf(request, csrf_token, session.token)
    edc, actor = session.edc, session.actor
    try:
        if action == "lock":
            lock_casebook(edc, actor, code)
            return _done(f"/subjects/{code}", "locked")
        if action == "unlock":
            unlock_casebook(edc, actor, code, text)
            return _done(f"/subjects/{code}", "unlocked")
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        errors = {f"casebook.{k}" if k else "": v for k, v in field_errors(error).items()}
        return _subject_refused(request, session, code, errors=errors, typed={"casebook.text": text})
    return RedirectResponse(f"/subjects/{code}", status_code=303)


def _subject_refused(request: Request, session: WebSession, code: str, **shown: Any) -> Response:
    """The subject page again (422) with what a refused action on it shows (``errors``, ``typed``, ...)."""
    try:
        context = _subject_context(request, session, code)
    except OligotrialError as error:
        return refused(request, session, error)
    return render(request, "subject.html", {**context, **shown}, session=session, status_code=422)


def _form_context(session: WebSession, form_id: int) -> dict[str, Any]:
    """What the form page shows: the form, its versions, queries, signatures and the link to change it."""
    edc, actor = session.edc, session.actor
    form = get_form(edc, actor, form_id)
    history = get_form_history(edc, actor, form_id)
    form_queries, _ = query_services.list_queries(edc, actor, subject_code=form.subject, limit=500)
    signatures = [s for s in list_signatures(edc, actor, form.subject) if s.form_id == form_id]
    return {
        "form": form,
        "history": history,
        "queries": [q for q in form_queries if q.form_id == form_id],
        "items": _flatten(form.values),
        "signatures": signatures,
        "meanings": list(SIGNATURE_MEANINGS),
        "edit_link": edit_link(form),
    }


@router.get("/forms/{form_id}")
def form_page(request: Request, session: Session, form_id: int) -> Response:
    """One form: values, versions with reasons, queries, verification and lock, its signatures (valid or
    invalidated by a later change), and the actions on them."""
    try:
        context = _form_context(session, form_id)
    except OligotrialError as error:
        return refused(request, session, error)
    return render(request, "form.html", context, session=session)


@router.post("/forms/{form_id}/sign")
def form_sign(
    request: Request,
    session: Session,
    form_id: int,
    csrf_token: Csrf = "",
    password: Annotated[str, Form(max_length=256)] = "",
    meaning: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Sign this one form (investigator) after re-entering the password; errors are shown in the dialog.

    Notes
    -----
    The signature binds the form's current version and content hash (21 CFR 11.70, see
    :func:`oligotrial.services.signatures.sign`); a later change shows it as invalidated on this page.
    """
    check_csrf(request, csrf_token, session.token)
    edc, actor = session.edc, session.actor
    errors: dict[str, list[Problem]] = {}
    if not password:
        errors["password"] = [Problem("WEB-004", "password", "required")]
    if not meaning:
        errors["meaning"] = [Problem("EDC-040", "meaning", "required")]
    try:
        form = get_form(edc, actor, form_id)
        if not errors:
            sign(edc, actor, form.subject, password, meaning, form_id)
            return _done(f"/forms/{form_id}", "signed")
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        errors = {k if k in ("password", "meaning") else "": v for k, v in field_errors(error).items()}
    try:
        context = _form_context(session, form_id)
    except OligotrialError as error:
        return refused(request, session, error)
    return render(
        request,
        "form.html",
        {**context, "errors": errors, "typed": {"meaning": meaning}, "sign_open": True},
        session=session,
        status_code=422,
    )


def _flatten(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(values, dict):
        out: list[tuple[str, Any]] = []
        for key, value in values.items():
            out += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(values, list):
        out = []
        for i, value in enumerate(values):
            out += _flatten(value, f"{prefix}.{i}")
        return out
    return [(prefix, values)]


@router.post("/forms/{form_id}/action")
def form_action(
    request: Request,
    session: Session,
    form_id: int,
    csrf_token: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
    item: Annotated[str, Form(max_length=64)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Verify (monitor), lock and unlock (data manager), raise a query (monitor, data manager)."""
    check_csrf(request, csrf_token, session.token)
    edc, actor = session.edc, session.actor
    path = f"/forms/{form_id}"
    try:
        if action == "verify":
            verify_form(edc, actor, form_id, int(version) if version.isdigit() else -1)
            return _done(path, "verified")
        if action == "lock":
            lock_form(edc, actor, form_id)
            return _done(path, "locked")
        if action == "unlock":
            unlock_form(edc, actor, form_id, text)
            return _done(path, "unlocked")
        if action == "query":
            query_services.raise_query(edc, actor, form_id, item or "form", text)
            return _done(path, "raised")
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        return render(
            request,
            "form.html",
            {
                **_form_context(session, form_id),
                "errors": {f"{action}.{k}" if k else "": v for k, v in field_errors(error).items()},
                "typed": {"text": text, "item": item},
            },
            session=session,
            status_code=422,
        )
    return RedirectResponse(path, status_code=303)


PER_PAGE = 50
_QUERY_FILTERS = ("state", "site", "subject", "page")
Item = TypeVar("Item")


def _page_of(
    listing: Callable[[int, int], tuple[list[Item], int]], filters: dict[str, str]
) -> tuple[list[Item], dict[str, Any]]:
    """One page of a list fifty a page: ``listing(limit, offset)`` gives the items and the total;
    ``filters["page"]`` (1 when it is not a number; the last page when it is past the end, as when the
    last page's items left the list) chooses the page. Returns the items and the page's context: the
    total, the first item's number, and ``back``/``previous``/``following`` (``filters`` at this page, the
    one before, the one after; ``None`` when there is none)."""
    page = max(int(filters["page"]) if filters["page"].isdigit() else 1, 1)
    found, total = listing(PER_PAGE, (page - 1) * PER_PAGE)
    pages = max(-(-total // PER_PAGE), 1)
    if page > pages:
        page = pages
        found, total = listing(PER_PAGE, (page - 1) * PER_PAGE)
    return found, {
        "total": total,
        "first": (page - 1) * PER_PAGE + 1,
        **filters,
        "back": {**filters, "page": page},
        "previous": {**filters, "page": page - 1} if page > 1 else None,
        "following": {**filters, "page": page + 1} if page < pages else None,
    }


@router.get("/queries")
def queries_page(
    request: Request,
    session: Session,
    state: str | None = "open",
    site: str | None = None,
    subject: str | None = None,
    page: int = 1,
) -> Response:
    """Queries of the user's sites by state, site and subject, fifty a page, each with its history and the
    allowed actions."""
    filters = {"state": state or "", "site": site or "", "subject": subject or "", "page": str(page)}
    try:
        context = _queries_context(session, filters)
    except OligotrialError as error:
        return refused(request, session, error)
    return render(request, "queries.html", context, session=session)


def _queries_context(session: WebSession, filters: dict[str, str]) -> dict[str, Any]:
    """The queries page's context for ``filters`` (state, site, subject, page; an unknown state reads as
    "all")."""
    state = filters["state"] if filters["state"] in query_services.QUERY_STATES else ""
    found, paging = _page_of(
        lambda limit, offset: query_services.list_queries(
            session.edc,
            session.actor,
            state=state or None,
            site_code=filters["site"] or None,
            subject_code=filters["subject"] or None,
            limit=limit,
            offset=offset,
        ),
        {**filters, "state": state},
    )
    return {
        "queries": found,
        **paging,
        "states": query_services.QUERY_STATES,
        "sites": [s.code for s in list_sites(session.edc, session.actor)],
    }


QUERY_CSV_COLUMNS = (
    "query",
    "site",
    "subject",
    "event",
    "form",
    "item",
    "origin",
    "check_code",
    "state",
    "raised_at_utc",
    "raised_by",
    "last_action",
    "last_action_by",
    "last_action_at_utc",
    "last_text",
)


@router.get("/queries.csv")
def queries_csv(
    request: Request,
    session: Session,
    state: str | None = "open",
    site: str | None = None,
    subject: str | None = None,
) -> Response:
    """Every query the queries page's filters keep (not one page), oldest first, as CSV: the listing a
    monitor sends a site, with each query's raising and its latest step (times in UTC)."""
    chosen = state if state in query_services.QUERY_STATES else None

    def listed(offset: int) -> tuple[list[QueryView], int]:
        return query_services.list_queries(
            session.edc,
            session.actor,
            state=chosen,
            site_code=site or None,
            subject_code=subject or None,
            limit=500,
            offset=offset,
        )

    try:
        first, total = listed(0)  # refused (not allowed) before the download starts
    except OligotrialError as error:
        return refused(request, session, error)

    def pages() -> Iterator[list[tuple[object, ...]]]:
        found, offset = first, 0
        while found:
            yield [_query_csv_row(q) for q in found]
            offset += len(found)
            found = listed(offset)[0] if offset < total else []

    return csv_download("queries.csv", QUERY_CSV_COLUMNS, pages())


def _query_csv_row(query: QueryView) -> tuple[object, ...]:
    raised, last = query.messages[0], query.messages[-1]
    return (
        query.id,
        query.site,
        query.subject,
        query.event_code,
        query.form_code,
        query.item,
        query.origin,
        query.check_code or "",
        query.state,
        raised.at.isoformat(),
        raised.author,
        last.action,
        last.author,
        last.at.isoformat(),
        last.text,
    )


@router.get("/verification")
def verification_page(
    request: Request, session: Session, site: str | None = None, subject: str | None = None, page: int = 1
) -> Response:
    """Forms awaiting source-data verification at the monitor's sites, by site and subject, fifty a page,
    each with a box to mark it verified at the version shown."""
    filters = {"site": site or "", "subject": subject or "", "page": str(page)}
    try:
        context = _verification_context(session, filters)
    except OligotrialError as error:
        return refused(request, session, error)
    return render(request, "verification.html", context, session=session)


def _verification_context(session: WebSession, filters: dict[str, str]) -> dict[str, Any]:
    found, paging = _page_of(
        lambda limit, offset: list_forms_to_verify(
            session.edc,
            session.actor,
            site_code=filters["site"] or None,
            subject_code=filters["subject"] or None,
            limit=limit,
            offset=offset,
        ),
        filters,
    )
    return {"forms": found, **paging, "sites": [s.code for s in list_sites(session.edc, session.actor)]}


@router.post("/verification")
def verify_selected(
    request: Request,
    session: Session,
    csrf_token: Csrf = "",
    form: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006 - FastAPI's default, not shared
    back: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Mark the selected forms verified (each ``<form id>:<version shown>``), all or none; back to the list
    as it was filtered, or the list again with the reason (nothing selected, a form changed since)."""
    check_csrf(request, csrf_token, session.token)
    kept = dict(parse_qsl(back))
    filters = {key: kept.get(key, "") for key in ("site", "subject", "page")}
    versions: dict[int, int] = {}
    for value in form:
        form_id, _, version = value.partition(":")
        if form_id.isdigit() and version.isdigit():
            versions[int(form_id)] = int(version)
    try:
        if not versions:
            raise InputError.single("WEB-007", "form", "select at least one form")
        verify_forms(session.edc, session.actor, versions)
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        context = _verification_context(session, filters)
        context["errors"] = {"": list(error.problems)}
        return render(request, "verification.html", context, session=session, status_code=422)
    listing = "/verification?" + urlencode({k: v for k, v in filters.items() if v})
    return _done(listing, "verified")


@router.post("/queries/{query_id}")
def query_action(
    request: Request,
    session: Session,
    query_id: int,
    csrf_token: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Answer (site), close or re-open (monitor, data manager) a query, with a text; back to the list as it
    was filtered (``back``: its state, site, subject and page)."""
    check_csrf(request, csrf_token, session.token)
    edc, actor = session.edc, session.actor
    kept = dict(parse_qsl(back))
    filters = {key: kept.get(key, "") for key in _QUERY_FILTERS}
    listing = "/queries?" + urlencode({k: v for k, v in filters.items() if v or k == "state"})
    functions = {
        "answer": (query_services.answer_query, "answered"),
        "close": (query_services.close_query, "closed"),
        "reopen": (query_services.reopen_query, "reopened"),
    }
    if action not in functions:
        return RedirectResponse(listing, status_code=303)
    function, key = functions[action]
    try:
        function(edc, actor, query_id, text)
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        context = _queries_context(session, filters)
        context["errors"] = {f"q{query_id}.text": field_errors(error).get("text", list(error.problems))}
        context["typed"] = {f"q{query_id}.text": text}
        return render(request, "queries.html", context, session=session, status_code=422)
    return _done(listing, key)


@router.get("/audit")
def audit_page(
    request: Request,
    session: Session,
    table: str | None = None,
    record: str | None = None,
    subject: str | None = None,
    order: str = "newest",
    after: int = 0,
    before: int = 0,
) -> Response:
    """The audit trail, newest first (or oldest first: chain order), of one subject's records, one table or
    one record when asked. A subject the reader cannot see is marked on the filter (404)."""
    oldest = order == "oldest"
    filters = {"subject": subject or "", "table": table or "", "record": record or ""}
    try:
        page = read_audit(
            session.edc,
            session.actor,
            table=table or None,
            record_id=record or None,
            subject=subject or None,
            after=max(after, 0),
            before=None if oldest else max(before, 0),
            limit=200,
        )
    except NotFoundError as error:
        context = {"page": None, **filters, "oldest": oldest, "errors": field_errors(error)}
        return render(request, "audit.html", context, session=session, status_code=404)
    except OligotrialError as error:
        return refused(request, session, error)
    cursor = ("after", page.next_after) if oldest else ("before", page.next_before)
    following = None if cursor[1] is None else {**filters, "order": order, cursor[0]: cursor[1]}
    return render(
        request,
        "audit.html",
        {"page": page, **filters, "oldest": oldest, "following": following},
        session=session,
    )


AUDIT_CSV_COLUMNS = (
    "position",
    "at_utc",
    "user",
    "action",
    "table",
    "record",
    "site",
    "old",
    "new",
    "reason",
    "source",
    "hash",
)


@router.get("/audit.csv")
def audit_csv(
    request: Request,
    session: Session,
    table: str | None = None,
    record: str | None = None,
    subject: str | None = None,
) -> Response:
    """Every entry the audit page's filters keep (not one page), in chain order, as CSV: a copy for an
    inspection or a spreadsheet (UTF-8 with a byte-order mark, so that spreadsheets read Chinese text; the
    old and new values as JSON objects; times in UTC, ISO 8601)."""

    def entries_after(after: int) -> AuditPage:
        return read_audit(
            session.edc,
            session.actor,
            table=table or None,
            record_id=record or None,
            subject=subject or None,
            after=after,
            limit=1000,
        )

    try:
        first = entries_after(0)  # refused (not found, not allowed) before the download starts
    except OligotrialError as error:
        return refused(request, session, error)

    def pages() -> Iterator[list[tuple[object, ...]]]:
        page: AuditPage | None = first
        while page is not None:
            yield [_audit_csv_row(e) for e in page.entries]
            page = None if page.next_after is None else entries_after(page.next_after)

    return csv_download(
        f"audit-trail-{subject}.csv" if subject else "audit-trail.csv", AUDIT_CSV_COLUMNS, pages()
    )


def csv_download(name: str, header: Sequence[str], pages: Iterator[list[tuple[object, ...]]]) -> Response:
    """A CSV file streamed page by page as ``pages`` yields its rows: UTF-8 with a byte-order mark (so that
    spreadsheets read Chinese text), CRLF line ends, saved as ``name``."""

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        yield "\ufeff" + out.getvalue()
        for rows in pages:
            out.seek(0)
            out.truncate()
            writer.writerows(rows)
            yield out.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _audit_csv_row(entry: AuditEntryView) -> tuple[object, ...]:
    def values(found: dict[str, Any] | None) -> str:
        return "" if found is None else json.dumps(found, ensure_ascii=False, sort_keys=True)

    return (
        entry.id,
        entry.at.isoformat(),
        entry.actor,
        entry.action,
        entry.table,
        entry.record_id,
        entry.site or "",
        values(entry.old),
        values(entry.new),
        entry.reason or "",
        entry.source,
        entry.hash,
    )
