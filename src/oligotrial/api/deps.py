"""Dependencies of the routes: the service context and the authenticated actor (no queries here)."""

from __future__ import annotations

from asyncio import get_running_loop
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import copy_context
from functools import partial
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from oligotrial._threads import thread_pool
from oligotrial.errors import AuthenticationError, Problem
from oligotrial.services import Actor, Edc
from oligotrial.services.auth import BearerToken, authenticate

__all__ = [
    "CurrentActor",
    "CurrentCredentials",
    "CurrentEdc",
    "bearer_credentials",
    "bearer_token",
    "client_source",
    "current_actor",
    "get_edc",
    "in_thread",
    "scope_source",
    "view_response",
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
    return scope_source(request.scope)


def scope_source(scope: Mapping[str, Any]) -> str:
    """:func:`client_source` from a request's ASGI scope (for ASGI middleware, which has no ``Request``)."""
    client = scope.get("client")
    return f"http:{client[0] if client else 'unknown'}"


async def bearer_token(token: Annotated[str | None, Depends(_oauth2)]) -> str:
    """The bearer token of the request; 401 ``AUTH-002`` when there is none."""
    return _required(token)


def _required(token: str | None) -> str:
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


async def bearer_credentials(
    request: Request, token: Annotated[str | None, Depends(_oauth2)]
) -> AsyncIterator[BearerToken]:
    """The request's bearer token and origin, for a use case that checks the token in its own transaction.

    Notes
    -----
    For the routes under the heaviest load (form saves and reads): the token is still checked against the
    database on every request (issue 6, item 9), but by the use case, first thing in its transaction
    (:func:`oligotrial.services.auth.actor_in`), so a request makes one transaction and one thread-pool hop
    instead of two of each. ``async`` and without I/O: runs on the event loop. 401 ``AUTH-002`` when the
    request has no bearer token at all.

    A request that fails FastAPI's validation (body, path) never reaches the use case; every route answers
    an unknown token 401 before any 422, so for such a request the token is checked here (the only extra
    work, on invalid requests only), and a bad token turns the 422 into a 401.
    """
    credentials = BearerToken(_required(token), client_source(request))
    try:
        yield credentials
    except RequestValidationError:
        await run_in_threadpool(authenticate, request.app.state.edc, credentials.token, credentials.source)
        raise


CurrentActor = Annotated[Actor, Depends(current_actor)]
CurrentCredentials = Annotated[BearerToken, Depends(bearer_credentials)]
CurrentEdc = Annotated[Edc, Depends(get_edc)]


_P = ParamSpec("_P")
_T = TypeVar("_T")


async def in_thread(
    use_case: Callable[Concatenate[Edc, _P], _T], edc: Edc, *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """Run a (blocking) use case on ``edc`` in the process's request threads from an ``async`` route.

    Notes
    -----
    For the routes under the heaviest load (form saves and reads): FastAPI runs a plain ``def`` route in the
    thread pool and then sends the validation of its response model there too (two thread hops); an
    ``async`` route awaiting this helper makes one hop for the use case and validates on the event loop.

    The hop goes to a pool of ``edc.settings.request_threads`` threads of the process's own (the request's
    context variables go with it), through the event loop's executor interface: under load that costs about
    a third of the processor time of AnyIO's ``to_thread``, which FastAPI's ``def`` routes use (its own pool,
    as large).
    """
    pool = thread_pool("request", edc.settings.request_threads)
    call = partial(copy_context().run, use_case, edc, *args, **kwargs)
    return await get_running_loop().run_in_executor(pool, call)


def view_response(view: BaseModel) -> Response:
    """A use case's view as the JSON response, serialized once without validating it again.

    Notes
    -----
    The views of :mod:`oligotrial.services.views` are pydantic models, validated when the use case builds
    them; FastAPI would validate a returned view a second time against the route's ``response_model`` before
    serializing it. Returning the serialized view skips only that repetition (the route keeps its
    ``response_model`` for the OpenAPI document). For the form save and read routes, the busiest ones.
    """
    return Response(view.__pydantic_serializer__.to_json(view), media_type="application/json")
