"""The typed workflow forms: one pydantic model per form code, validating the item values of a form before
the generic form store keeps them (as JSON, one version per save).

A model checks types, ranges and dates that need no protocol; :func:`check_form_values` adds the rules that
depend on the protocol (regimens, agents, organs, seriousness criteria, adverse-event terms). Every error
names the item path under ``values`` (``values.lesions[2].diameter_mm``) and a code of the form
(``ELIG-101``, ``DOSE-101``, ``TUMOUR-101``, ``AE-101`` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date as Day
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import Protocol
from oligotrial.rules.eligibility import Labs, MetastaticLesion

__all__ = [
    "DISPOSITION_REASONS",
    "FORM_MODELS",
    "WORKFLOW_FORMS",
    "AdverseEventForm",
    "AgentDose",
    "DeathForm",
    "DeviationForm",
    "DispositionForm",
    "DoseForm",
    "EligibilityForm",
    "EndOfTreatmentForm",
    "FollowUpForm",
    "Lesion",
    "NewTherapyForm",
    "ScreenFailureForm",
    "TermLookup",
    "TumourAssessmentForm",
    "check_form_values",
]

Text = Annotated[str, Field(min_length=1, max_length=1000)]
Mg = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]

TermLookup = Callable[[str], "str | None"]
"""A term lookup: the term's system organ class, or ``None`` when the term is unknown (e.g.
:func:`oligotrial.services.workflow.ctcae_term_lookup` over the loaded CTCAE terms)."""


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EligibilityForm(_Form):
    """``ELIG``: the screening record evaluated by the eligibility rules, plus what SDTM DM needs."""

    screening_date: Day
    sex: Literal["F", "M", "U"] | None = None
    birth_date: Day | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    diagnosis: str | None = None
    histology: str | None = None
    disease_setting: str | None = None
    primary_site: str | None = None
    metastatic_lesions: tuple[MetastaticLesion, ...] | None = None
    measurable_disease: bool | None = None
    ecog: Annotated[int, Field(ge=0, le=5)] | None = None
    labs: Labs = Labs()
    prior_systemic_therapy: bool | None = None
    consent_date: Day | None = None
    first_procedure_date: Day | None = None

    def candidate(self) -> dict[str, Any]:
        """The items the eligibility rules read (``Candidate`` of :mod:`oligotrial.rules.eligibility`)."""
        return self.model_dump(mode="json", exclude={"sex", "primary_site"})


class ScreenFailureForm(_Form):
    """``SCRFAIL``: why a screened subject is not enrolled (criteria not met and/or a stated reason)."""

    date: Day
    criteria_not_met: tuple[str, ...] = ()
    reason: Text | None = None


class AgentDose(_Form):
    agent: Annotated[str, Field(min_length=1, max_length=64)]
    dose: Mg
    unit: Literal["mg", "mg/m2", "mg/kg", "AUC"] = "mg"
    planned_dose: Mg | None = None
    reduction_reason: Text | None = None

    @model_validator(mode="after")
    def _reduction_needs_reason(self) -> AgentDose:
        if self.planned_dose is not None and self.dose < self.planned_dose and self.reduction_reason is None:
            raise ValueError(
                f"dose {self.dose:g} is below the planned {self.planned_dose:g}: give reduction_reason"
            )
        return self


class DoseForm(_Form):
    """``DOSE``: one administration day: an induction cycle (regimen + camrelizumab) or a maintenance dose."""

    phase: Literal["induction", "maintenance"]
    cycle: Annotated[int, Field(ge=1, le=200)]
    date: Day
    regimen: str | None = None
    regimen_name: Annotated[str, Field(max_length=200)] | None = None
    agents: Annotated[tuple[AgentDose, ...], Field(min_length=1, max_length=10)]
    delayed: bool = False
    delay_reason: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DoseForm:
        if self.phase == "induction" and self.regimen is None:
            raise ValueError("an induction dose names its regimen")
        if self.delayed and self.delay_reason is None:
            raise ValueError("a delayed dose needs delay_reason")
        return self


LesionRole = Literal["target", "non-target", "new"]
LesionState = Literal["present", "absent", "too small to measure", "unequivocal progression", "not done"]


class Lesion(_Form):
    lesion_id: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_.-]+$")]
    role: LesionRole
    organ: Annotated[str, Field(min_length=1, max_length=64)]
    is_node: bool = False
    diameter_mm: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] | None = None
    state: LesionState = "present"

    @model_validator(mode="after")
    def _measured(self) -> Lesion:
        if self.role == "target" and self.state == "present" and self.diameter_mm is None:
            raise ValueError("a present target lesion needs diameter_mm (short axis for a node)")
        if self.role != "target" and self.state == "too small to measure":
            raise ValueError("'too small to measure' applies to target lesions only")
        return self


class TumourAssessmentForm(_Form):
    """``TUMOUR``: all lesions of one imaging date (the earliest assessment of a subject is the baseline)."""

    date: Day
    method: Literal["CT", "MRI", "PET-CT", "X-RAY", "OTHER"] = "CT"
    lesions: Annotated[tuple[Lesion, ...], Field(min_length=1, max_length=50)]

    @field_validator("lesions")
    @classmethod
    def _unique_ids(cls, lesions: tuple[Lesion, ...]) -> tuple[Lesion, ...]:
        seen: set[str] = set()
        for lesion in lesions:
            if lesion.lesion_id in seen:
                raise ValueError(f"lesion_id {lesion.lesion_id!r} is given twice")
            seen.add(lesion.lesion_id)
        return lesions


Relation = Literal["related", "possibly related", "unlikely related", "not related", "not applicable"]


class AdverseEventForm(_Form):
    """``AE``: one adverse event with CTCAE v5.0 term and grade, seriousness, relations, action, outcome."""

    term: Annotated[str, Field(min_length=1, max_length=200)]
    specify: Annotated[str, Field(max_length=200)] | None = None
    grade: int
    start_date: Day
    end_date: Day | None = None
    serious: bool = False
    seriousness_criteria: tuple[str, ...] = ()
    relation: Annotated[dict[str, Relation], Field(min_length=1)]
    action_taken: Literal[
        "dose not changed", "dose reduced", "drug interrupted", "drug withdrawn", "not applicable", "unknown"
    ]
    outcome: Literal[
        "recovered/resolved",
        "recovering/resolving",
        "not recovered/not resolved",
        "recovered/resolved with sequelae",
        "fatal",
        "unknown",
    ]
    site_aware_at: Day | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AdverseEventForm:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        if self.serious and not self.seriousness_criteria:
            raise ValueError("a serious adverse event names at least one seriousness criterion")
        if not self.serious and self.seriousness_criteria:
            raise ValueError("seriousness criteria are given for an event not marked serious")
        return self


class EndOfTreatmentForm(_Form):
    """``EOT``: the end of study treatment with its reason (one of the protocol's stop reasons)."""

    date: Day
    last_dose_date: Day
    reason: str
    details: Text | None = None


class FollowUpForm(_Form):
    """``FOLLOWUP``: a survival follow-up contact."""

    date: Day
    status: Literal["alive", "dead", "lost to follow-up"]
    method: Literal["visit", "telephone", "records"] = "visit"
    last_known_alive_date: Day | None = None


class DeathForm(_Form):
    """``DEATH``: date and cause of death."""

    date: Day
    cause: Literal["disease progression", "adverse event", "other", "unknown"]
    details: Text | None = None


class NewTherapyForm(_Form):
    """``NEWTHERAPY``: a subsequent anticancer therapy (ends PFS follow-up by censoring rule)."""

    therapy: Annotated[str, Field(min_length=1, max_length=200)]
    category: Literal["systemic", "radiotherapy", "surgery", "other"] = "systemic"
    start_date: Day
    end_date: Day | None = None


DISPOSITION_REASONS = (
    "COMPLETED",
    "DEATH",
    "LOST TO FOLLOW-UP",
    "WITHDRAWAL BY SUBJECT",
    "PHYSICIAN DECISION",
    "PROGRESSIVE DISEASE",
    "ADVERSE EVENT",
    "STUDY TERMINATED BY SPONSOR",
    "OTHER",
)
"""End-of-study disposition terms (CDISC NCOMPLT codelist subset)."""


class DispositionForm(_Form):
    """``DISPOSITION``: the end of the subject's participation in the study."""

    date: Day
    reason: Literal[DISPOSITION_REASONS]  # type: ignore[valid-type]
    details: Text | None = None


class DeviationForm(_Form):
    """``DEVIATION``: a protocol deviation (PROTOCOL DEVIATION in SDTM DV terms)."""

    date: Day
    category: Literal["eligibility", "consent", "treatment", "visit window", "assessment", "safety", "other"]
    description: Text
    calendar_event: Annotated[str, Field(max_length=32)] | None = None
    is_major: bool = False


FORM_MODELS: Mapping[str, type[_Form]] = {
    "ELIG": EligibilityForm,
    "SCRFAIL": ScreenFailureForm,
    "DOSE": DoseForm,
    "TUMOUR": TumourAssessmentForm,
    "AE": AdverseEventForm,
    "EOT": EndOfTreatmentForm,
    "FOLLOWUP": FollowUpForm,
    "DEATH": DeathForm,
    "NEWTHERAPY": NewTherapyForm,
    "DISPOSITION": DispositionForm,
    "DEVIATION": DeviationForm,
}
"""Form code -> model."""

WORKFLOW_FORMS: Mapping[str, tuple[str, str]] = {
    "ELIG": ("save_eligibility", "PUT /api/v1/subjects/{code}/eligibility"),
    "SCRFAIL": ("record_screen_failure", "POST /api/v1/subjects/{code}/screen-failure"),
    "ENROLL": ("enroll_subject", "POST /api/v1/subjects/{code}/enroll"),
    "DOSE": ("record_dose", "POST /api/v1/subjects/{code}/doses"),
    "TUMOUR": ("record_tumour_assessment", "POST /api/v1/subjects/{code}/tumour-assessments"),
    "AE": ("record_adverse_event", "POST /api/v1/subjects/{code}/adverse-events"),
    "EOT": ("record_end_of_treatment", "POST /api/v1/subjects/{code}/end-of-treatment"),
    "FOLLOWUP": ("record_follow_up", "POST /api/v1/subjects/{code}/follow-up"),
    "DEATH": ("record_death", "POST /api/v1/subjects/{code}/death"),
    "NEWTHERAPY": ("record_new_therapy", "POST /api/v1/subjects/{code}/new-therapies"),
    "DISPOSITION": ("record_disposition", "POST /api/v1/subjects/{code}/disposition"),
    "DEVIATION": ("record_deviation", "POST /api/v1/subjects/{code}/deviations"),
}
"""Form code -> (use case of :mod:`oligotrial.services.workflow`, HTTP route) for every form the workflow
writes: :data:`FORM_MODELS` and the enrollment record ``ENROLL``. The generic form save refuses these codes
(``EDC-026``), so their protocol rules cannot be bypassed."""


def check_form_values(
    form_code: str,
    values: Any,
    protocol: Protocol,
    *,
    term_lookup: TermLookup | None = None,
    is_term_deferred: bool = False,
) -> Any:
    """Validate the item values of a workflow form; return the model instance.

    Parameters
    ----------
    term_lookup
        Terms known besides the protocol's expected toxicities (``AE`` only).
    is_term_deferred
        ``AE`` only: leave the term to the caller, who checks it (and the grades the term defines) against
        the loaded CTCAE terminology in its transaction, as :func:`oligotrial.services.workflow.
        record_adverse_event` does.

    Raises
    ------
    InputError
        ``<FORM>-101`` type, range or consistency of an item; ``<FORM>-102`` a value outside the protocol's
        vocabulary (regimen, agent, organ, stop reason, seriousness criterion); ``AE-103`` a grade outside
        CTCAE 1..5; ``AE-104`` a term neither among the protocol's expected toxicities nor known to
        ``term_lookup`` (unless deferred). Each problem's field is the item path under ``values``.
    """
    model = FORM_MODELS[form_code]
    if not isinstance(values, Mapping):
        raise InputError.single(f"{form_code}-101", "values", "expected an object of item values")
    problems: list[Problem] = []
    if form_code == "AE":
        grade = values.get("grade")
        if not isinstance(grade, int) or isinstance(grade, bool) or not 1 <= grade <= 5:
            problems.append(
                Problem("AE-103", "values.grade", "CTCAE v5.0 grades are the whole numbers 1..5", value=grade)
            )
    try:
        form = model.model_validate(dict(values))
    except ValidationError as exc:
        found = InputError.from_validation(exc, f"{form_code}-101", prefix="values").problems
        problems += [p for p in found if not (form_code == "AE" and p.field == "values.grade")]
        raise InputError(problems) from None
    if problems:
        raise InputError(problems)
    problems = _protocol_rules(form, protocol, term_lookup, is_term_deferred)
    if problems:
        raise InputError(problems)
    return form


def _vocabulary(code: str, field: str, value: object, allowed: tuple[str, ...]) -> Problem:
    return Problem(code, field, f"unknown value; expected one of: {', '.join(allowed)}", value=value)


def _protocol_rules(
    form: _Form, protocol: Protocol, term_lookup: TermLookup | None, is_term_deferred: bool = False
) -> list[Problem]:
    problems: list[Problem] = []
    agents = tuple(a.id for a in protocol.agents)
    if isinstance(form, EligibilityForm):
        organs = protocol.population.metastatic_organs
        for i, lesion in enumerate(form.metastatic_lesions or ()):
            if lesion.organ not in organs:
                problems.append(
                    _vocabulary("ELIG-102", f"values.metastatic_lesions[{i}].organ", lesion.organ, organs)
                )
    elif isinstance(form, DoseForm):
        problems += _dose_rules(form, protocol)
    elif isinstance(form, TumourAssessmentForm):
        organs = (*protocol.population.metastatic_organs, *protocol.population.primary_sites)
        for i, entry in enumerate(form.lesions):
            if entry.organ not in organs:
                problems.append(_vocabulary("TUMOUR-102", f"values.lesions[{i}].organ", entry.organ, organs))
    elif isinstance(form, AdverseEventForm):
        problems += _ae_rules(form, protocol, agents, term_lookup, is_term_deferred)
    elif isinstance(form, EndOfTreatmentForm):
        reasons = protocol.maintenance.stop_reasons
        if form.reason not in reasons:
            problems.append(_vocabulary("EOT-102", "values.reason", form.reason, reasons))
        if form.last_dose_date > form.date:
            problems.append(
                Problem(
                    "EOT-101", "values.last_dose_date", "the last dose is after the end of treatment date"
                )
            )
    return problems


def _dose_rules(form: DoseForm, protocol: Protocol) -> list[Problem]:
    problems: list[Problem] = []
    induction = protocol.induction
    if form.phase == "induction":
        regimens = {r.id: r for r in induction.regimens}
        if form.cycle > induction.cycles:
            problems.append(
                Problem("DOSE-102", "values.cycle", f"induction has {induction.cycles} cycles", form.cycle)
            )
        regimen = regimens.get(form.regimen or "")
        if regimen is None:
            problems.append(_vocabulary("DOSE-102", "values.regimen", form.regimen, tuple(regimens)))
        else:
            if regimen.requires_name and not form.regimen_name:
                problems.append(
                    Problem("DOSE-102", "values.regimen_name", f"regimen {regimen.id} must be named")
                )
            allowed = (*regimen.agents, induction.immunotherapy.agent)
            for i, dose in enumerate(form.agents):
                if dose.agent not in allowed:
                    problems.append(_vocabulary("DOSE-102", f"values.agents[{i}].agent", dose.agent, allowed))
    else:
        allowed = (protocol.maintenance.agent,)
        for i, dose in enumerate(form.agents):
            if dose.agent not in allowed:
                problems.append(_vocabulary("DOSE-102", f"values.agents[{i}].agent", dose.agent, allowed))
    return problems


def _ae_rules(
    form: AdverseEventForm,
    protocol: Protocol,
    agents: tuple[str, ...],
    term_lookup: TermLookup | None,
    is_term_deferred: bool = False,
) -> list[Problem]:
    problems: list[Problem] = []
    settings = protocol.adverse_events
    expected = {t.term.casefold() for t in settings.expected_toxicities}
    known = (
        is_term_deferred
        or form.term.casefold() in expected
        or (term_lookup is not None and term_lookup(form.term) is not None)
    )
    if not known:
        source = "the protocol's expected toxicities" + (
            " or the imported CTCAE terms" if term_lookup is not None else " (no CTCAE workbook imported)"
        )
        problems.append(
            Problem("AE-104", "values.term", f"unknown adverse event term: not among {source}", form.term)
        )
    if form.term.endswith("Other, specify") and not form.specify:
        problems.append(Problem("AE-101", "values.specify", "an 'Other, specify' term needs specify"))
    criteria = settings.seriousness_criteria
    for i, criterion in enumerate(form.seriousness_criteria):
        if criterion not in criteria:
            problems.append(_vocabulary("AE-102", f"values.seriousness_criteria[{i}]", criterion, criteria))
    treatments = (*agents, "radiotherapy")
    for key in form.relation:
        if key not in treatments:
            problems.append(_vocabulary("AE-102", f"values.relation.{key}", key, treatments))
    if form.grade == 5 and form.outcome != "fatal":
        problems.append(
            Problem("AE-101", "values.outcome", "a grade 5 event has outcome 'fatal'", form.outcome)
        )
    return problems
