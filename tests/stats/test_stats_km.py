"""Kaplan–Meier against R survival 3.5-3 (tests/data/survival/make_reference.R).

R: ``fit <- survfit(Surv(time, status) ~ group, conf.type = ct)``; ``fit$surv``, ``fit$std.err``,
``fit$lower``, ``fit$upper``; ``summary(fit, rmean = tau)$table`` (median, 0.95LCL, 0.95UCL, rmean,
se(rmean)); ``summary(fit, times = quantile(time, c(.1, .25, .5, .75)))``.
"""

from __future__ import annotations

import numpy as np
import pytest

from oligotrial.errors import InputError
from oligotrial.stats import compute_km, compute_km_at, compute_rmst, compute_rmst_difference
from stats.survival_reference import assert_close, load_dataset, read_rows

CURVES = read_rows("km_curves.csv")
TABLES = read_rows("km_tables.csv")
AT_TIMES = read_rows("km_at_times.csv")
CASES = sorted({(r["dataset"], r["group_by"], r["conf_type"]) for r in CURVES})


def _fit(dataset, group_by, conf_type):
    time, event, columns = load_dataset(dataset)
    return compute_km(time, event, columns[group_by] if group_by else None, conf_type=conf_type)


def _rows(table, case):
    return [r for r in table if (r["dataset"], r["group_by"], r["conf_type"]) == case]


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_curves_match_r_survfit(case):
    curves = _fit(*case)
    expected = _rows(CURVES, case)
    for column in ["time", "n_risk", "n_event", "n_censor"]:
        actual = np.concatenate([getattr(c, column) for c in curves])
        np.testing.assert_array_equal(actual, [r[column] for r in expected])
    for column in ["surv", "std_err", "lower", "upper"]:
        assert_close(np.concatenate([getattr(c, column) for c in curves]), [r[column] for r in expected])


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_median_and_rmst_match_r_summary_table(case):
    curves = _fit(*case)
    expected = _rows(TABLES, case)
    assert [c.group if c.group is not None else "" for c in curves] == [r["group"] for r in expected]
    for curve, row in zip(curves, expected, strict=True):
        assert (curve.n, curve.events) == (row["n"], row["events"])
        np.testing.assert_array_equal(
            [curve.median, curve.median_lower, curve.median_upper],
            [row["median"], row["median_lower"], row["median_upper"]],
        )
        rmst = compute_rmst(curve, row["tau"])
        assert_close([rmst.estimate, rmst.se], [row["rmean"], row["se_rmean"]])


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_survival_at_times_matches_r_summary_times(case):
    curves = _fit(*case)
    expected = _rows(AT_TIMES, case)
    for curve in curves:
        rows = [r for r in expected if r["group"] == ("" if curve.group is None else curve.group)]
        at = compute_km_at(curve, [r["time"] for r in rows])
        for column in ["surv", "std_err", "lower", "upper"]:
            assert_close(getattr(at, column), [r[column] for r in rows])


def test_plateau_at_exactly_one_half_takes_the_midpoint():
    """R: survfit(Surv(c(1, 2, 3, 4), rep(1, 4)) ~ 1) prints median 2.5 (S = 0.5 on [2, 3))."""
    (curve,) = compute_km([1, 2, 3, 4], [1, 1, 1, 1])
    assert curve.median == 2.5


def test_no_events_gives_survival_one_and_no_median():
    (curve,) = compute_km([3.0, 5.0, 8.0], [0, 0, 0])
    np.testing.assert_array_equal(curve.surv, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(curve.std_err, [0.0, 0.0, 0.0])
    assert np.isnan(curve.median) and np.isnan(curve.median_lower) and np.isnan(curve.median_upper)


def test_all_events_at_one_time_drop_survival_to_zero():
    (curve,) = compute_km([4.0, 4.0, 4.0], [1, 1, 1], conf_type="plain")
    assert curve.surv.tolist() == [0.0]
    assert curve.std_err.tolist() == [np.inf]
    assert np.isnan(curve.lower[0]) and np.isnan(curve.upper[0])  # as R: 0 * Inf
    assert curve.median == 4.0


def test_survival_after_the_last_time_is_undefined_and_before_the_first_is_one():
    (curve,) = compute_km([2.0, 4.0, 6.0], [1, 0, 1])
    at = compute_km_at(curve, [1.0, 5.0, 7.0])
    np.testing.assert_allclose(at.surv[:2], [1.0, 2.0 / 3.0])
    assert np.isnan(at.surv[2])


def test_rmst_difference_combines_the_two_arms():
    """Inputs: R's rmean and se(rmean) of aml by x at tau = 40 (km_tables.csv); the difference is
    Maintained minus Nonmaintained with a Wald interval, as survRM2::rmst2."""
    time, event, columns = load_dataset("aml")
    maintained, nonmaintained = compute_km(time, event, columns["x"])
    diff = compute_rmst_difference(maintained, nonmaintained, 40)
    rows = {r["group"]: r for r in TABLES if (r["dataset"], r["conf_type"]) == ("aml", "log")}
    a, b = rows["Maintained"], rows["Nonmaintained"]
    assert_close(diff.estimate, a["rmean"] - b["rmean"])
    se = np.hypot(a["se_rmean"], b["se_rmean"])
    assert_close(
        [diff.se, diff.lower, diff.upper],
        [se, diff.estimate - 1.959963984540054 * se, diff.estimate + 1.959963984540054 * se],
    )
    assert 0 < diff.p < 1


@pytest.mark.parametrize(
    ("time", "event", "code", "field"),
    [
        ([1.0, np.nan], [1, 0], "STAT-001", "time[1]"),
        ([1.0, -2.0], [1, 0], "STAT-002", "time[1]"),
        ([1.0, 2.0], [1, 2], "STAT-003", "event[1]"),
        ([1.0, 2.0], [1], "STAT-004", "event"),
    ],
)
def test_bad_input_names_the_position(time, event, code, field):
    with pytest.raises(InputError) as caught:
        compute_km(time, event)
    assert (caught.value.code, caught.value.problems[0].field) == (code, field)


def test_unknown_conf_type_is_an_input_error():
    with pytest.raises(InputError, match="STAT-005"):
        compute_km([1.0], [1], conf_type="arcsin")
