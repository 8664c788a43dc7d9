"""``/api/v1/ctcae`` routes: search the CTCAE terminology, show a term's grade definitions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from oligotrial.api.deps import CurrentActor, CurrentEdc
from oligotrial.api.schemas import MAX_INT64
from oligotrial.services import ctcae
from oligotrial.services.ctcae import CtcaeStatus, CtcaeTermView

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/ctcae", tags=["ctcae"])


@router.get("/terms")
def get_terms(
    edc: CurrentEdc,
    actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=200)] = None,
    soc: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
) -> dict[str, Any]:
    """Terms containing ``q`` in system organ classes containing ``soc``, with the total count."""
    items, total = ctcae.search_ctcae_terms(edc, actor, query=q, soc=soc, limit=limit, offset=offset)
    return {"items": items, "total": total}


@router.get("/terms/{term}", response_model=CtcaeTermView)
def get_term(edc: CurrentEdc, actor: CurrentActor, term: str) -> CtcaeTermView:
    """One term with the definition of each grade."""
    return ctcae.show_ctcae_term(edc, actor, term)


@router.get("/socs")
def get_socs(edc: CurrentEdc, actor: CurrentActor) -> list[dict[str, Any]]:
    """System organ classes with their number of terms."""
    return ctcae.list_ctcae_socs(edc, actor)


@router.get("/expected", response_model=list[CtcaeTermView])
def get_expected(edc: CurrentEdc, actor: CurrentActor) -> list[CtcaeTermView]:
    """The protocol's expected toxicities (grade texts when a workbook is loaded)."""
    return ctcae.list_expected_toxicities(edc, actor)


@router.get("/status", response_model=CtcaeStatus)
def get_status(edc: CurrentEdc, actor: CurrentActor) -> CtcaeStatus:
    """The loaded terminology: version, file, SHA-256, counts."""
    return ctcae.get_ctcae_status(edc, actor)
