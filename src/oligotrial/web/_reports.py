"""Statistician and DSMB pages: the aggregate report of :func:`oligotrial.services.reports.aggregate_report`
(enrollment by site and over time, CONSORT counts, Kaplan-Meier summaries of PFS and OS by arm, responses and
adverse events by arm), its PNG figures drawn by :mod:`oligotrial.reports.figures`, and the randomization list
(statistician only). What each role sees is decided by the service; the pages only show it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from oligotrial.errors import OligotrialError, PermissionDeniedError, Problem
from oligotrial.services import randomization as rand_services
from oligotrial.services.reports import (
    SURVIVAL_ENDPOINTS,
    aggregate_report,
    enrollment_over_time,
    survival_curves,
)
from oligotrial.services.views import ArmView, EstimateView
from oligotrial.web import _i18n
from oligotrial.web._pages import refused
from oligotrial.web._render import language_of, render
from oligotrial.web._session import Session

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_KM_TITLES = {"PFS": "Progression-free survival", "OS": "Overall survival"}


def _group_label(code: str, arms: list[ArmView]) -> str:
    """An arm (``Control (CTRL)``), ``ALL`` (all enrolled), ``NOT_RANDOMIZED`` or ``TOTAL``, translated."""
    for arm in arms:
        if arm.code == code:
            kind = _i18n.gettext("Experimental") if arm.is_experimental else _i18n.gettext("Control")
            return f"{kind} ({arm.code})"
    if code == "ALL":
        return _i18n.gettext("All enrolled")
    if code == "NOT_RANDOMIZED":
        return _i18n.gettext("Not randomized")
    return _i18n.gettext("Total") if code == "TOTAL" else code


def _absent(e: EstimateView) -> str:
    return _i18n.gettext("not reached") if e.reason == "not reached" else _i18n.gettext("not estimable")


def _interval(e: EstimateView, scale: float, digits: int) -> str:
    if e.lower is None and e.upper is None:
        return ""
    low = "—" if e.lower is None else f"{e.lower * scale:.{digits}f}"
    high = _i18n.gettext("NR") if e.upper is None else f"{e.upper * scale:.{digits}f}"
    return f" ({low}–{high})"


def _rate(e: EstimateView) -> str:
    """A proportion as a percentage with its 95% interval, or why it does not exist."""
    if e.value is None:
        return _absent(e)
    return f"{e.value * 100:.1f}%{_interval(e, 100.0, 1)}"


def _number(e: EstimateView, digits: int = 2) -> str:
    """A median (months), hazard ratio or difference with its 95% interval, or why it does not exist."""
    if e.value is None:
        return _absent(e)
    return f"{e.value:.{digits}f}{_interval(e, 1.0, digits)}"


def _p_value(e: EstimateView) -> str:
    if e.value is None:
        return _absent(e)
    return "< 0.001" if e.value < 0.001 else f"{e.value:.3f}"


@router.get("/reports")
def reports_page(request: Request, session: Session) -> Response:
    """The aggregate report the user's roles allow (site enrollment, study enrollment, or the analysis)."""
    try:
        report = aggregate_report(session.edc, session.actor)
    except OligotrialError as error:
        return refused(request, session, error)
    context: dict[str, Any] = {
        "report": report,
        "group_label": lambda code: _group_label(code, report.arms),
        "rate": _rate,
        "number": _number,
        "p_value": _p_value,
    }
    return render(request, "reports.html", context, session=session)


def _figure_error(error: OligotrialError) -> Response:
    status = 403 if isinstance(error, PermissionDeniedError) else 409
    return Response(status_code=status)


@router.get("/reports/km/{endpoint}.png")
def km_png(request: Request, session: Session, endpoint: str) -> Response:
    """Kaplan-Meier of ``PFS`` or ``OS`` by arm (statisticians and DSMB members; 403 for anyone else)."""
    if endpoint not in SURVIVAL_ENDPOINTS:
        return Response(status_code=404)
    try:
        summary = survival_curves(session.edc, session.actor, endpoint, title=_KM_TITLES[endpoint])
    except OligotrialError as error:
        return _figure_error(error)
    from oligotrial.reports.figures import draw_km  # matplotlib: loaded when the first figure is drawn

    return Response(draw_km(summary), media_type="image/png")


@router.get("/reports/enrollment.png")
def enrollment_png(request: Request, session: Session) -> Response:
    """Cumulative enrolled and randomized subjects per site by month (study-wide aggregate readers)."""
    try:
        series = enrollment_over_time(session.edc, session.actor)
    except OligotrialError as error:
        return _figure_error(error)
    _i18n.use_language(language_of(request))
    months = [m.month for m in series[0].months] if series else []
    from oligotrial.reports.figures import draw_enrollment

    png = draw_enrollment(
        months,
        {s.site: ([m.enrolled for m in s.months], [m.randomized for m in s.months]) for s in series},
        title=_i18n.gettext("Cumulative enrollment by site"),
        ylabel=_i18n.gettext("Subjects"),
        enrolled=_i18n.gettext("enrolled"),
        randomized=_i18n.gettext("randomized"),
        empty=_i18n.gettext("No subject enrolled yet."),
    )
    return Response(png, media_type="image/png")


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
