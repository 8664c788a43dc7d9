"""Compiled passes over a sorted batch (numba): the log-rank sums and the Cox partial likelihood.

Both walk each (replicate, stratum) block of :class:`~oligotrial.stats._riskset.SortedKeys` from its end,
one tie group at a time, so that a risk-set sum (everyone from the tie group to the end of the stratum) is
accumulated subject by subject, in the order of R's ``coxfit6`` (decreasing time; within a tie group the
censored subjects before the events). Imported on first use: compiling (or loading the compiled cache)
costs about a second, which a caller that never needs these should not pay.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from oligotrial._compiled import kernel

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Keys = NDArray[np.uint64]


@kernel()
def accumulate_logrank(
    key: Keys,
    is_group_start: BoolArray,
    member: IntArray,
    blocks: IntArray,
    censored_shift: np.uint64,
    n_replicates: int,
    n_groups: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Observed and expected events per group and the covariance of their difference, per replicate.

    Parameters
    ----------
    key, is_group_start
        ``(R, N)`` sorted keys and tie-group starts (:class:`~oligotrial.stats._riskset.SortedKeys`).
    member
        ``(R, N)`` group code of each sorted subject; a negative code is at risk but in no group.
    blocks
        ``(B, 3)`` the blocks to walk: replicate, first position, one past the last (:func:`find_blocks`).
    censored_shift
        Where the censored bit sits in the key.
    n_replicates
        ``R``.
    n_groups
        Number of groups ``K``.

    Returns
    -------
    observed, expected
        ``(R, K)``.
    variance
        ``(R, K, K)``.

    Notes
    -----
    At each tie group with ``d`` events among ``n`` at risk (``n_k`` of group ``k``): expected ``d n_k / n``
    and covariance ``d (n - d) / (n^2 (n - 1)) (n n_k δ_kl - n_k n_l)``, as R ``survival::survdiff``. The
    counts are whole numbers, so ``n n_k - n_k n_k`` is computed exactly as ``n_k (n - n_k)``.
    """
    observed = np.zeros((n_replicates, n_groups))
    expected = np.zeros((n_replicates, n_groups))
    variance = np.zeros((n_replicates, n_groups, n_groups))
    at_risk = np.zeros(n_groups)
    events = np.zeros(n_groups)
    one = np.uint64(1)
    for b in range(blocks.shape[0]):
        r, first, i = blocks[b, 0], blocks[b, 1], blocks[b, 2] - 1
        total = 0.0
        for k in range(n_groups):
            at_risk[k] = 0.0
        while i >= first:
            for k in range(n_groups):
                events[k] = 0.0
            d = 0.0
            while True:  # the tie group that ends at i, back to its first subject
                k = member[r, i]
                is_event = (key[r, i] >> censored_shift) & one == 0
                total += 1.0
                if is_event:
                    d += 1.0
                if k >= 0:
                    at_risk[k] += 1.0
                    if is_event:
                        events[k] += 1.0
                is_start = is_group_start[r, i]
                i -= 1
                if is_start:
                    break
            if d == 0.0:
                continue
            factor = d * (total - d) / (total * total * (total - 1.0)) if total > 1.0 else 0.0
            for k in range(n_groups):
                observed[r, k] += events[k]
                expected[r, k] += d * at_risk[k] / total
                variance[r, k, k] += factor * (at_risk[k] * (total - at_risk[k]))
                for j in range(k + 1, n_groups):
                    covariance = factor * (at_risk[k] * at_risk[j])
                    variance[r, k, j] -= covariance
                    variance[r, j, k] -= covariance
    return observed, expected, variance


@kernel()
def evaluate_cox(
    x: FloatArray,
    key: Keys,
    is_group_start: BoolArray,
    blocks: IntArray,
    censored_shift: np.uint64,
    beta: FloatArray,
    is_breslow: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log partial likelihood, score and information of a Cox model at ``beta``, per replicate.

    Parameters
    ----------
    x
        ``(R, N, p)`` covariates in sorted order (centred).
    key, is_group_start, blocks, censored_shift
        As :func:`accumulate_logrank`.
    beta
        ``(R, p)`` coefficients.
    is_breslow
        Breslow's approximation for tied events, else Efron's.

    Returns
    -------
    loglik
        ``(R,)``.
    score
        ``(R, p)``.
    information
        ``(R, p, p)``.

    Notes
    -----
    R ``survival`` ``coxfit6``: with ``w = exp(x beta)``, the risk-set sums ``S0 = Σ w``, ``S1 = Σ w x``,
    ``S2 = Σ w x x'`` over everyone from a tie group to the end of its stratum. The ``k``-th of ``d`` tied
    events (``k = 0 .. d - 1``) sees ``S - (k / d) E``, with ``E`` the same sums over the tied events (Efron),
    or ``S`` itself (Breslow); each contributes ``-log S0``, ``-S1 / S0`` and ``S2 / S0 - (S1 / S0)(S1 / S0)'``,
    and each event its own ``x beta`` and ``x``.
    """
    n_replicates, _, p = x.shape
    loglik = np.zeros(n_replicates)
    score = np.zeros((n_replicates, p))
    information = np.zeros((n_replicates, p, p))
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    e1 = np.zeros(p)
    e2 = np.zeros((p, p))
    event_x = np.zeros(p)
    mean = np.zeros(p)
    one = np.uint64(1)
    for block in range(blocks.shape[0]):
        r, first, i = blocks[block, 0], blocks[block, 1], blocks[block, 2] - 1
        s0 = 0.0
        for a in range(p):
            s1[a] = 0.0
            for b in range(p):
                s2[a, b] = 0.0
        while i >= first:
            d = 0
            e0 = 0.0
            for a in range(p):
                e1[a] = 0.0
                event_x[a] = 0.0
                for b in range(p):
                    e2[a, b] = 0.0
            event_eta = 0.0
            while True:  # the tie group that ends at i, back to its first subject
                eta = 0.0
                for a in range(p):
                    eta += x[r, i, a] * beta[r, a]
                w = math.exp(eta)
                s0 += w
                is_event = (key[r, i] >> censored_shift) & one == 0
                if is_event:
                    d += 1
                    e0 += w
                    event_eta += eta
                for a in range(p):
                    wx = w * x[r, i, a]
                    s1[a] += wx
                    if is_event:
                        e1[a] += wx
                        event_x[a] += x[r, i, a]
                    for b in range(p):
                        wxx = wx * x[r, i, b]
                        s2[a, b] += wxx
                        if is_event:
                            e2[a, b] += wxx
                is_start = is_group_start[r, i]
                i -= 1
                if is_start:
                    break
            if d == 0:
                continue
            loglik[r] += event_eta
            for a in range(p):
                score[r, a] += event_x[a]
            for k in range(d):
                f = 0.0 if is_breslow else k / d
                denom = s0 - f * e0
                loglik[r] -= math.log(denom)
                for a in range(p):
                    mean[a] = (s1[a] - f * e1[a]) / denom
                    score[r, a] -= mean[a]
                for a in range(p):
                    for b in range(p):
                        information[r, a, b] += (s2[a, b] - f * e2[a, b]) / denom - mean[a] * mean[b]
    return loglik, score, information


@kernel()
def find_blocks(key: Keys, n_in_sample: IntArray, code_shift: np.uint64) -> IntArray:
    """The (replicate, stratum) blocks of sorted keys: ``(B, 3)`` replicate, first position, one past the last.

    Only the first ``n_in_sample[r]`` subjects of row ``r`` (those inside the mask) are in blocks.
    """
    n_replicates = key.shape[0]
    count = 0
    for r in range(n_replicates):
        for i in range(n_in_sample[r]):
            if i == 0 or key[r, i] >> code_shift != key[r, i - 1] >> code_shift:
                count += 1
    blocks = np.empty((count, 3), dtype=np.int64)
    b = 0
    for r in range(n_replicates):
        for i in range(n_in_sample[r]):
            if i == 0 or key[r, i] >> code_shift != key[r, i - 1] >> code_shift:
                if b > 0 and blocks[b - 1, 0] == r:
                    blocks[b - 1, 2] = i
                blocks[b, 0] = r
                blocks[b, 1] = i
                blocks[b, 2] = n_in_sample[r]
                b += 1
    return blocks
