"""Binary endpoints against R 4.2.2 (tests/data/survival/make_reference.R) and published values.

R: ``binom.test(x, n)$conf.int``; ``fisher.test(matrix(c(a, b, c, d), 2, byrow = TRUE))``;
``mantelhaen.test(x, correct = TRUE/FALSE)`` on ``UCBAdmissions`` and a synthetic 2x2x3 array.
"""

from __future__ import annotations

import numpy as np
import pytest

from oligotrial.errors import InputError
from oligotrial.stats import compute_cmh, compute_fisher_exact, compute_rate_ci, compute_rate_difference
from stats.survival_reference import assert_close, read_rows


@pytest.mark.parametrize("row", read_rows("binom_test.csv"), ids=lambda r: f"{r['events']:.0f}of{r['n']:.0f}")
def test_clopper_pearson_matches_r_binom_test(row):
    rate = compute_rate_ci(int(row["events"]), int(row["n"]))
    assert_close([rate.estimate, rate.lower, rate.upper], [row["rate"], row["lower"], row["upper"]])


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((56, 70, 48, 80), (0.0528, 0.3382)),
        ((9, 10, 3, 10), (0.1700, 0.8406)),
        ((10, 10, 0, 20), (0.7156, 1.0000)),
    ],
)
def test_miettinen_nurminen_matches_newcombe_1998(counts, expected):
    """Newcombe RG, Stat Med 1998;17:873-90, Table II, method 6 (Miettinen-Nurminen score interval),
    published to four decimals; Miettinen & Nurminen, Stat Med 1985;4:213-26 for the method."""
    diff = compute_rate_difference(*counts)
    assert diff.estimate == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    np.testing.assert_allclose([diff.lower, diff.upper], expected, atol=5e-5)


def test_miettinen_nurminen_is_antisymmetric():
    forward = compute_rate_difference(9, 10, 3, 10)
    backward = compute_rate_difference(3, 10, 9, 10)
    assert_close([forward.lower, forward.upper], [-backward.upper, -backward.lower], rtol=1e-9)


@pytest.mark.parametrize(
    "row", read_rows("fisher_test.csv"), ids=lambda r: f"{r['a']:.0f}-{r['b']:.0f}-{r['c']:.0f}-{r['d']:.0f}"
)
def test_fisher_matches_r_fisher_test(row):
    table = [[int(row["a"]), int(row["b"])], [int(row["c"]), int(row["d"])]]
    result = compute_fisher_exact(table)
    assert_close(result.p, row["p"])
    # R finds the conditional MLE and its bounds with uniroot at its default tolerance (about 1e-4 on the
    # odds-ratio scale), so R's own values are only that accurate.
    np.testing.assert_allclose(
        [result.odds_ratio, result.lower, result.upper],
        [row["odds_ratio"], row["lower"], row["upper"]],
        rtol=1e-2,
    )


def _tables(name):
    rows = [r for r in read_rows("mantelhaen_tables.csv") if r["table"] == name]
    array = np.zeros((int(max(r["stratum"] for r in rows)), 2, 2), dtype=int)
    for r in rows:
        array[int(r["stratum"]) - 1, int(r["row"]) - 1, int(r["column"]) - 1] = int(r["count"])
    return array


@pytest.mark.parametrize(
    "row", read_rows("mantelhaen_test.csv"), ids=lambda r: f"{r['table']}-{r['correct']}"
)
def test_cmh_matches_r_mantelhaen_test(row):
    result = compute_cmh(_tables(row["table"]), is_corrected=row["correct"] == "TRUE")
    assert_close(
        [result.statistic, result.p, result.odds_ratio, result.lower, result.upper],
        [row["statistic"], row["p"], row["odds_ratio"], row["lower"], row["upper"]],
    )
    assert result.df == 1


@pytest.mark.parametrize(("events", "n"), [(5, 3), (-1, 4), (0, 0), (1.5, 3)])
def test_impossible_counts_are_input_errors(events, n):
    with pytest.raises(InputError, match="STAT-007"):
        compute_rate_ci(events, n)


def test_cmh_stratum_with_one_subject_is_an_input_error():
    with pytest.raises(InputError, match=r"STAT-007 tables\[1\]"):
        compute_cmh([[[3, 2], [1, 4]], [[1, 0], [0, 0]]])
