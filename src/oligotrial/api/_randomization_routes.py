"""``/api/v1`` routes of randomization: allocate a subject, read assignments (open label), and the concealed
list (statistician only). Each route parses its input and calls one use case."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from oligotrial.api.deps import CurrentActor, CurrentEdc
from oligotrial.api.schemas import MAX_INT64
from oligotrial.services import randomization
from oligotrial.services.randomization import (
    RandomizationEntryView,
    RandomizationListView,
    RandomizationView,
)

__all__ = ["GenerateList", "RandomizeSubject", "UploadList", "router"]

router = APIRouter(prefix="/api/v1")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RandomizeSubject(_Body):
    """The inputs of a randomization, all optional: without them the post-induction response and the number of
    metastatic organs are read from the subject's tumour assessments and eligibility form."""

    induction_response: Literal["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"] | None = None
    metastatic_organ_count: Annotated[int, Field(ge=0, le=50)] | None = None
    request_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class GenerateList(_Body):
    entries_per_stratum: Annotated[int, Field(ge=1, le=10_000)] = 50
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None
    sites: list[Annotated[str, Field(max_length=16)]] | None = None


class UploadList(_Body):
    csv: Annotated[str, Field(min_length=1)]
    file_name: Annotated[str, Field(max_length=255)] = "upload.csv"


@router.post(
    "/subjects/{code}/randomization",
    response_model=RandomizationView,
    status_code=status.HTTP_201_CREATED,
    tags=["randomization"],
)
def post_randomization(
    edc: CurrentEdc,
    actor: CurrentActor,
    code: str,
    response: Response,
    body: Annotated[RandomizeSubject | None, Body()] = None,
    idempotency_key: Annotated[str | None, Header(max_length=64)] = None,
) -> RandomizationView:
    """Randomize a subject (201) on its post-induction response and number of metastatic organs, read from
    its records unless given; a retry with the same ``request_id`` or ``Idempotency-Key`` returns the same
    assignment (200)."""
    body = body or RandomizeSubject()
    view = randomization.randomize_subject(
        edc,
        actor,
        code,
        induction_response=body.induction_response,
        metastatic_organ_count=body.metastatic_organ_count,
        request_id=body.request_id or idempotency_key,
    )
    if view.is_replay:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("/subjects/{code}/randomization", response_model=RandomizationView, tags=["randomization"])
def get_randomization(edc: CurrentEdc, actor: CurrentActor, code: str) -> RandomizationView:
    """A subject's arm (open label)."""
    return randomization.get_randomization(edc, actor, code)


@router.get("/randomizations", response_model=list[RandomizationView], tags=["randomization"])
def get_randomizations(
    edc: CurrentEdc, actor: CurrentActor, site: str | None = None
) -> list[RandomizationView]:
    """Assignments at your sites, in randomization order."""
    return randomization.list_randomizations(edc, actor, site_code=site)


@router.post(
    "/randomization/lists",
    response_model=RandomizationListView,
    status_code=status.HTTP_201_CREATED,
    tags=["randomization"],
)
def post_list(edc: CurrentEdc, actor: CurrentActor, body: GenerateList) -> RandomizationListView:
    """Generate (or extend) the concealed list, or the minimization stream (statistician)."""
    return randomization.generate_randomization_list(
        edc, actor, entries_per_stratum=body.entries_per_stratum, seed=body.seed, sites=body.sites
    )


@router.post(
    "/randomization/lists/upload",
    response_model=RandomizationListView,
    status_code=status.HTTP_201_CREATED,
    tags=["randomization"],
)
def post_list_upload(edc: CurrentEdc, actor: CurrentActor, body: UploadList) -> RandomizationListView:
    """Upload a list prepared elsewhere as CSV text (statistician)."""
    return randomization.upload_randomization_list(edc, actor, body.csv, file_name=body.file_name)


@router.get("/randomization/lists", response_model=list[RandomizationListView], tags=["randomization"])
def get_lists(edc: CurrentEdc, actor: CurrentActor) -> list[RandomizationListView]:
    """Lists and streams with their seeds and parameters (statistician)."""
    return randomization.list_randomization_lists(edc, actor)


@router.get("/randomization/entries", tags=["randomization"])
def get_entries(
    edc: CurrentEdc,
    actor: CurrentActor,
    stratum: Annotated[str | None, Query(max_length=200)] = None,
    used: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
) -> dict[str, object]:
    """Slots of the concealed list, used and unused (statistician)."""
    items, total = randomization.list_randomization_entries(
        edc, actor, stratum=stratum, is_used=used, limit=limit, offset=offset
    )
    return {"items": [RandomizationEntryView.model_validate(i) for i in items], "total": total}
