"""Dependencies of the routes: the service context and the authenticated actor (no queries here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from oligotrial.errors import AuthenticationError, Problem
from oligotrial.services import Actor, Edc
from oligotrial.services.auth import authenticate

__all__ = ["CurrentActor", "CurrentEdc", "bearer_token", "client_source", "current_actor", "get_edc"]

_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_edc(request: Request) -> Edc:
    """The application's service context (built once at start-up; holds no per-request state)."""
    edc: Edc = request.app.state.edc
    return edc


def client_source(request: Request) -> str:
    """Where a request came from, for the audit trail."""
    host = request.client.host if request.client else "unknown"
    return f"http:{host}"


def bearer_token(token: Annotated[str | None, Depends(_oauth2)]) -> str:
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
