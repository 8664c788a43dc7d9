"""The trial model: enrollment, induction, randomization and illness–death times, for many trials at once.

Every array has shape ``(replicates, patients)``; column ``j`` is the ``j``-th patient enrolled. The random
numbers of a set of replicates are drawn first (:func:`draw_trials`), then turned into trials by
deterministic array arithmetic (:func:`build_trials`), one seed block of replicates at a time, each block
from its own generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from oligotrial.errors import ComputationError, InputError, Problem
from oligotrial.protocol.models import Protocol
from oligotrial.simulation.scenario import Scenario, Transition

__all__ = [
    "ArmHazard",
    "TrialBatch",
    "TrialDraws",
    "TrialModel",
    "build_trials",
    "compile_model",
    "compute_event_times",
    "draw_trials",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_SHORTFALL = 1e-15  # probability that a replicate enrolls too few patients to randomize the target


@dataclass(frozen=True)
class ArmHazard:
    """A piecewise-constant hazard per arm: ``rates[a, k]`` on ``[starts[k], starts[k + 1])`` for arm ``a``
    (0 control, 1 experimental); ``cumulative[a, k]`` is the cumulative hazard at ``starts[k]``."""

    starts: FloatArray
    rates: FloatArray
    cumulative: FloatArray

    @classmethod
    def from_transition(cls, transition: Transition) -> ArmHazard:
        starts, rates = transition.control.pieces()
        delay = transition.delay_months
        grid = sorted({*starts, delay}) if delay > 0 else list(starts)
        control = np.array([rates[int(np.searchsorted(starts, s, side="right")) - 1] for s in grid])
        factor = np.where(np.asarray(grid) >= delay, transition.hazard_ratio, 1.0)
        table = np.vstack([control, control * factor])
        widths = np.diff(np.asarray(grid))
        cumulative = np.hstack([np.zeros((2, 1)), np.cumsum(table[:, :-1] * widths, axis=1)])
        return cls(np.asarray(grid, dtype=np.float64), table, cumulative)

    @property
    def is_exponential(self) -> bool:
        return self.starts.size == 1

    def invert(self, exposure: FloatArray, arm: NDArray[Any]) -> FloatArray:
        """Times at which the cumulative hazard reaches ``exposure`` (unit exponential draws): inversion of
        the piecewise-linear cumulative hazard; ``inf`` when it never does (a zero last rate)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.is_exponential:  # rate by arm + 1 (-1 not randomized, 0 control: the control rate)
                if self.rates[0, 0] == self.rates[1, 0]:
                    return np.asarray(exposure / self.rates[0, 0], dtype=np.float64)
                by_arm = self.rates[[0, 0, 1], 0]
                return np.asarray(
                    exposure / by_arm.take(np.asarray(arm, dtype=np.intp) + 1), dtype=np.float64
                )
            is_exp = np.asarray(arm) == 1
            out = np.empty(exposure.shape)
            for a, which in ((0, ~is_exp), (1, is_exp)):
                e = exposure[which]
                k = np.searchsorted(self.cumulative[a], e, side="right") - 1
                out[which] = self.starts[k] + (e - self.cumulative[a, k]) / self.rates[a, k]
        return np.where(np.isnan(out), np.inf, out)


@dataclass(frozen=True)
class TrialModel:
    """A scenario compiled against its protocol: everything :func:`build_trials` needs, as numbers."""

    width: int  # patients drawn per replicate
    enrolled: int | None
    randomized: int | None
    accrual_rate: float
    ramp_up: float
    is_random_accrual: bool
    site_cumulative: FloatArray
    induction_months: float
    progression_probability: float
    response_probability: float
    single_organ_probability: float
    method: str
    ratio: tuple[int, int]  # control, experimental
    block_sizes: IntArray
    strata: tuple[str, ...]  # sources used: site, induction_response, metastatic_organ_count
    n_cells: int
    progression: ArmHazard
    death_before: ArmHazard
    death_after: ArmHazard
    is_joint: bool
    dropout_hazard: float


def compile_model(protocol: Protocol, scenario: Scenario) -> TrialModel:
    """Check a scenario against its protocol and turn it into a :class:`TrialModel`.

    Raises
    ------
    InputError
        ``SIM-015`` when the protocol's block sizes do not hold whole multiples of the allocation ratio.
    """
    ratio = (
        protocol.randomization.ratio.get("control", 1),
        protocol.randomization.ratio.get("experimental", 1),
    )
    sizes = np.asarray(protocol.randomization.block_sizes, dtype=np.int64)
    rand = scenario.randomization
    if rand.method == "permuted_blocks" and np.any(sizes % sum(ratio)):
        raise InputError.single(
            "SIM-015",
            "randomization.method",
            f"the protocol's block sizes {tuple(int(s) for s in sizes)} are not multiples of the ratio "
            f"{ratio[0]}:{ratio[1]}",
        )
    strata: tuple[str, ...] = ()
    n_cells = 1
    if rand.method == "permuted_blocks" and rand.is_stratified:
        levels = {"site": scenario.sites.count, "induction_response": 2, "metastatic_organ_count": 2}
        strata = tuple(s.source for s in protocol.randomization.strata if s.source in levels)
        n_cells = math.prod(levels[s] for s in strata)
    weights = np.asarray(scenario.sites.weights or [1.0] * scenario.sites.count, dtype=np.float64)
    induction = scenario.induction
    months = induction.duration_months
    if months is None:
        days = protocol.induction.cycles * protocol.induction.cycle_length_days
        months = days / protocol.protocol.days_per_month
    size = scenario.sample_size
    p = induction.progression_probability
    if size.enrolled is not None:
        width = size.enrolled
    else:
        assert size.randomized is not None
        n = size.randomized
        width = n if p == 0 else n + int(stats.nbinom.isf(_SHORTFALL, n, 1.0 - p)) + 1
    t = scenario.transitions
    return TrialModel(
        width=width,
        enrolled=size.enrolled,
        randomized=size.randomized,
        accrual_rate=scenario.accrual.rate,
        ramp_up=scenario.accrual.ramp_up_months,
        is_random_accrual=scenario.accrual.is_random,
        site_cumulative=np.cumsum(weights) / weights.sum(),
        induction_months=float(months),
        progression_probability=p,
        response_probability=induction.response_probability,
        single_organ_probability=induction.single_organ_probability,
        method=rand.method,
        ratio=ratio,
        block_sizes=sizes,
        strata=strata,
        n_cells=n_cells,
        progression=ArmHazard.from_transition(t.progression),
        death_before=ArmHazard.from_transition(t.death_before_progression),
        death_after=ArmHazard.from_transition(t.death_after_progression),
        is_joint=t.is_joint,
        dropout_hazard=scenario.dropout.hazard,
    )


@dataclass(frozen=True)
class TrialDraws:
    """The random numbers of a set of replicates, each ``(R, width)`` or ``None`` when the model does not
    use it: unit exponentials ``accrual``, ``progression``, ``death_before``, ``death_after``,
    ``dropout``; uniforms ``site``, ``induction`` (progression during induction), ``response``,
    ``organs``, ``arm``; integers ``block`` (index of the block size drawn when a block starts)."""

    accrual: FloatArray | None
    site: FloatArray | None
    induction: FloatArray | None
    response: FloatArray | None
    organs: FloatArray | None
    arm: FloatArray | None
    block: IntArray | None
    progression: FloatArray
    death_before: FloatArray | None
    death_after: FloatArray | None
    dropout: FloatArray | None


def draw_trials(model: TrialModel, replicates: int, rng: np.random.Generator) -> TrialDraws:
    """Draw the random numbers of ``replicates`` trials, in a fixed order, from ``rng``."""
    shape = (replicates, model.width)
    is_pd = model.progression_probability > 0
    needs_response = "induction_response" in model.strata
    needs_organs = "metastatic_organ_count" in model.strata
    joint = model.is_joint
    return TrialDraws(
        accrual=rng.standard_exponential(shape) if model.is_random_accrual else None,
        site=rng.random(shape) if model.site_cumulative.size > 1 else None,
        induction=rng.random(shape) if is_pd else None,
        response=rng.random(shape) if needs_response else None,
        organs=rng.random(shape) if needs_organs else None,
        arm=rng.random(shape) if model.method != "fixed" else None,
        block=rng.integers(0, model.block_sizes.size, shape) if model.method == "permuted_blocks" else None,
        progression=rng.standard_exponential(shape),
        death_before=rng.standard_exponential(shape) if joint else None,
        death_after=rng.standard_exponential(shape) if joint else None,
        dropout=rng.standard_exponential(shape) if model.dropout_hazard > 0 else None,
    )


@dataclass(frozen=True)
class TrialBatch:
    """Trials of a batch, ``(R, width)`` arrays; times in months.

    ``entry`` is the calendar time of enrollment from the first possible enrollment (0); ``randomization``
    the calendar time of randomization (``inf`` when not randomized or not enrolled); ``is_enrolled`` marks
    the patients who exist; ``arm`` 1 experimental, 0 control, -1 not randomized; ``stratum`` the
    randomization cell; ``site`` the site index; ``is_responder`` CR/PR at the end of induction;
    ``is_single_organ`` one metastatic organ. ``pfs`` is the time from randomization to progression or
    death, ``is_progression`` whether that event is a progression; ``os`` the time from randomization to
    death (``nan`` when the model is not joint); ``dropout`` the time from randomization to loss to
    follow-up (``inf`` without drop-out).
    """

    entry: FloatArray
    randomization: FloatArray
    is_enrolled: BoolArray
    arm: NDArray[np.int8]
    stratum: IntArray
    site: IntArray
    is_responder: BoolArray
    is_single_organ: BoolArray
    pfs: FloatArray
    is_progression: BoolArray
    os: FloatArray
    dropout: FloatArray


def _entry_times(model: TrialModel, draws: TrialDraws, shape: tuple[int, int]) -> FloatArray:
    """Invert the cumulative accrual intensity ``L(t) = a t^2 / (2 r)`` for ``t < r``, then
    ``a r / 2 + a (t - r)``: rate ``a`` reached linearly over the ramp-up ``r``."""
    if draws.accrual is not None:
        target = np.cumsum(draws.accrual, axis=1)
    else:
        target = np.broadcast_to(np.arange(shape[1], dtype=np.float64), shape)
    a, r = model.accrual_rate, model.ramp_up
    if r == 0:
        return np.asarray(target / a, dtype=np.float64)
    knee = a * r / 2.0
    entry = r + (target - knee) / a
    # the targets increase along each row: the ramp-up is in the columns whose smallest target is below
    # the knee
    ramp = int(np.count_nonzero(target.min(axis=0) < knee))
    head = target[:, :ramp]
    entry[:, :ramp] = np.where(head < knee, np.sqrt(2.0 * r * head / a), entry[:, :ramp])
    return entry


def _permuted_blocks(
    model: TrialModel, cell: IntArray, is_randomized: BoolArray, u: FloatArray, block: IntArray
) -> NDArray[np.int8]:
    """Stratified permuted blocks in enrollment order: each cell draws a block size when its block is
    used up; within a block the experimental arm is taken with probability (experimental places left) /
    (places left), which makes every arrangement of the block equally likely."""
    replicates, width = cell.shape
    total = sum(model.ratio)
    left = np.zeros(replicates * model.n_cells, dtype=np.int64)
    left_exp = np.zeros_like(left)
    # column-major copies: patient j of every replicate is one contiguous row
    slot = np.ascontiguousarray((np.arange(replicates)[:, None] * model.n_cells + cell).T)
    size = np.ascontiguousarray(model.block_sizes[block].T)
    size_exp = size * model.ratio[1] // total
    draw = np.ascontiguousarray(u.T)
    randomized = np.ascontiguousarray(is_randomized.T)
    arm = np.empty((width, replicates), dtype=np.int8)
    for j in range(width):
        idx = slot[j]
        places, places_exp = left[idx], left_exp[idx]
        fresh = places == 0
        places = np.where(fresh, size[j], places)
        places_exp = np.where(fresh, size_exp[j], places_exp)
        is_exp = draw[j] * places < places_exp
        r = randomized[j]
        arm[j] = np.where(r, is_exp, -1)
        left[idx] = np.where(r, places - 1, left[idx])
        left_exp[idx] = np.where(r, places_exp - is_exp, left_exp[idx])
    return np.ascontiguousarray(arm.T)


def _or_not_randomized(is_experimental: BoolArray, is_randomized: BoolArray) -> NDArray[np.int8]:
    """Arm codes: 1 experimental, 0 control, -1 not randomized (arithmetic, no branch per patient)."""
    return np.asarray((is_experimental & is_randomized).view(np.int8) - (~is_randomized).view(np.int8))


def build_trials(model: TrialModel, draws: TrialDraws) -> TrialBatch:
    """Turn draws into trials (see :func:`compute_event_times` for the illness–death part).

    Raises
    ------
    ComputationError
        ``SIM-101`` when a replicate enrolls fewer patients than needed to randomize the target (the width
        is set so that this has probability below 1e-15).

    Notes
    -----
    Enrollment: patient ``j`` enters when the cumulative accrual intensity reaches the ``j``-th point of a
    unit Poisson process (random accrual) or ``j`` (deterministic). Induction lasts a fixed time; a patient
    progresses during it with the scenario's probability and is then not randomized. The others are
    randomized at the end of induction, in enrollment order, by the scenario's method: stratified permuted
    blocks over the protocol's strata that the model knows (site, induction response CR/PR vs SD,
    metastatic organs 1 vs 2–3), simple randomization with probability experimental / (control +
    experimental), or the fixed ratio in order. With a randomized target, enrollment stops at the patient
    who completes it.
    """
    shape = draws.progression.shape
    entry = _entry_times(model, draws, shape)
    is_all = draws.induction is None  # every patient enrolled is randomized
    is_randomized: BoolArray = (
        np.ones(shape, dtype=bool)
        if draws.induction is None
        else np.greater_equal(draws.induction, model.progression_probability)
    )
    # randomized patients before each one, counted in integers (a cumulative sum of booleans is several
    # times slower)
    if is_all:
        rank: IntArray = np.broadcast_to(np.arange(shape[1], dtype=np.int64), shape)
    else:
        counts = is_randomized.astype(np.int64)
        rank = np.cumsum(counts, axis=1)
        rank -= counts
    if model.randomized is not None:
        is_enrolled = rank < model.randomized
        if np.any(rank[:, -1] + is_randomized[:, -1] < model.randomized):
            raise ComputationError(
                Problem(
                    "SIM-101",
                    "sample_size.randomized",
                    "a replicate enrolled too few patients to reach the randomization target; lower the "
                    "induction progression probability",
                )
            )
        is_randomized &= is_enrolled
        is_all = is_all and bool(is_enrolled.all())
    else:
        is_enrolled = np.ones(shape, dtype=bool)
    site = (
        np.searchsorted(model.site_cumulative, draws.site, side="right").astype(np.int64)
        if draws.site is not None
        else np.zeros(shape, dtype=np.int64)
    )
    site = np.minimum(site, model.site_cumulative.size - 1)
    is_responder = (
        draws.response < model.response_probability
        if draws.response is not None
        else np.zeros(shape, dtype=bool)
    )
    is_single = (
        draws.organs < model.single_organ_probability
        if draws.organs is not None
        else np.zeros(shape, dtype=bool)
    )
    cell = np.zeros(shape, dtype=np.int64)
    for source in model.strata:
        if source == "site":
            cell = cell * model.site_cumulative.size + site
        elif source == "induction_response":
            cell = cell * 2 + is_responder
        else:
            cell = cell * 2 + is_single
    if model.method == "permuted_blocks":
        assert draws.arm is not None and draws.block is not None
        arm = _permuted_blocks(model, cell, is_randomized, draws.arm, draws.block)
    elif model.method == "simple":
        assert draws.arm is not None
        arm = _or_not_randomized(draws.arm * sum(model.ratio) < model.ratio[1], is_randomized)
    else:
        arm = _or_not_randomized(rank % sum(model.ratio) >= model.ratio[0], is_randomized)
    randomization = entry + model.induction_months
    if not is_all:
        randomization[~is_randomized] = np.inf
    pfs, is_progression, os = compute_event_times(model, draws, arm)
    dropout = draws.dropout / model.dropout_hazard if draws.dropout is not None else np.full(shape, np.inf)
    return TrialBatch(
        entry=np.asarray(entry, dtype=np.float64),
        randomization=randomization,
        is_enrolled=is_enrolled,
        arm=arm,
        stratum=cell,
        site=site,
        is_responder=is_responder,
        is_single_organ=is_single,
        pfs=pfs,
        is_progression=is_progression,
        os=os,
        dropout=dropout,
    )


def compute_event_times(
    model: TrialModel, draws: TrialDraws, arm: NDArray[Any]
) -> tuple[FloatArray, BoolArray, FloatArray]:
    """PFS, whether it is a progression, and OS, from randomization, by the illness–death model.

    Notes
    -----
    Three transitions, each with a piecewise-constant hazard per arm (the experimental arm's is the
    control's times the hazard ratio from the delay on): progression ``0 → 1`` (``h01``), death without
    progression ``0 → 2`` (``h02``), and death after progression ``1 → 2`` (``h12``, whose clock starts at
    progression: semi-Markov, "clock reset"). With latent times ``T01``, ``T02`` and ``T12`` drawn by
    inversion of the cumulative hazards, ``PFS = min(T01, T02)``, the PFS event is a progression when
    ``T01 < T02``, and ``OS = T02`` without progression, ``T01 + T12`` after it. PFS then has hazard
    ``h01 + h02``; its hazard ratio is the progression one only when death before progression has the
    same ratio or is rare. Without the joint model the progression hazard is the PFS hazard and OS is not
    generated (``nan``).
    """
    t01 = model.progression.invert(draws.progression, arm)
    if not model.is_joint or draws.death_before is None or draws.death_after is None:
        return t01, np.ones(t01.shape, dtype=bool), np.full(t01.shape, np.nan)
    t02 = model.death_before.invert(draws.death_before, arm)
    t12 = model.death_after.invert(draws.death_after, arm)
    is_progression = t01 < t02
    pfs = np.minimum(t01, t02)
    os = np.where(is_progression, t01 + t12, t02)
    return pfs, is_progression, os
