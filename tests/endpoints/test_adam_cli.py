"""`oligotrial adam`: CSV and XPT give identical ADaM; bad SDTM exits 2 naming subject, domain and rule, and
writes nothing."""

import shutil
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets
from oligotrial.protocol import load_protocol

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"
PROTOCOL = load_protocol()


def _as_xpt(source: Path, target: Path) -> None:
    """Write each CSV of ``source`` as SAS XPORT v5 in ``target``, the SDTM numeric variables as numbers."""
    target.mkdir()
    numeric = {"AGE", "DSSEQ", "EXSEQ", "EXDOSE", "RSSEQ", "CMSEQ", "AESEQ", "AETOXGR", "TRSTRESN"}
    for csv in source.glob("*.csv"):
        frame = pl.read_csv(csv, infer_schema=False)
        frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in frame.columns if c in numeric)
        pyreadstat.write_xport(frame, str(target / f"{csv.stem.lower()}.xpt"), file_format_version=5)


def test_csv_and_xpt_give_identical_adam(tmp_path):
    _as_xpt(WORKED, tmp_path / "xpt")
    from_csv = derive_adam(read_datasets(WORKED, DOMAINS), PROTOCOL)
    from_xpt = derive_adam(read_datasets(tmp_path / "xpt", DOMAINS), PROTOCOL)
    for name, frame in from_csv.as_dict().items():
        assert frame.equals(from_xpt.as_dict()[name]), name


def test_cli_writes_both_formats_and_the_xpt_reads_back(run_cli, tmp_path):
    out = tmp_path / "adam"
    result = run_cli("adam", WORKED, "--out", out, "--format", "both", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    pfs = next(row for row in summary["time_to_event"] if row["PARAMCD"] == "PFS")
    assert (pfs["subjects"], pfs["events"], pfs["censored"]) == (11, 6, 5)
    assert summary["responses"]["CRSP"] == {"yes": 3, "n": 12}
    names = sorted(p.name for p in out.iterdir())
    datasets = [f"{d}.{e}" for d in ("adae", "adrs", "adsl", "adtr", "adtte") for e in ("csv", "xpt")]
    assert names == sorted([*datasets, "define.xml", "provenance.json"])
    adtte_xpt, meta = pyreadstat.read_xport(str(out / "adtte.xpt"), output_format="polars")
    adtte_csv = pl.read_csv(out / "adtte.csv", try_parse_dates=True)
    assert adtte_xpt["AVAL"].to_list() == adtte_csv["AVAL"].to_list()
    assert adtte_xpt["ADT"].to_list() == adtte_csv["ADT"].to_list()
    assert meta.table_name == "ADTTE"


def test_cli_shows_its_steps_unless_asked_for_json(run_cli, tmp_path):
    shown = run_cli("adam", WORKED, "--out", tmp_path / "shown")
    assert shown.exit_code == 0, shown.stderr
    assert "ADaM done" in shown.stderr and "3/3" in shown.stderr
    quiet = run_cli("adam", WORKED, "--out", tmp_path / "quiet", "--json")
    assert quiet.exit_code == 0 and "ADaM" not in quiet.stderr


def test_cli_overrides_the_confirmation_interval(run_cli, tmp_path):
    # confirmation at >= 50 days: S09 (PR 02-16, PR 03-30: 42 days) is no longer confirmed; S01 is, by its
    # PR of 05-11 (84 days), and S11 by its CR of 05-11
    result = run_cli("adam", WORKED, "--out", tmp_path / "a", "--confirm-days", "50", "--json")
    assert result.exit_code == 0
    assert result.json()["responses"]["CRSP"]["yes"] == 2


def _broken_copy(tmp_path: Path, domain: str, old: str, new: str) -> Path:
    folder = tmp_path / "sdtm"
    shutil.copytree(WORKED, folder)
    path = folder / f"{domain}.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("domain", "old", "new", "expected"),
    [
        (
            "RS",
            "S02,1,OVRLRESP",
            "S99,1,OVRLRESP",
            "SDTM-101 RS[row 5].USUBJID: subject S99 in RS is absent from DM",
        ),
        (
            "DS",
            "S03,2,PROTOCOL MILESTONE,RANDOMIZED,RANDOMIZED,2026-04-01",
            "S03,2,PROTOCOL MILESTONE,RANDOMIZED,RANDOMIZED,2025-12-01",
            "SDTM-102 DS[row 6].DSSTDTC: subject S03: randomized 2025-12-01 before informed consent 2026-01-02",
        ),
        (
            "DM",
            "2026-03-09,2026-08-20,Y",
            "2026-03-09,2025-12-20,Y",
            "SDTM-103 DM[row 4].DTHDTC: subject S04",
        ),
        ("DM", "2026-03-09,2026-04-20,Y", "2026-03-09,2026-03-01,Y", "SDTM-104 RS[row"),
        (
            "RS",
            "S01,4,OVRLRESP,Overall Response,PD",
            "S01,4,OVRLRESP,Overall Response,PDD",
            "SDTM-004 RS[row 4].RSSTRESC: unknown code 'PDD'",
        ),
        (
            "RS",
            "2026-06-22",
            "2026-06-31",
            "SDTM-002 RS[row 4].RSDTC: expected an ISO 8601 date YYYY-MM-DD, got '2026-06-31'",
        ),
        (
            "AE",
            "2026-01-10,1,N",
            "2026-01-10,6,N",
            "SDTM-004 AE[row 1].AETOXGR: expected a CTCAE grade 1..5, got 6",
        ),
        (
            "DM",
            "USUBJID,SITEID",
            "SUBJECT,SITEID",
            "SDTM-001 DM.USUBJID: required variable USUBJID is missing from DM",
        ),
    ],
)
def test_bad_sdtm_exit_2_and_nothing_written(run_cli, tmp_path, domain, old, new, expected):
    folder = _broken_copy(tmp_path, domain, old, new)
    out = tmp_path / "out"
    result = run_cli("adam", folder, "--out", out)
    assert result.exit_code == 2
    assert expected in result.stderr.replace("\n", " ")
    assert not out.exists() or not any(out.iterdir())


def test_missing_folder_and_bad_format(run_cli, tmp_path):
    assert run_cli("adam", tmp_path / "none", "--out", tmp_path / "o").exit_code == 2
    bad = run_cli("adam", WORKED, "--out", tmp_path / "o", "--format", "sas7bdat")
    assert bad.exit_code == 2 and "CLI-002 --format" in bad.stderr
