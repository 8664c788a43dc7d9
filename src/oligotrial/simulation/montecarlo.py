"""Design-level Monte Carlo: many trials at once as ``(replicates, patients)`` arrays, analysed at each look.

Reproducibility: replicates are generated in *seed blocks* of :data:`SEED_BLOCK` replicates; block ``b`` of
seed ``s`` draws from ``numpy.random.SeedSequence(s).spawn(n_blocks)[b]`` (the same as
``SeedSequence(s, spawn_key=(b,))``). A chunk (a task) is a run of whole blocks, and the analysis of a
replicate depends on its own draws only, so any chunk size and any number of workers give the same
per-replicate results, concatenated in block order, and the same summary.
"""

from __future__ import annotations

import functools
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
        ``(R, N)`` non-negative follow-up times, event indicators, arm (true experimental) and the subjects
        present.

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
    ``n1 (n - n1) / n^2``. The numbers at risk are counts from the end of the sorted rows; a censored time
    equal to an event time sorts after it (still at risk, as in R). One ``numpy.sort`` of packed 64-bit keys
    per trial, (time, censored, arm): the bit patterns of non-negative doubles sort as the doubles, and
    counted from the smallest time they leave the two low bits free whenever the times span less than
    2^61 units in the last place (always for simulated times; otherwise an index sort is used). The tests
    check it against :func:`~oligotrial.stats.compute_logrank_batch`.
    """
    mask = np.asarray(mask, dtype=bool)
    key = _pack_logrank_keys(time, is_event, is_experimental, mask)
    if key is None:
        return _logrank_z_by_index(time, is_event, is_experimental, mask)
    key.sort(axis=1)
    return _logrank_z_sorted(key, np.count_nonzero(mask, axis=1))


_MASKED_KEY = np.uint64(0xFFFF_FFFF_FFFF_FFFE)  # after every packed time; censored, control


def _pack_logrank_keys(
    time: FloatArray, is_event: BoolArray, is_experimental: BoolArray, mask: BoolArray
) -> NDArray[np.uint64] | None:
    """``part(time) << 2 | censored << 1 | experimental`` inside the mask and :data:`_MASKED_KEY` outside;
    ``None`` when the times do not fit (not finite, negative, or spanning 2^61 units in the last place).

    ``part`` counts bit patterns from the smallest positive time (0 for time 0): order-preserving and
    one-to-one. Booleans enter as bytes and every step is a whole-array integer operation (no per-element
    branch, no mixed-type arithmetic).
    """
    mask = np.asarray(mask, dtype=bool)
    is_all = bool(mask.all())
    m = mask.view(np.uint8)
    if not np.isfinite(time).all():
        if not is_all and not np.isfinite(time[mask]).all():
            return None
        time = np.where(mask, time, 0.0)
    t = time * m.astype(np.float64) if not is_all else time.copy()
    t += 0.0  # -0.0 to 0.0
    bits = t.view(np.uint64)
    high = int(bits.max())
    low = int((bits - np.uint64(1)).min())  # the smallest positive time, less one (zeros wrap around)
    if high >= 0x7FF0_0000_0000_0000 or (high - low) >> 61:  # negative times; or too wide
        return None
    if high:
        np.maximum(bits, np.uint64(low), out=bits)
        bits -= np.uint64(low)
    bits <<= np.uint64(2)
    flags = np.asarray(is_event, dtype=bool).view(np.uint8) & m
    flags ^= 1  # censored
    flags <<= 1
    flags |= np.asarray(is_experimental, dtype=bool).view(np.uint8) & m
    bits |= flags
    if not is_all:
        bits |= (m ^ 1).astype(np.uint64) * _MASKED_KEY
    return bits


def _logrank_z_sorted(
    key: NDArray[np.uint64], n_in: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """The statistic from the keys of :func:`_pack_logrank_keys` sorted along each row, ``n_in`` subjects
    present per row."""
    is_event = (key & np.uint64(2)) == 0
    g = (key & np.uint64(1)).view(np.int64)
    width = key.shape[1]
    n = (n_in[:, None] - np.arange(width)).astype(np.float64)
    np.maximum(n, 1.0, out=n)  # past the subjects present (no events there)
    n1 = g.sum(axis=1)[:, None] - np.cumsum(g, axis=1)
    n1 += g
    share = n1.astype(np.float64)
    share /= n
    share *= is_event.view(np.uint8).astype(np.float64)
    oe = (g & is_event.view(np.uint8)).sum(axis=1) - share.sum(axis=1)
    variance = (share * (1.0 - share)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, -oe / np.sqrt(variance), 0.0)
    return z, oe, variance, np.count_nonzero(is_event, axis=1).astype(np.int64)


def _logrank_z_by_index(
    time: FloatArray, is_event: BoolArray, is_experimental: BoolArray, mask: BoolArray
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """:func:`compute_logrank_z` by an index sort, for times that do not pack (events first among ties)."""
    t = np.where(mask, time, np.inf)
    order = np.lexsort((~(is_event & mask), t), axis=1)
    ev = np.take_along_axis(is_event & mask, order, axis=1)
    g = np.take_along_axis(is_experimental & mask, order, axis=1)
    key = np.where(ev, 0, 2).astype(np.uint64) | g.astype(np.uint64)
    return _logrank_z_sorted(key, np.count_nonzero(mask, axis=1))


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


def _event_times(model: TrialModel, batch: TrialBatch) -> FloatArray:
    """Calendar time of each patient's PFS event, ``inf`` when drop-out comes first or not randomized."""
    event_time = batch.randomization + batch.pfs
    if model.dropout_hazard > 0:
        event_time[batch.pfs > batch.dropout] = np.inf
    return event_time


def _look_times(design: Design, batch: TrialBatch, event_time: FloatArray) -> FloatArray:
    """Calendar time of each look ``(R, L)``: when the look's PFS event count is reached, else the
    calendar analysis time; capped by ``max_months``, and at the last event when the count never comes."""
    analysis = design.scenario.analysis
    replicates = batch.pfs.shape[0]
    if design.look_events is None:
        assert analysis.calendar_months is not None
        return np.full((replicates, 1), analysis.calendar_months)
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


_HUGE = 1e300  # above any time (an event's PFS is finite)


@dataclass(frozen=True)
class _Cut:
    time: FloatArray
    is_event: BoolArray
    mask: BoolArray
    is_experimental: BoolArray


def _cut(
    model: TrialModel, batch: TrialBatch, event_time: FloatArray, rows: IntArray | slice, at: FloatArray
) -> _Cut:
    """PFS data of the randomized patients as seen at calendar time ``at`` (one per row). An event counts
    when its calendar time ``randomization + pfs`` (the expression the look times come from) is at or
    before ``at`` and before drop-out; the others are censored at drop-out or at the look, whichever comes
    first."""
    rand = batch.randomization[rows]
    cut = at[:, None]
    mask = rand < cut
    is_event = event_time[rows] <= cut
    is_event &= mask
    time = np.subtract(cut, rand)  # the follow-up; 0 outside the mask (randomized later or never)
    np.maximum(time, 0.0, out=time)
    # an event's time is its PFS exactly (randomization + PFS <= look does not make PFS <= look -
    # randomization in floating point): lift the follow-up out of the way before the minimum
    time += is_event.astype(np.float64) * _HUGE
    np.minimum(time, batch.pfs[rows], out=time)
    if model.dropout_hazard > 0:  # observed events come before drop-out
        np.minimum(time, batch.dropout[rows], out=time)
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
    event_time = _event_times(model, batch)
    times = _look_times(design, batch, event_time)
    z_all = np.full((replicates, n_looks), np.nan)
    log_hr = np.full((replicates, n_looks), np.nan)
    events_all = np.full((replicates, n_looks), -1, dtype=np.int64)
    active = np.ones(replicates, dtype=bool)
    stop = np.full(replicates, n_looks - 1, dtype=np.int64)
    rejected = np.zeros(replicates, dtype=bool)
    futile = np.zeros(replicates, dtype=bool)
    everyone = np.arange(replicates)
    cut: _Cut | None = None
    for k in range(n_looks):
        rows = np.nonzero(active)[0]
        cut = _cut(model, batch, event_time, slice(None) if rows.size == replicates else rows, times[rows, k])
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
    at = times[everyone, stop]
    if n_looks > 1 or cut is None:  # with one look, every trial stopped at the cut just analysed
        cut = _cut(model, batch, event_time, slice(None), at)
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
        is_death = batch.randomization + batch.os <= at[:, None]
        if model.dropout_hazard > 0:
            is_death &= batch.os <= batch.dropout
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


_ALLOCATOR_WARM_BYTES = 16 * 2**20


@functools.cache
def _warm_allocator() -> None:
    """Allocate and free one 16 MiB buffer, once per process.

    A block's arrays are about a megabyte each, created and freed by the hundred. glibc serves blocks above
    its mmap threshold (128 KiB at start) by fresh mappings whose pages fault in on first touch, and gives
    the top of its heap back above its trim threshold; freeing a mapped block raises both thresholds to its
    size (twice its size for trimming; ``mallopt(3)``, "dynamic mmap threshold"). After this the arrays are
    reused from the heap: 2.4-2.6 times the throughput of the plain benchmark design, 1.8 times the rich one
    (processor time, benchmarks/RESULTS.md). Elsewhere it is one short-lived allocation.
    """
    np.empty(_ALLOCATOR_WARM_BYTES, dtype=np.uint8)


def simulate_chunk(design: Design, chunk: Chunk, seed: int) -> ChunkResult:
    """Draw, build and analyse the chunk's seed blocks one at a time, each from its own generator.

    Notes
    -----
    A replicate's analysis depends on its own draws only, so block by block gives the numbers of the whole
    chunk at once; a block's arrays (about a megabyte each) stay in the processor's caches.
    """
    _warm_allocator()
    parts: list[ChunkResult] = []
    for block in range(chunk.first_block, chunk.first_block + chunk.n_blocks):
        size = min(SEED_BLOCK, chunk.first_block * SEED_BLOCK + chunk.replicates - block * SEED_BLOCK)
        draws = draw_trials(design.model, size, get_block_generator(seed, block))
        parts.append(analyse_trials(design, build_trials(design.model, draws)))
    return ChunkResult.concatenate(parts)


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
