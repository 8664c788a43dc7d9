"""Design calculators for a time-to-event comparison: events, power, sample size, group-sequential bounds.

Conventions (the same as R rpact's, against which the tests check these functions):

- ``hazard_ratio`` is experimental over control (below 1 favours the experimental arm).
- ``allocation`` is the ratio experimental:control of subjects (2 means two experimental per control), i.e.
  rpact's ``allocationRatioPlanned``; the experimental fraction is ``allocation / (1 + allocation)``.
- ``alpha`` is the total type I error; ``sided=2`` splits it equally between the two tails, so the critical
  value is ``z_{1 - alpha/2}``; ``sided=1`` tests in the direction of ``hazard_ratio``.
- ``power`` is ``1 - beta``; it must exceed ``alpha``.

Error codes ``DESIGN-0nn`` are input errors (:class:`~oligotrial.errors.InputError`, exit 2) and name the
argument, the value and the rule; ``DESIGN-1nn`` are computation errors (exit 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

from oligotrial.errors import ComputationError, InputError, Problem
from oligotrial.stats import _design_gs as gs

__all__ = [
    "Boundaries",
    "RequiredEvents",
    "SampleSize",
    "check_design_inputs",
    "compute_boundaries",
    "compute_event_probability",
    "compute_events",
    "compute_power",
    "compute_sample_size",
    "compute_spending",
]

Method = Literal["schoenfeld", "freedman"]
SpendingType = Literal["obf", "pocock"]

METHODS: tuple[Method, ...] = ("schoenfeld", "freedman")
SPENDING_TYPES: tuple[SpendingType, ...] = ("obf", "pocock")
MAX_LOOKS = 20
_ROUNDING_SLACK = 1e-9  # an exact 247.0000000001 from floating point still rounds up to 247
_BRACKET = 40.0  # |z| beyond which a tail probability is 0 in double precision


def _ceil(value: float) -> int:
    return math.ceil(value - _ROUNDING_SLACK)


# --- checks ----------------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)


def _problem(code: str, field: str, rule: str, value: Any) -> Problem:
    return Problem(code, field, f"{rule}, got {value!r}", value)


def check_design_inputs(
    *,
    hazard_ratio: float | None = None,
    alpha: float | None = None,
    power: float | None = None,
    sided: int | None = None,
    allocation: float | None = None,
    method: str | None = None,
    beta: float | None = None,
) -> None:
    """Raise :class:`InputError` listing every argument given that breaks its rule.

    Rules: ``hazard_ratio`` finite, > 0 and != 1 (DESIGN-001); ``alpha`` in (0, 1) (DESIGN-002); ``power`` in
    (0, 1) and > ``alpha`` (DESIGN-003); ``sided`` 1 or 2 (DESIGN-004); ``allocation`` finite and > 0
    (DESIGN-005); ``method`` ``schoenfeld`` or ``freedman`` (DESIGN-006); ``beta`` in (0, 1) with
    ``1 - beta`` > ``alpha`` (DESIGN-024). Arguments left as ``None`` are not checked.
    """
    problems: list[Problem] = []
    if hazard_ratio is not None and not (_finite(hazard_ratio) and hazard_ratio > 0 and hazard_ratio != 1):
        problems.append(
            _problem(
                "DESIGN-001",
                "hazard_ratio",
                "expected a hazard ratio > 0 and != 1 (1 is no effect, so no number of events has power)",
                hazard_ratio,
            )
        )
    alpha_ok = alpha is not None and _finite(alpha) and 0 < alpha < 1
    if alpha is not None and not alpha_ok:
        problems.append(_problem("DESIGN-002", "alpha", "expected a type I error alpha in (0, 1)", alpha))
    if power is not None:
        if not (_finite(power) and 0 < power < 1):
            problems.append(_problem("DESIGN-003", "power", "expected a power in (0, 1)", power))
        elif alpha_ok and alpha is not None and power <= alpha:
            problems.append(
                _problem("DESIGN-003", "power", f"expected a power greater than alpha = {alpha:g}", power)
            )
    if sided is not None and (isinstance(sided, bool) or sided not in (1, 2)):
        problems.append(_problem("DESIGN-004", "sided", "expected 1 (one-sided) or 2 (two-sided)", sided))
    if allocation is not None and not (_finite(allocation) and allocation > 0):
        problems.append(
            _problem(
                "DESIGN-005",
                "allocation",
                "expected an allocation ratio experimental:control > 0 (e.g. 2 for 2:1)",
                allocation,
            )
        )
    if method is not None and method not in METHODS:
        problems.append(_problem("DESIGN-006", "method", f"expected one of {', '.join(METHODS)}", method))
    if beta is not None:
        if not (_finite(beta) and 0 < beta < 1):
            problems.append(_problem("DESIGN-024", "beta", "expected a type II error beta in (0, 1)", beta))
        elif alpha_ok and alpha is not None and 1 - beta <= alpha:
            problems.append(
                _problem(
                    "DESIGN-024",
                    "beta",
                    f"expected 1 - beta (the power) greater than alpha = {alpha:g}",
                    beta,
                )
            )
    if problems:
        raise InputError(problems)


# --- events and power ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequiredEvents:
    """Number of events for a log-rank test to have the requested power.

    ``events`` is the exact real; ``events_rounded`` the smallest whole number at least as large.
    """

    events: float
    events_rounded: int
    hazard_ratio: float
    alpha: float
    power: float
    sided: int
    allocation: float
    method: Method


def _effect_per_event(hazard_ratio: float, allocation: float, method: Method) -> float:
    """Mean of the log-rank Z statistic divided by the square root of the number of events."""
    r = allocation
    if method == "schoenfeld":
        return math.sqrt(r) / (1.0 + r) * abs(math.log(hazard_ratio))
    return math.sqrt(r) * abs(1.0 - hazard_ratio) / (1.0 + r * hazard_ratio)


def compute_events(
    hazard_ratio: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    sided: int = 2,
    allocation: float = 1.0,
    method: Method = "schoenfeld",
) -> RequiredEvents:
    """Number of events for a log-rank test of ``hazard_ratio`` at level ``alpha`` with ``power``.

    Parameters
    ----------
    hazard_ratio
        Hazard ratio experimental / control under the alternative (> 0, != 1).
    alpha
        Total type I error; split between the tails when ``sided=2``.
    power
        Probability of rejecting under the alternative, ``1 - beta``.
    sided
        1 or 2.
    allocation
        Subjects experimental:control (2 means 2:1).
    method
        ``"schoenfeld"`` or ``"freedman"``.

    Returns
    -------
    RequiredEvents

    Raises
    ------
    InputError
        DESIGN-001..006, see :func:`check_design_inputs`.

    Notes
    -----
    With ``z_a = z_{1 - alpha/sided}``, ``z_b = z_{power}`` and allocation ratio ``r``:

    - Schoenfeld (1983, Biometrika 70:316-319; 1981): the log-rank statistic is approximately
      ``N(sqrt(D p (1 - p)) log HR, 1)`` with ``p = r / (1 + r)``, so
      ``D = (z_a + z_b)^2 (1 + r)^2 / (r log(HR)^2)``.
    - Freedman (1982, Stat Med 1:121-129), from the expected observed-minus-expected count when the risk
      sets stay in the ratio ``r``: ``D = (z_a + z_b)^2 (1 + r HR)^2 / (r (1 - HR)^2)``.

    Both are rpact's ``getSampleSizeSurvival(typeOfComputation = "Schoenfeld" | "Freedman")`` with
    ``allocationRatioPlanned = r``. Schoenfeld, HR 0.7, two-sided 0.05, power 0.8: 246.79 events (247);
    Freedman: 252.04 (253); Schoenfeld, one-sided 0.025, power 0.9: 330.38 (331).
    """
    check_design_inputs(
        hazard_ratio=hazard_ratio, alpha=alpha, power=power, sided=sided, allocation=allocation, method=method
    )
    z_sum = float(stats.norm.isf(alpha / sided) + stats.norm.ppf(power))
    events = (z_sum / _effect_per_event(hazard_ratio, allocation, method)) ** 2
    return RequiredEvents(
        events=events,
        events_rounded=_ceil(events),
        hazard_ratio=float(hazard_ratio),
        alpha=float(alpha),
        power=float(power),
        sided=int(sided),
        allocation=float(allocation),
        method=method,
    )


def compute_power(
    events: float,
    hazard_ratio: float,
    alpha: float = 0.05,
    *,
    sided: int = 2,
    allocation: float = 1.0,
    method: Method = "schoenfeld",
) -> float:
    """Power of a log-rank test of ``hazard_ratio`` at level ``alpha`` after ``events`` events.

    Parameters are those of :func:`compute_events`, with ``events`` (> 0, need not be whole) in place of
    ``power``.

    Raises
    ------
    InputError
        DESIGN-007 when ``events`` is not a finite number > 0; DESIGN-001..006 otherwise.

    Notes
    -----
    The inverse of :func:`compute_events`: with ``mu = sqrt(D) * e`` the mean of the log-rank Z statistic
    (``e = sqrt(r) |log HR| / (1 + r)`` for Schoenfeld 1983, ``sqrt(r) |1 - HR| / (1 + r HR)`` for
    Freedman 1982), power ``= Phi(mu - z_a)``, plus ``Phi(-mu - z_a)`` (rejection in the wrong tail) when
    two-sided, with ``z_a = z_{1 - alpha/sided}``. This is rpact's ``getPowerSurvival(...)$overallReject``
    for a fixed design (which counts both tails when ``sided = 2``).
    """
    if not (_finite(events) and events > 0):
        raise InputError.single(
            "DESIGN-007", "events", f"expected a number of events > 0, got {events!r}", value=events
        )
    check_design_inputs(
        hazard_ratio=hazard_ratio, alpha=alpha, sided=sided, allocation=allocation, method=method
    )
    z_a = float(stats.norm.isf(alpha / sided))
    mu = math.sqrt(events) * _effect_per_event(hazard_ratio, allocation, method)
    power = float(stats.norm.cdf(mu - z_a))
    if sided == 2:
        power += float(stats.norm.cdf(-mu - z_a))
    return power


# --- sample size with accrual, follow-up and drop-out -------------------------------------------------------


def compute_event_probability(
    hazard: float, accrual_duration: float, follow_up: float, dropout_hazard: float = 0.0
) -> float:
    """Probability that a subject has an event (rather than drop-out or censoring) by the analysis.

    Parameters
    ----------
    hazard
        Event hazard (per time unit), exponential event times.
    accrual_duration
        Subjects enter uniformly over ``[0, accrual_duration]`` (0: all at time 0).
    follow_up
        Time from the end of accrual to the analysis.
    dropout_hazard
        Hazard of drop-out, exponential and independent of the event.

    Notes
    -----
    With ``h = hazard + dropout_hazard``, ``A`` the accrual duration and ``F`` the follow-up, a subject
    followed for ``s`` has the event with probability ``hazard / h * (1 - exp(-h s))``; averaging over
    ``s`` uniform on ``[F, F + A]`` gives
    ``hazard / h * (1 - (exp(-h F) - exp(-h (F + A))) / (h A))``
    (Lachin & Foulkes 1986, Biometrics 42:507-519, uniform entry and exponential losses). Inputs are not
    checked here; :func:`compute_sample_size` checks them.
    """
    h = hazard + dropout_hazard
    if h == 0:
        return 0.0
    if accrual_duration == 0:
        censored_fraction = math.exp(-h * follow_up)
    else:
        censored_fraction = (
            math.exp(-h * follow_up) * -math.expm1(-h * accrual_duration) / (h * accrual_duration)
        )
    return hazard / h * (1.0 - censored_fraction)


@dataclass(frozen=True)
class SampleSize:
    """Events, subjects and study duration of a fixed design with uniform accrual.

    ``subjects`` is the exact real (``subjects_experimental + subjects_control``), ``subjects_rounded``
    rounds it up; ``event_probability`` is the probability that a subject has an event by the analysis, over
    both arms; ``study_duration`` is ``accrual_duration + follow_up``, the expected time of the analysis.
    """

    events: float
    events_rounded: int
    subjects: float
    subjects_rounded: int
    subjects_experimental: float
    subjects_control: float
    accrual_duration: float
    follow_up: float
    accrual_rate: float
    study_duration: float
    event_probability: float
    control_hazard: float
    experimental_hazard: float
    dropout_hazard: float


def _hazards(
    control_median: float | None,
    control_hazard: float | None,
    dropout_rate: float,
    dropout_time: float,
    dropout_hazard: float | None,
) -> tuple[float, float]:
    problems: list[Problem] = []
    rule = "give exactly one of control_median and control_hazard, a number > 0"
    if (control_median is None) == (control_hazard is None):
        problems.append(Problem("DESIGN-014", "control_median", rule, [control_median, control_hazard]))
    else:
        field, value = (
            ("control_median", control_median)
            if control_median is not None
            else ("control_hazard", control_hazard)
        )
        if not (_finite(value) and value is not None and value > 0):
            problems.append(_problem("DESIGN-014", field, "expected a number > 0", value))
    if dropout_hazard is not None:
        if not (_finite(dropout_hazard) and dropout_hazard >= 0):
            problems.append(
                _problem("DESIGN-015", "dropout_hazard", "expected a drop-out hazard >= 0", dropout_hazard)
            )
    else:
        if not (_finite(dropout_rate) and 0 <= dropout_rate < 1):
            problems.append(
                _problem(
                    "DESIGN-015", "dropout_rate", "expected a drop-out probability in [0, 1)", dropout_rate
                )
            )
        if not (_finite(dropout_time) and dropout_time > 0):
            problems.append(
                _problem("DESIGN-015", "dropout_time", "expected a drop-out time > 0", dropout_time)
            )
    if problems:
        raise InputError(problems)
    hazard = control_hazard if control_hazard is not None else math.log(2.0) / float(control_median)  # type: ignore[arg-type]
    if dropout_hazard is None:
        dropout_hazard = -math.log1p(-dropout_rate) / dropout_time
    return float(hazard), float(dropout_hazard)


def _check_accrual(
    accrual_duration: float | None, follow_up: float | None, accrual_rate: float | None
) -> None:
    problems: list[Problem] = []
    given = [accrual_duration is not None, follow_up is not None, accrual_rate is not None]
    if sum(given) != 2:
        problems.append(
            Problem(
                "DESIGN-013",
                "accrual_duration",
                "give exactly two of accrual_duration, follow_up and accrual_rate, "
                f"got accrual_duration={accrual_duration}, follow_up={follow_up}, accrual_rate={accrual_rate}",
                [accrual_duration, follow_up, accrual_rate],
            )
        )
    if accrual_duration is not None and not (_finite(accrual_duration) and accrual_duration > 0):
        problems.append(
            _problem("DESIGN-010", "accrual_duration", "expected an accrual duration > 0", accrual_duration)
        )
    if follow_up is not None and not (_finite(follow_up) and follow_up >= 0):
        problems.append(
            _problem("DESIGN-011", "follow_up", "expected a follow-up after accrual >= 0", follow_up)
        )
    if accrual_rate is not None and not (_finite(accrual_rate) and accrual_rate > 0):
        problems.append(
            _problem(
                "DESIGN-012",
                "accrual_rate",
                "expected an accrual rate > 0 subjects per time unit",
                accrual_rate,
            )
        )
    if problems:
        raise InputError(problems)


def compute_sample_size(
    hazard_ratio: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    sided: int = 2,
    allocation: float = 1.0,
    method: Method = "schoenfeld",
    control_median: float | None = None,
    control_hazard: float | None = None,
    accrual_duration: float | None = None,
    follow_up: float | None = None,
    accrual_rate: float | None = None,
    dropout_rate: float = 0.0,
    dropout_time: float = 12.0,
    dropout_hazard: float | None = None,
    inflation_factor: float = 1.0,
) -> SampleSize:
    """Subjects needed to observe the events of :func:`compute_events` by the analysis.

    Parameters
    ----------
    hazard_ratio, alpha, power, sided, allocation, method
        As in :func:`compute_events`.
    control_median, control_hazard
        Exactly one: the control arm's median event time or its (exponential) hazard.
    accrual_duration, follow_up, accrual_rate
        Exactly two. ``accrual_duration`` and ``follow_up`` (after the end of accrual) give the subjects;
        ``accrual_rate`` (subjects per time unit) with ``follow_up`` gives the accrual duration; with
        ``accrual_duration`` it gives the follow-up.
    dropout_rate, dropout_time
        Probability of dropping out by ``dropout_time``, the same in both arms (rpact's ``dropoutRate1``,
        ``dropoutRate2``, ``dropoutTime``); or give ``dropout_hazard`` directly.
    inflation_factor
        Multiplies the events (e.g. the :attr:`Boundaries.inflation_factor` of a group-sequential design,
        giving its maximum number of events).

    Returns
    -------
    SampleSize

    Raises
    ------
    InputError
        DESIGN-001..006 (see :func:`check_design_inputs`); DESIGN-010..013 for the accrual arguments,
        DESIGN-014 for the control arm, DESIGN-015 for drop-out, DESIGN-016 for ``inflation_factor``;
        DESIGN-017 when the accrual rate and duration cannot give the events with any follow-up >= 0.

    Notes
    -----
    Events ``D`` come from :func:`compute_events` (times ``inflation_factor``). Event times are exponential
    with hazard ``lambda_c = log(2) / median`` in the control arm and ``HR * lambda_c`` in the experimental
    arm; subjects enter uniformly during accrual and drop out with hazard
    ``eta = -log(1 - dropout_rate) / dropout_time``. Then ``N = D / P`` where ``P`` is the allocation-weighted
    mean over the arms of :func:`compute_event_probability` (Lachin & Foulkes 1986, Biometrics 42:507-519,
    with uniform entry and exponential losses). When the accrual rate is given, the missing duration solves
    ``rate * A * P(A, F) = D`` (both sides increase in the unknown). This is rpact's
    ``getSampleSizeSurvival`` (``maxNumberOfEvents``, ``maxNumberOfSubjects``, ``studyDuration``) for a
    fixed design. The study duration is ``A + F``.
    """
    check_design_inputs(
        hazard_ratio=hazard_ratio, alpha=alpha, power=power, sided=sided, allocation=allocation, method=method
    )
    if not (_finite(inflation_factor) and inflation_factor >= 1):
        raise InputError.single(
            "DESIGN-016",
            "inflation_factor",
            f"expected an inflation factor >= 1, got {inflation_factor!r}",
            value=inflation_factor,
        )
    lambda_c, eta = _hazards(control_median, control_hazard, dropout_rate, dropout_time, dropout_hazard)
    _check_accrual(accrual_duration, follow_up, accrual_rate)
    lambda_e = hazard_ratio * lambda_c
    fraction_e = allocation / (1.0 + allocation)
    events = compute_events(
        hazard_ratio, alpha, power, sided=sided, allocation=allocation, method=method
    ).events * float(inflation_factor)

    def probability(a: float, f: float) -> float:
        return fraction_e * compute_event_probability(lambda_e, a, f, eta) + (
            1.0 - fraction_e
        ) * compute_event_probability(lambda_c, a, f, eta)

    if accrual_rate is None:
        a, f = float(accrual_duration), float(follow_up)  # type: ignore[arg-type]
        subjects = events / probability(a, f)
        rate = subjects / a
    elif accrual_duration is None:
        f, rate = float(follow_up), float(accrual_rate)  # type: ignore[arg-type]
        a = _solve_increasing(lambda x: rate * x * probability(x, f) - events, "accrual_duration")
        subjects = rate * a
    else:
        a, rate = float(accrual_duration), float(accrual_rate)
        subjects = rate * a
        at_end_of_accrual = subjects * probability(a, 0.0)
        ever = subjects * (
            fraction_e * lambda_e / (lambda_e + eta) + (1 - fraction_e) * lambda_c / (lambda_c + eta)
        )
        if at_end_of_accrual > events:
            raise InputError.single(
                "DESIGN-017",
                "accrual_duration",
                f"the {subjects:g} subjects accrued at rate {rate:g} over {a:g} have {at_end_of_accrual:.1f} "
                f"expected events by the end of accrual, more than the {events:.1f} needed; shorten the accrual "
                f"or give follow_up instead, got accrual_duration={a!r}",
                value=a,
            )
        if ever <= events:
            raise InputError.single(
                "DESIGN-017",
                "accrual_duration",
                f"the {subjects:g} subjects accrued at rate {rate:g} over {a:g} can have at most {ever:.1f} "
                f"events, fewer than the {events:.1f} needed; accrue longer or faster, got accrual_duration={a!r}",
                value=a,
            )
        f = _solve_increasing(lambda x: subjects * probability(a, x) - events, "follow_up")
    p = probability(a, f)
    return SampleSize(
        events=events,
        events_rounded=_ceil(events),
        subjects=subjects,
        subjects_rounded=_ceil(subjects),
        subjects_experimental=subjects * fraction_e,
        subjects_control=subjects * (1.0 - fraction_e),
        accrual_duration=a,
        follow_up=f,
        accrual_rate=rate,
        study_duration=a + f,
        event_probability=p,
        control_hazard=lambda_c,
        experimental_hazard=lambda_e,
        dropout_hazard=eta,
    )


def _solve_increasing(func: Any, what: str) -> float:
    """Root in ``[0, inf)`` of a function increasing from a negative value at 0."""
    hi = 1.0
    while func(hi) < 0:
        hi *= 2.0
        if hi > 1e12:
            raise ComputationError(
                Problem(
                    "DESIGN-101", what, f"no {what} up to 1e12 time units gives the events; check the inputs"
                )
            )
    return float(optimize.brentq(func, 0.0, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps))


# --- group-sequential boundaries --------------------------------------------------------------------------


def compute_spending(
    information_rates: Sequence[float] | np.ndarray[Any, Any],
    total: float,
    spending: SpendingType,
    *,
    sided: int = 1,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Cumulative error spent at each information rate by a Lan–DeMets spending function.

    Parameters
    ----------
    information_rates
        Information fractions ``t`` in [0, 1].
    total
        Error spent at ``t = 1`` (alpha for efficacy, beta for futility).
    spending
        ``"obf"`` (O'Brien–Fleming type) or ``"pocock"`` (Pocock type).
    sided
        2 spends ``total / 2`` in each tail and returns the sum over both.

    Notes
    -----
    Lan & DeMets (1983, Biometrika 70:659-663), for one tail with ``a = total / sided``:
    O'Brien–Fleming type ``a(t) = 2 - 2 Phi(z_{1 - a/2} / sqrt(t))``; Pocock type
    ``a(t) = a log(1 + (e - 1) t)``; the result is ``sided * a(t)``. These are rpact's ``asOF``/``asP`` (and
    ``bsOF``/``bsP`` for beta), gsDesign's ``sfLDOF``/``sfLDPocock``.
    """
    t = np.asarray(information_rates, dtype=np.float64)
    a = total / sided
    if spending == "obf":
        with np.errstate(divide="ignore"):
            one_tail = 2.0 * stats.norm.sf(stats.norm.isf(a / 2.0) / np.sqrt(t))
    elif spending == "pocock":
        one_tail = a * np.log1p((math.e - 1.0) * t)
    else:
        raise InputError.single(
            "DESIGN-022",
            "spending",
            f"expected one of {', '.join(SPENDING_TYPES)}, got {spending!r}",
            spending,
        )
    return np.asarray(sided * one_tail, dtype=np.float64)


@dataclass(frozen=True)
class Boundaries:
    """Group-sequential boundaries on the Z scale, one entry per look.

    Attributes
    ----------
    information_rates
        Information fraction of each look (the last is 1).
    efficacy_z
        Reject H0 at look k when the Z statistic (oriented so that benefit is positive) is >= ``efficacy_z[k]``
        (``|Z|`` when two-sided).
    efficacy_p
        Nominal p-value of the efficacy bound: ``1 - Phi(z)`` one-sided, ``2 (1 - Phi(z))`` two-sided.
    futility_z
        Non-binding futility bound (stop when ``Z <= futility_z[k]``), ``None`` without futility; the last
        equals the efficacy bound.
    alpha_spent
        Cumulative type I error spent by each look, computed by integration at the bounds found.
    beta_spent
        Cumulative type II error spent under the alternative, ``None`` without futility.
    drift
        Mean of the final Z statistic under the alternative that gives power ``1 - beta`` (``None`` without
        ``beta``); ``inflation_factor = (drift / (z_{1-alpha/sided} + z_{1-beta}))^2`` is the maximum
        information relative to a fixed design.
    """

    information_rates: tuple[float, ...]
    efficacy_z: tuple[float, ...]
    efficacy_p: tuple[float, ...]
    futility_z: tuple[float, ...] | None
    alpha_spent: tuple[float, ...]
    beta_spent: tuple[float, ...] | None
    alpha: float
    sided: int
    spending: SpendingType
    futility: SpendingType | None
    beta: float | None
    drift: float | None
    inflation_factor: float | None


def _information_rates(
    information_rates: Sequence[float] | None, k: int | None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    if information_rates is None and k is None:
        raise InputError.single(
            "DESIGN-021", "k", "give the number of looks k or the information rates, got neither", None
        )
    if k is not None and (
        isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_LOOKS
    ):
        raise InputError.single(
            "DESIGN-021", "k", f"expected a whole number of looks from 1 to {MAX_LOOKS}, got {k!r}", value=k
        )
    if information_rates is None:
        assert k is not None
        return np.arange(1, k + 1, dtype=np.float64) / k
    values = list(information_rates)
    try:
        t = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError.single(
            "DESIGN-020", "information_rates", f"expected numbers, got {values!r}", value=values
        ) from None
    rule = "expected information rates strictly increasing in (0, 1] with the last equal to 1"
    if (
        t.ndim != 1
        or t.size == 0
        or t.size > MAX_LOOKS
        or not np.all(np.isfinite(t))
        or t[0] <= 0
        or np.any(np.diff(t) <= 0)
        or t[-1] != 1.0
    ):
        raise InputError.single(
            "DESIGN-020", "information_rates", f"{rule} (at most {MAX_LOOKS}), got {values!r}", value=values
        )
    if k is not None and k != t.size:
        raise InputError.single(
            "DESIGN-021",
            "k",
            f"expected k equal to the number of information rates ({t.size}), got {k!r}",
            value=k,
        )
    return t


def _root(func: Any, lo: float, hi: float, what: str) -> float:
    try:
        return float(optimize.brentq(func, lo, hi, xtol=1e-12, rtol=4 * np.finfo(float).eps, maxiter=200))
    except (ValueError, RuntimeError) as exc:
        raise ComputationError(
            Problem("DESIGN-100", what, f"could not solve for the {what} ({exc}); check the spending inputs")
        ) from None


def _efficacy_bounds(
    t: np.ndarray[Any, np.dtype[np.float64]], cumulative: np.ndarray[Any, np.dtype[np.float64]], sided: int
) -> tuple[list[float], list[float]]:
    """Bounds under H0 spending the increments of ``cumulative``; and the error each look actually spends."""
    bounds: list[float] = []
    spent: list[float] = []
    previous: gs.Stage | None = None
    increments = np.diff(cumulative, prepend=0.0)
    for tk, increment in zip(t, increments, strict=True):

        def crossing(b: float, prev: gs.Stage | None = previous, tk: float = float(tk)) -> float:
            p = gs.prob_above(prev, tk, 0.0, b)
            return p + gs.prob_below(prev, tk, 0.0, -b) if sided == 2 else p

        if increment <= 0:
            b = math.inf
        else:
            b = _root(
                lambda x, inc=increment, f=crossing: f(x) - inc,
                -_BRACKET if sided == 1 else 0.0,
                _BRACKET,
                "efficacy bound",
            )
        bounds.append(b)
        spent.append(crossing(b) if math.isfinite(b) else 0.0)
        previous = gs.next_stage(previous, float(tk), 0.0, -b if sided == 2 else -math.inf, b)
    return bounds, spent


def _futility_bounds(
    t: np.ndarray[Any, np.dtype[np.float64]],
    efficacy: list[float],
    cumulative_beta: np.ndarray[Any, np.dtype[np.float64]],
    drift: float,
) -> tuple[list[float], list[float]]:
    """Futility bounds under ``drift`` spending beta; the last one is unconstrained by the efficacy bound."""
    bounds: list[float] = []
    spent: list[float] = []
    previous: gs.Stage | None = None
    increments = np.diff(cumulative_beta, prepend=0.0)
    last = t.size - 1
    for k, (tk, increment) in enumerate(zip(t, increments, strict=True)):

        def below(a: float, prev: gs.Stage | None = previous, tk: float = float(tk)) -> float:
            return gs.prob_below(prev, tk, drift, a)

        upper = _BRACKET if k == last else efficacy[k]
        if increment <= 0:
            a = -math.inf
        elif below(upper) <= increment:
            a = upper
        else:
            a = _root(lambda x, inc=increment, f=below: f(x) - inc, -_BRACKET, upper, "futility bound")
        bounds.append(a)
        spent.append(below(a) if math.isfinite(a) else 0.0)
        previous = gs.next_stage(previous, float(tk), drift, a, efficacy[k])
    return bounds, spent


def _power(
    t: np.ndarray[Any, np.dtype[np.float64]], efficacy: list[float], sided: int, drift: float
) -> float:
    """Probability of crossing an efficacy bound in the direction of the effect, no futility stop."""
    total = 0.0
    previous: gs.Stage | None = None
    for tk, b in zip(t, efficacy, strict=True):
        total += gs.prob_above(previous, float(tk), drift, b)
        previous = gs.next_stage(previous, float(tk), drift, -b if sided == 2 else -math.inf, b)
    return total


def compute_boundaries(
    information_rates: Sequence[float] | None = None,
    *,
    k: int | None = None,
    alpha: float = 0.025,
    sided: int = 1,
    spending: SpendingType = "obf",
    futility: SpendingType | None = None,
    beta: float | None = None,
) -> Boundaries:
    """Group-sequential efficacy bounds by Lan–DeMets alpha spending, optional non-binding futility bounds.

    Parameters
    ----------
    information_rates
        Information fraction at each look, strictly increasing, the last 1; or give ``k``.
    k
        Number of equally spaced looks (1 to 20) when ``information_rates`` is not given.
    alpha
        Total type I error (split between the tails when ``sided=2``).
    sided
        1 or 2 (two-sided bounds are symmetric).
    spending
        Alpha-spending function: ``"obf"`` or ``"pocock"`` type (:func:`compute_spending`).
    futility
        Beta-spending function of the futility bounds (``"obf"`` or ``"pocock"``), or ``None``. Needs
        ``beta`` and ``sided=1``.
    beta
        Type II error; with it the drift and inflation factor are computed.

    Returns
    -------
    Boundaries

    Raises
    ------
    InputError
        DESIGN-002/004 for alpha and sided, DESIGN-020 for information rates, DESIGN-021 for k,
        DESIGN-022 for the spending types, DESIGN-023 for futility without beta or with ``sided=2``,
        DESIGN-024 for beta.
    ComputationError
        DESIGN-100 when a bound cannot be solved.

    Notes
    -----
    The Z statistics at the looks have the canonical joint distribution (Jennison & Turnbull 2000, *Group
    Sequential Methods with Applications to Clinical Trials*, ch. 3); the crossing probabilities are computed
    by their recursive numerical integration on a grid with Simpson's rule (ch. 19), vectorised over the grid.
    Efficacy bounds solve, look by look under H0, P(first crossing at look k) = ``alpha(t_k) - alpha(t_{k-1})``
    (Lan & DeMets 1983, Biometrika 70:659-663); two-sided bounds cross on ``|Z|``. Futility is non-binding:
    efficacy bounds ignore it. Under the drift ``theta`` (mean of the final Z), futility bound ``a_k`` solves
    P(continue to k and ``Z_k <= a_k``) = ``beta(t_k) - beta(t_{k-1})`` given continuation between the futility
    and efficacy bounds before, and ``theta`` is found so that the last futility bound equals the last
    efficacy bound, which makes the power ``1 - beta`` (Pampallona, Tsiatis & Kim 2001; rpact's
    ``typeBetaSpending`` with ``bindingFutility = FALSE``). Without futility, ``theta`` gives power
    ``1 - beta`` of crossing the efficacy bounds in the direction of the effect (rpact's
    ``getDesignCharacteristics``). Matches rpact ``getDesignGroupSequential(typeOfDesign = "asOF" | "asP")``
    within 1e-6 on the Z scale.
    """
    check_design_inputs(alpha=alpha, sided=sided, beta=beta)
    t = _information_rates(information_rates, k)
    problems: list[Problem] = []
    if spending not in SPENDING_TYPES:
        problems.append(
            _problem("DESIGN-022", "spending", f"expected one of {', '.join(SPENDING_TYPES)}", spending)
        )
    if futility is not None:
        if futility not in SPENDING_TYPES:
            problems.append(
                _problem(
                    "DESIGN-022", "futility", f"expected one of {', '.join(SPENDING_TYPES)} or none", futility
                )
            )
        if beta is None:
            problems.append(
                _problem(
                    "DESIGN-023",
                    "beta",
                    "expected a type II error beta (e.g. 0.2) with futility bounds",
                    beta,
                )
            )
        if sided != 1:
            problems.append(
                _problem(
                    "DESIGN-023",
                    "sided",
                    "expected sided=1 with futility bounds (they are for one-sided designs)",
                    sided,
                )
            )
    if problems:
        raise InputError(problems)

    cumulative_alpha = compute_spending(t, alpha, spending, sided=sided)
    cumulative_alpha[-1] = alpha
    efficacy, alpha_increments = _efficacy_bounds(t, cumulative_alpha, sided)
    efficacy_p = [float(sided * stats.norm.sf(b)) for b in efficacy]

    futility_z: list[float] | None = None
    beta_spent: tuple[float, ...] | None = None
    drift: float | None = None
    inflation: float | None = None
    if beta is not None:
        fixed = float(stats.norm.isf(alpha / sided) + stats.norm.isf(beta))
        hi = 3.0 * fixed + 5.0
        if futility is None:
            drift = _root(lambda theta: _power(t, efficacy, sided, theta) - (1.0 - beta), 0.0, hi, "drift")
        else:
            cumulative_beta = compute_spending(t, beta, futility)
            cumulative_beta[-1] = beta

            def gap(theta: float) -> float:
                return _futility_bounds(t, efficacy, cumulative_beta, theta)[0][-1] - efficacy[-1]

            drift = _root(gap, 0.0, hi, "drift")
            futility_z, beta_increments = _futility_bounds(t, efficacy, cumulative_beta, drift)
            futility_z[-1] = efficacy[-1]
            beta_spent = tuple(float(x) for x in np.cumsum(beta_increments))
        inflation = (drift / fixed) ** 2

    return Boundaries(
        information_rates=tuple(float(x) for x in t),
        efficacy_z=tuple(efficacy),
        efficacy_p=tuple(efficacy_p),
        futility_z=None if futility_z is None else tuple(futility_z),
        alpha_spent=tuple(float(x) for x in np.cumsum(alpha_increments)),
        beta_spent=beta_spent,
        alpha=float(alpha),
        sided=int(sided),
        spending=spending,
        futility=futility,
        beta=None if beta is None else float(beta),
        drift=drift,
        inflation_factor=inflation,
    )
