"""Messages of the pages that come from codes: service problems and statuses (msgids marked with ``N_`` for
extraction, translated when shown)."""

from __future__ import annotations

__all__ = ["FINDING_MESSAGES", "KIND_LABELS", "NOTICES", "N_", "PROBLEM_MESSAGES", "STATUS_LABELS"]


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
    "DOSE-101": N_("Invalid value: a reduced or delayed dose needs its reason."),
    "DOSE-102": N_("The value is outside the protocol (regimen, cycle or agent)."),
    "DOSE-103": N_("The dose is out of order (cycle 1 first, nothing after the end of treatment)."),
    "DOSE-104": N_("This dose is already recorded; change it from the subject page."),
    "DOSE-201": N_("The dose is outside its window; record the delay and its reason or correct the date."),
    "TUMOUR-101": N_("Invalid value: a present target lesion needs its diameter."),
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
}
"""Problem code -> message (``<PREFIX>-*`` covers a family)."""

STATUS_LABELS: dict[str, str] = {
    "screening": N_("screening"),
    "screen_failed": N_("screen failed"),
    "enrolled": N_("enrolled"),
    "withdrawn": N_("withdrawn"),
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
