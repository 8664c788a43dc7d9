"""Invariants of the survival estimates on arbitrary data (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.stats import compute_cox, compute_km, compute_logrank, compute_logrank_batch

subjects = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=0, max_value=15).map(float), min_size=n, max_size=n),  # many ties
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=1), min_size=n, max_size=n),
    )
)


@given(subjects, st.sampled_from(["log", "log-log", "plain"]))
def test_km_is_non_increasing_within_zero_and_one_and_inside_its_bounds(data, conf_type):
    time, event, _ = data
    (curve,) = compute_km(time, event, conf_type=conf_type)
    assert np.all(np.diff(curve.surv) <= 0)
    assert np.all((curve.surv >= 0) & (curve.surv <= 1))
    inside = ~np.isnan(curve.lower)
    assert np.all(curve.lower[inside] <= curve.surv[inside] + 1e-12)
    assert np.all(curve.upper[inside] >= curve.surv[inside] - 1e-12)
    assert curve.n_risk[0] == len(time) and curve.events == sum(event)
    if not np.isnan(curve.median):
        assert np.isnan(curve.median_lower) or curve.median_lower <= curve.median
        assert np.isnan(curve.median_upper) or curve.median <= curve.median_upper


@given(subjects)
def test_logrank_does_not_depend_on_labels_or_order(data):
    time, event, arm = data
    if len(set(arm)) < 2:
        return
    result = compute_logrank(time, event, arm)
    swapped = compute_logrank(time[::-1], event[::-1], [1 - a for a in arm][::-1])
    assert result.chisq >= 0
    np.testing.assert_allclose(swapped.chisq, result.chisq, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.observed.sum(), result.expected.sum(), rtol=1e-9)


@settings(max_examples=50)
@given(subjects)
def test_padding_a_batch_with_masked_subjects_changes_nothing(data):
    time, event, arm = data
    if len(set(arm)) < 2:
        return
    n = len(time)
    padded = np.zeros((1, n + 5))
    padded[0, :n] = time
    mask = np.arange(n + 5) < n
    batch = compute_logrank_batch(padded, np.pad(event, (0, 5))[None], np.pad(arm, (0, 5))[None], mask[None])
    np.testing.assert_allclose(
        batch.chisq[0], compute_logrank(time, event, arm).chisq, rtol=1e-12, atol=1e-12
    )


@settings(max_examples=50)
@given(st.floats(min_value=-2, max_value=2), st.integers(min_value=0, max_value=2**32 - 1))
def test_cox_is_invariant_to_shifting_and_scaling_time(beta, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=30)
    time = rng.exponential(np.exp(-beta * x))
    event = rng.random(30) < 0.8
    if event.sum() < 2:
        return
    fit = compute_cox(time, event, x)
    rescaled = compute_cox(3.0 * time + 1.0, event, x)
    np.testing.assert_allclose(rescaled.coef, fit.coef, rtol=1e-9, atol=1e-12)
