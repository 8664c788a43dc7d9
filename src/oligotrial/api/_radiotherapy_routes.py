"""``/api/v1/subjects/{code}/radiotherapy`` routes: course entry per lesion with the plan check."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from oligotrial.api.deps import CurrentActor, CurrentEdc
from oligotrial.services import radiotherapy
from oligotrial.services.radiotherapy import RadiotherapyPlanView

__all__ = ["MaintenanceRestart", "SaveCourse", "router"]

router = APIRouter(prefix="/api/v1/subjects/{code}/radiotherapy", tags=["radiotherapy"])


class SaveCourse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    course: dict[str, Any]
    chemo_immunotherapy_end: date | None = None
    reason: Annotated[str, Field(max_length=1000)] | None = None


class MaintenanceRestart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restart: date
    reason: Annotated[str, Field(max_length=1000)] | None = None


@router.get("", response_model=RadiotherapyPlanView)
def get_plan(edc: CurrentEdc, actor: CurrentActor, code: str) -> RadiotherapyPlanView:
    """The subject's radiotherapy courses with the plan check."""
    return radiotherapy.get_radiotherapy_plan(edc, actor, code)


@router.put("/courses", response_model=RadiotherapyPlanView)
def put_course(edc: CurrentEdc, actor: CurrentActor, code: str, body: SaveCourse) -> RadiotherapyPlanView:
    """Enter or correct (reason required) the radiotherapy of one lesion; the plan is re-checked."""
    return radiotherapy.record_radiotherapy_course(
        edc,
        actor,
        code,
        body.course,
        chemo_immunotherapy_end=body.chemo_immunotherapy_end,
        reason=body.reason,
    )


@router.put("/maintenance-restart", response_model=RadiotherapyPlanView)
def put_restart(
    edc: CurrentEdc, actor: CurrentActor, code: str, body: MaintenanceRestart
) -> RadiotherapyPlanView:
    """Record the camrelizumab restart after radiotherapy; the restart window is checked."""
    return radiotherapy.record_maintenance_restart(edc, actor, code, body.restart, reason=body.reason)
