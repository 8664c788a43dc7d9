"""Statistician and DSMB pages: enrollment by site, CONSORT counts, Kaplan-Meier of PFS and OS by arm (PNG
drawn by :mod:`oligotrial.reports.figures`), and the randomization list (statistician only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from oligotrial.endpoints import derive_adam
from oligotrial.errors import OligotrialError, PermissionDeniedError, Problem
from oligotrial.exports.sdtm import derive_sdtm
from oligotrial.reports.figures import draw_km
from oligotrial.reports.tables import compute_consort, compute_survival
from oligotrial.services import Permission
from oligotrial.services import randomization as rand_services
from oligotrial.services.reports import enrollment_report
from oligotrial.web._pages import refused
from oligotrial.web._render import render
from oligotrial.web._session import Session, WebSession

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _adam(session: WebSession) -> Any:
    """ADaM derived now from the database (SDTM as the export builds it); needs ``export`` study-wide."""
    protocol = rand_services.current_protocol()
    tables, _problems = derive_sdtm(session.edc, session.actor, protocol=protocol)
    return derive_adam(tables, protocol), protocol


@router.get("/reports")
def reports_page(request: Request, session: Session) -> Response:
    """Enrollment by site for every aggregate reader; CONSORT and KM where the roles allow the analysis."""
    try:
        enrollment = enrollment_report(session.edc, session.actor)
    except OligotrialError as error:
        return refused(request, session, error)
    context: dict[str, Any] = {"enrollment": enrollment, "consort": None, "analysis_error": ""}
    if session.actor.can(Permission.EXPORT):
        try:
            adam, protocol = _adam(session)
            context["consort"] = compute_consort(adam.adsl, adam.adtte, protocol)
            context["arms"] = [a.id for a in protocol.arms]
        except OligotrialError as error:
            context["analysis_error"] = error.problems[0].code
    return render(request, "reports.html", context, session=session)


@router.get("/reports/km/{endpoint}.png")
def km_png(request: Request, session: Session, endpoint: str) -> Response:
    """Kaplan-Meier of ``PFS`` or ``OS`` by arm, drawn now from the database."""
    if endpoint not in ("PFS", "OS"):
        return Response(status_code=404)
    if not session.actor.can(Permission.EXPORT):
        return Response(status_code=403)
    try:
        adam, protocol = _adam(session)
        summary = compute_survival(adam.adtte, endpoint, protocol, title=endpoint)
        png = draw_km(summary)
    except OligotrialError:
        return Response(status_code=409)
    return Response(png, media_type="image/png", headers={"cache-control": "no-store"})


@router.get("/randomization-list")
def randomization_list_page(request: Request, session: Session) -> Response:
    """The concealed allocation list with used and unused slots: statistician only (403 for anyone else)."""
    try:
        lists = rand_services.list_randomization_lists(session.edc, session.actor)
        entries, total = rand_services.list_randomization_entries(session.edc, session.actor, limit=2000)
    except PermissionDeniedError as error:
        return refused(request, session, error)
    except OligotrialError as error:
        return refused(request, session, PermissionDeniedError(Problem(error.code, "", "refused")))
    return render(
        request,
        "randomization_list.html",
        {"lists": lists, "entries": entries, "total": total},
        session=session,
    )
