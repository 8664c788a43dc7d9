"""Frozen typed models of a protocol file.

Every model forbids unknown keys, so a misspelt setting is an error rather than a silently ignored default.
The field names are the keys of the YAML file; ``docs/protocol-reference.md`` explains each.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CANDIDATE_FIELDS",
    "AdverseEvents",
    "Agent",
    "Arm",
    "AssessmentPeriod",
    "Assessments",
    "BinaryEndpoint",
    "CensorSource",
    "ConventionalRules",
    "Criterion",
    "DayWindow",
    "Endpoint",
    "EventSource",
    "ExpectedToxicity",
    "FlagCriterion",
    "FollowUp",
    "FractionRange",
    "IRecist",
    "ImmunotherapyDose",
    "Induction",
    "Maintenance",
    "Minimization",
    "OnOrBeforeCriterion",
    "OneOfCriterion",
    "Population",
    "PrimaryRules",
    "Protocol",
    "ProtocolInfo",
    "RadiotherapyRules",
    "Randomization",
    "RangeCriterion",
    "Regimen",
    "Response",
    "SbrtRules",
    "Stratum",
    "TimeToEventEndpoint",
    "UlnMultipleCriterion",
    "sdtm_test_code",
]

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Name = Annotated[str, Field(min_length=1)]

#: The items of the eligibility record a criterion may refer to, with their kind. The kind decides which
#: rules apply: ``range`` to numbers, ``one_of`` to text, ``flag`` to booleans, ``uln_multiple`` to
#: laboratory values reported with their upper limit of normal, ``on_or_before`` to dates.
CANDIDATE_FIELDS: dict[str, str] = {
    "diagnosis": "text",
    "histology": "text",
    "disease_setting": "text",
    "metastatic_organ_count": "number",
    "metastatic_lesion_count": "number",
    "measurable_disease": "flag",
    "age": "number",
    "ecog": "number",
    "labs.anc": "number",
    "labs.platelets": "number",
    "labs.haemoglobin": "number",
    "labs.creatinine_clearance": "number",
    "labs.bilirubin": "uln",
    "labs.ast": "uln",
    "labs.alt": "uln",
    "prior_systemic_therapy": "flag",
    "consent_date": "date",
    "first_procedure_date": "date",
    "screening_date": "date",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- identity -------------------------------------------------------------------------------------------


class ProtocolInfo(_Frozen):
    id: Name
    version: Name
    title: Name
    phase: Name
    design: Name
    condition: Name
    planned_enrollment: PositiveInt
    source: Name
    days_per_month: PositiveFloat


# --- population -----------------------------------------------------------------------------------------


def sdtm_test_code(identifier: str) -> str:
    """The SDTM test code of an eligibility criterion (``IETESTCD``): its id's letters and digits, at most 8
    (``INC-08`` -> ``INC08``)."""
    return "".join(ch for ch in identifier if ch.isalnum())[:8]


class _CriterionBase(_Frozen):
    id: Name
    kind: Literal["inclusion", "exclusion"]
    text: Name
    field: Name

    def _check_field_kind(self, *kinds: str) -> None:
        kind = CANDIDATE_FIELDS.get(self.field)
        if kind is None:
            raise ValueError(
                f"unknown candidate field {self.field!r}; "
                f"expected one of {', '.join(sorted(CANDIDATE_FIELDS))}"
            )
        if kind not in kinds:
            raise ValueError(f"field {self.field!r} holds a {kind}, which the rule cannot compare")


class RangeCriterion(_CriterionBase):
    """Met when ``min <= value <= max`` (either bound may be absent)."""

    rule: Literal["range"]
    min: float | None = None
    max: float | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeCriterion:
        self._check_field_kind("number")
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class OneOfCriterion(_CriterionBase):
    """Met when the value is one of ``values`` (compared case-insensitively)."""

    rule: Literal["one_of"]
    values: Annotated[tuple[Name, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _kind(self) -> OneOfCriterion:
        self._check_field_kind("text")
        return self


class FlagCriterion(_CriterionBase):
    """Met when the yes/no item equals ``required``."""

    rule: Literal["flag"]
    required: bool

    @model_validator(mode="after")
    def _kind(self) -> FlagCriterion:
        self._check_field_kind("flag")
        return self


class UlnMultipleCriterion(_CriterionBase):
    """Met when value / upper limit of normal <= ``max_multiple``."""

    rule: Literal["uln_multiple"]
    max_multiple: PositiveFloat

    @model_validator(mode="after")
    def _kind(self) -> UlnMultipleCriterion:
        self._check_field_kind("uln")
        return self


class OnOrBeforeCriterion(_CriterionBase):
    """Met when the date ``field`` is on or before the date ``reference``."""

    rule: Literal["on_or_before"]
    reference: Name

    @model_validator(mode="after")
    def _kind(self) -> OnOrBeforeCriterion:
        self._check_field_kind("date")
        if CANDIDATE_FIELDS.get(self.reference) != "date":
            raise ValueError(f"reference {self.reference!r} is not a date item of the candidate record")
        return self


Criterion = Annotated[
    RangeCriterion | OneOfCriterion | FlagCriterion | UlnMultipleCriterion | OnOrBeforeCriterion,
    Field(discriminator="rule"),
]


class Population(_Frozen):
    diagnoses: Annotated[tuple[Name, ...], Field(min_length=1)]
    primary_sites: Annotated[tuple[Name, ...], Field(min_length=1)]
    histologies: Annotated[tuple[Name, ...], Field(min_length=1)]
    disease_settings: Annotated[tuple[Name, ...], Field(min_length=1)]
    metastatic_organs: Annotated[tuple[Name, ...], Field(min_length=1)]
    criteria: Annotated[tuple[Criterion, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Population:
        _check_unique("criterion id", [c.id for c in self.criteria])
        _check_unique("organ", self.metastatic_organs)
        return self


# --- treatment ------------------------------------------------------------------------------------------


class Agent(_Frozen):
    id: Name
    name: Name
    kind: Literal["chemotherapy", "immunotherapy"]


class ImmunotherapyDose(_Frozen):
    agent: Name
    dose_mg: PositiveFloat
    route: Name
    day: PositiveInt


class Regimen(_Frozen):
    id: Name
    name: Name
    agents: Annotated[tuple[Name, ...], Field(min_length=1)]
    requires_name: bool = False


class Induction(_Frozen):
    cycles: Annotated[int, Field(ge=1, le=20)]
    cycle_length_days: Annotated[int, Field(ge=1, le=90)]
    day1_window_days: NonNegativeInt
    immunotherapy: ImmunotherapyDose
    regimens: Annotated[tuple[Regimen, ...], Field(min_length=1)]


class Arm(_Frozen):
    id: Literal["control", "experimental"]
    armcd: Annotated[str, Field(min_length=1, max_length=20)]
    name: Name
    radiotherapy: bool
    maintenance_start_days_after_last_induction_dose: PositiveInt | None = None


class Stratum(_Frozen):
    """A stratification factor. ``levels`` maps each level's label to the source values it gathers;
    without levels, every distinct source value is its own level (e.g. the site)."""

    id: Name
    source: Literal["site", "induction_response", "metastatic_organ_count", "histology"]
    levels: dict[str, tuple[str | int, ...]] | None = None


class Minimization(_Frozen):
    probability: Annotated[float, Field(gt=0.5, le=1.0)]
    imbalance: Literal["range", "variance"]


class Randomization(_Frozen):
    ratio: dict[Literal["control", "experimental"], PositiveInt]
    eligible_responses: Annotated[tuple[Literal["CR", "PR", "SD", "NON-CR/NON-PD"], ...], Field(min_length=1)]
    method: Literal["permuted_blocks", "minimization"]
    block_sizes: Annotated[tuple[PositiveInt, ...], Field(min_length=1)]
    strata: tuple[Stratum, ...]
    minimization: Minimization

    @model_validator(mode="after")
    def _blocks_fit_ratio(self) -> Randomization:
        if set(self.ratio) != {"control", "experimental"}:
            raise ValueError("ratio needs a weight for both control and experimental")
        total = sum(self.ratio.values())
        bad = [b for b in self.block_sizes if b % total]
        if bad:
            raise ValueError(f"block sizes {bad} are not multiples of the ratio total {total}")
        _check_unique("stratum id", [s.id for s in self.strata])
        return self


class FractionRange(_Frozen):
    min: Annotated[int, Field(ge=1, le=10)]
    max: Annotated[int, Field(ge=1, le=10)]

    @model_validator(mode="after")
    def _ordered(self) -> FractionRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class SbrtRules(_Frozen):
    dose_per_fraction_gy: PositiveFloat
    fractions: FractionRange
    other_schedule_bed10_recommended_above_gy: PositiveFloat


class ConventionalRules(_Frozen):
    total_dose_above_gy: PositiveFloat


class PrimaryRules(_Frozen):
    technique: Literal["conventional", "SBRT"]
    total_dose_at_least_gy: PositiveFloat


class RadiotherapyRules(_Frozen):
    arm: Literal["control", "experimental"]
    chemo_end_reference: Literal["last_induction_dose"]
    start_within_days_after_chemo_end: PositiveInt
    maintenance_restart_within_days_after_rt_end: PositiveInt
    min_lesions_irradiated: PositiveInt
    alpha_beta_tumour_gy: PositiveFloat
    alpha_beta_late_gy: PositiveFloat
    lq_caution_dose_per_fraction_gy: PositiveFloat
    sbrt: SbrtRules
    conventional: ConventionalRules
    primary: PrimaryRules
    target_lesions_retained_after_irradiation: bool


class Maintenance(_Frozen):
    agent: Name
    dose_mg: PositiveFloat
    interval_days: PositiveInt
    window_days: NonNegativeInt
    max_duration_months: PositiveInt
    duration_from: Literal["first_dose"]
    stop_reasons: tuple[Name, ...]


# --- assessments, response, follow-up -------------------------------------------------------------------


class AssessmentPeriod(_Frozen):
    until_months: PositiveInt
    interval_days: PositiveInt
    window_days: NonNegativeInt


class Assessments(_Frozen):
    baseline_window_days: NonNegativeInt
    origin: Literal["first_dose"]
    periods: Annotated[tuple[AssessmentPeriod, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _increasing(self) -> Assessments:
        ends = [p.until_months for p in self.periods]
        if ends != sorted(set(ends)):
            raise ValueError(f"periods must end at strictly increasing months, got {ends}")
        return self


class DayWindow(_Frozen):
    min: NonNegativeInt
    max: NonNegativeInt

    @model_validator(mode="after")
    def _ordered(self) -> DayWindow:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class IRecist(_Frozen):
    enabled: bool
    confirmation_window_days: DayWindow


class Response(_Frozen):
    criteria: Literal["RECIST 1.1"]
    confirmation_min_days: PositiveInt
    max_ne_between_confirmation: NonNegativeInt
    sd_min_days: NonNegativeInt
    sd_min_reference: Literal["first_dose", "randomization"]
    irecist: IRecist


class FollowUp(_Frozen):
    survival_interval_days: PositiveInt
    survival_window_days: NonNegativeInt
    survival_duration_months: PositiveInt


# --- endpoints ------------------------------------------------------------------------------------------


class EventSource(_Frozen):
    """What counts as an event: ``progression`` (the first RECIST 1.1 PD on or after the origin) or ``death``.
    ``description`` becomes ADTTE EVNTDESC."""

    source: Literal["progression", "death"]
    description: Name


class CensorSource(_Frozen):
    """A censoring rule, on when listed. ``cnsr`` is the ADTTE CNSR value (>= 1) and ``description`` its
    CNSDTDSC; ``count`` is the number of consecutive missed assessments (``missed_assessments`` only).

    Sources: ``no_baseline_assessment`` (censored at the origin), ``new_anticancer_therapy`` (last adequate
    assessment on or before its start), ``missed_assessments`` (last adequate assessment before the gap),
    ``death_before_first_assessment`` (a death with no adequate assessment since the origin is censored at
    the origin; without this source it is an event), ``last_adequate_assessment``, ``origin`` (no adequate
    assessment since the origin), ``last_known_alive``.
    """

    source: Literal[
        "no_baseline_assessment",
        "new_anticancer_therapy",
        "missed_assessments",
        "death_before_first_assessment",
        "last_adequate_assessment",
        "origin",
        "last_known_alive",
    ]
    cnsr: Annotated[int, Field(ge=1, le=99)]
    description: Name
    count: Annotated[int, Field(ge=1, le=10)] | None = None

    @model_validator(mode="after")
    def _count_only_for_missed(self) -> CensorSource:
        if (self.source == "missed_assessments") != (self.count is not None):
            raise ValueError("count is required for missed_assessments and allowed only there")
        return self


class TimeToEventEndpoint(_Frozen):
    paramcd: Annotated[str, Field(min_length=1, max_length=8)]
    param: Name
    kind: Literal["time_to_event"]
    primary: bool = False
    origin: Literal["randomization", "enrollment", "first_response"]
    population: Literal["ITT", "ENROLLED", "RESPONDERS", "SAFETY"]
    events: Annotated[tuple[EventSource, ...], Field(min_length=1)]
    censoring: Annotated[tuple[CensorSource, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_sources(self) -> TimeToEventEndpoint:
        _check_unique("event source", [e.source for e in self.events])
        _check_unique("censoring source", [c.source for c in self.censoring])
        needs_origin = self.origin != "first_response" and self.censor_source("last_adequate_assessment")
        if needs_origin and not self.censor_source("origin"):
            raise ValueError(
                f"{self.paramcd}: with last_adequate_assessment, list an origin source too (the censoring of a "
                "subject with no adequate assessment since the origin)"
            )
        return self

    def censor_source(self, name: str) -> CensorSource | None:
        """The censoring source of that name, when the endpoint lists it (the rule is on)."""
        return next((c for c in self.censoring if c.source == name), None)


class BinaryEndpoint(_Frozen):
    paramcd: Annotated[str, Field(min_length=1, max_length=8)]
    param: Name
    kind: Literal["binary"]
    primary: bool = False
    origin: Literal["randomization", "enrollment"]
    population: Literal["ITT", "ENROLLED", "SAFETY"]
    responses: Annotated[tuple[Literal["CR", "PR", "SD", "NON-CR/NON-PD"], ...], Field(min_length=1)]
    confirmed: bool


Endpoint = Annotated[TimeToEventEndpoint | BinaryEndpoint, Field(discriminator="kind")]


# --- safety ---------------------------------------------------------------------------------------------


class ExpectedToxicity(_Frozen):
    term: Name
    soc: Name
    category: Name
    agents: tuple[Name, ...]
    specify: str | None = None


class AdverseEvents(_Frozen):
    ctcae_version: Name
    reporting_days_after_last_treatment: NonNegativeInt
    severe_grade: Annotated[int, Field(ge=1, le=5)]
    severe_follow_up_days_after_last_treatment: NonNegativeInt
    sae_report_within_hours: PositiveInt
    seriousness_criteria: Annotated[tuple[Name, ...], Field(min_length=1)]
    expected_toxicities: tuple[ExpectedToxicity, ...]


# --- the whole protocol ---------------------------------------------------------------------------------


class Protocol(_Frozen):
    """A whole protocol file. Cross-references (agents, arms, endpoints) are checked on construction."""

    protocol: ProtocolInfo
    population: Population
    agents: Annotated[tuple[Agent, ...], Field(min_length=1)]
    induction: Induction
    arms: Annotated[tuple[Arm, ...], Field(min_length=2, max_length=2)]
    randomization: Randomization
    radiotherapy: RadiotherapyRules
    maintenance: Maintenance
    assessments: Assessments
    response: Response
    follow_up: FollowUp
    endpoints: Annotated[tuple[Endpoint, ...], Field(min_length=1)]
    adverse_events: AdverseEvents

    @model_validator(mode="after")
    def _cross_references(self) -> Protocol:
        agent_ids = [a.id for a in self.agents]
        _check_unique("agent id", agent_ids)
        known = set(agent_ids)
        for regimen in self.induction.regimens:
            unknown = [a for a in regimen.agents if a not in known]
            if unknown:
                raise ValueError(
                    f"regimen {regimen.id} names unknown agents {unknown}; known: {sorted(known)}"
                )
        for dose_agent in (self.induction.immunotherapy.agent, self.maintenance.agent):
            if dose_agent not in known:
                raise ValueError(f"agent {dose_agent!r} is not declared under agents")
        _check_unique("regimen id", [r.id for r in self.induction.regimens])
        _check_unique("arm id", [a.id for a in self.arms])
        _check_unique("endpoint paramcd", [e.paramcd for e in self.endpoints])
        rt_arm = self.arm(self.radiotherapy.arm)
        if not rt_arm.radiotherapy:
            raise ValueError(f"radiotherapy.arm is {rt_arm.id!r}, but that arm has radiotherapy: false")
        for arm in self.arms:
            if not arm.radiotherapy and arm.maintenance_start_days_after_last_induction_dose is None:
                raise ValueError(
                    f"arm {arm.id!r} has no radiotherapy, so it needs "
                    "maintenance_start_days_after_last_induction_dose"
                )
        treatment_agents = known | {"radiotherapy"}
        for tox in self.adverse_events.expected_toxicities:
            unknown = [a for a in tox.agents if a not in treatment_agents]
            if unknown:
                raise ValueError(f"expected toxicity {tox.term!r} names unknown agents {unknown}")
        return self

    def endpoint(self, paramcd: str) -> TimeToEventEndpoint | BinaryEndpoint:
        """The endpoint with this PARAMCD."""
        for endpoint in self.endpoints:
            if endpoint.paramcd == paramcd:
                return endpoint
        raise KeyError(paramcd)

    def arm(self, arm_id: str) -> Arm:
        """The arm with this id."""
        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        raise KeyError(arm_id)


def _check_unique(what: str, values: tuple[str, ...] | list[str]) -> None:
    duplicates = sorted(v for v, n in Counter(values).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")
