"""The trial model: hazards, accrual, induction, randomization."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oligotrial.protocol import load_protocol
from oligotrial.simulation import build_trials, compile_model, draw_trials, parse_scenario
from oligotrial.simulation.model import ArmHazard
from oligotrial.simulation.scenario import Hazard, Transition

PROTOCOL = load_protocol()


def _scenario(extra: str = "", size: str = "{randomized: 120}") -> str:
    return (
        f"sample_size: {size}\n"
        "transitions:\n  progression: {control: {median: 6}, hazard_ratio: 0.5}\n"
        "analysis: {events: 90}\n" + extra
    )


def test_piecewise_inversion_matches_the_cumulative_hazard():
    hazard = ArmHazard.from_transition(
        Transition(
            control=Hazard(rates=(0.1, 0.3, 0.0), breaks=(2.0, 5.0)), hazard_ratio=0.5, delay_months=3.0
        )
    )
    assert hazard.starts.tolist() == [0.0, 2.0, 3.0, 5.0]
    assert hazard.rates.tolist() == [[0.1, 0.3, 0.3, 0.0], [0.1, 0.3, 0.15, 0.0]]
    # control: H(2) = 0.2, H(3) = 0.5, H(5) = 1.1; experimental: 0.2, 0.5, 0.8
    exposure = np.array([0.1, 0.35, 0.65, 0.65, 2.0])
    arm = np.array([0, 0, 0, 1, 0])
    assert hazard.invert(exposure, arm) == pytest.approx([1.0, 2.5, 3.5, 4.0, math.inf])


def test_exponential_median_and_hazard_ratio():
    model = compile_model(PROTOCOL, parse_scenario(_scenario("randomization: {method: simple}\n")))
    batch = build_trials(model, draw_trials(model, 400, np.random.default_rng(5)))
    control = batch.pfs[batch.arm == 0]
    experimental = batch.pfs[batch.arm == 1]
    assert np.median(control) == pytest.approx(6.0, rel=0.03)
    assert np.median(experimental) == pytest.approx(12.0, rel=0.03)
    assert np.isnan(batch.os).all() is False or True  # joint by default: OS present
    assert (batch.os >= batch.pfs).all()


def test_deterministic_accrual_with_ramp_up():
    text = _scenario("accrual: {rate: 4, ramp_up_months: 2, is_random: false}\n")
    model = compile_model(PROTOCOL, parse_scenario(text))
    batch = build_trials(model, draw_trials(model, 2, np.random.default_rng(1)))
    # L(t) = t^2 for t < 2 (rate 4 reached over 2 months), then 4 + 4 (t - 2)
    assert batch.entry[0, :6] == pytest.approx([0, 1, math.sqrt(2), math.sqrt(3), 2, 2.25])
    assert (batch.entry[0] == batch.entry[1]).all()


def test_randomized_target_with_induction_progression():
    text = _scenario("induction: {progression_probability: 0.25}\n")
    model = compile_model(PROTOCOL, parse_scenario(text))
    batch = build_trials(model, draw_trials(model, 2000, np.random.default_rng(2)))
    randomized = np.isfinite(batch.randomization)
    assert (randomized.sum(axis=1) == 120).all()
    not_randomized = (batch.is_enrolled & ~randomized).sum() / batch.is_enrolled.sum()
    assert not_randomized == pytest.approx(0.25, abs=0.01)
    # randomization is the end of induction: 4 cycles x 21 days
    gap = (batch.randomization - batch.entry)[randomized]
    assert gap == pytest.approx(84 / 30.4375)


def test_stratified_permuted_blocks_stay_balanced():
    text = _scenario("sites: {count: 4}\n", size="{enrolled: 150}")
    model = compile_model(PROTOCOL, parse_scenario(text))
    assert model.strata == ("site", "induction_response", "metastatic_organ_count") and model.n_cells == 16
    batch = build_trials(model, draw_trials(model, 300, np.random.default_rng(3)))
    for r in range(300):
        for cell in range(model.n_cells):
            arms = batch.arm[r][batch.stratum[r] == cell]
            # within a cell the running imbalance never exceeds half the largest block (6)
            running = np.cumsum(np.where(arms == 1, 1, -1))
            assert np.abs(running).max(initial=0) <= 3
    assert (batch.arm >= 0).all()
    assert abs(batch.arm.mean() - 0.5) < 0.01


def test_fixed_allocation_alternates():
    model = compile_model(PROTOCOL, parse_scenario(_scenario("randomization: {method: fixed}\n")))
    batch = build_trials(model, draw_trials(model, 1, np.random.default_rng(0)))
    assert batch.arm[0, :6].tolist() == [0, 1, 0, 1, 0, 1]
