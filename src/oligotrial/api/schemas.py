"""Request bodies of the HTTP API: strict (unknown fields refused, no type coercion of strings to numbers)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from oligotrial.services import Role

__all__ = [
    "MAX_INT32",
    "MAX_INT64",
    "AssignRole",
    "ChangePassword",
    "CreateSite",
    "CreateSubject",
    "CreateUser",
    "DbInt",
    "ErrorBody",
    "ErrorDocument",
    "ErrorProblem",
    "FormVersion",
    "ItemValue",
    "Page",
    "QueryStep",
    "RaiseQuery",
    "Reason",
    "SaveForm",
    "SignRecords",
    "SubjectStatus",
    "VerifyForm",
    "VerifyForms",
]

MAX_INT64 = 2**63 - 1
"""The largest 64-bit integer (SQLite INTEGER, PostgreSQL BIGINT, LIMIT/OFFSET): bounds offsets."""
MAX_INT32 = 2**31 - 1
"""The largest record id or version (32-bit INTEGER columns on PostgreSQL)."""
DbInt = Annotated[StrictInt, Field(ge=-MAX_INT32 - 1, le=MAX_INT32)]
"""An integer compared with an id or version column: out of range is a 422, not a driver overflow (a 500)."""
ItemValue = StrictStr | StrictInt | StrictFloat | StrictBool | None
Code = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSite(_Body):
    code: Annotated[str, Field(min_length=2, max_length=12)]
    name: Annotated[str, Field(min_length=1, max_length=200)]


class AssignRole(_Body):
    role: Role
    site: str | None = None


class CreateUser(_Body):
    username: Annotated[str, Field(min_length=2, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    full_name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(max_length=254)] = ""
    roles: Annotated[list[AssignRole], Field(max_length=50)] = []


class Reason(_Body):
    reason: Annotated[str, Field(max_length=1000)]


class ChangePassword(_Body):
    current_password: Annotated[str, Field(max_length=256)]
    new_password: Annotated[str, Field(max_length=256)]


class CreateSubject(_Body):
    site: Annotated[str, Field(min_length=1, max_length=16)]


class SubjectStatus(_Body):
    status: Annotated[str, Field(max_length=32)]
    base_version: DbInt
    reason: Annotated[str, Field(max_length=1000)]


class SaveForm(_Body):
    values: Annotated[dict[str, ItemValue], Field(max_length=500)]
    base_version: DbInt | None = None
    reason: Annotated[str | None, Field(max_length=1000)] = None
    event_date: date | None = None
    status: Literal["incomplete", "complete"] = "complete"


class VerifyForm(_Body):
    version: DbInt


class FormVersion(_Body):
    form_id: DbInt
    version: DbInt


class VerifyForms(_Body):
    forms: Annotated[list[FormVersion], Field(min_length=1, max_length=500)]


class RaiseQuery(_Body):
    item: Code
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class QueryStep(_Body):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class SignRecords(_Body):
    password: Annotated[str, Field(min_length=1, max_length=256)]
    meaning: Literal["authorship", "review", "approval", "responsibility"]
    form_id: DbInt | None = None


class Page(BaseModel):
    """A page of a list, with the total count over every page."""

    items: list[Any]
    total: int


class ErrorProblem(BaseModel):
    """One located problem of an error answer."""

    code: str
    field: str
    message: str
    value: Any = None
    line: int | None = None


class ErrorBody(BaseModel):
    type: str
    problems: list[ErrorProblem]


class ErrorDocument(BaseModel):
    """Every 4xx and 5xx answer of the API: ``{"error": {"type", "problems": [...]}}``."""

    error: ErrorBody
