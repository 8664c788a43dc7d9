"""``oligotrial stats``: JSON documents, R reference values through the command line, exit codes."""

from __future__ import annotations

import numpy as np
import pytest

from stats.survival_reference import REFERENCE, assert_close, read_rows


def test_km_by_group_prints_r_medians(run_cli):
    """R: print(survfit(Surv(time, status == 2) ~ sex, lung))."""
    result = run_cli(
        "stats",
        "km",
        REFERENCE / "lung.csv",
        "--time",
        "time",
        "--event",
        "status",
        "--event-value",
        "2",
        "--group",
        "sex",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    expected = [
        r
        for r in read_rows("km_tables.csv")
        if (r["dataset"], r["group_by"], r["conf_type"]) == ("lung", "sex", "log")
    ]
    assert result.json() == {
        "groups": [
            {
                "group": int(r["group"]),
                "n": int(r["n"]),
                "events": int(r["events"]),
                "median": r["median"],
                "median_ci": [r["median_lower"], r["median_upper"]],
            }
            for r in expected
        ]
    }


def test_km_without_group_has_a_null_group(run_cli):
    result = run_cli(
        "stats",
        "km",
        REFERENCE / "lung.csv",
        "--time",
        "time",
        "--event",
        "status",
        "--event-value",
        "2",
        "--conf-type",
        "log-log",
        "--json",
    )
    (group,) = result.json()["groups"]
    expected = next(
        r
        for r in read_rows("km_tables.csv")
        if (r["dataset"], r["group_by"], r["conf_type"]) == ("lung", "", "log-log")
    )
    assert group == {
        "group": None,
        "n": 227,
        "events": 164,
        "median": expected["median"],
        "median_ci": [expected["median_lower"], expected["median_upper"]],
    }


def test_km_bound_that_does_not_exist_is_null(run_cli):
    """R: survfit(Surv(time, status) ~ x, aml) prints 0.95UCL NA for both groups."""
    result = run_cli(
        "stats", "km", REFERENCE / "aml.csv", "--time", "time", "--event", "status", "--group", "x", "--json"
    )
    assert [g["median_ci"][1] for g in result.json()["groups"]] == [None, None]


def test_km_human_output_is_a_table(run_cli):
    result = run_cli(
        "stats", "km", REFERENCE / "aml.csv", "--time", "time", "--event", "status", "--group", "x"
    )
    assert result.exit_code == 0
    assert "Maintained" in result.stdout and "NA" in result.stdout


def test_stratified_logrank(run_cli):
    result = run_cli(
        "stats",
        "logrank",
        REFERENCE / "veteran.csv",
        "--time",
        "time",
        "--event",
        "status",
        "--group",
        "trt",
        "--strata",
        "celltype",
        "--json",
    )
    expected = next(
        r for r in read_rows("logrank.csv") if (r["dataset"], r["strata"]) == ("veteran", "celltype")
    )
    document = result.json()
    assert_close([document["chisq"], document["p"]], [expected["chisq"], expected["p"]])
    assert document["df"] == 1


def test_cox_expands_a_categorical_covariate_against_its_first_sorted_level(run_cli):
    """R: coxph(Surv(time, status) ~ trt + factor(celltype, levels = sort(...)), veteran)."""
    result = run_cli(
        "stats",
        "cox",
        REFERENCE / "veteran.csv",
        "--time",
        "time",
        "--event",
        "status",
        "--covariates",
        "trt,celltype",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    document = result.json()
    expected = [
        c
        for c in read_rows("cox_coefficients.csv")
        if (c["dataset"], c["covariates"], c["ties"]) == ("veteran", "trt+celltype", "efron")
    ]
    fit = next(
        f
        for f in read_rows("cox_fits.csv")
        if (f["dataset"], f["covariates"], f["ties"]) == ("veteran", "trt+celltype", "efron")
    )
    assert [c["name"] for c in document["coefficients"]] == [
        "trt",
        "celltype=large",
        "celltype=smallcell",
        "celltype=squamous",
    ]
    assert (document["n"], document["events"]) == (fit["n"], fit["events"])
    assert_close([c["coef"] for c in document["coefficients"]], [c["coef"] for c in expected])
    assert_close([c["se"] for c in document["coefficients"]], [c["se"] for c in expected])
    assert_close(
        [c["hr_ci"] for c in document["coefficients"]], [[c["hr_lower"], c["hr_upper"]] for c in expected]
    )
    assert_close(document["loglik"], [fit["loglik_null"], fit["loglik"]])


def test_cox_breslow_with_strata(run_cli):
    result = run_cli(
        "stats",
        "cox",
        REFERENCE / "ties.csv",
        "--time",
        "time",
        "--event",
        "status",
        "--covariates",
        "arm,x",
        "--strata",
        "stratum",
        "--ties",
        "breslow",
        "--json",
    )
    expected = [
        c
        for c in read_rows("cox_coefficients.csv")
        if (c["dataset"], c["strata"], c["ties"]) == ("ties", "stratum", "breslow")
    ]
    assert_close([c["coef"] for c in result.json()["coefficients"]], [c["coef"] for c in expected])


def test_rate_and_rate_difference(run_cli):
    rate = run_cli("stats", "rate", "--events", "7", "--n", "20", "--json").json()
    expected = next(r for r in read_rows("binom_test.csv") if (r["events"], r["n"]) == (7, 20))
    assert_close([rate["rate"], *rate["ci"]], [expected["rate"], expected["lower"], expected["upper"]])
    diff = run_cli(
        "stats", "rate-diff", "--events1", "56", "--n1", "70", "--events2", "48", "--n2", "80", "--json"
    ).json()
    np.testing.assert_allclose(diff["ci"], [0.0528, 0.3382], atol=5e-5)  # Newcombe 1998, Table II


@pytest.mark.parametrize(
    ("cells", "code", "where"),
    [
        ("5,1\n,0\n", "STAT-032", "row 2, column 'time'"),
        ("5,1\nsoon,0\n", "STAT-033", "row 2, column 'time'"),
        ("5,1\n-3,0\n", "STAT-002", "row 2, column 'time'"),
        ("5,1\n3,NA\n", "STAT-032", "row 2, column 'status'"),
    ],
)
def test_bad_csv_is_exit_2_naming_row_and_column(run_cli, tmp_path, cells, code, where):
    path = tmp_path / "bad.csv"
    path.write_text("time,status\n" + cells, encoding="utf-8")
    result = run_cli("stats", "km", path, "--time", "time", "--event", "status", "--json")
    assert result.exit_code == 2
    (problem,) = result.json()["error"]["problems"]
    assert problem["code"] == code and where in problem["message"] and problem["line"] == 3
    assert where in result.stderr


def test_unknown_column_and_option_are_exit_2(run_cli):
    missing = run_cli("stats", "km", REFERENCE / "aml.csv", "--time", "days", "--event", "status")
    assert missing.exit_code == 2 and "STAT-031" in missing.stderr
    bad = run_cli(
        "stats", "km", REFERENCE / "aml.csv", "--time", "time", "--event", "status", "--conf-type", "arcsine"
    )
    assert bad.exit_code == 2 and "STAT-005" in bad.stderr


def test_separating_covariate_is_exit_1_with_advice(run_cli, tmp_path):
    path = tmp_path / "separated.csv"
    path.write_text(
        "time,status,arm\n" + "".join(f"{t},1,{int(t <= 5)}\n" for t in range(1, 11)), encoding="utf-8"
    )
    result = run_cli(
        "stats", "cox", path, "--time", "time", "--event", "status", "--covariates", "arm", "--json"
    )
    assert result.exit_code == 1
    assert result.json()["error"]["problems"][0]["code"] == "STAT-011"
    assert "infinite" in result.stderr
