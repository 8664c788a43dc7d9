"""Cox proportional hazards regression: Efron or Breslow ties, strata, batched over replicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri
from scipy.stats import chi2

from oligotrial.errors import ComputationError, InputError, Problem
from oligotrial.stats._riskset import BoolArray, FloatArray, IntArray, SortedKeys, run_by_blocks, sort_keys
from oligotrial.stats._validation import (
    check_conf_level,
    check_finite,
    check_option,
    check_survival_data,
    encode,
)

__all__ = [
    "CoxBatch",
    "CoxFit",
    "compute_cox",
    "compute_cox_batch",
]

Ties = Literal["efron", "breslow"]
TIES: tuple[Ties, ...] = ("efron", "breslow")
EPS = 1e-9  # R coxph.control(eps)
MAX_ITER = 20  # R coxph.control(iter.max)


@dataclass(frozen=True)
class CoxFit:
    """A fitted Cox model of one trial.

    Attributes
    ----------
    names
        Covariate names; the per-covariate arrays follow them.
    coef, se, hr, hr_lower, hr_upper, z, p
        Log hazard ratios, standard errors, hazard ratios with Wald confidence bounds, Wald z and p.
    variance
        Covariance matrix of ``coef`` (the inverse information).
    loglik_null, loglik
        Log partial likelihoods at zero and at the estimate.
    lr, score, wald, df
        Likelihood-ratio, score (log-rank for one binary covariate) and Wald chi-squares on ``df``.
    lr_p, score_p, wald_p
        Their p-values.
    n, events, iterations
        Subjects, events and Newton–Raphson iterations.
    ties, conf_level
        Options used.
    """

    names: tuple[str, ...]
    coef: FloatArray
    se: FloatArray
    hr: FloatArray
    hr_lower: FloatArray
    hr_upper: FloatArray
    z: FloatArray
    p: FloatArray
    variance: FloatArray
    loglik_null: float
    loglik: float
    lr: float
    lr_p: float
    score: float
    score_p: float
    wald: float
    wald_p: float
    df: int
    n: int
    events: int
    iterations: int
    ties: Ties
    conf_level: float


@dataclass(frozen=True)
class CoxBatch:
    """One-covariate Cox fits of a batch; every array has shape ``(R,)``.

    ``is_converged`` is false where the fit failed (no events, a constant covariate, or no convergence;
    ``coef`` is then ``nan`` or the last iterate); ``is_finite`` is false where the coefficient may be
    infinite (the covariate separates the events: the estimate is then large and meaningless).
    """

    coef: FloatArray
    se: FloatArray
    z: FloatArray
    p: FloatArray
    loglik_null: FloatArray
    loglik: FloatArray
    score: FloatArray
    iterations: IntArray
    is_converged: BoolArray
    is_finite: BoolArray


@dataclass(frozen=True)
class _Problem:
    """The parts of a Cox likelihood that do not depend on the coefficients: the batch in sorted order.

    The likelihood, score and information are sums over each (replicate, stratum) block walked from its
    end, as R's ``coxfit6`` does (:func:`oligotrial.stats._kernels.evaluate_cox`), so that a sum over a small
    late risk set never is the difference of two large totals.
    """

    x: FloatArray  # (R, N, p) sorted, centred
    n_in_sample: IntArray  # (R,) subjects in the mask: the first ones in sorted order
    keys: SortedKeys
    blocks: IntArray  # (B, 3) replicate, first, stop of each (replicate, stratum) block
    is_breslow: bool


@dataclass(frozen=True)
class _Fit:
    coef: FloatArray  # (R, p)
    variance: FloatArray  # (R, p, p)
    loglik_null: FloatArray
    loglik: FloatArray
    score: FloatArray
    iterations: IntArray
    is_converged: BoolArray
    is_singular: BoolArray
    is_infinite: BoolArray  # (R, p)


def _prepare(
    time: FloatArray, is_event: BoolArray, x: FloatArray, stratum: IntArray, mask: BoolArray, ties: Ties
) -> _Problem:
    from oligotrial.stats._kernels import find_blocks  # compiled on first use

    keys = sort_keys(time, is_event, stratum, mask)
    assert keys.order is not None
    count = np.maximum(keys.n_in_sample, 1)[:, None]
    centre = (x * mask[..., None]).sum(axis=1) / count  # R centres covariates: same fit, no overflow
    xs = np.take_along_axis(x, keys.order[..., None], axis=1) - centre[:, None, :]
    return _Problem(
        x=xs,
        n_in_sample=keys.n_in_sample,
        keys=keys,
        blocks=find_blocks(keys.key, keys.n_in_sample, np.uint64(keys.code_shift)),
        is_breslow=ties == "breslow",
    )


def _evaluate(problem: _Problem, beta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log partial likelihood, score and information at ``beta`` (R, p), for every replicate."""
    from oligotrial.stats._kernels import evaluate_cox  # compiled on first use

    keys, coefficients = problem.keys, np.ascontiguousarray(beta)
    censored_shift = np.uint64(keys.censored_shift)
    loglik, score, information = run_by_blocks(
        lambda blocks: evaluate_cox(
            problem.x, keys.key, keys.is_group_start, blocks, censored_shift, coefficients, problem.is_breslow
        ),
        problem.blocks,
    )
    return loglik, score, information


def _solve(information: FloatArray, vector: FloatArray) -> tuple[FloatArray, BoolArray]:
    """``information^-1 vector`` per replicate, and which information matrices are singular."""
    eigen = np.linalg.eigvalsh(information) if information.size else np.zeros(information.shape[:2])
    scale = np.abs(eigen).max(axis=1)
    singular = ~(eigen.min(axis=1) > 1e-10 * scale)
    safe = np.where(singular[:, None, None], np.eye(information.shape[1]), information)
    step = np.linalg.solve(safe, vector[..., None])[..., 0]
    return np.where(singular[:, None], 0.0, step), singular


def _fit(problem: _Problem, n_replicates: int, n_covariates: int, max_iter: int) -> _Fit:
    """Newton–Raphson with step halving, iteration by iteration as R's ``coxfit6``."""
    beta = np.zeros((n_replicates, n_covariates))
    loglik_null, u, information = _evaluate(problem, beta)
    step, singular = _solve(information, u)
    score = np.einsum("rp,rp->r", u, step)
    best = loglik_null.copy()
    new_beta = beta + step
    loglik = loglik_null.copy()
    halving = np.zeros(n_replicates, dtype=bool)
    done = singular.copy()
    iterations = np.zeros(n_replicates, dtype=np.int64)
    for iteration in range(1, max_iter + 1):
        new_loglik, new_u, new_information = _evaluate(problem, new_beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            converged = ~done & ~halving & (np.abs(1.0 - best / new_loglik) <= EPS)
        loglik[converged] = new_loglik[converged]
        u[converged] = new_u[converged]
        information[converged] = new_information[converged]
        iterations[converged] = iteration
        beta[converged] = new_beta[converged]
        done |= converged
        if done.all() or iteration == max_iter:
            break
        worse = ~done & ~(new_loglik >= best)
        better = ~done & ~worse
        new_beta[worse] = (new_beta[worse] + beta[worse]) / 2.0
        halving = worse
        best[better] = new_loglik[better]
        beta[better] = new_beta[better]
        step, now_singular = _solve(new_information[better], new_u[better])
        new_beta[better] = new_beta[better] + step
        singular[better] |= now_singular
        done |= singular
    is_converged = done & ~singular
    running = ~done
    beta[running], loglik[running], iterations[running] = new_beta[running], new_loglik[running], max_iter
    variance = np.linalg.inv(np.where(singular[:, None, None], np.eye(n_covariates), information))
    variance[singular] = np.nan
    beta[singular] = np.nan
    next_step = np.abs(np.einsum("rp,rpq->rq", u, variance))
    # coxph.fit: after convergence, a next step still above tolerance means the estimate runs away;
    # without convergence, a huge linear predictor or an infinite step does.
    running_away = (next_step > EPS) & (next_step > np.sqrt(EPS) * np.abs(beta))
    in_sample = np.arange(problem.x.shape[1]) < problem.n_in_sample[:, None]  # masked subjects sort last
    predictor = np.abs(np.einsum("rnp,rp->rn", problem.x, np.nan_to_num(beta)) * in_sample)
    huge = (predictor.max(axis=1, initial=0.0) > 500)[:, None] | ~np.isfinite(next_step)
    failed = ~is_converged & ~singular
    is_infinite = (is_converged[:, None] & running_away) | (failed[:, None] & huge)
    return _Fit(
        coef=beta,
        variance=variance,
        loglik_null=loglik_null,
        loglik=loglik,
        score=score,
        iterations=iterations,
        is_converged=is_converged,
        is_singular=singular,
        is_infinite=is_infinite,
    )


def compute_cox(
    time: ArrayLike,
    event: ArrayLike,
    covariates: ArrayLike,
    strata: ArrayLike | None = None,
    *,
    names: Sequence[str] | None = None,
    ties: Ties = "efron",
    conf_level: float = 0.95,
    max_iter: int = MAX_ITER,
) -> CoxFit:
    """Fit a Cox proportional hazards model.

    Parameters
    ----------
    time
        ``(N,)`` follow-up times.
    event
        ``(N,)`` event indicators (true or 1 for an event).
    covariates
        ``(N,)`` or ``(N, p)`` numeric covariates (encode a categorical covariate as indicator columns).
    strata
        ``(N,)`` stratum labels: a separate baseline hazard per stratum, or ``None``.
    names
        Covariate names (default ``x1 .. xp``).
    ties
        ``"efron"`` (R's default) or ``"breslow"``.
    conf_level
        Confidence level of the hazard-ratio intervals.
    max_iter
        Newton–Raphson iterations before giving up.

    Returns
    -------
    CoxFit

    Raises
    ------
    InputError
        Bad times, events or covariates (``STAT-001`` to ``STAT-008``).
    ComputationError
        ``STAT-010`` no convergence, ``STAT-011`` a coefficient may be infinite (monotone likelihood: the
        covariate separates the events), ``STAT-012`` collinear or constant covariates, ``STAT-013`` no
        events.

    Notes
    -----
    Newton–Raphson on the log partial likelihood from zero, halving the step when the likelihood falls,
    until ``|1 - l_old / l_new| <= 1e-9``; Efron's approximation for tied event times weights the tied
    events' risk by ``k / d``. Standard errors from the inverse information at the estimate; Wald, score
    (at zero) and likelihood-ratio tests; the check for infinite coefficients of ``coxph.fit``. Matches R
    ``survival::coxph(Surv(time, event) ~ x1 + ... + strata(s), ties = ...)`` (``coxfit6``), including
    its iteration count. The batch of one of the engine of :func:`compute_cox_batch`.
    """
    x = np.asarray(covariates)
    x = x[:, None] if x.ndim == 1 else x
    others: list[tuple[str, ArrayLike]] = [("covariates", x)]
    if strata is not None:
        others.append(("strata", strata))
    check_survival_data(time, event, *others)
    check_finite(x, "covariates")
    check_option(ties, "ties", TIES)
    check_conf_level(conf_level)
    labels = tuple(names) if names is not None else tuple(f"x{j + 1}" for j in range(x.shape[1]))
    if len(labels) != x.shape[1]:
        raise InputError.single(
            "STAT-004", "names", f"expected {x.shape[1]} covariate names, got {len(labels)}", list(labels)
        )
    t = np.asarray(time, dtype=np.float64)[None, :]
    e = np.asarray(event).astype(bool)[None, :]
    if not e.any():
        raise ComputationError(
            Problem("STAT-013", "event", "there are no events: a Cox model needs at least one event")
        )
    stratum = (
        np.zeros(t.shape, dtype=np.int64)
        if strata is None
        else encode(np.asarray(strata)[None, :], "strata")[1]
    )
    mask = np.ones(t.shape, dtype=bool)
    problem = _prepare(t, e, x.astype(np.float64)[None, :, :], stratum, mask, ties)
    fit = _fit(problem, 1, x.shape[1], max_iter)
    _raise_failure(fit, labels, max_iter)

    coef = fit.coef[0]
    variance = fit.variance[0]
    se = np.sqrt(np.diag(variance))
    z = coef / se
    width = float(ndtri(1.0 - (1.0 - conf_level) / 2.0)) * se
    df = x.shape[1]
    lr = 2.0 * float(fit.loglik[0] - fit.loglik_null[0])
    wald = float(coef @ np.linalg.solve(variance, coef))
    score = float(fit.score[0])
    return CoxFit(
        names=labels,
        coef=coef,
        se=se,
        hr=np.exp(coef),
        hr_lower=np.exp(coef - width),
        hr_upper=np.exp(coef + width),
        z=z,
        p=2.0 * ndtr(-np.abs(z)),
        variance=variance,
        loglik_null=float(fit.loglik_null[0]),
        loglik=float(fit.loglik[0]),
        lr=lr,
        lr_p=float(chi2.sf(lr, df)),
        score=score,
        score_p=float(chi2.sf(score, df)),
        wald=wald,
        wald_p=float(chi2.sf(wald, df)),
        df=df,
        n=t.shape[1],
        events=int(e.sum()),
        iterations=int(fit.iterations[0]),
        ties=ties,
        conf_level=conf_level,
    )


def _raise_failure(fit: _Fit, names: tuple[str, ...], max_iter: int) -> None:
    if fit.is_singular[0]:
        raise ComputationError(
            Problem(
                "STAT-012",
                "covariates",
                "the information matrix is singular: a covariate is constant within the risk sets or the "
                f"covariates are collinear; drop or merge one of {', '.join(names)}",
            )
        )
    infinite = [name for name, flag in zip(names, fit.is_infinite[0], strict=True) if flag]
    if infinite:
        raise ComputationError(
            [
                Problem(
                    "STAT-011",
                    name,
                    "the coefficient may be infinite: the likelihood keeps rising (monotone likelihood), "
                    "usually because the covariate separates subjects with events from those without; drop "
                    "the covariate, merge its sparse levels, or use a penalized (Firth) Cox model",
                )
                for name in infinite
            ]
        )
    if not fit.is_converged[0]:
        raise ComputationError(
            Problem(
                "STAT-010",
                "covariates",
                f"Newton-Raphson did not converge in {max_iter} iterations; try a larger max_iter, check for "
                "a covariate that separates events from censorings, or rescale the covariates",
            )
        )


def compute_cox_batch(
    time: ArrayLike,
    event: ArrayLike,
    covariate: ArrayLike,
    mask: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    *,
    ties: Ties = "efron",
    max_iter: int = MAX_ITER,
) -> CoxBatch:
    """One-covariate Cox fits (e.g. the arm) of many simulated trials at once.

    Parameters
    ----------
    time, event
        ``(R, N)`` follow-up times and event indicators.
    covariate
        ``(R, N)`` numeric covariate, e.g. 0/1 for the arm.
    mask
        ``(R, N)`` true for the subjects that exist in each replicate (all when ``None``).
    strata
        ``(R, N)`` integer stratum codes, or ``None``.
    ties
        ``"efron"`` or ``"breslow"``.
    max_iter
        Newton–Raphson iterations before giving up on a replicate.

    Returns
    -------
    CoxBatch
        Failed replicates are flagged, never raised: see :class:`CoxBatch`.

    Notes
    -----
    The engine of :func:`compute_cox` (R ``survival::coxph``), every replicate iterating in lock-step with
    its own step halving and convergence test; the p-value is the Wald test's.
    """
    t = np.asarray(time, dtype=np.float64)
    m = np.ones(t.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    x = np.where(m, np.asarray(covariate, dtype=np.float64), 0.0)
    s = np.zeros(t.shape, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    check_survival_data(np.where(m, t, 0.0), event, ("covariate", x), ("mask", m), ("strata", s))
    check_finite(x, "covariate")
    check_option(ties, "ties", TIES)
    if t.ndim != 2:
        raise InputError.single("STAT-004", "time", f"expected a (replicates, subjects) array, got {t.shape}")
    problem = _prepare(t, np.asarray(event).astype(bool), x[..., None], s, m, ties)
    fit = _fit(problem, t.shape[0], 1, max_iter)
    coef = fit.coef[:, 0]
    se = np.sqrt(fit.variance[:, 0, 0])
    z = coef / se
    return CoxBatch(
        coef=coef,
        se=se,
        z=z,
        p=2.0 * ndtr(-np.abs(z)),
        loglik_null=fit.loglik_null,
        loglik=fit.loglik,
        score=fit.score,
        iterations=fit.iterations,
        is_converged=fit.is_converged,
        is_finite=~fit.is_infinite[:, 0],
    )
