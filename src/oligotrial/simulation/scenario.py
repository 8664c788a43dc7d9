"""Simulation scenarios: a YAML file of settings on top of the protocol, validated with located errors.

A scenario says what the protocol file cannot know: how fast patients come, how many progress during
induction, the hazards of progression and death in each arm, drop-out, and when the analyses happen. Times
are in months (the protocol's ``days_per_month`` converts its day counts).

Error codes (each problem names the dotted key path and, where known, the line), as the protocol loader's:

========  ==============================================================
SIM-001   the file cannot be read
SIM-002   the file is not valid YAML
SIM-003   the document is not a mapping
SIM-010   a required key is missing
SIM-011   an unknown key (a misspelling is never silently ignored)
SIM-012   a value outside its allowed range
SIM-013   a value of the wrong type
SIM-014   a value not among the allowed choices
SIM-015   settings that contradict each other
SIM-016   a key given twice in one mapping
========  ==============================================================
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oligotrial.protocol.documents import DocumentKind, parse_document, read_document

__all__ = [
    "SCENARIO_DOCUMENT",
    "Accrual",
    "Analysis",
    "Dropout",
    "Hazard",
    "Induction",
    "Randomization",
    "SampleSize",
    "Scenario",
    "Sites",
    "Transition",
    "Transitions",
    "load_scenario",
    "parse_scenario",
]

PositiveFloat = Annotated[float, Field(gt=0)]
Probability = Annotated[float, Field(ge=0, lt=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hazard(_Frozen):
    """A piecewise-constant hazard per month: give ``median`` (exponential), ``rate`` (one piece), or
    ``rates`` with ``breaks`` (the start of each piece after the first, increasing, in months)."""

    median: PositiveFloat | None = None
    rate: Annotated[float, Field(ge=0)] | None = None
    rates: tuple[Annotated[float, Field(ge=0)], ...] | None = None
    breaks: tuple[PositiveFloat, ...] = ()

    @model_validator(mode="after")
    def _one_form(self) -> Hazard:
        given = [self.median is not None, self.rate is not None, self.rates is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of median, rate, rates")
        if self.rates is not None:
            if len(self.rates) != len(self.breaks) + 1:
                raise ValueError(
                    f"rates needs one more value than breaks, got {len(self.rates)} rates and "
                    f"{len(self.breaks)} breaks"
                )
            if any(b >= a for b, a in zip(self.breaks, self.breaks[1:], strict=False)):
                raise ValueError("breaks must be strictly increasing")
        elif self.breaks:
            raise ValueError("breaks go with rates")
        return self

    def pieces(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(starts, rates)``: piece ``k`` has hazard ``rates[k]`` on ``[starts[k], starts[k + 1])``."""
        if self.median is not None:
            return (0.0,), (math.log(2.0) / self.median,)
        if self.rate is not None:
            return (0.0,), (self.rate,)
        assert self.rates is not None
        return (0.0, *self.breaks), tuple(self.rates)


class Transition(_Frozen):
    """One transition of the illness–death model: the control arm's hazard and the experimental arm's hazard
    ratio, applied from ``delay_months`` after randomization (a delayed effect; 0 applies it at once)."""

    control: Hazard
    hazard_ratio: PositiveFloat = 1.0
    delay_months: Annotated[float, Field(ge=0)] = 0.0


class Transitions(_Frozen):
    """Illness–death hazards from randomization: progression (alive, progression-free → progressed), death
    before progression, and death after progression (its clock starts at progression). With
    ``is_joint: false`` only ``progression`` is used and it is the hazard of the PFS event itself."""

    progression: Transition
    death_before_progression: Transition = Transition(control=Hazard(rate=0.0))
    death_after_progression: Transition = Transition(control=Hazard(median=9.0))
    is_joint: bool = True


class SampleSize(_Frozen):
    """Give ``enrolled`` (enter induction; some are not randomized) or ``randomized`` (enroll until that many
    are randomized)."""

    enrolled: Annotated[int, Field(ge=2, le=100_000)] | None = None
    randomized: Annotated[int, Field(ge=2, le=100_000)] | None = None

    @model_validator(mode="after")
    def _one(self) -> SampleSize:
        if (self.enrolled is None) == (self.randomized is None):
            raise ValueError("give exactly one of enrolled and randomized")
        return self


class Accrual(_Frozen):
    """Enrollment: ``rate`` patients per month once at full speed, reached linearly over
    ``ramp_up_months``; ``is_random`` draws a Poisson process, otherwise patient ``i`` (from 0) enters when
    the expected count reaches ``i``."""

    rate: PositiveFloat = 5.0
    ramp_up_months: Annotated[float, Field(ge=0)] = 0.0
    is_random: bool = True


class Sites(_Frozen):
    """``count`` sites; a patient's site is drawn with probability proportional to ``weights`` (equal
    when absent)."""

    count: Annotated[int, Field(ge=1, le=1000)] = 1
    weights: tuple[PositiveFloat, ...] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Sites:
        if self.weights is not None and len(self.weights) != self.count:
            raise ValueError(f"expected {self.count} site weights, got {len(self.weights)}")
        return self


class Induction(_Frozen):
    """Induction before randomization: the probability of progression during it (not randomized), the
    probability of CR/PR at its end (else SD), of a single metastatic organ (else 2–3), and its duration
    (default: cycles x cycle length of the protocol)."""

    progression_probability: Probability = 0.0
    response_probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    single_organ_probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    duration_months: Annotated[float, Field(ge=0)] | None = None


class Randomization(_Frozen):
    """``permuted_blocks`` (the protocol's block sizes and, when ``is_stratified``, its strata), ``simple``
    (independent draws) or ``fixed`` (the exact ratio in enrollment order, rpact's convention)."""

    method: Literal["permuted_blocks", "simple", "fixed"] = "permuted_blocks"
    is_stratified: bool = True


class Dropout(_Frozen):
    """Loss to follow-up, exponential from randomization: a proportion ``rate`` lost by ``time_months``."""

    rate: Probability = 0.0
    time_months: PositiveFloat = 12.0

    @property
    def hazard(self) -> float:
        return -math.log1p(-self.rate) / self.time_months


class Analysis(_Frozen):
    """When and how the trial is analysed.

    ``events``: the final analysis happens at this number of PFS events (among the randomized), the
    interims at the ``information_rates`` fractions of it; or ``calendar_months``: one analysis at that time
    after the first enrollment. ``max_months`` caps the study when the events never come. Boundaries are
    :func:`~oligotrial.stats.compute_boundaries` with ``alpha``, ``sided``, ``spending`` and the optional
    non-binding ``futility`` (needs ``beta`` and ``sided: 1``). ``is_cox`` adds a Cox hazard ratio per
    replicate (slower), ``is_medians`` the Kaplan–Meier medians per arm.
    """

    events: Annotated[int, Field(ge=1)] | None = None
    calendar_months: PositiveFloat | None = None
    max_months: PositiveFloat | None = None
    information_rates: tuple[Annotated[float, Field(gt=0, le=1)], ...] = (1.0,)
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    sided: Literal[1, 2] = 2
    spending: Literal["obf", "pocock"] = "obf"
    futility: Literal["obf", "pocock"] | None = None
    beta: Annotated[float, Field(gt=0, lt=1)] | None = None
    is_cox: bool = False
    is_medians: bool = True

    @model_validator(mode="after")
    def _when(self) -> Analysis:
        if (self.events is None) == (self.calendar_months is None):
            raise ValueError("give exactly one of events and calendar_months")
        rates = self.information_rates
        if rates[-1] != 1.0 or any(b <= a for a, b in itertools.pairwise(rates)):
            raise ValueError("information_rates must increase strictly and end with 1")
        if self.calendar_months is not None and len(rates) > 1:
            raise ValueError("interim analyses need an event-driven design (events)")
        if self.futility is not None and (self.beta is None or self.sided != 1):
            raise ValueError("futility bounds need beta and sided: 1")
        return self


class Scenario(_Frozen):
    """All settings of a design simulation; each section has defaults except ``transitions``."""

    name: str = "scenario"
    sample_size: SampleSize
    accrual: Accrual = Accrual()
    sites: Sites = Sites()
    induction: Induction = Induction()
    randomization: Randomization = Randomization()
    transitions: Transitions
    dropout: Dropout = Dropout()
    analysis: Analysis


#: How scenario files report their problems (codes ``SIM-nnn``, module docstring).
SCENARIO_DOCUMENT = DocumentKind(prefix="SIM", what="scenario", sections="sample_size, transitions")


def load_scenario(path: Path | str) -> Scenario:
    """Load and validate a scenario file.

    Raises
    ------
    InputError
        One problem per violation, coded ``SIM-nnn`` (module docstring) and located by key path and line.
    """
    return read_document(path, Scenario, SCENARIO_DOCUMENT)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate the YAML text of a scenario; ``source`` names it in messages."""
    return parse_document(text, Scenario, SCENARIO_DOCUMENT, source)
