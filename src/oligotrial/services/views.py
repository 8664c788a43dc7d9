"""What the use cases return: plain, serializable views of records (never ORM objects)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AuditEntryView",
    "AuditPage",
    "EnrollmentReport",
    "FormVersionView",
    "FormView",
    "QueryCounts",
    "QueryMessageView",
    "QueryView",
    "RoleView",
    "SignatureView",
    "SignedRecord",
    "SiteView",
    "SubjectView",
    "TokenIssued",
    "UserView",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class SiteView(_View):
    code: str
    name: str
    is_active: bool
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


class EnrollmentReport(_View):
    site: str
    by_status: dict[str, int]
    total: int
