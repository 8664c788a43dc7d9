"""Binary endpoints (e.g. objective response): rates, their difference, Fisher and Mantel–Haenszel tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import ndtri
from scipy.stats import beta, chi2, hypergeom
from scipy.stats.contingency import odds_ratio

from oligotrial.errors import InputError
from oligotrial.stats._validation import check_conf_level

__all__ = [
    "FisherTest",
    "MantelHaenszel",
    "Rate",
    "RateDifference",
    "compute_cmh",
    "compute_fisher_exact",
    "compute_rate_ci",
    "compute_rate_difference",
]


@dataclass(frozen=True)
class Rate:
    """A proportion with its exact (Clopper–Pearson) confidence interval."""

    events: int
    n: int
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class RateDifference:
    """Difference of two proportions (first minus second) with the Miettinen–Nurminen interval."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class FisherTest:
    """Fisher's exact test of a 2x2 table: two-sided p-value, conditional MLE odds ratio and its exact
    interval."""

    p: float
    odds_ratio: float
    lower: float
    upper: float


@dataclass(frozen=True)
class MantelHaenszel:
    """Cochran–Mantel–Haenszel test of 2x2xK tables and the Mantel–Haenszel common odds ratio."""

    statistic: float
    df: int
    p: float
    odds_ratio: float
    lower: float
    upper: float


def _check_counts(events: int, n: int, field: str) -> None:
    if not (isinstance(events, int | np.integer) and isinstance(n, int | np.integer)) or not 0 <= events <= n:
        raise InputError.single(
            "STAT-007",
            field,
            f"expected whole numbers 0 <= events <= n, got events={events}, n={n}",
            [events, n],
        )
    if n == 0:
        raise InputError.single("STAT-007", field, "expected at least one subject, got n=0", [events, n])


def compute_rate_ci(events: int, n: int, *, conf_level: float = 0.95) -> Rate:
    """Proportion of subjects with the event and its exact confidence interval.

    Parameters
    ----------
    events, n
        Subjects with the event, and subjects.
    conf_level
        Confidence level.

    Returns
    -------
    Rate

    Notes
    -----
    Clopper–Pearson interval from beta quantiles: ``qbeta(α/2, x, n - x + 1)`` (0 when ``x = 0``) and
    ``qbeta(1 - α/2, x + 1, n - x)`` (1 when ``x = n``), as R ``binom.test(x, n)$conf.int``.
    """
    _check_counts(events, n, "events")
    check_conf_level(conf_level)
    alpha = (1.0 - conf_level) / 2.0
    lower = 0.0 if events == 0 else float(beta.ppf(alpha, events, n - events + 1))
    upper = 1.0 if events == n else float(beta.ppf(1.0 - alpha, events + 1, n - events))
    return Rate(events=int(events), n=int(n), estimate=events / n, lower=lower, upper=upper)


def _mn_statistic(delta: float, x1: int, n1: int, x2: int, n2: int) -> float:
    """Miettinen–Nurminen score statistic of ``p1 - p2 = delta``."""
    p1, p2 = x1 / n1, x2 / n2
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    d = -p1 * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u = math.copysign(math.sqrt(max(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0)), v)
    w = (math.pi + math.acos(min(max(v / u**3, -1.0), 1.0))) / 3.0 if u != 0 else math.pi / 2.0
    q1 = min(max(2.0 * u * math.cos(w) - b / (3.0 * a), 0.0), 1.0)
    q2 = min(max(q1 - delta, 0.0), 1.0)
    n = n1 + n2
    variance = (q1 * (1.0 - q1) / n1 + q2 * (1.0 - q2) / n2) * n / (n - 1.0)
    difference = p1 - p2 - delta
    if variance <= 0.0:
        return math.copysign(math.inf, difference) if difference else 0.0
    return difference / math.sqrt(variance)


def compute_rate_difference(
    events1: int, n1: int, events2: int, n2: int, *, conf_level: float = 0.95
) -> RateDifference:
    """Difference of two independent proportions with the Miettinen–Nurminen score interval.

    Parameters
    ----------
    events1, n1
        Events and subjects of the first group (e.g. the experimental arm).
    events2, n2
        Events and subjects of the second group.
    conf_level
        Confidence level.

    Returns
    -------
    RateDifference

    Notes
    -----
    The interval is the set of ``δ`` whose score statistic ``(p̂1 - p̂2 - δ) / sqrt(V(δ))`` lies within
    ``±z``, where ``V(δ) = (p̃1 q̃1 / n1 + p̃2 q̃2 / n2) N / (N - 1)`` uses the maximum-likelihood proportions
    restricted to ``p1 - p2 = δ`` (closed-form cubic root) (Miettinen & Nurminen, Stat Med 1985;4:213-26).
    There is no base-R implementation; the tests check the published values of Newcombe (Stat Med
    1998;17:873-90, Table II, method 6). Bounds are found by Brent's method to ``1e-12``.
    """
    _check_counts(events1, n1, "events1")
    _check_counts(events2, n2, "events2")
    check_conf_level(conf_level)
    z = float(ndtri(1.0 - (1.0 - conf_level) / 2.0))
    estimate = events1 / n1 - events2 / n2
    edge = 1.0 - 1e-12

    def statistic(delta: float) -> float:
        return _mn_statistic(delta, events1, n1, events2, n2)

    lower = (
        -1.0
        if statistic(-edge) <= z
        else float(brentq(lambda d: statistic(d) - z, -edge, estimate, xtol=1e-13))
    )
    upper = (
        1.0
        if statistic(edge) >= -z
        else float(brentq(lambda d: statistic(d) + z, estimate, edge, xtol=1e-13))
    )
    return RateDifference(estimate=estimate, lower=lower, upper=upper)


def _table(table: ArrayLike, field: str) -> np.ndarray[tuple[int, ...], np.dtype[np.int64]]:
    array = np.asarray(table)
    if array.shape[-2:] != (2, 2) or array.ndim not in (2, 3):
        raise InputError.single(
            "STAT-007", field, f"expected 2x2 tables, got shape {array.shape}", list(array.shape)
        )
    if not np.issubdtype(array.dtype, np.integer) or (array < 0).any():
        raise InputError.single("STAT-007", field, "expected non-negative whole counts", array.tolist())
    return array.astype(np.int64)


_MAX_EXACT_SUBJECTS = 10_000_000  # the exact test enumerates up to this many tables


def compute_fisher_exact(table: ArrayLike, *, conf_level: float = 0.95) -> FisherTest:
    """Fisher's exact test of independence in a 2x2 table.

    Parameters
    ----------
    table
        ``[[a, b], [c, d]]``: rows are the groups, columns event / no event.
    conf_level
        Confidence level of the odds-ratio interval.

    Returns
    -------
    FisherTest

    Notes
    -----
    Two-sided p-value: the total hypergeometric probability of the tables no more likely than the one
    observed (within a relative ``1e-7``), as R ``fisher.test``. Odds ratio: the conditional maximum
    likelihood estimate and exact conditional interval (``scipy.stats.contingency.odds_ratio``, the same
    definitions as R ``fisher.test``, whose root finding stops at a tolerance near ``1e-4``).
    """
    counts = _table(table, "table")
    if counts.ndim != 2:
        raise InputError.single("STAT-007", "table", "expected one 2x2 table", list(counts.shape))
    check_conf_level(conf_level)
    if counts.sum() == 0:
        raise InputError.single("STAT-007", "table", "expected at least one subject, got an empty table", 0)
    if counts.sum() > _MAX_EXACT_SUBJECTS:
        raise InputError.single(
            "STAT-007",
            "table",
            f"expected at most {_MAX_EXACT_SUBJECTS} subjects for the exact test; use compute_cmh or "
            "compute_rate_difference for large counts",
            int(counts.sum()),
        )
    first_column, second_column = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    first_row = int(counts[0].sum())
    support = np.arange(max(0, first_row - second_column), min(first_row, first_column) + 1)
    log_pmf = hypergeom.logpmf(support, first_column + second_column, first_column, first_row)
    pmf = np.exp(log_pmf - log_pmf.max())
    pmf /= pmf.sum()
    observed = pmf[int(counts[0, 0]) - int(support[0])]
    p = float(min(1.0, pmf[pmf <= observed * (1.0 + 1e-7)].sum()))
    result = odds_ratio(counts, kind="conditional")
    interval = result.confidence_interval(confidence_level=conf_level)
    return FisherTest(
        p=p, odds_ratio=float(result.statistic), lower=float(interval.low), upper=float(interval.high)
    )


def compute_cmh(tables: ArrayLike, *, is_corrected: bool = True, conf_level: float = 0.95) -> MantelHaenszel:
    """Cochran–Mantel–Haenszel test of conditional independence in stratified 2x2 tables.

    Parameters
    ----------
    tables
        ``(K, 2, 2)`` counts, one 2x2 table per stratum (rows the groups, columns event / no event).
    is_corrected
        Apply the continuity correction (R's default).
    conf_level
        Confidence level of the common odds-ratio interval.

    Returns
    -------
    MantelHaenszel

    Notes
    -----
    Statistic ``(|Σ a - Σ E(a)| - 1/2)^2 / Σ Var(a)`` with hypergeometric moments (no correction when the
    difference is below 1/2), one degree of freedom; Mantel–Haenszel odds ratio with the
    Robins–Breslow–Greenland variance of its logarithm. As R ``mantelhaen.test(x)`` for a 2x2xK array,
    including its NaN and infinite values when every stratum has an empty margin.
    """
    x = _table(tables, "tables")
    if x.ndim != 3:
        raise InputError.single("STAT-007", "tables", "expected a (K, 2, 2) array of tables", list(x.shape))
    check_conf_level(conf_level)
    total = x.sum(axis=(1, 2)).astype(np.float64)
    if (total < 2).any():
        stratum = int(np.flatnonzero(total < 2)[0])
        raise InputError.single(
            "STAT-007", f"tables[{stratum}]", "each stratum needs at least two subjects", int(total[stratum])
        )
    a, b, c, d = (x[:, i, j].astype(np.float64) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    row, column = a + b, a + c
    delta = np.sum(a - row * column / total)
    yates = 0.5 if is_corrected and abs(delta) >= 0.5 else 0.0
    variance = np.sum(row * (total - row) * column * (total - column) / (total**2 * (total - 1.0)))
    diagonal = np.sum(a * d / total)
    off = np.sum(b * c / total)
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate strata give NaN/inf, as in R
        statistic = float((abs(delta) - yates) ** 2 / variance)
        estimate = float(diagonal / off)
        sd = float(
            np.sqrt(
                np.sum((a + d) * a * d / total**2) / (2.0 * diagonal**2)
                + np.sum(((a + d) * b * c + (b + c) * a * d) / total**2) / (2.0 * diagonal * off)
                + np.sum((b + c) * b * c / total**2) / (2.0 * off**2)
            )
        )
        z = float(ndtri(1.0 - (1.0 - conf_level) / 2.0))
        lower, upper = estimate * np.exp(-z * sd), estimate * np.exp(z * sd)
    return MantelHaenszel(
        statistic=statistic,
        df=1,
        p=float(chi2.sf(statistic, 1)),
        odds_ratio=estimate,
        lower=float(lower),
        upper=float(upper),
    )
