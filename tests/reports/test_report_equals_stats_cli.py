"""The report's numbers equal those of ``oligotrial stats`` on the same records (issue 9, "must show").

The statistics CLI is given the ADTTE records as the report documents it reads them: randomized (ITTFL = Y)
records of the parameter, time AVAL / 30.4375 months, event CNSR = 0, group ARMCD, strata the joined
STRAT2V|STRAT3V levels (missing as ``missing``).
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from tests.reports.conftest import ARMS
from typer.testing import CliRunner

from oligotrial.cli import app

CODES = {name: code for code, name in ARMS.items()}


@pytest.fixture(scope="module")
def report_json(adam_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(
        app, ["report", str(adam_dir), "--out", str(out), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _records(adam_dir, tmp_path, paramcd):
    adtte = pl.read_csv(adam_dir / "adtte.csv", infer_schema=False)
    frame = adtte.filter((pl.col("PARAMCD") == paramcd) & (pl.col("ITTFL") == "Y")).select(
        (pl.col("AVAL").cast(pl.Float64) / 30.4375).alias("MONTHS"),
        (pl.col("CNSR") == "0").cast(pl.Int8).alias("EVENT"),
        pl.col("TRT01P").replace_strict(CODES).alias("ARM"),
        pl.concat_str([pl.col(c).fill_null("missing") for c in ("STRAT2V", "STRAT3V")], separator="|").alias(
            "STRATA"
        ),
    )
    path = tmp_path / f"{paramcd}.csv"
    frame.write_csv(path)
    return path


def _same(ours, theirs):
    """Equal numbers, or both absent (a median not reached is null in both JSON documents)."""
    return (ours is None and theirs is None) or ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("paramcd", ["PFS", "OS"])
def test_survival_numbers_equal_the_stats_cli(run_cli, adam_dir, tmp_path, report_json, paramcd):
    data = _records(adam_dir, tmp_path, paramcd)
    ours = report_json["survival"][paramcd]
    common = [data, "--time", "MONTHS", "--event", "EVENT", "--json"]

    km = run_cli("stats", "km", *common, "--group", "ARM").json()
    for group in km["groups"]:
        arm = ours["arms"][group["group"]]
        assert (arm["n"], arm["events"]) == (group["n"], group["events"])
        median = arm["median_months"]
        assert _same(median["value"], group["median"])
        assert all(_same(a, b) for a, b in zip(median["ci"], group["median_ci"], strict=True))

    logrank = run_cli("stats", "logrank", *common, "--group", "ARM", "--strata", "STRATA").json()
    assert ours["logrank_p"]["value"] == pytest.approx(logrank["p"], rel=1e-12)
    assert ours["logrank_chisq"] == pytest.approx(logrank["chisq"], rel=1e-12)

    cox = run_cli("stats", "cox", *common, "--covariates", "ARM", "--strata", "STRATA").json()
    if "error" in cox:  # e.g. OS of the worked study: monotone likelihood in a stratified fit
        assert ours["hazard_ratio"]["value"] is None
        assert ours["hazard_ratio"]["reason"] == cox["error"]["problems"][0]["message"]
        return
    (coefficient,) = cox["coefficients"]
    assert coefficient["name"] == "ARM=RT"
    assert ours["hazard_ratio"]["value"] == pytest.approx(coefficient["hr"], rel=1e-9)
    assert ours["hazard_ratio"]["ci"] == pytest.approx(coefficient["hr_ci"], rel=1e-9)


@pytest.mark.parametrize("paramcd", ["CRSP", "CB"])
def test_response_numbers_equal_the_stats_cli(run_cli, report_json, paramcd):
    rows = {row["group"]: row for row in report_json["responses"][paramcd]["rows"]}
    for row in rows.values():
        cli = run_cli("stats", "rate", "--events", row["responders"], "--n", row["n"], "--json").json()
        assert row["rate"]["value"] == pytest.approx(cli["rate"], rel=1e-12)
        assert row["rate"]["ci"] == pytest.approx(cli["ci"], rel=1e-12)
    experimental, control = rows["Experimental (RT)"], rows["Control (CTRL)"]
    cli = run_cli(
        "stats", "rate-diff",
        "--events1", experimental["responders"], "--n1", experimental["n"],
        "--events2", control["responders"], "--n2", control["n"], "--json",
    ).json()  # fmt: skip
    difference = report_json["responses"][paramcd]["difference"]
    assert difference["value"] == pytest.approx(cli["difference"], rel=1e-12)
    assert difference["ci"] == pytest.approx(cli["ci"], rel=1e-9)


def test_the_worked_study_counts(report_json):
    """Hand counts of tests/data/adam/worked/README.md: 12 enrolled, S10 progressed in induction, 11
    randomized (CTRL S01 S03 S05 S07 S09 S11; RT S02 S04 S06 S08 S12); PFS events CTRL 5 (S01 S05 S07 S09
    S11), RT 1 (S08); ORR 3 responders (S01 S09 S11), all in CTRL."""
    consort = report_json["consort"]
    assert consort["screened"] == 12 and consort["enrolled"] == 12
    assert consort["progressed_during_induction"] == 1
    assert consort["randomized"] == {"CTRL": 6, "RT": 5}
    assert consort["analysed"] == {"CTRL": 6, "RT": 5}
    pfs = report_json["survival"]["PFS"]["arms"]
    assert (pfs["CTRL"]["events"], pfs["RT"]["events"]) == (5, 1)
    rows = {row["group"]: row for row in report_json["responses"]["CRSP"]["rows"]}
    assert (rows["Control (CTRL)"]["responders"], rows["Experimental (RT)"]["responders"]) == (3, 0)
    assert rows["All enrolled"]["n"] == 12
    assert set(report_json["inputs"]) == {"adae.csv", "adrs.csv", "adsl.csv", "adtr.csv", "adtte.csv"}
