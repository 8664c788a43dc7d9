"""The trial workflow on the generic form store: screening and enrollment, dosing, tumour assessments with
the RECIST engine, adverse events, end of treatment and follow-up, the subject calendar and deviations.

Each record is a typed form (:mod:`oligotrial.services.workflow.forms`) saved in one transaction with its
audit entries; what the rules derive from it is returned with it.
"""

from oligotrial.services.workflow._store import WorkflowView
from oligotrial.services.workflow.adverse_events import (
    ae_reporting,
    check_ae_term,
    ctcae_term_lookup,
    record_adverse_event,
)
from oligotrial.services.workflow.assessments import (
    derive_recist,
    derive_recist_by_subject,
    derive_tumour_tables,
    list_tumour_assessments,
    record_tumour_assessment,
)
from oligotrial.services.workflow.calendar import (
    CalendarItem,
    SubjectCalendar,
    get_subject_calendar,
    list_deviations,
    list_schedule_exceptions,
    list_subject_calendars,
    record_deviation,
)
from oligotrial.services.workflow.dosing import record_dose
from oligotrial.services.workflow.follow_up import (
    record_death,
    record_disposition,
    record_end_of_treatment,
    record_follow_up,
    record_new_therapy,
)
from oligotrial.services.workflow.forms import FORM_MODELS, check_form_values
from oligotrial.services.workflow.screening import (
    enroll_subject,
    get_eligibility,
    record_screen_failure,
    save_eligibility,
)

__all__ = [
    "FORM_MODELS",
    "CalendarItem",
    "SubjectCalendar",
    "WorkflowView",
    "ae_reporting",
    "check_ae_term",
    "check_form_values",
    "ctcae_term_lookup",
    "derive_recist",
    "derive_recist_by_subject",
    "derive_tumour_tables",
    "enroll_subject",
    "get_eligibility",
    "get_subject_calendar",
    "list_deviations",
    "list_schedule_exceptions",
    "list_subject_calendars",
    "list_tumour_assessments",
    "record_adverse_event",
    "record_death",
    "record_deviation",
    "record_disposition",
    "record_dose",
    "record_end_of_treatment",
    "record_follow_up",
    "record_new_therapy",
    "record_screen_failure",
    "record_tumour_assessment",
    "save_eligibility",
]
