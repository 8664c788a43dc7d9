"""The analysis report: from ADaM (and optionally SDTM PR/EX) to the tables and figures a statistician and a
DSMB read, as one self-contained HTML page and PDF.

Layers: :mod:`~oligotrial.reports.data` reads, types and cuts off the inputs; :mod:`~oligotrial.reports.tables`
computes every number (pure functions of the frames); :mod:`~oligotrial.reports.figures` draws them;
:mod:`~oligotrial.reports.build` assembles a :class:`Report`; :mod:`~oligotrial.reports.render` writes HTML/PDF.

The names below are imported on first use (PEP 562), so that the server, which computes the tables of the
Reports page, does not load matplotlib and the PDF writer until a figure or a report is drawn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oligotrial.reports.build import Report, build_report, summarize_report
    from oligotrial.reports.data import ReportInputs, apply_cutoff, load_report_inputs, prepare_adam
    from oligotrial.reports.render import ReportFormat, render_html, write_report

_MODULE_OF = {
    "Report": "build",
    "build_report": "build",
    "summarize_report": "build",
    "ReportInputs": "data",
    "apply_cutoff": "data",
    "load_report_inputs": "data",
    "prepare_adam": "data",
    "ReportFormat": "render",
    "render_html": "render",
    "write_report": "render",
}

__all__ = [
    "Report",
    "ReportFormat",
    "ReportInputs",
    "apply_cutoff",
    "build_report",
    "load_report_inputs",
    "prepare_adam",
    "render_html",
    "summarize_report",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
