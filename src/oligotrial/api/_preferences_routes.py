"""``/api/v1`` routes of the display preferences: one's own language, a site's time zone (issue 8, item 8)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from oligotrial.api.deps import CurrentActor, CurrentEdc
from oligotrial.services import admin, auth
from oligotrial.services.views import SiteView, UserView

__all__ = ["SetLanguage", "SetTimeZone", "router"]

router = APIRouter(prefix="/api/v1")


class SetLanguage(BaseModel):
    """The language of one's own pages."""

    model_config = ConfigDict(extra="forbid")
    language: Annotated[str, Field(min_length=1, max_length=16, examples=["zh_Hans"])]


class SetTimeZone(BaseModel):
    """The IANA time zone a site's pages show timestamps in (they stay stored in UTC)."""

    model_config = ConfigDict(extra="forbid")
    time_zone: Annotated[str, Field(min_length=1, max_length=64, examples=["Asia/Shanghai"])]


@router.put("/auth/me/language", response_model=UserView, tags=["auth"])
def put_own_language(edc: CurrentEdc, actor: CurrentActor, body: SetLanguage) -> UserView:
    """Choose the language of your pages: ``en`` or ``zh_Hans`` (any logged-in user, for themselves)."""
    auth.set_language(edc, actor, body.language)
    return admin.get_user(edc, actor, actor.username)


@router.put("/sites/{code}/time-zone", response_model=SiteView, tags=["sites"])
def put_site_time_zone(edc: CurrentEdc, actor: CurrentActor, code: str, body: SetTimeZone) -> SiteView:
    """Set the time zone of a site's pages (administrators; audited)."""
    return admin.set_site_time_zone(edc, actor, code, body.time_zone)
