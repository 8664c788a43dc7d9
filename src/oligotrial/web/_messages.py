"""Messages of the pages that come from codes: service problems and statuses (msgids marked with ``N_`` for
extraction, translated when shown)."""

from __future__ import annotations

__all__ = [
    "DEVIATION_CATEGORIES",
    "FINDING_MESSAGES",
    "KIND_LABELS",
    "NOTICES",
    "N_",
    "PROBLEM_MESSAGES",
    "RECORD_RULE_MESSAGES",
    "STATUS_LABELS",
]


def N_(message: str) -> str:
    """Mark a message for extraction without translating it now."""
    return message


PROBLEM_MESSAGES: dict[str, str] = {
    "WEB-001": N_("Enter a date as YYYY-MM-DD."),
    "WEB-002": N_("Enter a whole number."),
    "WEB-003": N_("Enter a number."),
    "WEB-004": N_("This field is required."),
    "WEB-005": N_("Choose one of the listed values."),
    "WEB-006": N_("The two new passwords differ."),
    "WEB-007": N_("Select at least one form."),
    "AUTH-001": N_("Incorrect user name or password, or the account is locked or disabled."),
    "AUTH-003": N_("The current password is wrong."),
    "AUTH-010": N_("The password is wrong; the signature was not applied."),
    "AUTH-020": N_(
        "The new password does not meet the password policy (at least 12 characters, not the user name)."
    ),
    "AUTH-100": N_("Your roles do not allow this action."),
    "AUTH-101": N_("Your roles do not allow this action."),
    "AUTH-110": N_("Only the statistician may see the randomization list."),
    "EDC-010": N_("A reason is required for a change after first entry."),
    "EDC-020": N_("Not found."),
    "EDC-023": N_("The record changed since you opened it; reload the page and apply your change again."),
    "EDC-025": N_("The form is locked; ask a data manager to unlock it."),
    "EDC-027": N_("Queries on this subject are open or answered: close them before locking its casebook."),
    "EDC-030": N_("Enter a text of 1 to 4000 characters."),
    "EDC-032": N_("The query is not in a state that allows this action."),
    "EDC-040": N_("Choose the meaning of the signature."),
    "EDC-041": N_("There is no form to sign yet."),
    "EDC-099": N_("The change conflicts with a concurrent change; reload and try again."),
    "DB-001": N_("The database is busy; try again in a moment."),
    "WF-001": N_("This step is not possible in the subject's current status."),
    "ELIG-001": N_("The age and the birth date contradict each other."),
    "ELIG-101": N_("Invalid value."),
    "ELIG-102": N_("Choose an organ from the protocol's list."),
    "ENROLL-001": N_("The subject is not eligible (or the eligibility form is missing)."),
    "ENROLL-002": N_("Enrollment cannot be before the informed consent."),
    "SCRFAIL-101": N_("No criterion is failed: state why the subject is not enrolled."),
    "DOSE-101": N_("Invalid value."),
    "DOSE-102": N_("The value is outside the protocol (regimen, cycle or agent)."),
    "DOSE-103": N_("The dose is out of order (cycle 1 first, nothing after the end of treatment)."),
    "DOSE-104": N_("This dose is already recorded; change it from the subject page."),
    "DOSE-201": N_("The dose is outside its window; record the delay and its reason or correct the date."),
    "TUMOUR-101": N_("Invalid value."),
    "TUMOUR-102": N_("Choose an organ from the protocol's list."),
    "TUMOUR-103": N_("A lesion keeps its role, organ and kind; give a new lesion another identifier."),
    "TUMOUR-104": N_("An assessment cannot change its date; enter a new one."),
    "AE-101": N_("Invalid or inconsistent value."),
    "AE-102": N_("The value is outside the protocol's list."),
    "AE-103": N_("CTCAE v5.0 grades are the whole numbers 1 to 5."),
    "AE-104": N_("Unknown adverse event term: choose a CTCAE term."),
    "RAND-001": N_("Only enrolled subjects can be randomized."),
    "RAND-002": N_("The post-induction tumour assessment is missing."),
    "RAND-003": N_("Progressive disease after induction: the subject is not randomized."),
    "RAND-004": N_("The subject is already randomized."),
    "RAND-005": N_("A stratification value is outside the protocol's levels."),
    "RAND-006": N_("Unknown response."),
    "RAND-008": N_("No unused allocation is left in the stratum; tell the statistician."),
    "RAND-009": N_("No randomization list has been generated; tell the statistician."),
    "RT-*": N_("The radiotherapy course is invalid."),
    "RT-020": N_("Radiotherapy is given in the experimental arm only."),
    "RT-021": N_("The subject is not randomized yet."),
    "RT-022": N_("Give the end of chemo-immunotherapy with the first course."),
    "RT-001": N_("The dose per fraction is out of range."),
    "RT-002": N_("The number of fractions must be a whole number in range."),
    "RT-011": N_("Choose an organ from the protocol's list."),
    "RT-012": N_("This lesion is already in the plan; enter each irradiated lesion once."),
    "RT-023": N_("No radiotherapy is recorded for the subject."),
    "RT-024": N_("Enter the radiotherapy courses before the maintenance restart."),
    "RT-025": N_("Radiotherapy follows randomization: the course cannot start before it."),
    "AE-105": N_("The CTCAE term does not define this grade; choose a grade the term has."),
    "AUTH-002": N_("Your session has ended; log in again."),
    "AUTH-111": N_("Only a study-wide administrator or data manager may import the terminology."),
    "DB-002": N_(
        "The database cannot store this value (a control character in the text, or a number out of range); correct it."
    ),
    "EDC-001": N_("Enter a code of 2 to 12 upper-case letters or digits and a name of 1 to 200 characters."),
    "EDC-002": N_("A site with this code already exists."),
    "EDC-003": N_("No such site."),
    "EDC-004": N_("No such user."),
    "EDC-005": N_(
        "The user name must be 2 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter."
    ),
    "EDC-006": N_("This user name is taken."),
    "EDC-007": N_("This role is granted study-wide only."),
    "EDC-008": N_("The user already holds this role here."),
    "EDC-009": N_("No such role assignment."),
    "EDC-011": N_("Invalid item or form code."),
    "EDC-012": N_("The form has too many items."),
    "EDC-013": N_("Enter a time zone name such as Asia/Shanghai or UTC."),
    "EDC-014": N_("Choose one of the listed languages."),
    "EDC-021": N_("The site is not active."),
    "EDC-022": N_("Unknown subject status."),
    "EDC-024": N_("The form status must be incomplete or complete."),
    "EDC-026": N_("This form is entered on its own page of the trial workflow, not as a generic form."),
    "EDC-031": N_("No such query."),
    "EDC-033": N_("Unknown query state."),
    "ELIG-002": N_("Choose an organ from the protocol's list."),
    "EOT-101": N_("Invalid or inconsistent value: the last dose cannot be after the end of treatment."),
    "EOT-102": N_("Choose one of the protocol's reasons for ending treatment."),
    "EOT-105": N_("The end of treatment is already recorded; change the entered form instead."),
    "FOLLOWUP-101": N_("Invalid value in the follow-up contact."),
    "DEATH-101": N_("Invalid value in the death record."),
    "DEATH-105": N_("The death is already recorded; change the entered form instead."),
    "NEWTHERAPY-101": N_("Invalid value in the new anticancer therapy."),
    "DISPOSITION-101": N_("Invalid value in the end of study record."),
    "DISPOSITION-105": N_("The end of study is already recorded; change the entered form instead."),
    "DEVIATION-101": N_("Invalid value in the protocol deviation."),
    "SCRFAIL-*": N_("Invalid value in the screen failure record."),
    "FILE-001": N_("The file cannot be read."),
    "CTCAE-*": N_("The CTCAE terminology is invalid or cannot be read."),
    "CTCAE-001": N_("Unknown adverse event term: choose a CTCAE term."),
    "CTCAE-002": N_("CTCAE v5.0 grades are the whole numbers 1 to 5."),
    "CTCAE-003": N_("The CTCAE term does not define this grade; choose a grade the term has."),
    "CTCAE-020": N_("The search text is too long."),
    "RAND-*": N_("The randomization list request is invalid; tell the statistician."),
    "RAND-007": N_(
        "This randomization request was already used for another subject; reload the page and try again."
    ),
    "RAND-010": N_("The randomization request identifier is invalid; reload the page and try again."),
    "RAND-011": N_("The subject has not been randomized."),
    "RECIST-*": N_(
        "The tumour measurements are inconsistent (RECIST 1.1); check the lesions of the assessments."
    ),
    "RECIST-009": N_("More than 5 target lesions (RECIST 1.1 allows at most 5)."),
    "RECIST-010": N_("More than 2 target lesions in one organ (RECIST 1.1 allows at most 2 per organ)."),
    "RECIST-011": N_(
        "A target lesion is not measurable at baseline (at least 10 mm; 15 mm short axis for a lymph node)."
    ),
    "RECIST-012": N_("A new lesion cannot be recorded at baseline."),
    "RECIST-013": N_("A measurement is dated before the baseline assessment."),
    "RECIST-014": N_("A lesion has more than one result on one date."),
    "RECIST-015": N_("A non-target lesion is recorded as absent at baseline."),
    "REPORT-101": N_("Unknown endpoint."),
    "SCHED-*": N_("The protocol calendar cannot be derived from the recorded dates; check the dates."),
}
"""Problem code -> message (``<PREFIX>-*`` covers a family)."""

STATUS_LABELS: dict[str, str] = {
    "screening": N_("screening"),
    "screen_failed": N_("screen failed"),
    "enrolled": N_("enrolled"),
    "withdrawn": N_("withdrawn"),
    "died": N_("died"),
    "completed": N_("completed"),
    "open": N_("open"),
    "answered": N_("answered"),
    "closed": N_("closed"),
    "on time": N_("done on time"),
    "early": N_("done early"),
    "late": N_("done late"),
    "missed": N_("overdue"),
    "due": N_("due"),
    "upcoming": N_("upcoming"),
    "done": N_("done"),
    "not started": N_("not started"),
    "complete": N_("complete"),
    "incomplete": N_("incomplete"),
    "eligible": N_("eligible"),
    "ineligible": N_("not eligible"),
    "met": N_("met"),
    "not met": N_("not met"),
    "missing": N_("missing"),
    "compliant": N_("compliant"),
    "advisory": N_("advisory"),
    "deviation": N_("deviation"),
    "valid": N_("valid"),
    "invalidated": N_("invalidated"),
    "experimental": N_("experimental arm"),
    "control": N_("control arm"),
}
"""Status codes of records and the calendar -> labels."""

KIND_LABELS: dict[str, str] = {
    "imaging": N_("Baseline imaging"),
    "induction dose": N_("Induction cycle"),
    "assessment": N_("Tumour assessment"),
    "randomization": N_("Randomization"),
    "radiotherapy start": N_("Radiotherapy start"),
    "maintenance dose": N_("Maintenance dose"),
    "end of treatment": N_("End of treatment"),
    "adverse event follow-up": N_("Adverse event follow-up"),
    "survival follow-up": N_("Survival follow-up"),
    "death": N_("Death"),
    "end of study": N_("End of study (disposition)"),
}
"""Calendar event kinds (:mod:`oligotrial.rules.schedule`) -> labels."""

NOTICES: dict[str, str] = {
    "expired": N_("Your session has ended; log in again."),
    "logout": N_("You are logged out."),
    "password": N_("Your password was changed; log in with the new one."),
    "saved": N_("Saved."),
    "enrolled": N_("The subject is enrolled."),
    "randomized": N_("The subject is randomized."),
    "signed": N_("Signed."),
    "answered": N_("The query is answered."),
    "closed": N_("The query is closed."),
    "reopened": N_("The query is re-opened."),
    "raised": N_("The query is raised."),
    "locked": N_("The form is locked."),
    "unlocked": N_("The form is unlocked."),
    "verified": N_("Source data verification is recorded."),
    "created": N_("The subject is registered."),
    "screen_failed": N_("The screen failure is recorded."),
}
"""Notices shown after an action (``?done=<key>`` or a page's own)."""

RECORD_RULE_MESSAGES: dict[str, str] = {
    "DOSE-101": N_(
        "Inconsistent values: an induction dose names its regimen, and a delayed or reduced dose needs its reason."
    ),
    "TUMOUR-101": N_(
        "Inconsistent values: a present target lesion needs its diameter; 'too small to measure' is for target "
        "lesions only."
    ),
}
"""Messages of a form's ``-101`` problems found on a whole record or row rather than on one item: the rules
that tie items together (the same code's item problems are a wrong value of that item)."""


FINDING_MESSAGES: dict[tuple[str, str], str] = {
    ("RT-P01", "deviation"): N_("The primary lesion must be treated with conventional fractionation."),
    ("RT-P02", "compliant"): N_("The total dose reaches the minimum for the primary lesion."),
    ("RT-P02", "deviation"): N_("The total dose is below the minimum for the primary lesion."),
    ("RT-S01", "compliant"): N_("The protocol's SBRT schedule."),
    ("RT-S02", "advisory"): N_(
        "BED10 is not above the value recommended for other SBRT schedules (allowed)."
    ),
    ("RT-S03", "compliant"): N_("Another SBRT schedule, with BED10 above the recommended value."),
    ("RT-S03", "advisory"): N_("Another SBRT schedule, with BED10 not above the recommended value."),
    ("RT-C01", "compliant"): N_("The conventional total dose is above the minimum."),
    ("RT-C01", "deviation"): N_("The conventional total dose must be above the minimum."),
    ("RT-W01", "deviation"): N_("Too few lesions are irradiated."),
    ("RT-W02", "compliant"): N_("Radiotherapy starts within the window after chemo-immunotherapy."),
    ("RT-W02", "deviation"): N_("Radiotherapy starts outside the window after chemo-immunotherapy."),
    ("RT-W03", "compliant"): N_("Maintenance restarts within the window after radiotherapy."),
    ("RT-W03", "deviation"): N_("Maintenance restarts outside the window after radiotherapy."),
}
"""Plan-check findings (:mod:`oligotrial.rules.radiotherapy`) by code and verdict -> message."""

DEVIATION_CATEGORIES: dict[str, str] = {
    "eligibility": N_("eligibility"),
    "consent": N_("informed consent"),
    "treatment": N_("treatment"),
    "visit window": N_("visit window"),
    "assessment": N_("assessment"),
    "safety": N_("safety"),
    "other": N_("other"),
}
"""Categories of a protocol deviation (``DeviationForm.category``) -> labels."""
