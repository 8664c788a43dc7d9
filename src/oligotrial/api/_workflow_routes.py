"""The workflow routes under ``/api/v1``: screening and enrollment, doses, tumour assessments, adverse events,
end of treatment, follow-up, death, new therapy, disposition, deviations, the calendar. Each route parses its
input and calls one use case of :mod:`oligotrial.services.workflow`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from oligotrial.api.deps import CurrentActor, CurrentEdc
from oligotrial.api.schemas import DbInt
from oligotrial.services import workflow as wf
from oligotrial.services.workflow import CalendarItem, SubjectCalendar, WorkflowView

__all__ = ["WORKFLOW_RESOURCES", "EnrollBody", "FormBody", "ScreenFailureBody", "workflow_router"]

workflow_router = APIRouter(prefix="/api/v1")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FormBody(_Body):
    """Item values of a workflow form (validated by the form's model); a change names ``base_version`` and a
    reason."""

    values: dict[str, Any]
    base_version: DbInt | None = None
    reason: Annotated[str | None, Field(max_length=1000)] = None


class EnrollBody(_Body):
    enrollment_date: date


class ScreenFailureBody(_Body):
    date: date
    reason: Annotated[str | None, Field(max_length=1000)] = None


Recorder = Callable[..., WorkflowView]
WORKFLOW_RESOURCES: dict[str, tuple[Recorder, str]] = {
    "doses": (
        wf.record_dose,
        "An induction cycle or maintenance administration, checked against its window.",
    ),
    "tumour-assessments": (
        wf.record_tumour_assessment,
        "The lesions of one imaging date; returns the RECIST SOD, percent changes and time-point response.",
    ),
    "adverse-events": (wf.record_adverse_event, "An adverse event (CTCAE term and grade 1..5)."),
    "end-of-treatment": (wf.record_end_of_treatment, "The end of study treatment and its reason."),
    "follow-up": (wf.record_follow_up, "A survival follow-up contact."),
    "death": (wf.record_death, "Death: date and cause."),
    "new-therapies": (wf.record_new_therapy, "A subsequent anticancer therapy."),
    "disposition": (wf.record_disposition, "The end of study participation."),
    "deviations": (wf.record_deviation, "A protocol deviation."),
}


@workflow_router.put("/subjects/{code}/eligibility", response_model=WorkflowView, tags=["screening"])
def put_eligibility(edc: CurrentEdc, actor: CurrentActor, code: str, body: FormBody) -> WorkflowView:
    """Enter or change the eligibility form; every criterion is evaluated with its value."""
    return wf.save_eligibility(
        edc, actor, code, body.values, base_version=body.base_version, reason=body.reason
    )


@workflow_router.get("/subjects/{code}/eligibility", response_model=WorkflowView, tags=["screening"])
def get_eligibility(edc: CurrentEdc, actor: CurrentActor, code: str) -> WorkflowView:
    """The eligibility form evaluated now."""
    return wf.get_eligibility(edc, actor, code)


@workflow_router.post("/subjects/{code}/enroll", response_model=WorkflowView, tags=["screening"])
def post_enroll(edc: CurrentEdc, actor: CurrentActor, code: str, body: EnrollBody) -> WorkflowView:
    """Enroll a screened subject (only when eligible and consented)."""
    return wf.enroll_subject(edc, actor, code, body.enrollment_date)


@workflow_router.post("/subjects/{code}/screen-failure", response_model=WorkflowView, tags=["screening"])
def post_screen_failure(
    edc: CurrentEdc, actor: CurrentActor, code: str, body: ScreenFailureBody
) -> WorkflowView:
    """Record a screen failure with the criteria not met and/or a reason."""
    return wf.record_screen_failure(edc, actor, code, body.date, body.reason)


@workflow_router.get(
    "/subjects/{code}/tumour-assessments", response_model=list[WorkflowView], tags=["assessments"]
)
def get_assessments(edc: CurrentEdc, actor: CurrentActor, code: str) -> list[WorkflowView]:
    """Every tumour assessment with its RECIST values derived now."""
    return wf.list_tumour_assessments(edc, actor, code)


@workflow_router.get("/subjects/{code}/deviations", response_model=list[WorkflowView], tags=["calendar"])
def get_deviations(edc: CurrentEdc, actor: CurrentActor, code: str) -> list[WorkflowView]:
    """The protocol deviations of a subject."""
    return wf.list_deviations(edc, actor, code)


@workflow_router.get("/subjects/{code}/calendar", response_model=SubjectCalendar, tags=["calendar"])
def get_calendar(edc: CurrentEdc, actor: CurrentActor, code: str, as_of: date) -> SubjectCalendar:
    """The subject's calendar with the status of each planned event as of a day."""
    return wf.get_subject_calendar(edc, actor, code, as_of)


@workflow_router.get("/calendar/exceptions", tags=["calendar"])
def get_schedule_exceptions(
    edc: CurrentEdc, actor: CurrentActor, as_of: date, site: str | None = None
) -> dict[str, Any]:
    """Overdue and out-of-window calendar items of your sites."""
    items = wf.list_schedule_exceptions(edc, actor, as_of, site_code=site)
    return {"items": items, "total": len(items), "fields": list(CalendarItem.model_fields)}


def _add(resource: str, recorder: Recorder, summary: str) -> None:
    def create(edc: CurrentEdc, actor: CurrentActor, code: str, body: FormBody) -> WorkflowView:
        return recorder(edc, actor, code, body.values, base_version=body.base_version, reason=body.reason)

    def change(
        edc: CurrentEdc, actor: CurrentActor, code: str, event_code: str, body: FormBody
    ) -> WorkflowView:
        return recorder(
            edc,
            actor,
            code,
            body.values,
            event_code=event_code,
            base_version=body.base_version,
            reason=body.reason,
        )

    name = resource.replace("-", "_")
    workflow_router.add_api_route(
        f"/subjects/{{code}}/{resource}",
        create,
        methods=["POST"],
        response_model=WorkflowView,
        status_code=status.HTTP_201_CREATED,
        name=f"post_{name}",
        summary=summary,
        tags=["workflow"],
    )
    workflow_router.add_api_route(
        f"/subjects/{{code}}/{resource}/{{event_code}}",
        change,
        methods=["PUT"],
        response_model=WorkflowView,
        name=f"put_{name}",
        summary=f"Change: {summary}",
        tags=["workflow"],
    )


for _resource, (_recorder, _summary) in WORKFLOW_RESOURCES.items():
    _add(_resource, _recorder, _summary)
