"""Pocock-Simon minimization: the decision rule on worked cases, reproducibility of the random element, and
the documented imbalance bound over 10,000 simulated allocations (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.randomization import (
    MINIMIZATION_IMBALANCE_BOUND,
    add_to_marginals,
    choose_minimization_arm,
    compute_marginal_imbalance,
    draw_minimization_uniform,
)

RATIO = {"control": 1, "experimental": 1}


def test_worked_case_range():
    # Pocock & Simon's rule by hand: factor A level a1 has 3 control / 1 experimental, factor B level b2
    # 2 / 2. Adding to control: ranges |4-1| + |3-2| = 4; to experimental: |3-2| + |2-3| = 2.
    marginals = {
        "A": {"a1": {"control": 3, "experimental": 1}},
        "B": {"b2": {"control": 2, "experimental": 2}},
    }
    levels = {"A": "a1", "B": "b2"}
    decision = choose_minimization_arm(marginals, levels, RATIO, probability=0.8, imbalance="range", u=0.79)
    assert decision.scores == {"control": 4.0, "experimental": 2.0}
    assert decision.preferred == ("experimental",) and decision.arm == "experimental"
    other = choose_minimization_arm(marginals, levels, RATIO, probability=0.8, imbalance="range", u=0.8)
    assert other.arm == "control"  # the random element: u >= p takes the other arm
    variance = choose_minimization_arm(marginals, levels, RATIO, probability=0.8, imbalance="variance", u=0.1)
    assert variance.scores == {"control": pytest.approx(2.25 + 0.25), "experimental": pytest.approx(0.5)}


def test_ties_are_broken_by_the_draw():
    low = choose_minimization_arm({}, {"A": "a"}, RATIO, probability=0.8, imbalance="range", u=0.49)
    high = choose_minimization_arm({}, {"A": "a"}, RATIO, probability=0.8, imbalance="range", u=0.5)
    assert (low.arm, high.arm) == ("control", "experimental")
    assert low.preferred == ("control", "experimental")


def test_draws_are_reproducible_per_allocation():
    assert draw_minimization_uniform(42, 7) == draw_minimization_uniform(42, 7)
    assert draw_minimization_uniform(42, 7) != draw_minimization_uniform(42, 8)
    assert 0 <= draw_minimization_uniform(0, 1) < 1


def test_unequal_ratio_balances_towards_the_ratio():
    ratio = {"control": 1, "experimental": 2}
    marginals: dict = {}
    rng = np.random.default_rng(0)
    for _ in range(300):
        d = choose_minimization_arm(
            marginals, {"A": "a"}, ratio, probability=0.9, imbalance="range", u=float(rng.random())
        )
        add_to_marginals(marginals, {"A": "a"}, d.arm)
    counts = marginals["A"]["a"]
    assert abs(counts["experimental"] - 2 * counts["control"]) <= 6


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32),
    sites=st.integers(1, 20),
    measure=st.sampled_from(["range", "variance"]),
    p_response=st.floats(0.1, 0.9),
)
def test_imbalance_stays_within_the_documented_bound_over_10000_allocations(seed, sites, measure, p_response):
    """The protocol's design (3 factors: site, response CR/PR vs SD, organs 1 vs 2-3), probability 0.8."""
    rng = np.random.default_rng(seed)
    site = rng.integers(sites, size=10_000)
    response = rng.random(10_000) < p_response
    organs = rng.random(10_000) < 0.5
    draws = rng.random(10_000)
    marginals: dict = {}
    total = {"control": 0, "experimental": 0}
    for i in range(10_000):
        levels = {
            "site": f"S{site[i]}",
            "induction_response": "CR/PR" if response[i] else "SD",
            "metastatic_organs": "1" if organs[i] else "2-3",
        }
        d = choose_minimization_arm(
            marginals, levels, RATIO, probability=0.8, imbalance=measure, u=float(draws[i])
        )
        add_to_marginals(marginals, levels, d.arm)
        total[d.arm] += 1
    assert compute_marginal_imbalance(marginals, RATIO) <= MINIMIZATION_IMBALANCE_BOUND
    assert abs(total["experimental"] - total["control"]) <= MINIMIZATION_IMBALANCE_BOUND
