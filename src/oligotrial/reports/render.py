"""Render a :class:`~oligotrial.reports.build.Report` as one self-contained HTML page (figures as PNG data
URIs, inline CSS, no script) and as PDF (weasyprint), and write them.

Wording: a statistic that does not exist reads "not estimable" with its reason; a median (or a confidence
bound of it) that the curve never reaches reads "NR" (not reached). Times are in months, rates in percent.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from oligotrial.reports.build import Report
from oligotrial.reports.figures import DPI, SIZES
from oligotrial.reports.tables import Estimate, ResponseSummary, SurvivalSummary, Table

__all__ = [
    "ReportFormat",
    "format_ci",
    "format_estimate",
    "format_p",
    "render_html",
    "write_pdf",
    "write_report",
]

ReportFormat = Literal["html", "pdf", "both"]
_NE = "not estimable"

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 13px; color: #222; margin: 2em auto;
       max-width: 1100px; line-height: 1.4; }
h1 { font-size: 22px; border-bottom: 2px solid #1f5fa8; padding-bottom: .3em; }
h2 { font-size: 18px; color: #1f5fa8; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin-top: 1.4em; }
table { border-collapse: collapse; margin: .6em 0 .2em; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
td.num { text-align: right; white-space: nowrap; }
p.note, ul.notes { font-size: 11px; color: #555; margin: .2em 0 1em; }
p.absent { background: #fff6e0; border-left: 4px solid #e0a800; padding: .4em .8em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 11px; color: #555; }
code { font-size: 11px; word-break: break-all; }
nav ul.toc { columns: 2; list-style: none; padding-left: 1.2em; }
@media print { body { max-width: none; margin: 0; font-size: 9px; } table { font-size: 8px; max-width: 100%; }
  th, td { padding: 2px 4px; } h2 { page-break-before: always; } header + nav + main > section:first-child h2,
  main > section:first-child h2 { page-break-before: avoid; } figure { page-break-inside: avoid; }
  figure img { max-height: 150mm; } }
@page { size: A4 landscape; margin: 10mm; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def format_ci(
    lower: float | None, upper: float | None, digits: int = 2, *, missing: str = "NR", scale: float = 1.0
) -> str:
    """``95% CI a to b``; an absent bound reads ``missing`` (NR: not reached)."""

    def bound(x: float | None) -> str:
        return missing if x is None else f"{x * scale:.{digits}f}"

    return f"95% CI {bound(lower)} to {bound(upper)}"


def format_estimate(e: Estimate, digits: int = 2, *, percent: bool = False, missing_bound: str = "NR") -> str:
    """A value with its interval, or "not estimable: reason" (a median not reached: "NR")."""
    scale, unit = (100.0, "%") if percent else (1.0, "")
    if e.value is None:
        if e.reason == "not reached":
            return f"NR ({format_ci(e.lower, e.upper, digits, missing=missing_bound, scale=scale)})"
        return f"{_NE}: {e.reason}" if e.reason else _NE
    if e.lower is None and e.upper is None:
        return f"{e.value * scale:.{digits}f}{unit}"
    return f"{e.value * scale:.{digits}f}{unit} ({format_ci(e.lower, e.upper, digits, missing=missing_bound, scale=scale)}{unit})"


def format_p(e: Estimate) -> str:
    """A p-value to 3 decimals (``<0.001`` below), or "not estimable: reason"."""
    if e.value is None:
        return f"{_NE}: {e.reason}" if e.reason else _NE
    return "<0.001" if e.value < 0.001 else f"{e.value:.3f}"


def _table(t: Table, *, numeric_from: int = 1) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in t.header)
    body = []
    for row in t.rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i >= numeric_from else ""
            text = _e(cell).replace("  ", "&nbsp;&nbsp;&nbsp;")
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not t.rows:
        body.append(f'<tr><td colspan="{len(t.header)}">none</td></tr>')
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in t.notes)
    return (
        f"<h3>{_e(t.title)}</h3>\n<table><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(body)
        + f"\n</tbody></table>\n{notes}"
    )


def _figure(report: Report, name: str, kind: str, caption: str) -> str:
    value = report.figures.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return f'<p class="absent"><strong>{_e(caption)}: not shown.</strong> {_e(value)}.</p>'
    width, height = (round(v * DPI) for v in SIZES[kind])
    data = base64.b64encode(value).decode("ascii")
    return (
        f'<figure id="fig-{_e(name)}"><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'
    )


def _survival(report: Report, s: SurvivalSummary, figure: str) -> str:
    landmarks = [t for t, _ in s.arms[0].rates] if s.arms else []
    header = ("Arm", "N", "Events", "Median, months", *(f"{t:g}-month rate" for t in landmarks))
    rows = []
    for a in s.arms:
        rows.append(
            (
                a.arm.label,
                str(a.n),
                str(a.events),
                format_estimate(a.median, 1),
                *(format_estimate(r, 1, percent=True) for _, r in a.rates),
            )
        )
    table = _table(Table(s.title, header, tuple(rows)))
    strata = ", ".join(s.strata) if s.strata else "none"
    tau = f"{s.rmst_tau:.1f}" if s.rmst_tau is not None else "—"
    comparisons = _table(
        Table(
            "Comparison (experimental vs control)",
            ("Statistic", "Value"),
            (
                ("Stratified log-rank p", format_p(s.logrank)),
                ("Stratified Cox hazard ratio", format_estimate(s.cox, 2)),
                (f"RMST difference, months (τ = {tau} months)", format_estimate(s.rmst, 2)),
            ),
            (
                f"Strata: {strata} (randomization strata without the centre; missing values form their own level).",
                "Efron ties; log-transformed confidence intervals for survival; NR: not reached.",
            ),
        )
    )
    return (
        table
        + comparisons
        + _figure(report, figure, "km", f"Kaplan–Meier estimate of {s.title.lower()} by arm")
    )


def _responses(rs: Sequence[ResponseSummary]) -> str:
    out = []
    for r in rs:
        rows = tuple((g, f"{k}/{n}", format_estimate(e, 1, percent=True)) for g, k, n, e in r.rows)
        out.append(
            _table(
                Table(
                    r.title,
                    ("Group", "Responders/N", "Rate (Clopper–Pearson 95% CI)"),
                    (
                        *rows,
                        (
                            "Difference, experimental − control",
                            "",
                            format_estimate(r.difference, 1, percent=True),
                        ),
                    ),
                    (
                        "Difference with the Miettinen–Nurminen 95% CI; by randomized arm, and in all enrolled subjects.",
                    ),
                )
            )
        )
    return "".join(out)


def _consort_table(report: Report) -> str:
    c = report.consort
    rows: list[tuple[str, ...]] = [
        ("Screened (consented)", str(c.screened)),
        ("Not enrolled", str(c.not_enrolled)),
        *((f"    {r}", str(k)) for r, k in c.not_enrolled_reasons),
        ("Enrolled (induction)", str(c.enrolled)),
        ("Not randomized: progressed during induction", str(c.induction_progression)),
        ("Not randomized: other reasons", str(c.not_randomized_other)),
        *((f"    {r}", str(k)) for r, k in c.not_randomized_reasons),
    ]
    for arm in c.arms:
        reasons = ", ".join(f"{r} {k}" for r, k in c.discontinued_reasons[arm.code]) or "—"
        rows += [
            (f"{arm.label}: randomized", str(c.randomized[arm.code])),
            (f"{arm.label}: treated after randomization", str(c.treated[arm.code])),
            (f"{arm.label}: radiotherapy received", str(c.radiotherapy[arm.code])),
            (f"{arm.label}: discontinued ({reasons})", str(c.discontinued[arm.code])),
            (f"{arm.label}: analysed (PFS, ITT)", str(c.analysed[arm.code])),
        ]
    return _table(
        Table(
            "Subject flow",
            ("Stage", "Subjects"),
            tuple(rows),
            (
                "Treated after randomization: last study dose on or after randomization (ADSL TRTEDT ≥ RANDDT) or "
                "radiotherapy received (RTFL).",
            ),
        )
    )


def render_html(report: Report) -> str:
    """The report as one self-contained HTML5 document."""
    sections: list[tuple[str, str, str]] = []
    sections.append(
        (
            "consort",
            "1. CONSORT flow",
            _figure(report, "consort", "consort", "CONSORT flow diagram") + _consort_table(report),
        )
    )
    sections.append(
        ("baseline", "2. Baseline characteristics", _table(report.baseline) + _table(report.strata_balance))
    )
    surv = "".join(_survival(report, s, f"km_{s.paramcd.lower()}") for s in report.survival)
    sections.append(("survival", "3. Progression-free and overall survival", surv))
    responses = (
        _responses(report.responses)
        + _figure(
            report,
            "waterfall",
            "waterfall",
            "Waterfall plot of the best percent change in the sum of diameters",
        )
        + _figure(
            report, "swimmer", "swimmer", "Swimmer plot of treatment duration with response and progression"
        )
        + _figure(
            report, "spider", "spider", "Spider plot of the percent change in the sum of diameters over time"
        )
        + _survival(report, report.duration_of_response, "km_dor")
    )
    sections.append(("responses", "4. Responses", responses))
    arms = report.arms
    forest_rows = tuple(
        (
            r.variable,
            r.level,
            *(f"{r.events[a.code]}/{r.n[a.code]}" for a in arms),
            format_estimate(r.hr, 2, missing_bound="—"),
        )
        for r in report.subgroups
    )
    forest = _table(
        Table(
            "PFS hazard ratio by subgroup (unstratified Cox, experimental vs control)",
            ("Subgroup", "Level", *(f"{a.label} events/N" for a in arms), "Hazard ratio"),
            forest_rows,
            ("A subgroup with fewer than 5 events, or none in an arm, is not estimable.",),
        ),
        numeric_from=2,
    ) + _figure(report, "forest", "forest", "Forest plot of the PFS hazard ratio by subgroup")
    sections.append(("subgroups", "5. Subgroups", forest))
    safety = "".join(_table(t) for t in report.safety.values())
    sections.append(("safety", "6. Safety", safety))
    if isinstance(report.radiotherapy, str):
        rt = f'<p class="absent"><strong>Section unavailable.</strong> {_e(report.radiotherapy)}.</p>'
    else:
        rt = (
            _table(report.radiotherapy[0])
            + _figure(report, "bed", "bed", "Distribution of BED10 over the radiotherapy courses")
            + _table(report.radiotherapy[1])
        )
    sections.append(("radiotherapy", "7. Radiotherapy compliance", rt))
    checksums = "".join(
        f"<tr><td>{_e(n)}</td><td><code>{_e(h)}</code></td></tr>" for n, h in report.checksums
    )
    appendix = (
        "<table><tbody>"
        f'<tr><th scope="row">Software</th><td>{_e(report.software)}</td></tr>'
        f'<tr><th scope="row">Protocol</th><td>{_e(report.protocol_id)} version {_e(report.protocol_version)}</td></tr>'
        f'<tr><th scope="row">Data cutoff</th><td>{_e(report.cutoff.isoformat() if report.cutoff else "none (all data)")}</td></tr>'
        "</tbody></table>"
        "<h3>Input datasets (SHA-256)</h3>"
        '<table><thead><tr><th scope="col">File</th><th scope="col">SHA-256</th></tr></thead><tbody>'
        + (checksums or '<tr><td colspan="2">computed in memory: no input files</td></tr>')
        + "</tbody></table>"
        '<p class="note">With a data cutoff, time-to-event records after the cutoff are censored at the cutoff '
        "and later records dropped (see oligotrial.reports.data).</p>"
    )
    sections.append(("appendix", "8. Appendix: reproducibility", appendix))
    nav = "".join(f'<li><a href="#{sid}">{_e(title)}</a></li>' for sid, title, _ in sections)
    body = "\n".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>\n{content}</section>' for sid, title, content in sections
    )
    cutoff = report.cutoff.isoformat() if report.cutoff else "none"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(report.title)}</h1>\n<p>Protocol {_e(report.protocol_id)} version "
        f"{_e(report.protocol_version)} · data cutoff {_e(cutoff)} · {_e(report.software)}</p></header>\n"
        f"<nav><ul class='toc'>{nav}</ul></nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def write_pdf(document: str, path: Path) -> None:
    """Render the HTML ``document`` to PDF with weasyprint."""
    from weasyprint import HTML  # imported here: slow to import, only needed for PDF

    HTML(string=document).write_pdf(str(path))


def write_report(report: Report, out: Path, output_format: ReportFormat = "html") -> list[Path]:
    """Write ``report.html`` and/or ``report.pdf`` into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    document = render_html(report)
    written: list[Path] = []
    formats: Iterable[str] = ("html", "pdf") if output_format == "both" else (output_format,)
    for fmt in formats:
        path = out / f"report.{fmt}"
        if fmt == "html":
            path.write_text(document, encoding="utf-8")
        else:
            write_pdf(document, path)
        written.append(path)
    return written
