"""Radiotherapy rules: biologically effective dose and the protocol's plan check.

The plan check reads a radiotherapy course of the experimental arm (one entry per irradiated lesion) and
says, for each lesion, whether it is *compliant*, a *deviation* from the protocol, or *advisory* (allowed, but
short of a recommendation), with every reason; then it checks the two 8-week windows around radiotherapy.
The thresholds all come from the protocol's ``radiotherapy`` section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import Protocol

__all__ = [
    "LQ_CAVEAT",
    "MAX_ALPHA_BETA_GY",
    "MAX_DOSE_PER_FRACTION_GY",
    "MAX_FRACTIONS",
    "MIN_DOSE_PER_FRACTION_GY",
    "Finding",
    "LesionCheck",
    "PlanCheck",
    "RadiotherapyCourse",
    "RadiotherapyPlan",
    "check_dose_inputs",
    "check_radiotherapy_plan",
    "compute_bed",
    "compute_eqd2",
    "parse_radiotherapy_plan",
]

Verdict = Literal["compliant", "advisory", "deviation"]
_SEVERITY: dict[Verdict, int] = {"compliant": 0, "advisory": 1, "deviation": 2}
_TOLERANCE_GY = 1e-9

#: Said wherever a BED or EQD2 is shown (PROTOCOL.md section 8).
LQ_CAVEAT = (
    "BED and EQD2 follow the linear-quadratic model, which has no time factor and is debated above about "
    "8-10 Gy per fraction."
)

Number = TypeVar("Number", float, npt.NDArray[np.float64])


#: Plausibility limits of a dose entry (not protocol rules): they catch unit slips such as cGy typed as Gy,
#: and doses per fraction below any schedule in use (a dose such as 1e-200 Gy is a typing or unit error,
#: and its BED would not even exceed the physical dose in floating point).
MIN_DOSE_PER_FRACTION_GY = 0.1
MAX_DOSE_PER_FRACTION_GY = 50.0
MAX_FRACTIONS = 100
MAX_ALPHA_BETA_GY = 100.0


def check_dose_inputs(dose_per_fraction: float, fractions: float, alpha_beta: float) -> None:
    """Raise :class:`InputError` unless the dose per fraction is in [0.1, 50] Gy, the number of fractions a
    whole number in 1..100 and alpha/beta in (0, 100] Gy."""
    problems = []
    if not (
        math.isfinite(dose_per_fraction)
        and MIN_DOSE_PER_FRACTION_GY <= dose_per_fraction <= MAX_DOSE_PER_FRACTION_GY
    ):
        problems.append(
            Problem(
                "RT-001",
                "dose_per_fraction",
                f"expected a dose per fraction >= {MIN_DOSE_PER_FRACTION_GY:g} and <= "
                f"{MAX_DOSE_PER_FRACTION_GY:g} Gy, got {dose_per_fraction:g}",
                dose_per_fraction,
            )
        )
    if not (math.isfinite(fractions) and 1 <= fractions <= MAX_FRACTIONS and float(fractions).is_integer()):
        problems.append(
            Problem(
                "RT-002",
                "fractions",
                f"expected a whole number of fractions 1..{MAX_FRACTIONS}, got {fractions:g}",
                fractions,
            )
        )
    if not (math.isfinite(alpha_beta) and 0 < alpha_beta <= MAX_ALPHA_BETA_GY):
        problems.append(
            Problem(
                "RT-003",
                "alpha_beta",
                f"expected an alpha/beta ratio > 0 and <= {MAX_ALPHA_BETA_GY:g} Gy, got {alpha_beta:g}",
                alpha_beta,
            )
        )
    if problems:
        raise InputError(problems)


def compute_bed(dose_per_fraction: Number, fractions: Number, alpha_beta: float) -> Number:
    """Biologically effective dose in Gy.

    Parameters
    ----------
    dose_per_fraction
        Dose per fraction *d* in Gy (a number or an array).
    fractions
        Number of fractions *n* (a number or an array broadcastable with ``dose_per_fraction``).
    alpha_beta
        The alpha/beta ratio in Gy (10 for tumour, 3 for late effects).

    Returns
    -------
    BED = n * d * (1 + d / (alpha/beta)).

    Notes
    -----
    Linear-quadratic model without a time factor (Fowler, Br J Radiol 1989); see :data:`LQ_CAVEAT`.
    Examples from PROTOCOL.md section 8: 8 Gy x 5 gives BED10 72.0 Gy; 8 Gy x 3 gives 43.2 Gy.
    Inputs are not validated here (arrays are allowed); call :func:`check_dose_inputs` on user input.
    """
    return fractions * dose_per_fraction * (1.0 + dose_per_fraction / alpha_beta)


def compute_eqd2(dose_per_fraction: Number, fractions: Number, alpha_beta: float) -> Number:
    """Equivalent dose in 2-Gy fractions, in Gy: EQD2 = BED / (1 + 2 / (alpha/beta)).

    Notes
    -----
    Same model and caveat as :func:`compute_bed`. 8 Gy x 5 at alpha/beta 10 gives EQD2 60.0 Gy.
    """
    return compute_bed(dose_per_fraction, fractions, alpha_beta) / (1.0 + 2.0 / alpha_beta)


# --- input records ---------------------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RadiotherapyCourse(_Record):
    """The radiotherapy of one lesion: what was irradiated, how, and when."""

    lesion_id: Annotated[str, Field(min_length=1)]
    lesion_type: Literal["primary", "metastasis"]
    organ: Annotated[str, Field(min_length=1)]
    technique: Literal["SBRT", "conventional"]
    dose_per_fraction_gy: Annotated[
        float, Field(ge=MIN_DOSE_PER_FRACTION_GY, le=MAX_DOSE_PER_FRACTION_GY, allow_inf_nan=False)
    ]
    fractions: Annotated[int, Field(ge=1, le=MAX_FRACTIONS)]
    start_date: date
    end_date: date

    @model_validator(mode="after")
    def _dates_in_order(self) -> RadiotherapyCourse:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    @property
    def total_dose_gy(self) -> float:
        return self.dose_per_fraction_gy * self.fractions


class RadiotherapyPlan(_Record):
    """A subject's radiotherapy with the dates that frame it.

    ``chemo_immunotherapy_end`` is the end of chemo-immunotherapy as the protocol defines it (by default the
    last induction dose); ``maintenance_restart`` is the first camrelizumab dose after radiotherapy, when known.
    """

    chemo_immunotherapy_end: date
    maintenance_restart: date | None = None
    courses: tuple[RadiotherapyCourse, ...]


def parse_radiotherapy_plan(data: Any, protocol: Protocol) -> RadiotherapyPlan:
    """Validate a plan given as a mapping (e.g. parsed JSON) against the record schema and the protocol's
    vocabularies.

    Raises
    ------
    InputError
        ``RT-010`` for a field of the wrong type or range, dates in the wrong order or unknown fields;
        ``RT-011`` for an organ the protocol does not know; ``RT-012`` for a lesion given twice.
    """
    try:
        plan = RadiotherapyPlan.model_validate(data)
    except ValidationError as exc:
        raise InputError.from_validation(exc, "RT-010", prefix="plan") from None
    problems = []
    seen: set[str] = set()
    for index, course in enumerate(plan.courses):
        vocabulary = (
            protocol.population.primary_sites
            if course.lesion_type == "primary"
            else protocol.population.metastatic_organs
        )
        if course.organ not in vocabulary:
            problems.append(
                Problem(
                    "RT-011",
                    f"plan.courses[{index}].organ",
                    f"unknown {course.lesion_type} site {course.organ!r}; expected one of: {', '.join(vocabulary)}",
                    course.organ,
                )
            )
        if course.lesion_id in seen:
            problems.append(
                Problem(
                    "RT-012",
                    f"plan.courses[{index}].lesion_id",
                    f"lesion {course.lesion_id!r} given twice; enter each irradiated lesion once",
                    course.lesion_id,
                )
            )
        seen.add(course.lesion_id)
    if problems:
        raise InputError(problems)
    return plan


# --- the check -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One reason behind a verdict; ``rule`` is the protocol key that decided it."""

    verdict: Verdict
    code: str
    rule: str
    message: str


@dataclass(frozen=True)
class LesionCheck:
    lesion_id: str
    lesion_type: str
    technique: str
    dose_per_fraction_gy: float
    fractions: int
    total_dose_gy: float
    bed10_gy: float
    eqd2_10_gy: float
    bed3_gy: float
    verdict: Verdict
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class PlanCheck:
    """The verdict of a whole plan: the worst of its lesions and windows."""

    verdict: Verdict
    lesions: tuple[LesionCheck, ...]
    windows: tuple[Finding, ...]
    notes: tuple[str, ...]


def _worst(findings: tuple[Finding, ...] | list[Finding]) -> Verdict:
    verdicts: list[Verdict] = [f.verdict for f in findings] or ["compliant"]
    return max(verdicts, key=_SEVERITY.__getitem__)


def _gy(value: float) -> str:
    return f"{value:.1f} Gy"


def _check_lesion(course: RadiotherapyCourse, protocol: Protocol) -> LesionCheck:
    rules = protocol.radiotherapy
    d, n = course.dose_per_fraction_gy, course.fractions
    total = course.total_dose_gy
    bed10 = compute_bed(d, float(n), rules.alpha_beta_tumour_gy)
    findings: list[Finding] = []
    if course.lesion_type == "primary":
        if course.technique != rules.primary.technique:
            findings.append(
                Finding(
                    "deviation",
                    "RT-P01",
                    "radiotherapy.primary.technique",
                    f"the primary lesion must be treated with {rules.primary.technique} fractionation, "
                    f"got {course.technique}",
                )
            )
        minimum = rules.primary.total_dose_at_least_gy
        if total + _TOLERANCE_GY >= minimum:
            findings.append(
                Finding(
                    "compliant",
                    "RT-P02",
                    "radiotherapy.primary.total_dose_at_least_gy",
                    f"total dose {_gy(total)} reaches the {_gy(minimum)} required for the primary lesion",
                )
            )
        else:
            findings.append(
                Finding(
                    "deviation",
                    "RT-P02",
                    "radiotherapy.primary.total_dose_at_least_gy",
                    f"total dose {_gy(total)} is below the {_gy(minimum)} required for the primary lesion",
                )
            )
    elif course.technique == "SBRT":
        sbrt = rules.sbrt
        recommended = sbrt.other_schedule_bed10_recommended_above_gy
        is_protocol_schedule = (
            abs(d - sbrt.dose_per_fraction_gy) <= _TOLERANCE_GY
            and sbrt.fractions.min <= n <= sbrt.fractions.max
        )
        schedule = f"{d:g} Gy x {n}"
        if is_protocol_schedule:
            findings.append(
                Finding(
                    "compliant",
                    "RT-S01",
                    "radiotherapy.sbrt",
                    f"{schedule} is the protocol's SBRT schedule ({sbrt.dose_per_fraction_gy:g} Gy x "
                    f"{sbrt.fractions.min}-{sbrt.fractions.max})",
                )
            )
            if bed10 <= recommended + _TOLERANCE_GY:
                findings.append(
                    Finding(
                        "advisory",
                        "RT-S02",
                        "radiotherapy.sbrt.other_schedule_bed10_recommended_above_gy",
                        f"BED10 {_gy(bed10)} is not above the {_gy(recommended)} the protocol recommends for "
                        "other SBRT schedules (reported for information: this schedule is allowed)",
                    )
                )
        elif bed10 > recommended + _TOLERANCE_GY:
            findings.append(
                Finding(
                    "compliant",
                    "RT-S03",
                    "radiotherapy.sbrt.other_schedule_bed10_recommended_above_gy",
                    f"other SBRT schedule {schedule} with BED10 {_gy(bed10)} above the recommended "
                    f"{_gy(recommended)}",
                )
            )
        else:
            findings.append(
                Finding(
                    "advisory",
                    "RT-S03",
                    "radiotherapy.sbrt.other_schedule_bed10_recommended_above_gy",
                    f"other SBRT schedule {schedule} with BED10 {_gy(bed10)}; the protocol recommends more "
                    f"than {_gy(recommended)} for schedules other than {sbrt.dose_per_fraction_gy:g} Gy x "
                    f"{sbrt.fractions.min}-{sbrt.fractions.max}",
                )
            )
    else:
        minimum = rules.conventional.total_dose_above_gy
        if total > minimum + _TOLERANCE_GY:
            findings.append(
                Finding(
                    "compliant",
                    "RT-C01",
                    "radiotherapy.conventional.total_dose_above_gy",
                    f"conventional total dose {_gy(total)} is above {_gy(minimum)}",
                )
            )
        else:
            findings.append(
                Finding(
                    "deviation",
                    "RT-C01",
                    "radiotherapy.conventional.total_dose_above_gy",
                    f"conventional total dose {_gy(total)} must be above {_gy(minimum)}",
                )
            )
    notes = []
    if d >= rules.lq_caution_dose_per_fraction_gy:
        notes.append(
            f"{d:g} Gy per fraction: the linear-quadratic model behind BED is debated at this dose per fraction"
        )
    return LesionCheck(
        lesion_id=course.lesion_id,
        lesion_type=course.lesion_type,
        technique=course.technique,
        dose_per_fraction_gy=d,
        fractions=n,
        total_dose_gy=total,
        bed10_gy=bed10,
        eqd2_10_gy=compute_eqd2(d, float(n), rules.alpha_beta_tumour_gy),
        bed3_gy=compute_bed(d, float(n), rules.alpha_beta_late_gy),
        verdict=_worst(findings),
        findings=tuple(findings),
        notes=tuple(notes),
    )


def _check_windows(plan: RadiotherapyPlan, protocol: Protocol) -> list[Finding]:
    rules = protocol.radiotherapy
    findings: list[Finding] = []
    if len(plan.courses) < rules.min_lesions_irradiated:
        findings.append(
            Finding(
                "deviation",
                "RT-W01",
                "radiotherapy.min_lesions_irradiated",
                f"{len(plan.courses)} lesions irradiated; the protocol requires at least "
                f"{rules.min_lesions_irradiated}",
            )
        )
        return findings
    chemo_end = plan.chemo_immunotherapy_end
    start = min(c.start_date for c in plan.courses)
    end = max(c.end_date for c in plan.courses)
    limit = rules.start_within_days_after_chemo_end
    gap = (start - chemo_end).days
    if gap < 0:
        findings.append(
            Finding(
                "deviation",
                "RT-W02",
                "radiotherapy.start_within_days_after_chemo_end",
                f"radiotherapy starts {start}, {-gap} days before the end of chemo-immunotherapy ({chemo_end})",
            )
        )
    elif gap > limit:
        findings.append(
            Finding(
                "deviation",
                "RT-W02",
                "radiotherapy.start_within_days_after_chemo_end",
                f"radiotherapy starts {start}, day {gap} after the end of chemo-immunotherapy ({chemo_end}): "
                f"{gap - limit} days beyond the {limit}-day window",
            )
        )
    else:
        findings.append(
            Finding(
                "compliant",
                "RT-W02",
                "radiotherapy.start_within_days_after_chemo_end",
                f"radiotherapy starts day {gap} after the end of chemo-immunotherapy (window {limit} days)",
            )
        )
    restart = plan.maintenance_restart
    if restart is not None:
        limit = rules.maintenance_restart_within_days_after_rt_end
        gap = (restart - end).days
        if gap <= 0:
            findings.append(
                Finding(
                    "deviation",
                    "RT-W03",
                    "radiotherapy.maintenance_restart_within_days_after_rt_end",
                    f"camrelizumab restarts {restart}, not after the end of all radiotherapy ({end})",
                )
            )
        elif gap > limit:
            findings.append(
                Finding(
                    "deviation",
                    "RT-W03",
                    "radiotherapy.maintenance_restart_within_days_after_rt_end",
                    f"camrelizumab restarts day {gap} after the end of all radiotherapy ({end}): "
                    f"{gap - limit} days beyond the {limit}-day window",
                )
            )
        else:
            findings.append(
                Finding(
                    "compliant",
                    "RT-W03",
                    "radiotherapy.maintenance_restart_within_days_after_rt_end",
                    f"camrelizumab restarts day {gap} after the end of all radiotherapy (window {limit} days)",
                )
            )
    return findings


def check_radiotherapy_plan(plan: RadiotherapyPlan, protocol: Protocol) -> PlanCheck:
    """Check a radiotherapy plan against the protocol.

    Returns
    -------
    PlanCheck
        Per lesion: doses, BED10, EQD2 (alpha/beta 10), BED3, verdict and findings; the window findings;
        the overall verdict (the worst of all).

    Notes
    -----
    Rules (PROTOCOL.md section 3, registry record), each a setting under ``radiotherapy`` in the protocol:

    * Primary lesion: conventional fractionation to a total of at least 40 Gy (4000 cGy); otherwise a
      deviation.
    * Metastasis by SBRT: 8 Gy x 3-5 is the protocol's schedule (compliant). Since 8 Gy x 3 (BED10 43.2 Gy)
      and 8 Gy x 4 (57.6 Gy) fall short of the BED10 > 60 Gy recommended for *other* schedules, both facts
      are reported: the lesion is *advisory*, not a deviation. Another SBRT schedule is compliant when its
      BED10 exceeds 60 Gy and advisory otherwise (a recommendation, not a requirement).
    * Metastasis by conventional fractionation: total dose above 30 Gy (30 Gy itself is a deviation).
    * At least one lesion irradiated; radiotherapy starts within 8 weeks (56 days: day 56 is in, day 57 out)
      after the end of chemo-immunotherapy; camrelizumab restarts within 56 days after the end of all
      radiotherapy.
    * Doses per fraction at or above ``lq_caution_dose_per_fraction_gy`` carry a note on the model's limits.
    """
    lesions = tuple(_check_lesion(course, protocol) for course in plan.courses)
    windows = tuple(_check_windows(plan, protocol))
    verdict = _worst([f for lesion in lesions for f in lesion.findings] + list(windows))
    return PlanCheck(verdict=verdict, lesions=lesions, windows=windows, notes=(LQ_CAVEAT,))
