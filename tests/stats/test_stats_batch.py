"""The batched forms agree with the one-trial functions replicate by replicate, masks included."""

from __future__ import annotations

import numpy as np
import pytest

from oligotrial.stats import (
    compute_cox,
    compute_cox_batch,
    compute_km,
    compute_km_median_batch,
    compute_logrank,
    compute_logrank_batch,
)
from stats.survival_reference import assert_close


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(20240611)
    r, n = 40, 60
    arm = rng.integers(0, 2, (r, n))
    time = np.ceil(rng.exponential(10.0 * np.exp(0.4 * arm)))  # whole days: many ties
    event = rng.random((r, n)) < 0.75
    strata = rng.integers(0, 3, (r, n))
    mask = np.arange(n) < rng.integers(30, n + 1, r)[:, None]  # replicates of different sizes
    return time, event, arm, strata, mask


def test_km_median_batch_is_compute_km_per_replicate(batch):
    time, event, arm, _, mask = batch
    medians = compute_km_median_batch(time, event, arm, mask, conf_type="log-log")
    for i in range(time.shape[0]):
        m = mask[i]
        curves = compute_km(time[i, m], event[i, m], arm[i, m], conf_type="log-log")
        expected = [[c.median, c.median_lower, c.median_upper] for c in curves]
        got = np.column_stack([medians.median[i], medians.lower[i], medians.upper[i]])
        np.testing.assert_array_equal(got, expected)


def test_logrank_batch_is_compute_logrank_per_replicate(batch):
    time, event, arm, strata, mask = batch
    result = compute_logrank_batch(time, event, arm, mask, strata)
    for i in range(time.shape[0]):
        m = mask[i]
        one = compute_logrank(time[i, m], event[i, m], arm[i, m], strata[i, m])
        assert_close([result.chisq[i], result.p[i]], [one.chisq, one.p], rtol=1e-12)
        assert result.df[i] == one.df


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_batch_is_compute_cox_per_replicate(batch, ties):
    time, event, arm, strata, mask = batch
    result = compute_cox_batch(time, event, arm, mask, strata, ties=ties)
    assert result.is_converged.all() and result.is_finite.all()
    for i in range(time.shape[0]):
        m = mask[i]
        one = compute_cox(time[i, m], event[i, m], arm[i, m], strata[i, m], ties=ties)
        assert_close(
            [result.coef[i], result.se[i], result.p[i], result.loglik[i], result.score[i]],
            [one.coef[0], one.se[0], one.p[0], one.loglik, one.score],
            rtol=1e-10,
        )
        assert result.iterations[i] == one.iterations


def test_cox_batch_flags_failures_instead_of_raising():
    time = np.tile(np.arange(1.0, 11.0), (3, 1))
    event = np.ones((3, 10), dtype=bool)
    event[2] = False  # no events
    x = np.vstack([np.arange(10) % 2, (np.arange(10) < 5), np.arange(10) % 2]).astype(float)
    result = compute_cox_batch(time, event, x)
    assert result.is_converged.tolist() == [True, True, False]
    assert result.is_finite.tolist() == [True, False, True]
    assert np.isnan(result.coef[2])


def test_empty_group_in_a_replicate_has_no_median():
    time = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    event = np.ones((2, 4), dtype=bool)
    arm = np.array([[0, 1, 0, 1], [0, 0, 0, 0]])
    medians = compute_km_median_batch(time, event, arm)
    assert medians.median[0].tolist() == [2.0, 3.0]
    assert medians.median[1, 0] == 2.5 and np.isnan(medians.median[1, 1])
