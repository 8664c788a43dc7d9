"""Cox regression against R survival 3.5-3 (tests/data/survival/make_reference.R).

R: ``fit <- coxph(Surv(time, status) ~ a + b + strata(s), data, ties = ties)``; ``summary(fit)``
coefficients and conf.int, ``fit$loglik``, ``summary(fit)$logtest``, ``fit$score``, ``fit$wald.test``,
``fit$iter``. Text covariates are factors with sorted levels (indicator ``celltypelarge`` etc.).
"""

from __future__ import annotations

import numpy as np
import pytest

from oligotrial.errors import ComputationError, InputError
from oligotrial.stats import compute_cox, compute_logrank
from stats.survival_reference import assert_close, design_matrix, load_dataset, read_rows

FITS = read_rows("cox_fits.csv")
COEFFICIENTS = read_rows("cox_coefficients.csv")


def _key(row):
    return (row["dataset"], row["covariates"], row["strata"], row["ties"])


@pytest.mark.parametrize("row", FITS, ids=lambda r: "-".join(str(v) or "none" for v in _key(r)))
def test_matches_r_coxph(row):
    time, event, columns = load_dataset(row["dataset"])
    x, names = design_matrix(columns, row["covariates"])
    strata = columns[row["strata"]] if row["strata"] else None
    fit = compute_cox(time, event, x, strata, names=names, ties=row["ties"])
    expected = [c for c in COEFFICIENTS if _key(c) == _key(row)]
    assert list(fit.names) == [c["term"] for c in expected]
    for ours, theirs in [
        ("coef", "coef"),
        ("se", "se"),
        ("hr", "hr"),
        ("hr_lower", "hr_lower"),
        ("hr_upper", "hr_upper"),
        ("z", "z"),
        ("p", "p"),
    ]:
        assert_close(getattr(fit, ours), [c[theirs] for c in expected])
    assert_close(
        [fit.loglik_null, fit.loglik, fit.lr, fit.lr_p, fit.score, fit.score_p, fit.wald, fit.wald_p],
        [row[k] for k in ["loglik_null", "loglik", "lr", "lr_p", "score", "score_p", "wald", "wald_p"]],
    )
    assert (fit.n, fit.events, fit.df, fit.iterations) == (row["n"], row["events"], row["lr_df"], row["iter"])


def test_score_test_of_one_binary_covariate_is_the_log_rank_without_ties():
    rng = np.random.default_rng(7)
    time = rng.exponential(size=60)
    event = rng.random(60) < 0.7
    arm = rng.integers(0, 2, 60)
    fit = compute_cox(time, event, arm, ties="breslow")
    assert_close(fit.score, compute_logrank(time, event, arm).chisq, rtol=1e-10)


def test_separating_covariate_is_an_error_not_an_infinite_estimate():
    time = np.arange(1.0, 11.0)
    event = np.ones(10)
    x = (time <= 5).astype(float)  # every early event in one group: monotone likelihood
    with pytest.raises(ComputationError) as caught:
        compute_cox(time, event, x, names=["arm"])
    assert (caught.value.code, caught.value.problems[0].field) == ("STAT-011", "arm")
    assert "infinite" in str(caught.value)


def test_constant_covariate_is_singular():
    with pytest.raises(ComputationError, match="STAT-012"):
        compute_cox([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 1], [1.0, 1.0, 1.0, 1.0])


def test_no_events_is_an_error():
    with pytest.raises(ComputationError, match="STAT-013"):
        compute_cox([1.0, 2.0, 3.0], [0, 0, 0], [0.0, 1.0, 0.0])


def test_non_convergence_says_what_to_try():
    time, event, columns = load_dataset("lung")
    x, _ = design_matrix(columns, "age+sex")
    with pytest.raises(ComputationError, match="STAT-010") as caught:
        compute_cox(time, event, x, max_iter=1)
    assert "max_iter" in str(caught.value)


def test_all_events_at_one_time_fit_with_efron():
    """R: coxph(Surv(rep(5, 6), rep(1, 6)) ~ c(0, 0, 0, 1, 1, 1)) gives coef 0, loglik -6.579251."""
    fit = compute_cox([5.0] * 6, [1] * 6, [0, 0, 0, 1, 1, 1])
    assert fit.coef[0] == pytest.approx(0.0, abs=1e-12)


def test_missing_covariate_names_the_position():
    with pytest.raises(InputError) as caught:
        compute_cox([1.0, 2.0, 3.0], [1, 0, 1], [[0.0], [np.nan], [1.0]])
    assert (caught.value.code, caught.value.problems[0].field) == ("STAT-008", "covariates[1, 0]")
