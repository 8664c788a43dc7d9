"""Dependencies of the routes: the service context and the authenticated actor (no queries here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from oligotrial.errors import AuthenticationError, Problem
from oligotrial.services import Actor, Edc
from oligotrial.services.auth import authenticate

__all__ = [
    "CurrentActor",
    "CurrentEdc",
    "bearer_token",
    "client_source",
    "current_actor",
    "get_edc",
    "in_thread",
]

_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_edc(request: Request) -> Edc:
    """The application's service context (built once at start-up; holds no per-request state).

    ``async`` because it does no I/O: FastAPI then runs it on the event loop instead of sending it to the
    thread pool (a thread hop per request saved; the same for :func:`bearer_token`).
    """
    edc: Edc = request.app.state.edc
    return edc


def client_source(request: Request) -> str:
    """Where a request came from, for the audit trail."""
    host = request.client.host if request.client else "unknown"
    return f"http:{host}"


async def bearer_token(token: Annotated[str | None, Depends(_oauth2)]) -> str:
    """The bearer token of the request; 401 ``AUTH-002`` when there is none."""
    if not token:
        raise AuthenticationError(
            Problem(
                "AUTH-002",
                "Authorization",
                "send 'Authorization: Bearer <token>' from POST /api/v1/auth/token",
            )
        )
    return token


def current_actor(
    request: Request, token: Annotated[str, Depends(bearer_token)], edc: Annotated[Edc, Depends(get_edc)]
) -> Actor:
    """The user the bearer token belongs to, with their role assignments."""
    return authenticate(edc, token, client_source(request))


CurrentActor = Annotated[Actor, Depends(current_actor)]
CurrentEdc = Annotated[Edc, Depends(get_edc)]


_P = ParamSpec("_P")
_T = TypeVar("_T")


async def in_thread(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a (blocking) use case in the thread pool from an ``async`` route.

    Notes
    -----
    For the routes under the heaviest load (form saves and reads): FastAPI runs a plain ``def`` route in the
    thread pool and then sends the validation of its response model there too (two thread hops); an
    ``async`` route awaiting this helper makes one hop for the use case and validates on the event loop.
    """
    return await run_in_threadpool(function, *args, **kwargs)
