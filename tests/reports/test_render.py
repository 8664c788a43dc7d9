"""The rendered report: valid self-contained HTML, the CLI's files, PDF, and the page in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import html5lib
import pytest

from oligotrial.reports import render_html

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"


@pytest.fixture(scope="module")
def document(worked_report):
    return render_html(worked_report)


def test_html_validates(document):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree = parser.parse(document)  # raises on any parse error
    assert parser.errors == []
    ids = [el.get("id") for el in tree.iter() if el.get("id")]
    assert len(ids) == len(set(ids))
    for anchor in tree.iter("a"):
        assert anchor.get("href", "").lstrip("#") in ids


def test_html_is_self_contained(document):
    assert "<script" not in document
    assert not re.search(r"""(src|href)=["'](https?:)?//""", document)
    assert "@import" not in document and "url(" not in document
    images = re.findall(r'<img src="([^"]+)"', document)
    assert len(images) == 6 and all(src.startswith("data:image/png;base64,") for src in images)


def test_sections_and_wording(document):
    for heading in ("CONSORT", "Baseline", "Progression-free", "Responses", "Subgroups", "Safety",
                    "Radiotherapy compliance", "Appendix"):  # fmt: skip
        assert heading in document
    assert "NR (95% CI" in document  # the RT arm's PFS median is not reached
    assert "not estimable: fewer than 5 events" in document
    assert "Section unavailable." in document and "--sdtm" in document
    assert "oligotrial 0.1.0" in document or "oligotrial " in document


def test_cli_writes_html_and_pdf_with_a_cutoff(run_cli, adam_dir, tmp_path, artifacts):
    out = tmp_path / "out"
    result = run_cli(
        "report", adam_dir, "--out", out, "--format", "both", "--cutoff", "2026-06-01", "--title", "DSMB 1"
    )
    assert result.exit_code == 0, result.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<title>DSMB 1</title>" in html and "2026-06-01" in html
    for name in ("adsl.csv", "adtte.csv", "adrs.csv", "adae.csv"):
        assert name in html
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    shutil.copy(out / "report.pdf", artifacts / "report.pdf")


def test_cli_rejects_bad_options(run_cli, adam_dir, tmp_path):
    assert run_cli("report", adam_dir, "--out", tmp_path, "--format", "docx").exit_code == 2
    assert run_cli("report", adam_dir, "--out", tmp_path, "--cutoff", "June").exit_code == 2
    result = run_cli("report", tmp_path / "missing", "--out", tmp_path, "--json")
    assert result.exit_code == 2 and result.json()["error"]["problems"][0]["code"] == "FILE-010"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("report", empty, "--out", tmp_path, "--json")
    assert result.exit_code == 2 and result.json()["error"]["problems"][0]["code"] == "REPORT-001"


def test_report_opens_in_the_browser(document, tmp_path, artifacts, browser):
    page_file = tmp_path / "report.html"
    page_file.write_text(document, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        assert page.title() == "ESO-OLIGO-RT analysis report"
        sizes = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
        )
        assert len(sizes) == 6 and all(ok and w > 0 and h > 0 for ok, w, h in sizes)
        assert page.locator("section").count() == 8
        assert all(url.startswith(("file:", "data:")) for url in requests)
        page.screenshot(path=str(artifacts / "report-screenshot.png"), full_page=False)
    finally:
        page.close()
    assert (artifacts / "report-screenshot.png").stat().st_size > 10_000


def test_cli_radiotherapy_section_from_sdtm(run_cli, adam_dir, tmp_path):
    """PR of the worked study's RT arm as `oligotrial export sdtm` writes it (PRDECOD technique, PRFRACN), with its EX for the windows: S02
    8 Gy x 5 lung SBRT on 2026-04-10..16, 32 days after the last induction dose (2026-03-09): compliant
    dose and start window; no camrelizumab after radiotherapy in EX, so no restart window finding."""
    sdtm = tmp_path / "sdtm"
    sdtm.mkdir()
    shutil.copy(WORKED / "EX.csv", sdtm / "EX.csv")
    (sdtm / "PR.csv").write_text(
        "USUBJID,PRSEQ,PRTRT,PRDECOD,PRDOSE,PRDOSU,PRFRACN,PRLOC,PRSTDTC,PRENDTC\n"
        "S02,1,RADIOTHERAPY,SBRT,8,Gy,5,LUNG,2026-04-10,2026-04-16\n"
        "S04,1,RADIOTHERAPY,SBRT,800,cGy,3,LIVER,2026-04-10,2026-04-14\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_cli("report", adam_dir, "--out", out, "--sdtm", sdtm, "--json")
    assert result.exit_code == 0, result.stderr
    assert "bytes" in result.json()["figures"]["bed"]
    assert {"sdtm/PR.csv", "sdtm/EX.csv"} <= set(result.json()["inputs"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Radiotherapy courses" in html and "Section unavailable" not in html
    assert '<td class="num">72.0</td>' in html and '<td class="num">43.2</td>' in html  # BED10, cGy -> Gy
    assert "Timing windows not checked" not in html
