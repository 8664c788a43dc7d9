"""Assemble the analysis report from typed inputs: the tables (:mod:`~oligotrial.reports.tables`) and the
figures (:mod:`~oligotrial.reports.figures`), plus what makes it reproducible (software and protocol versions,
data cutoff, input checksums)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from oligotrial import __version__
from oligotrial.protocol.models import Protocol
from oligotrial.reports import figures as fg
from oligotrial.reports.data import ReportInputs
from oligotrial.reports.tables import (
    ArmInfo,
    Consort,
    Estimate,
    ResponseSummary,
    SubgroupRow,
    SurvivalSummary,
    Table,
    compute_baseline,
    compute_best_change,
    compute_consort,
    compute_response,
    compute_rt_compliance,
    compute_safety,
    compute_subgroups,
    compute_survival,
    compute_swimmer,
    get_arms,
    screen_failure_reasons,
)

__all__ = ["Report", "build_report", "summarize_report"]


@dataclass(frozen=True)
class Report:
    """Everything the report shows. A figure is PNG bytes, or a string saying why it is absent."""

    title: str
    software: str
    protocol_id: str
    protocol_version: str
    cutoff: date | None
    checksums: tuple[tuple[str, str], ...]
    arms: tuple[ArmInfo, ...]
    consort: Consort
    baseline: Table
    strata_balance: Table
    survival: tuple[SurvivalSummary, ...]
    responses: tuple[ResponseSummary, ...]
    duration_of_response: SurvivalSummary
    subgroups: tuple[SubgroupRow, ...]
    safety: dict[str, Table]
    radiotherapy: tuple[Table, Table] | str
    figures: dict[str, bytes | str] = field(default_factory=dict)


def build_report(inputs: ReportInputs, protocol: Protocol, *, title: str | None = None) -> Report:
    """Compute every table and draw every figure of the report (``inputs`` already cut off)."""
    arms = get_arms(protocol)
    consort = compute_consort(
        inputs.adsl, inputs.adtte, protocol, screen_failure_reasons(inputs.ie, inputs.ds)
    )
    baseline, balance = compute_baseline(inputs.adsl, protocol)
    survival = tuple(
        compute_survival(inputs.adtte, paramcd, protocol, title=name)
        for paramcd, name in (("PFS", "Progression-free survival"), ("OS", "Overall survival"))
    )
    dor = compute_survival(inputs.adtte, "DOR", protocol, title="Duration of response", randomized=False)
    responses = (
        compute_response(inputs.adrs, protocol, "CRSP", "Objective response rate (confirmed CR or PR)"),
        compute_response(inputs.adrs, protocol, "CB", "Disease control rate (CR, PR or SD)"),
    )
    subgroups = compute_subgroups(inputs.adtte, inputs.adsl, protocol)
    safety = compute_safety(inputs.adae, inputs.adsl, protocol)
    rt = compute_rt_compliance(inputs.pr, inputs.ex, inputs.adsl, protocol)

    figures: dict[str, bytes | str] = {"consort": fg.draw_consort(consort)}
    for summary in survival:
        figures[f"km_{summary.paramcd.lower()}"] = (
            fg.draw_km(summary)
            if any(a.curve is not None for a in summary.arms)
            else f"no randomized subject has a {summary.paramcd} record"
        )
    figures["km_dor"] = (
        fg.draw_km(dor)
        if any(a.curve is not None for a in dor.arms)
        else "no responders: duration of response does not exist"
    )
    changes = compute_best_change(inputs.adrs, inputs.adsl, protocol, inputs.adtr)
    if isinstance(changes, str):
        figures["waterfall"] = figures["spider"] = changes
    else:
        figures["waterfall"] = fg.draw_waterfall(changes, arms)
        figures["spider"] = (
            fg.draw_spider(changes, arms)
            if changes.get_column("MONTHS").null_count() < changes.height
            else "no assessment date (ADT) or first dose (TRTSDT) to place the changes in time"
        )
    swimmer = compute_swimmer(inputs.adsl, inputs.adrs, protocol)
    figures["swimmer"] = (
        fg.draw_swimmer(swimmer, arms)
        if swimmer.height
        else "no treated subject with treatment dates (ADSL TRTSDT, TRTEDT)"
    )
    figures["forest"] = (
        fg.draw_forest(subgroups, arms) if subgroups else "no randomized subject has a PFS record"
    )
    if isinstance(rt, str):
        figures["bed"] = rt
    elif rt[2]:
        figures["bed"] = fg.draw_bed_histogram(
            rt[2], protocol.radiotherapy.sbrt.other_schedule_bed10_recommended_above_gy
        )
    else:
        figures["bed"] = "no radiotherapy course"
    cutoff_text = f" (data cutoff {inputs.cutoff.isoformat()})" if inputs.cutoff else ""
    return Report(
        title=title or f"{protocol.protocol.id} analysis report{cutoff_text}",
        software=f"oligotrial {__version__}",
        protocol_id=protocol.protocol.id,
        protocol_version=protocol.protocol.version,
        cutoff=inputs.cutoff,
        checksums=inputs.checksums,
        arms=arms,
        consort=consort,
        baseline=baseline,
        strata_balance=balance,
        survival=survival,
        responses=responses,
        duration_of_response=dor,
        subgroups=subgroups,
        safety=safety,
        radiotherapy=rt if isinstance(rt, str) else (rt[0], rt[1]),
        figures=figures,
    )


def _estimate(e: Estimate) -> dict[str, Any]:
    if e.value is None:
        return {"value": None, "ci": [e.lower, e.upper], "reason": e.reason}
    return {"value": e.value, "ci": [e.lower, e.upper]}


def summarize_report(report: Report) -> dict[str, Any]:
    """The report's key numbers as a JSON-ready document (the ``--json`` output of ``oligotrial report``)."""

    def survival(s: SurvivalSummary) -> dict[str, Any]:
        return {
            "arms": {
                a.arm.code: {
                    "n": a.n,
                    "events": a.events,
                    "median_months": _estimate(a.median),
                    "rates": {f"{t:g}": _estimate(r) for t, r in a.rates},
                }
                for a in s.arms
            },
            "logrank_p": _estimate(s.logrank),
            "logrank_chisq": s.logrank_chisq,
            "hazard_ratio": _estimate(s.cox),
            "rmst_difference_months": _estimate(s.rmst),
            "rmst_tau_months": s.rmst_tau,
            "strata": list(s.strata),
        }

    consort = report.consort
    return {
        "title": report.title,
        "software": report.software,
        "protocol": {"id": report.protocol_id, "version": report.protocol_version},
        "cutoff": report.cutoff.isoformat() if report.cutoff else None,
        "consort": {
            "screened": consort.screened,
            "not_enrolled": consort.not_enrolled,
            "not_enrolled_reasons": dict(consort.not_enrolled_reasons),
            "enrolled": consort.enrolled,
            "progressed_during_induction": consort.induction_progression,
            "randomized": consort.randomized,
            "treated": consort.treated,
            "radiotherapy": consort.radiotherapy,
            "discontinued": consort.discontinued,
            "analysed": consort.analysed,
        },
        "survival": {s.paramcd: survival(s) for s in (*report.survival, report.duration_of_response)},
        "responses": {
            r.paramcd: {
                "rows": [
                    {"group": g, "responders": k, "n": n, "rate": _estimate(e)} for g, k, n, e in r.rows
                ],
                "difference": _estimate(r.difference),
            }
            for r in report.responses
        },
        "subgroups": [
            {
                "variable": r.variable,
                "level": r.level,
                "n": r.n,
                "events": r.events,
                "hazard_ratio": _estimate(r.hr),
            }
            for r in report.subgroups
        ],
        "figures": {
            name: ({"absent": value} if isinstance(value, str) else {"bytes": len(value)})
            for name, value in report.figures.items()
        },
        "inputs": dict(report.checksums),
    }
