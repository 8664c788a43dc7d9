"""The analysis report: from ADaM (and optionally SDTM PR/EX) to the tables and figures a statistician and a
DSMB read, as one self-contained HTML page and PDF.

Layers: :mod:`~oligotrial.reports.data` reads, types and cuts off the inputs; :mod:`~oligotrial.reports.tables`
computes every number (pure functions of the frames); :mod:`~oligotrial.reports.figures` draws them;
:mod:`~oligotrial.reports.build` assembles a :class:`Report`; :mod:`~oligotrial.reports.render` writes HTML/PDF.
"""

from oligotrial.reports.build import Report, build_report, summarize_report
from oligotrial.reports.data import ReportInputs, apply_cutoff, load_report_inputs, prepare_adam
from oligotrial.reports.render import ReportFormat, render_html, write_report

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
