"""Design-level Monte Carlo: many trials at once as ``(replicates, patients)`` arrays, analysed at each look.

Reproducibility: replicates are generated in *seed blocks* of :data:`SEED_BLOCK` replicates; block ``b`` of
seed ``s`` draws from ``numpy.random.SeedSequence(s).spawn(n_blocks)[b]`` (the same as
``SeedSequence(s, spawn_key=(b,))``). A chunk (a task) is a run of whole blocks, and the analysis of a
replicate depends on its own draws only, so any chunk size and any number of workers give the same
per-replicate results, concatenated in block order, and the same summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from oligotrial.errors import InputError
from oligotrial.protocol.models import Protocol
from oligotrial.simulation.model import (
    BoolArray,
    FloatArray,
    IntArray,
    TrialBatch,
    TrialDraws,
    TrialModel,
    build_trials,
    compile_model,
    draw_trials,
)
from oligotrial.simulation.scenario import Scenario
from oligotrial.stats import compute_boundaries, compute_cox_batch, compute_km_median_batch

__all__ = [
    "SEED_BLOCK",
    "Chunk",
    "ChunkResult",
    "Design",
    "SimulationResult",
    "analyse_trials",
    "compile_design",
    "compute_logrank_z",
    "get_block_generator",
    "plan_chunks",
    "run_simulation",
    "simulate_chunk",
    "summarize_simulation",
]

#: Replicates per seed block (part of the definition of a seeded run: changing it changes the results).
SEED_BLOCK = 1000


@dataclass(frozen=True)
class Design:
    """A scenario compiled for simulation: the trial model, the looks and their boundaries.

    ``look_events`` is the PFS event count of each look (``None`` for a calendar-time analysis);
    ``efficacy_z`` and ``futility_z`` (or ``None``) the Z-scale bounds of
    :func:`~oligotrial.stats.compute_boundaries`, Z oriented so that benefit of the experimental arm is
    positive.
    """

    model: TrialModel
    scenario: Scenario
    look_events: IntArray | None
    efficacy_z: FloatArray
    futility_z: FloatArray | None
    sided: int

    @property
    def n_looks(self) -> int:
        return int(self.efficacy_z.size)


def compile_design(protocol: Protocol, scenario: Scenario) -> Design:
    """Compile a scenario against its protocol: trial model, look event counts, boundaries."""
    analysis = scenario.analysis
    bounds = compute_boundaries(
        list(analysis.information_rates),
        alpha=analysis.alpha,
        sided=analysis.sided,
        spending=analysis.spending,
        futility=analysis.futility,
        beta=analysis.beta,
    )
    look_events = None
    if analysis.events is not None:
        counts = np.ceil(np.asarray(analysis.information_rates) * analysis.events - 1e-9).astype(np.int64)
        if np.any(np.diff(counts) <= 0) or counts[0] < 1:
            raise InputError.single(
                "SIM-015",
                "analysis.information_rates",
                f"the looks fall at event counts {counts.tolist()}; they must be at least 1 and increase",
            )
        model = compile_model(protocol, scenario)
        possible = model.randomized if model.randomized is not None else model.width
        if analysis.events > possible:
            raise InputError.single(
                "SIM-015",
                "analysis.events",
                f"{analysis.events} events cannot happen among at most {possible} randomized patients",
                value=analysis.events,
            )
        look_events = counts
    else:
        model = compile_model(protocol, scenario)
    return Design(
        model=model,
        scenario=scenario,
        look_events=look_events,
        efficacy_z=np.asarray(bounds.efficacy_z, dtype=np.float64),
        futility_z=None if bounds.futility_z is None else np.asarray(bounds.futility_z, dtype=np.float64),
        sided=analysis.sided,
    )


def compute_logrank_z(
    time: FloatArray, is_event: BoolArray, is_experimental: BoolArray, mask: BoolArray
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Two-arm log-rank statistic of many trials without tied event times.

    Parameters
    ----------
    time, is_event, is_experimental, mask
        ``(R, N)`` follow-up times, event indicators, arm (true experimental) and the subjects present.

    Returns
    -------
    z, observed_minus_expected, variance, events
        ``(R,)``: ``z = -(O - E) / sqrt(V)`` for the experimental arm (positive when it has fewer events
        than expected: benefit), ``O - E``, ``V`` and the number of events; ``z`` is 0 where ``V = 0``.

    Notes
    -----
    The statistic of :func:`~oligotrial.stats.compute_logrank_batch` (R ``survival::survdiff``) for two
    groups when no two events share a time, which holds almost surely for continuous simulated times:
    at each event time the experimental arm's expected share is ``n1 / n`` and its hypergeometric variance
    ``n1 (n - n1) / n^2``. One sort per trial; the numbers at risk are counts from the end of the sorted
    rows. The tests check it against :func:`~oligotrial.stats.compute_logrank_batch`.
    """
    t = np.where(mask, time, np.inf)
    order = np.argsort(t, axis=1)
    ev = np.take_along_axis(is_event & mask, order, axis=1)
    g = np.take_along_axis(is_experimental & mask, order, axis=1)
    n_in = mask.sum(axis=1)
    n = (n_in[:, None] - np.arange(t.shape[1])).astype(np.float64)
    n1 = (g.sum(axis=1)[:, None] - np.cumsum(g, axis=1) + g).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(ev, n1 / n, 0.0)
    oe = (g & ev).sum(axis=1) - share.sum(axis=1)
    variance = (share * (1.0 - share)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, -oe / np.sqrt(variance), 0.0)
    return z, oe, variance, ev.sum(axis=1).astype(np.int64)


@dataclass(frozen=True)
class Chunk:
    """A task: ``n_blocks`` seed blocks from ``first_block``, holding ``replicates`` replicates."""

    index: int
    first_block: int
    n_blocks: int
    replicates: int


def plan_chunks(replicates: int, chunk_replicates: int = 10 * SEED_BLOCK) -> list[Chunk]:
    """Split ``replicates`` into chunks of whole seed blocks of about ``chunk_replicates`` replicates."""
    if replicates < 1:
        raise InputError.single("SIM-020", "replicates", f"expected at least 1, got {replicates}", replicates)
    if chunk_replicates < 1:
        raise InputError.single(
            "SIM-020", "chunk_replicates", f"expected at least 1, got {chunk_replicates}", chunk_replicates
        )
    n_blocks = -(-replicates // SEED_BLOCK)
    per_chunk = max(1, chunk_replicates // SEED_BLOCK)
    chunks = []
    for index, first in enumerate(range(0, n_blocks, per_chunk)):
        count = min(per_chunk, n_blocks - first)
        reps = min(replicates, (first + count) * SEED_BLOCK) - first * SEED_BLOCK
        chunks.append(Chunk(index, first, count, reps))
    return chunks


def get_block_generator(seed: int, block: int) -> np.random.Generator:
    """The generator of seed block ``block``: ``SeedSequence(seed).spawn(...)[block]``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


@dataclass(frozen=True)
class ChunkResult:
    """Per-replicate results of a chunk (arrays of first dimension R) and its site enrollment totals.

    ``is_rejected`` H0 rejected at some look (either tail when two-sided); ``is_favourable`` rejected in
    favour of the experimental arm; ``stop_look`` the look at which the trial stopped (the last when it
    ran to the end); ``is_futile`` stopped for futility; ``z``, ``events`` and ``look_time`` per look
    ``(R, L)`` (``nan``/-1 for looks not reached); ``enrolled``, ``randomized``, ``os_events`` and
    ``duration`` (calendar months from the first enrollment) at the stopping analysis; ``accrual_months``
    the entry time of the last patient enrolled; ``hr_logrank`` the log-rank estimate ``exp((O - E) / V)``,
    ``hr_cox`` the Cox estimate (``nan`` unless asked), ``median`` KM median PFS per arm ``(R, 2)`` (``nan``
    when not reached or not asked). ``site_enrolled`` sums the enrolled patients per site over the chunk.
    """

    is_rejected: BoolArray
    is_favourable: BoolArray
    is_futile: BoolArray
    stop_look: IntArray
    z: FloatArray
    events: IntArray
    look_time: FloatArray
    enrolled: IntArray
    randomized: IntArray
    os_events: IntArray
    duration: FloatArray
    accrual_months: FloatArray
    hr_logrank: FloatArray
    hr_cox: FloatArray
    median: FloatArray
    site_enrolled: FloatArray

    @classmethod
    def concatenate(cls, parts: Sequence[ChunkResult]) -> ChunkResult:
        values: dict[str, Any] = {}
        for f in fields(cls):
            items = [getattr(p, f.name) for p in parts]
            values[f.name] = np.sum(items, axis=0) if f.name == "site_enrolled" else np.concatenate(items)
        return cls(**values)


def _look_times(design: Design, batch: TrialBatch) -> FloatArray:
    """Calendar time of each look ``(R, L)``: when the look's PFS event count is reached, else the
    calendar analysis time; capped by ``max_months``, and at the last event when the count never comes."""
    analysis = design.scenario.analysis
    replicates = batch.pfs.shape[0]
    if design.look_events is None:
        assert analysis.calendar_months is not None
        return np.full((replicates, 1), analysis.calendar_months)
    observable = batch.pfs <= batch.dropout
    event_time = np.where(observable, batch.randomization + batch.pfs, np.inf)
    kth = design.look_events - 1
    times = np.partition(event_time, kth, axis=1)[:, kth]
    if analysis.max_months is not None:
        times = np.minimum(times, analysis.max_months)
    if np.isinf(times).any():
        finite = np.where(np.isfinite(event_time), event_time, -np.inf).max(axis=1)
        last = np.where(
            np.isfinite(finite),
            finite,
            np.where(np.isfinite(batch.randomization), batch.randomization, 0).max(axis=1),
        )
        times = np.where(np.isinf(times), last[:, None], times)
    return np.asarray(times, dtype=np.float64)


@dataclass(frozen=True)
class _Cut:
    time: FloatArray
    is_event: BoolArray
    mask: BoolArray
    is_experimental: BoolArray


def _cut(batch: TrialBatch, rows: IntArray | slice, at: FloatArray) -> _Cut:
    """PFS data of the randomized patients as seen at calendar time ``at`` (one per row). An event counts
    when its calendar time ``randomization + pfs`` (the expression the look times come from) is at or
    before ``at`` and before drop-out."""
    rand = batch.randomization[rows]
    mask = rand < at[:, None]
    pfs, dropout = batch.pfs[rows], batch.dropout[rows]
    is_event = mask & (pfs <= dropout) & (rand + pfs <= at[:, None])
    follow = np.where(mask, at[:, None] - rand, 0.0)
    time = np.where(is_event, pfs, np.minimum(np.minimum(pfs, dropout), follow))
    return _Cut(time, is_event, mask, batch.arm[rows] == 1)


def analyse_trials(design: Design, batch: TrialBatch) -> ChunkResult:
    """Analyse every trial of a batch at its looks and stop by the boundaries.

    Notes
    -----
    Look ``k`` happens at the calendar time of its PFS event count. Patients randomized before it are
    analysed; a patient's PFS is censored at drop-out or at the look, whichever comes first. Stop for
    efficacy when ``Z >= b_k`` (``|Z| >= b_k`` two-sided), for futility when ``Z <= a_k`` (non-binding
    bounds, one-sided designs). Estimates (log-rank HR, Cox HR, KM medians) are computed at the stopping
    look.
    """
    model = design.model
    replicates = batch.pfs.shape[0]
    n_looks = design.n_looks
    times = _look_times(design, batch)
    z_all = np.full((replicates, n_looks), np.nan)
    log_hr = np.full((replicates, n_looks), np.nan)
    events_all = np.full((replicates, n_looks), -1, dtype=np.int64)
    active = np.ones(replicates, dtype=bool)
    stop = np.full(replicates, n_looks - 1, dtype=np.int64)
    rejected = np.zeros(replicates, dtype=bool)
    futile = np.zeros(replicates, dtype=bool)
    for k in range(n_looks):
        rows = np.nonzero(active)[0]
        cut = _cut(batch, rows, times[rows, k])
        z, oe, variance, events = compute_logrank_z(cut.time, cut.is_event, cut.is_experimental, cut.mask)
        z_all[rows, k] = z
        with np.errstate(divide="ignore", invalid="ignore"):
            log_hr[rows, k] = np.where(variance > 0, oe / variance, np.nan)
        events_all[rows, k] = events
        bound = design.efficacy_z[k]
        hit = (np.abs(z) >= bound) if design.sided == 2 else (z >= bound)
        low = np.zeros(rows.size, dtype=bool)
        if design.futility_z is not None and k < n_looks - 1:
            low = ~hit & (z <= design.futility_z[k])
        rejected[rows[hit]] = True
        futile[rows[low]] = True
        ended = hit | low
        stop[rows[ended]] = k
        active[rows[ended]] = False
    at = times[np.arange(replicates), stop]
    everyone = np.arange(replicates)
    cut = _cut(batch, everyone, at)
    with np.errstate(over="ignore"):
        hr_logrank = np.exp(log_hr[everyone, stop])
    analysis = design.scenario.analysis
    hr_cox = np.full(replicates, np.nan)
    if analysis.is_cox:
        fit = compute_cox_batch(cut.time, cut.is_event, cut.is_experimental.astype(np.float64), cut.mask)
        hr_cox = np.where(fit.is_converged & fit.is_finite, np.exp(fit.coef), np.nan)
    median = np.full((replicates, 2), np.nan)
    if analysis.is_medians:
        group = np.where(cut.is_experimental, 1, 0)
        medians = compute_km_median_batch(cut.time, cut.is_event, group, cut.mask).median
        median[:, : medians.shape[1]] = medians
    entered = batch.is_enrolled & (batch.entry <= at[:, None])
    os_events = np.zeros(replicates, dtype=np.int64)
    if model.is_joint:
        is_death = (batch.os <= batch.dropout) & (batch.randomization + batch.os <= at[:, None])
        os_events = (cut.mask & is_death).sum(axis=1)
    accrual = np.where(batch.is_enrolled, batch.entry, -np.inf).max(axis=1)
    site_enrolled = np.bincount(batch.site[batch.is_enrolled], minlength=model.site_cumulative.size).astype(
        np.float64
    )
    favourable = rejected & (z_all[everyone, stop] > 0)
    return ChunkResult(
        is_rejected=rejected,
        is_favourable=favourable,
        is_futile=futile,
        stop_look=stop,
        z=z_all,
        events=events_all,
        look_time=np.where(events_all >= 0, times, np.nan),
        enrolled=entered.sum(axis=1),
        randomized=cut.mask.sum(axis=1),
        os_events=os_events,
        duration=at,
        accrual_months=accrual,
        hr_logrank=hr_logrank,
        hr_cox=hr_cox,
        median=median,
        site_enrolled=site_enrolled,
    )


def simulate_chunk(design: Design, chunk: Chunk, seed: int) -> ChunkResult:
    """Draw the chunk's seed blocks, each from its own generator, build and analyse them in one pass."""
    draws: list[TrialDraws] = []
    for block in range(chunk.first_block, chunk.first_block + chunk.n_blocks):
        size = min(SEED_BLOCK, chunk.first_block * SEED_BLOCK + chunk.replicates - block * SEED_BLOCK)
        draws.append(draw_trials(design.model, size, get_block_generator(seed, block)))
    batch = build_trials(design.model, TrialDraws.concatenate(draws))
    return analyse_trials(design, batch)


def _proportion(flags: NDArray[Any]) -> dict[str, float]:
    n = flags.size
    p = float(np.mean(flags)) if n else math.nan
    return {"estimate": p, "mc_se": math.sqrt(p * (1 - p) / n) if n else math.nan}


def _mean(values: NDArray[Any]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"estimate": math.nan, "mc_se": math.nan, "n": 0}
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return {"estimate": float(v.mean()), "mc_se": se, "n": int(v.size)}


@dataclass(frozen=True)
class SimulationResult:
    """Summary of a design simulation (:func:`summarize_simulation`) and the per-replicate results."""

    summary: dict[str, Any]
    replicates: ChunkResult


def summarize_simulation(design: Design, results: ChunkResult, seed: int) -> SimulationResult:
    """Operating characteristics with Monte Carlo standard errors.

    Notes
    -----
    A probability ``p`` over ``R`` replicates has Monte Carlo standard error ``sqrt(p (1 - p) / R)``; a mean
    has ``sd / sqrt(R)`` over the replicates where it is finite. ``rejection`` is the type I error when the
    progression hazard ratio is 1 (and there is no delayed effect), the power otherwise; two-sided
    rejection counts both tails, as :func:`~oligotrial.stats.compute_power` does.
    """
    scenario = design.scenario
    reps = int(results.is_rejected.size)
    looks = []
    for k in range(design.n_looks):
        at_k = results.stop_look == k
        looks.append(
            {
                "look": k + 1,
                "planned_events": None if design.look_events is None else int(design.look_events[k]),
                "efficacy_z": float(design.efficacy_z[k]),
                "futility_z": None if design.futility_z is None else float(design.futility_z[k]),
                "stop_efficacy": _proportion(at_k & results.is_rejected),
                "stop_futility": _proportion(at_k & results.is_futile),
                "stop": _proportion(at_k),
                "events": _mean(np.where(results.events[:, k] >= 0, results.events[:, k], np.nan)),
                "time_months": _mean(results.look_time[:, k]),
            }
        )
    null = scenario.transitions.progression.hazard_ratio == 1.0
    hr = results.hr_logrank[np.isfinite(results.hr_logrank)]
    cox = results.hr_cox[np.isfinite(results.hr_cox)]
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "replicates": reps,
        "seed": seed,
        "seed_block": SEED_BLOCK,
        "hypothesis": "null (type I error)" if null else "alternative (power)",
        "rejection": _proportion(results.is_rejected),
        "rejection_favourable": _proportion(results.is_favourable),
        "looks": looks,
        "events": _mean(results.events[np.arange(reps), results.stop_look]),
        "os_events": _mean(results.os_events) if design.model.is_joint else None,
        "duration_months": _mean(results.duration),
        "accrual_months": _mean(results.accrual_months),
        "enrolled": _mean(results.enrolled),
        "randomized": _mean(results.randomized),
        "enrolled_per_site": (results.site_enrolled / reps).tolist(),
        "hazard_ratio_logrank": {
            "median": float(np.median(hr)) if hr.size else math.nan,
            "geometric_mean": float(np.exp(np.mean(np.log(hr)))) if hr.size else math.nan,
        },
        "hazard_ratio_cox": (
            {"median": float(np.median(cox)), "geometric_mean": float(np.exp(np.mean(np.log(cox))))}
            if cox.size
            else None
        ),
        "median_pfs_months": (
            {
                "control": _mean(results.median[:, 0]),
                "experimental": _mean(results.median[:, 1]),
                "reached_control": _proportion(np.isfinite(results.median[:, 0])),
                "reached_experimental": _proportion(np.isfinite(results.median[:, 1])),
            }
            if scenario.analysis.is_medians
            else None
        ),
        "two_sided_p_at_stop_mean": float(
            np.mean(2 * ndtr(-np.abs(results.z[np.arange(reps), results.stop_look])))
        ),
    }
    return SimulationResult(summary=summary, replicates=results)


def run_simulation(
    design: Design,
    replicates: int,
    seed: int,
    *,
    chunk_replicates: int = 10 * SEED_BLOCK,
    map_chunks: Callable[[Callable[[Chunk], ChunkResult], list[Chunk]], Iterable[ChunkResult]] | None = None,
    on_chunk: Callable[[Chunk], None] | None = None,
) -> SimulationResult:
    """Simulate ``replicates`` trials of a design and summarise them.

    Parameters
    ----------
    design
        From :func:`compile_design`.
    replicates
        Number of simulated trials.
    seed
        Seed of the run (see the module docstring: the same seed gives the same result whatever the chunk
        size or the executor).
    chunk_replicates
        Replicates per task (rounded to whole seed blocks of :data:`SEED_BLOCK`).
    map_chunks
        ``map_chunks(function, chunks)`` returning the results in the order of ``chunks``; default: one
        process, in order. A distributed executor plugs in here.
    on_chunk
        Called with each chunk when it is done (progress reporting).
    """
    chunks = plan_chunks(replicates, chunk_replicates)

    def task(chunk: Chunk) -> ChunkResult:
        result = simulate_chunk(design, chunk, seed)
        if on_chunk is not None:
            on_chunk(chunk)
        return result

    parts = list(map_chunks(task, chunks) if map_chunks is not None else map(task, chunks))
    return summarize_simulation(design, ChunkResult.concatenate(parts), seed)
