"""Recursive numerical integration for group-sequential designs (Jennison & Turnbull 2000, chapter 19).

Private to :mod:`oligotrial.stats.design`. The standardised statistics ``Z_1, ..., Z_K`` at information
fractions ``t_1 < ... < t_K = 1`` have the canonical joint distribution: ``Z_k ~ N(theta sqrt(t_k), 1)``
and ``Cov(Z_j, Z_k) = sqrt(t_j / t_k)`` for ``j <= k``. The sub-density of ``Z_k`` on the paths that
continued at every earlier look is carried from look to look on a grid of points with Simpson weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

__all__: list[str] = []

#: Jennison & Turnbull's grid parameter: 6r - 1 base points; r = 16 gives about 1e-6 accuracy on
#: probabilities (their section 19.2.1); 64 gives about 1e-10 at little cost when vectorised.
GRID_R = 64


def _base_grid(mean: float, r: int = GRID_R) -> FloatArray:
    """The ``6r - 1`` points of J&T (19.2): dense within 3 SD of ``mean``, logarithmically spaced tails
    out to ``mean +/- (3 + 4 log r)``."""
    i = np.arange(1, 6 * r, dtype=np.float64)
    x = np.where(
        i < r,
        -3.0 - 4.0 * np.log(r / i),
        np.where(i <= 5 * r, -3.0 + 3.0 * (i - r) / (2.0 * r), 3.0 + 4.0 * np.log(r / (6.0 * r - i))),
    )
    return np.asarray(mean + x, dtype=np.float64)


def simpson_grid(mean: float, lower: float, upper: float, r: int = GRID_R) -> tuple[FloatArray, FloatArray]:
    """Points and Simpson weights covering ``(lower, upper)`` for a density centred at ``mean``.

    The base grid is truncated to the interval, the interval's ends are added when they fall inside the
    grid's range, and midpoints are inserted so that Simpson's rule applies to each pair of intervals.
    An empty interval gives empty arrays.
    """
    x = _base_grid(mean, r)
    lo = max(lower, float(x[0]))
    hi = min(upper, float(x[-1]))
    if not lo < hi:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty
    inner = x[(x > lo) & (x < hi)]
    ends = np.concatenate(([lo], inner, [hi]))
    z = np.empty(2 * ends.size - 1, dtype=np.float64)
    z[0::2] = ends
    z[1::2] = 0.5 * (ends[:-1] + ends[1:])
    width = np.diff(ends)
    w = np.zeros_like(z)
    w[1::2] = 4.0 * width / 6.0
    w[0:-1:2] += width / 6.0
    w[2::2] += width / 6.0
    return z, w


@dataclass
class Stage:
    """The continuing paths just after look ``k``: grid points ``z`` and ``mass`` = weight x sub-density."""

    t: float
    z: FloatArray
    mass: FloatArray


def first_stage(t: float, drift: float, lower: float, upper: float) -> Stage:
    """Sub-density of ``Z_1`` on ``(lower, upper)``."""
    mean = drift * np.sqrt(t)
    z, w = simpson_grid(mean, lower, upper)
    return Stage(t, z, w * stats.norm.pdf(z - mean))


def _step(previous: Stage, t: float, drift: float) -> tuple[float, FloatArray]:
    """Location and scale of ``Z_k`` given each grid point of ``Z_{k-1}``: ``Z_k = loc + scale * eps``."""
    delta = t - previous.t
    loc = (previous.z * np.sqrt(previous.t) + drift * delta) / np.sqrt(t)
    return float(np.sqrt(delta / t)), loc


def prob_above(previous: Stage | None, t: float, drift: float, bound: float) -> float:
    """P(continue to look k and ``Z_k >= bound``); ``previous`` is ``None`` at the first look."""
    if previous is None:
        return float(stats.norm.sf(bound - drift * np.sqrt(t)))
    scale, loc = _step(previous, t, drift)
    return float(previous.mass @ stats.norm.sf((bound - loc) / scale))


def prob_below(previous: Stage | None, t: float, drift: float, bound: float) -> float:
    """P(continue to look k and ``Z_k <= bound``); ``previous`` is ``None`` at the first look."""
    if previous is None:
        return float(stats.norm.cdf(bound - drift * np.sqrt(t)))
    scale, loc = _step(previous, t, drift)
    return float(previous.mass @ stats.norm.cdf((bound - loc) / scale))


def next_stage(previous: Stage | None, t: float, drift: float, lower: float, upper: float) -> Stage:
    """Carry the sub-density of the continuing paths to look k, restricted to ``(lower, upper)``."""
    if previous is None:
        return first_stage(t, drift, lower, upper)
    z, w = simpson_grid(drift * np.sqrt(t), lower, upper)
    scale, loc = _step(previous, t, drift)
    kernel = stats.norm.pdf((z[:, None] - loc[None, :]) / scale) / scale
    return Stage(t, z, w * (kernel @ previous.mass))
