"""Eligibility: a candidate's screening record evaluated criterion by criterion against the protocol.

Each criterion of the protocol's ``population.criteria`` is phrased as a requirement for enrollment (an
exclusion criterion is stated as its negation, e.g. "no prior systemic therapy"), and gets one status:
*met*, *not met* or *missing*, with the value that decided it. The overall verdict is *ineligible* when any
criterion is not met, otherwise *incomplete* when any is missing, otherwise *eligible*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import (
    Criterion,
    FlagCriterion,
    OneOfCriterion,
    OnOrBeforeCriterion,
    Protocol,
    RangeCriterion,
    UlnMultipleCriterion,
)

__all__ = [
    "Candidate",
    "CriterionResult",
    "EligibilityResult",
    "Labs",
    "MetastaticLesion",
    "UlnValue",
    "evaluate_eligibility",
    "parse_candidate",
]

Status = Literal["met", "not met", "missing"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UlnValue(_Record):
    """A laboratory value with the upper limit of normal of the laboratory that measured it."""

    value: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    uln: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Labs(_Record):
    anc: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # 10^9/L
    platelets: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # 10^9/L
    haemoglobin: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # g/L
    creatinine_clearance: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # mL/min
    bilirubin: UlnValue | None = None
    ast: UlnValue | None = None
    alt: UlnValue | None = None


class MetastaticLesion(_Record):
    organ: Annotated[str, Field(min_length=1)]
    lesion_id: str | None = None


class Candidate(_Record):
    """What screening records about a candidate. Every item may be missing (``null``): a missing item makes
    the criteria that need it *missing*, never *met*."""

    subject_id: str | None = None
    screening_date: date | None = None
    birth_date: date | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    diagnosis: str | None = None
    histology: str | None = None
    disease_setting: str | None = None
    metastatic_lesions: tuple[MetastaticLesion, ...] | None = None
    measurable_disease: bool | None = None
    ecog: Annotated[int, Field(ge=0, le=5)] | None = None
    labs: Labs = Labs()
    prior_systemic_therapy: bool | None = None
    consent_date: date | None = None
    first_procedure_date: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Candidate:
        if self.birth_date and self.screening_date and self.birth_date > self.screening_date:
            raise ValueError(f"birth_date {self.birth_date} is after screening_date {self.screening_date}")
        if self.birth_date and self.age is not None and self.screening_date:
            derived = _age_on(self.birth_date, self.screening_date)
            if derived != self.age:
                raise ValueError(
                    f"age {self.age} disagrees with birth_date {self.birth_date} at screening "
                    f"{self.screening_date} (age {derived}); give one or make them agree"
                )
        return self

    @property
    def age_years(self) -> int | None:
        """Age at screening: given, or derived from birth and screening dates."""
        if self.age is not None:
            return self.age
        if self.birth_date and self.screening_date:
            return _age_on(self.birth_date, self.screening_date)
        return None

    @property
    def metastatic_organ_count(self) -> int | None:
        """Distinct metastatic organs (all distant lymph nodes are one organ)."""
        if self.metastatic_lesions is None:
            return None
        return len({lesion.organ for lesion in self.metastatic_lesions})

    @property
    def metastatic_lesion_count(self) -> int | None:
        return None if self.metastatic_lesions is None else len(self.metastatic_lesions)

    def item(self, field: str) -> Any:
        """The value of a protocol candidate field such as ``labs.anc`` or ``metastatic_organ_count``."""
        if field == "age":
            return self.age_years
        if field.startswith("labs."):
            return getattr(self.labs, field.removeprefix("labs."))
        return getattr(self, field)


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def parse_candidate(data: Any, protocol: Protocol) -> Candidate:
    """Validate a candidate record given as a mapping (e.g. parsed JSON).

    Raises
    ------
    InputError
        ``ELIG-001`` for fields of the wrong type or range, unknown fields or contradictory dates;
        ``ELIG-002`` for a metastatic organ outside the protocol's vocabulary.
    """
    if not isinstance(data, Mapping):
        raise InputError.single(
            "ELIG-001",
            "candidate",
            f"expected a JSON object of screening items, got {type(data).__name__}",
            data,
        )
    try:
        candidate = Candidate.model_validate(data)
    except ValidationError as exc:
        raise InputError.from_validation(exc, "ELIG-001", prefix="candidate") from None
    organs = protocol.population.metastatic_organs
    problems = [
        Problem(
            "ELIG-002",
            f"candidate.metastatic_lesions[{index}].organ",
            f"unknown organ {lesion.organ!r}; expected one of: {', '.join(organs)}",
            lesion.organ,
        )
        for index, lesion in enumerate(candidate.metastatic_lesions or ())
        if lesion.organ not in organs
    ]
    if problems:
        raise InputError(problems)
    return candidate


@dataclass(frozen=True)
class CriterionResult:
    id: str
    kind: str
    text: str
    field: str
    status: Status
    value: Any
    reason: str


@dataclass(frozen=True)
class EligibilityResult:
    verdict: Literal["eligible", "ineligible", "incomplete"]
    criteria: tuple[CriterionResult, ...]

    @property
    def not_met(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.status == "not met")

    @property
    def missing(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.status == "missing")


def evaluate_eligibility(candidate: Candidate, protocol: Protocol) -> EligibilityResult:
    """Evaluate every eligibility criterion of the protocol for one candidate.

    Notes
    -----
    Criterion rules (PROTOCOL.md section 2): ``range`` is met when min <= value <= max, both inclusive (so
    exactly 3 metastatic organs or 5 lesions meet "at most 3 / 5"); ``one_of`` compares text
    case-insensitively; ``flag`` compares a yes/no item; ``uln_multiple`` is met when value / ULN is at most
    the multiple; ``on_or_before`` is met when the date is on or before the reference date (consent on the
    day of the first procedure is accepted). A criterion whose item is missing is *missing*.
    """
    results = tuple(_evaluate(criterion, candidate) for criterion in protocol.population.criteria)
    statuses = {r.status for r in results}
    verdict: Literal["eligible", "ineligible", "incomplete"] = (
        "ineligible" if "not met" in statuses else "incomplete" if "missing" in statuses else "eligible"
    )
    return EligibilityResult(verdict=verdict, criteria=results)


def _evaluate(criterion: Criterion, candidate: Candidate) -> CriterionResult:
    value = candidate.item(criterion.field)

    def result(status: Status, reason: str, shown: Any = value) -> CriterionResult:
        return CriterionResult(
            criterion.id, criterion.kind, criterion.text, criterion.field, status, shown, reason
        )

    if value is None:
        return result("missing", f"{criterion.field} is not recorded")
    if isinstance(criterion, RangeCriterion):
        unit = f" {criterion.unit}" if criterion.unit else ""
        if criterion.min is not None and value < criterion.min:
            return result("not met", f"{value:g}{unit} is below the minimum {criterion.min:g}{unit}")
        if criterion.max is not None and value > criterion.max:
            return result("not met", f"{value:g}{unit} is above the maximum {criterion.max:g}{unit}")
        bounds = " and ".join(
            part
            for part in (
                f">= {criterion.min:g}" if criterion.min is not None else "",
                f"<= {criterion.max:g}" if criterion.max is not None else "",
            )
            if part
        )
        return result("met", f"{value:g}{unit} is {bounds}{unit}")
    if isinstance(criterion, OneOfCriterion):
        allowed = {v.casefold() for v in criterion.values}
        if str(value).casefold() in allowed:
            return result("met", f"{value!r} is one of {', '.join(criterion.values)}")
        return result("not met", f"{value!r} is not one of {', '.join(criterion.values)}")
    if isinstance(criterion, FlagCriterion):
        words = {True: "yes", False: "no"}
        if value is criterion.required:
            return result("met", f"{criterion.field} is {words[value]} as required")
        return result("not met", f"{criterion.field} is {words[value]}; required {words[criterion.required]}")
    if isinstance(criterion, UlnMultipleCriterion):
        multiple = value.value / value.uln
        shown = {"value": value.value, "uln": value.uln, "multiple": round(multiple, 4)}
        if multiple <= criterion.max_multiple:
            return result("met", f"{multiple:.2f} x ULN is at most {criterion.max_multiple:g} x ULN", shown)
        return result("not met", f"{multiple:.2f} x ULN is above {criterion.max_multiple:g} x ULN", shown)
    assert isinstance(criterion, OnOrBeforeCriterion)
    reference = candidate.item(criterion.reference)
    if reference is None:
        return result("missing", f"{criterion.reference} is not recorded")
    shown = {criterion.field: value, criterion.reference: reference}
    if value <= reference:
        return result(
            "met", f"{criterion.field} {value} is on or before {criterion.reference} {reference}", shown
        )
    return result("not met", f"{criterion.field} {value} is after {criterion.reference} {reference}", shown)
