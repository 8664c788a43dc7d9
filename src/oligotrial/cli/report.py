"""``oligotrial report ADAM_DIR --out DIR``: the analysis report (HTML and/or PDF) from ADaM datasets.

From a database::

    oligotrial export sdtm --out SDTM [--database URL]
    oligotrial adam SDTM --out ADAM
    oligotrial report ADAM --out REPORT --sdtm SDTM --format both [--cutoff YYYY-MM-DD]

``--sdtm`` adds the radiotherapy compliance section (PR, and EX for the timing windows) and the CONSORT reasons
of the screen failures (IE); the data cutoff rule is documented in :mod:`oligotrial.reports.data`. Exit codes: 0
ok, 2 bad input (``REPORT-001`` missing ADaM dataset, ``REPORT-002`` missing variable, ``REPORT-003`` no PR in
``--sdtm``, ``FILE-0nn`` unreadable files).
"""

from __future__ import annotations

from pathlib import Path

import typer

from oligotrial.cli._common import (
    JSON_OPTION,
    PROTOCOL_OPTION,
    handle_errors,
    parse_date_option,
    print_json,
    stderr,
)
from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.reports import (
    ReportFormat,
    apply_cutoff,
    build_report,
    load_report_inputs,
    summarize_report,
    write_report,
)

_FORMATS: tuple[ReportFormat, ...] = ("html", "pdf", "both")


@handle_errors
def report(
    adam_dir: Path = typer.Argument(
        ..., help="Folder of ADaM datasets: adsl, adtte, adrs, adae (CSV or XPT)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write report.html / report.pdf into."),
    output_format: str = typer.Option("html", "--format", help="html, pdf or both."),
    cutoff: str | None = typer.Option(
        None, "--cutoff", help="Data cutoff YYYY-MM-DD: later data dropped, time-to-event re-censored at it."
    ),
    title: str | None = typer.Option(None, "--title", help="Report title."),
    sdtm_dir: Path | None = typer.Option(
        None,
        "--sdtm",
        help="SDTM folder with PR (and EX) for the radiotherapy compliance section, IE for the screen failures.",
    ),
    protocol_file: Path | None = PROTOCOL_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the analysis report: CONSORT, baseline, PFS/OS, responses, subgroups, safety, radiotherapy."""
    if output_format not in _FORMATS:
        raise InputError.single(
            "CLI-002", "--format", f"expected html, pdf or both, got {output_format!r}", output_format
        )
    cut = parse_date_option(cutoff, "--cutoff")
    protocol = load_protocol(protocol_file)
    stderr.print(f"reading {adam_dir}")
    inputs = apply_cutoff(load_report_inputs(adam_dir, sdtm_dir), cut)
    stderr.print("computing tables and drawing figures")
    built = build_report(inputs, protocol, title=title)
    stderr.print("rendering")
    written = write_report(built, out, output_format)
    if json_output:
        print_json({**summarize_report(built), "files": [str(p) for p in written]})
        return
    stderr.print(f"wrote {', '.join(p.name for p in written)} to {out}")
