"""Rendering pages: the Jinja2 environment (autoescaped, gettext from the catalogs), the request's language
and time zone, and the translation of service problems into messages next to the fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from oligotrial.errors import MISSING_FIELD, OligotrialError, Problem
from oligotrial.services import Permission, Role
from oligotrial.web import _i18n
from oligotrial.web._messages import (
    KIND_LABELS,
    NOTICES,
    PROBLEM_MESSAGES,
    RECORD_RULE_MESSAGES,
    STATUS_LABELS,
)
from oligotrial.web._session import LANGUAGE_COOKIE, STUDY_WIDE_TIME_ZONE, WebSession

__all__ = [
    "FieldErrors",
    "field_errors",
    "language_of",
    "page_time_zone",
    "render",
    "site_time_zone",
]

TEMPLATES = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.install_gettext_callables(_i18n.gettext, _i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]

FieldErrors = dict[str, list[Problem]]


def language_of(request: Request) -> str:
    """The page's language: the logged-in user's stored choice; before login the choice made on the login
    page (a cookie), else the browser's preference, else English."""
    stored = getattr(request.state, "language", None)
    if stored in _i18n.LANGUAGES:
        return str(stored)
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in _i18n.LANGUAGES:
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    return "zh_Hans" if accept.startswith("zh") else _i18n.DEFAULT_LANGUAGE


def site_time_zone(request: Request) -> str:
    """The time zone of the logged-in user's pages (see :func:`oligotrial.web._session.user_time_zone`);
    UTC before login."""
    return str(getattr(request.state, "time_zone", STUDY_WIDE_TIME_ZONE))


def page_time_zone(request: Request, session: WebSession | None, context: Mapping[str, Any]) -> str:
    """The zone a page shows timestamps in: the site of the page's subject or form, else the user's zone."""
    if session is None:
        return site_time_zone(request)
    for key in ("subject", "form"):
        record = context.get(key)
        site = getattr(record, "site", None)
        if isinstance(site, str):
            return session.zone_of_site(site)
    return session.time_zone


def _field_key(field: str) -> str:
    """``values.lesions[2].diameter_mm`` -> ``lesions.2.diameter_mm`` (the name of the HTML input)."""
    key = re.sub(r"\[(\d+)\]", r".\1", field or "")
    return key.removeprefix("values.")


def field_errors(error: OligotrialError | Iterable[Problem]) -> FieldErrors:
    """Problems by the HTML input they belong to ("" for the form as a whole)."""
    problems = error.problems if isinstance(error, OligotrialError) else tuple(error)
    found: FieldErrors = {}
    for problem in problems:
        found.setdefault(_field_key(problem.field), []).append(problem)
    return found


_RECORD_FIELD = re.compile(r"(^values|\])$")  # a form's values as a whole, or one row of a table


def problem_message(problem: Problem) -> str:
    """The message of a problem in the user's language (by its code), with the code for support.

    A required item that is missing says so whatever its code; a form's rule that ties items together
    (found on the whole record or row) has its own message (:data:`RECORD_RULE_MESSAGES`)."""
    if problem.message == MISSING_FIELD:
        msgid: str | None = PROBLEM_MESSAGES["WEB-004"]
    elif problem.code in RECORD_RULE_MESSAGES and _RECORD_FIELD.search(problem.field):
        msgid = RECORD_RULE_MESSAGES[problem.code]
    else:
        msgid = PROBLEM_MESSAGES.get(problem.code)
    if msgid is None and "-" in problem.code:
        msgid = PROBLEM_MESSAGES.get(problem.code.split("-")[0] + "-*")
    text = _i18n.gettext(msgid) if msgid else _i18n.gettext("The value was refused.")
    return f"{text} ({problem.code})"


def status_label(status: str) -> str:
    msgid = STATUS_LABELS.get(status)
    return _i18n.gettext(msgid) if msgid else status


def notice_text(key: str) -> str:
    msgid = NOTICES.get(key)
    return _i18n.gettext(msgid) if msgid else ""


def kind_label(kind: str) -> str:
    msgid = KIND_LABELS.get(kind)
    return _i18n.gettext(msgid) if msgid else kind


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    session: WebSession | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` in the request's language; the page knows the user, their roles and the CSRF token."""
    language = language_of(request)
    _i18n.use_language(language)
    zone = page_time_zone(request, session, context or {})
    actor = session.actor if session else None
    values: dict[str, Any] = {
        "request": request,
        "language": language,
        "html_lang": "zh-Hans" if language == "zh_Hans" else "en",
        "languages": _i18n.LANGUAGES,
        "time_zone": zone,
        "session": session,
        "actor": actor,
        "csrf": session.csrf if session else "",
        "can": (lambda p: actor.has_anywhere(Permission(p))) if actor else (lambda p: False),
        "is_statistician": bool(actor)
        and any(r == Role.STATISTICIAN and s is None for r, s in actor.assignments),  # type: ignore[union-attr]
        "iso": lambda v: _i18n.format_datetime(v, zone),
        "problem_message": problem_message,
        "status_label": status_label,
        "notice_text": notice_text,
        "kind_label": kind_label,
        "notice": request.query_params.get("done", ""),
        "errors": {},
        "typed": {},
        **(context or {}),
    }
    html = _env.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)
