"""Pure clinical rules: eligibility, radiotherapy, the protocol calendar, RECIST 1.1 and iRECIST."""

from oligotrial.rules.eligibility import Candidate, EligibilityResult, evaluate_eligibility, parse_candidate
from oligotrial.rules.irecist import (
    IRESPONSE_CODES,
    derive_irecist_best_overall_response,
    derive_irecist_timepoint_responses,
)
from oligotrial.rules.radiotherapy import (
    PlanCheck,
    RadiotherapyPlan,
    check_dose_inputs,
    check_radiotherapy_plan,
    compute_bed,
    compute_eqd2,
    parse_radiotherapy_plan,
)
from oligotrial.rules.recist import (
    MISSING,
    RESPONSE_CODES,
    check_recist_input,
    compute_overall_response,
    derive_best_overall_response,
    derive_timepoint_responses,
)
from oligotrial.rules.schedule import (
    PlannedEvent,
    VisitStatus,
    add_months,
    derive_calendar,
    derive_visit_status,
)

__all__ = [
    "IRESPONSE_CODES",
    "MISSING",
    "RESPONSE_CODES",
    "Candidate",
    "EligibilityResult",
    "PlanCheck",
    "PlannedEvent",
    "RadiotherapyPlan",
    "VisitStatus",
    "add_months",
    "check_dose_inputs",
    "check_radiotherapy_plan",
    "check_recist_input",
    "compute_bed",
    "compute_eqd2",
    "compute_overall_response",
    "derive_best_overall_response",
    "derive_calendar",
    "derive_irecist_best_overall_response",
    "derive_irecist_timepoint_responses",
    "derive_timepoint_responses",
    "derive_visit_status",
    "evaluate_eligibility",
    "parse_candidate",
    "parse_radiotherapy_plan",
]
