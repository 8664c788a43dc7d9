"""What the use cases return: plain, serializable views of records (never ORM objects)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AdverseEventSummary",
    "AeGroupCounts",
    "AeSocRow",
    "AggregateReport",
    "ArmView",
    "AuditEntryView",
    "AuditPage",
    "CasebookProgress",
    "ConsortCounts",
    "EnrollmentMonth",
    "EnrollmentReport",
    "EstimateView",
    "FormVersionView",
    "FormView",
    "QueryCounts",
    "QueryMessageView",
    "QueryView",
    "ResponseGroup",
    "ResponseSummaryView",
    "RoleView",
    "SignatureView",
    "SignedRecord",
    "SiteEnrollmentSeries",
    "SiteView",
    "SubjectView",
    "SurvivalArmView",
    "SurvivalLandmark",
    "SurvivalView",
    "TokenIssued",
    "UserView",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class SiteView(_View):
    code: str
    name: str
    is_active: bool
    time_zone: str  # IANA name; timestamps are stored in UTC and shown in this zone
    created_at: datetime


class RoleView(_View):
    id: int
    role: str
    site: str | None  # site code; None = study-wide


class UserView(_View):
    username: str
    full_name: str
    email: str
    is_active: bool
    is_locked: bool
    language: str  # en | zh_Hans: the language of the user's pages
    roles: list[RoleView]
    created_at: datetime


class TokenIssued(_View):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime
    expires_in: int


class SubjectView(_View):
    code: str
    site: str
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class CasebookProgress(_View):
    """Where one subject's data review stands: forms entered, verified at their current version, locked;
    queries still open or answered."""

    subject: str
    site: str
    forms: int
    verified: int
    locked: int
    pending_queries: int


class FormView(_View):
    id: int
    subject: str
    site: str
    event_code: str
    event_date: date | None
    form_code: str
    version: int
    values: dict[str, Any]
    content_hash: str
    status: str
    is_locked: bool
    is_verified: bool
    updated_at: datetime
    verified_version: int | None = None
    """The version source-data verified last (``None``: never); ``is_verified`` when it is the current one."""


class FormVersionView(_View):
    version: int
    values: dict[str, Any]
    content_hash: str
    saved_by: str
    saved_at: datetime
    reason: str | None


class QueryMessageView(_View):
    action: str
    text: str
    author: str
    at: datetime


class QueryView(_View):
    id: int
    form_id: int
    subject: str
    site: str
    event_code: str
    form_code: str
    item: str
    origin: str
    check_code: str | None
    state: str
    form_version: int
    created_at: datetime
    updated_at: datetime
    messages: list[QueryMessageView]


class QueryCounts(_View):
    site: str
    open: int
    answered: int
    closed: int


class SignedRecord(_View):
    record: str
    id: int
    version: int
    content_hash: str


class SignatureView(_View):
    id: int
    subject: str
    form_id: int | None
    scope: Literal["form", "casebook"]
    signer: str
    signer_name: str
    meaning: str
    meaning_text: str
    signed_at: datetime
    records: list[SignedRecord]
    manifest_hash: str
    status: Literal["valid", "invalidated"]
    changed_records: list[str]


class AuditEntryView(_View):
    id: int
    at: datetime
    actor: str
    action: str
    table: str
    record_id: str
    site: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    reason: str | None
    source: str
    hash: str


class AuditPage(_View):
    entries: list[AuditEntryView]
    next_after: int | None
    next_before: int | None = None


class EnrollmentReport(_View):
    site: str
    by_status: dict[str, int]
    total: int


# --- aggregate analysis (statistician, DSMB): counts and estimates, never subject-level rows --------------


class EstimateView(_View):
    """A statistic with its 95% interval, or ``value = None`` and the ``reason`` it does not exist."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None


class ArmView(_View):
    code: str  # ARMCD
    name: str
    is_experimental: bool


class EnrollmentMonth(_View):
    month: str  # YYYY-MM
    enrolled: int  # cumulative up to the end of the month
    randomized: int  # cumulative up to the end of the month


class SiteEnrollmentSeries(_View):
    site: str
    months: list[EnrollmentMonth]


class ConsortCounts(_View):
    """CONSORT flow counts; the per-arm ones keyed by ARMCD."""

    screened: int
    not_enrolled: int
    not_enrolled_reasons: list[tuple[str | None, int]]  # subjects per criterion not met (None: not recorded)
    enrolled: int
    induction_progression: int
    not_randomized_other: int
    randomized: dict[str, int]
    treated: dict[str, int]
    radiotherapy: dict[str, int]
    discontinued: dict[str, int]
    analysed: dict[str, int]


class SurvivalLandmark(_View):
    months: float
    survival: EstimateView


class SurvivalArmView(_View):
    arm: str  # ARMCD
    n: int
    events: int
    median: EstimateView  # months
    landmarks: list[SurvivalLandmark]


class SurvivalView(_View):
    """A time-to-event endpoint by arm: Kaplan-Meier summaries, stratified log-rank p and Cox hazard ratio."""

    paramcd: str
    arms: list[SurvivalArmView]
    logrank_p: EstimateView
    hazard_ratio: EstimateView


class ResponseGroup(_View):
    """Responses of one group: an arm (ARMCD, randomized subjects) or ``ALL`` (all enrolled subjects)."""

    group: str
    n: int
    orr_responders: int
    orr: EstimateView
    dcr_responders: int
    dcr: EstimateView
    best_response: dict[str, int]  # confirmed best overall response -> subjects


class ResponseSummaryView(_View):
    groups: list[ResponseGroup]
    orr_difference: EstimateView  # experimental minus control
    dcr_difference: EstimateView


class AeGroupCounts(_View):
    """Subjects with treatment-emergent AEs in one group (ARMCD, ``NOT_RANDOMIZED`` or ``TOTAL``)."""

    group: str
    n: int
    any_ae: int
    severe: int
    serious: int


class AeSocRow(_View):
    """Subjects with a TEAE in a system organ class: any grade (``grade`` None) or by their worst grade."""

    soc: str
    grade: int | None
    counts: dict[str, int]  # group -> subjects


class AdverseEventSummary(_View):
    severe_grade: int
    groups: list[AeGroupCounts]
    by_soc: list[AeSocRow]


class AggregateReport(_View):
    """What :func:`oligotrial.services.reports.aggregate_report` returns; ``scope`` says what the actor may see:
    ``site`` (enrollment of the actor's sites), ``study`` (+ enrollment over time by site), ``outcomes``
    (+ CONSORT counts, survival, response and adverse-event summaries by arm)."""

    scope: Literal["site", "study", "outcomes"]
    enrollment: list[EnrollmentReport]
    enrollment_over_time: list[SiteEnrollmentSeries] = []
    arms: list[ArmView] = []
    consort: ConsortCounts | None = None
    survival: list[SurvivalView] = []
    response: ResponseSummaryView | None = None
    adverse_events: AdverseEventSummary | None = None
    held_back: int = 0  # problems that kept records out of the derivation (RECIST queries open)
    analysis_error: str | None = None  # problem code when the analysis could not be derived
    data_version: int = 0  # the audit position of the last data change the analysis reflects
