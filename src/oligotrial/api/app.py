"""The FastAPI application: error mapping, request size limit, security headers."""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from oligotrial import __version__
from oligotrial.api._ctcae_routes import router as ctcae_router
from oligotrial.api._hot_routes import HotRoutes
from oligotrial.api._preferences_routes import router as preferences_router
from oligotrial.api._radiotherapy_routes import router as radiotherapy_router
from oligotrial.api._randomization_routes import router as randomization_router
from oligotrial.api._routes import router
from oligotrial.api._workflow_routes import workflow_router
from oligotrial.api.schemas import ErrorDocument
from oligotrial.errors import (
    MISSING_FIELD,
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    OligotrialError,
    PermissionDeniedError,
    Problem,
    ServiceUnavailableError,
)
from oligotrial.services import Edc
from oligotrial.settings import Settings, check_settings
from oligotrial.web import WEB_CSP, mount_web

__all__ = ["create_app", "create_app_from_environment", "error_response", "status_for"]

log = logging.getLogger("oligotrial.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STATUS: list[tuple[type[OligotrialError], int]] = [
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ServiceUnavailableError, 503),
    (InputError, 422),
]


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDocument, "description": description}
    for code, description in [
        (400, "Bad request (a body that cannot be parsed)"),
        (401, "Missing, expired or revoked token, or wrong credentials"),
        (403, "Your roles do not allow this action"),
        (404, "No such record, or not at one of your sites"),
        (409, "Conflict with the current state of a record"),
        (413, "Request body too large"),
        (422, "Invalid input, with field paths"),
        (503, "Database unavailable or busy; retry after the Retry-After delay"),
    ]
}
"""The error answers every API route may give, documented in the OpenAPI schema (one error document)."""


def status_for(error: OligotrialError) -> int:
    """The HTTP status of an error class: 401, 403, 404, 409, 503, 422 for bad input, 400 otherwise."""
    for kind, code in _STATUS:
        if isinstance(error, kind):
            return code
    return 400


def error_response(
    status: int, kind: str, problems: list[Problem], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error document: ``{"error": {"type", "problems": [{code, field, message, value, line}]}}``."""
    body = {"error": {"type": kind, "problems": [_finite(p.to_dict()) for p in problems]}}
    return JSONResponse(body, status_code=status, headers=headers)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as text: JSON has no such numbers, and a received value is echoed."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "function-after[check_item(), str]"})


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    while loc and loc[-1] in _UNION_TAGS:
        loc = loc[:-1]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "<request>"


def _short(value: Any) -> Any:
    text = json.dumps(value, default=str)
    return value if len(text) <= 200 else text[:200] + "..."


async def _on_oligotrial_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OligotrialError)
    status = status_for(exc)
    headers = (
        {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": "1"} if status == 503 else None
    )
    return error_response(status, type(exc).__name__, list(exc.problems), headers)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems: dict[str, Problem] = {}
    for error in exc.errors():
        kind = error.get("type", "")
        loc = tuple(error.get("loc", ()))
        is_union_member = bool(loc) and loc[-1] in _UNION_TAGS
        field = "body" if kind == "json_invalid" else _loc_to_field(loc)
        if is_union_member:
            message = "expected a string, number, boolean or null"
        elif kind == "missing":
            message = MISSING_FIELD
        elif kind == "extra_forbidden":
            message = "unknown field; remove it or check its spelling"
        elif kind == "json_invalid":
            message = f"the body is not valid JSON: {error.get('ctx', {}).get('error', 'syntax error')}"
        else:
            message = str(error.get("msg", "invalid value"))
        value = None if kind in {"missing", "json_invalid"} else _short(error.get("input"))
        problems.setdefault(field, Problem("API-001", field, message, value=value))
    return error_response(422, "InputError", list(problems.values()))


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(
        exc.status_code, "HTTPError", [Problem(f"API-{exc.status_code}", "", str(exc.detail))], exc.headers
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception("unexpected error %s", reference, exc_info=exc)
    return error_response(
        500,
        "InternalError",
        [
            Problem(
                "API-500",
                "",
                f"internal error; the operator can find reference {reference} in the server log",
            )
        ],
    )


class _BodyTooLarge(Exception):
    pass


def _limit_body(app: ASGIApp, max_bytes: int) -> ASGIApp:
    """Refuse request bodies above ``max_bytes`` with 413, by Content-Length or while streaming."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            await _send_413(scope, receive, send, max_bytes)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_413(scope, receive, send, max_bytes)

    return middleware


async def _send_413(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
    response = error_response(
        413, "InputError", [Problem("API-413", "<body>", f"the request body exceeds {max_bytes} bytes")]
    )
    await _with_headers(response, scope, receive, send)


_API_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_CSP_API = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_CSP_DOCS = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"frame-ancestors 'none'",
)


def _security_headers(app: ASGIApp) -> ASGIApp:
    """Add security headers to every response (a looser CSP on the interactive docs only)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = _CSP_DOCS if path in {"/docs", "/redoc"} else _CSP_API
        if not path.startswith("/api") and path not in {"/docs", "/redoc", "/openapi.json"}:
            csp = (b"content-security-policy", WEB_CSP.encode())  # the web pages (oligotrial.web)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_API_HEADERS, csp]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


async def _with_headers(response: JSONResponse, scope: Scope, receive: Receive, send: Send) -> None:
    await response(scope, receive, send)


def create_app(settings: Settings, edc: Edc | None = None) -> FastAPI:
    """Build the application on ``settings`` (checked: no default secret outside development).

    ``edc`` lets a caller (tests, an embedding program) pass an existing context; otherwise the database of
    ``settings.database_url`` is opened (its schema must be current).
    """
    settings = check_settings(settings)
    if edc is None:
        from oligotrial.services import open_edc

        edc = open_edc(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # FastAPI's thread pool, which runs the use cases of the routes but the form save and read
        # (settings.request_threads; those two have a pool of as many threads, ``deps.in_thread``)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="oligotrial EDC",
        version=__version__,
        description="Electronic data capture of the oligometastatic esophageal cancer trial.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        openapi_tags=_API_TAGS,
    )
    app.state.edc = edc
    app.state.settings = settings
    for api_router in (
        router,
        workflow_router,
        randomization_router,
        ctcae_router,
        radiotherapy_router,
        preferences_router,
    ):
        app.include_router(api_router, responses=_ERROR_RESPONSES)
    mount_web(app)
    app.add_exception_handler(OligotrialError, _on_oligotrial_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(HotRoutes, edc=edc, on_error=_on_oligotrial_error)
    app.add_middleware(_Wrap, wrap=lambda inner: _limit_body(inner, settings.max_body_bytes))
    app.add_middleware(_Wrap, wrap=_security_headers)
    return app


_API_TAGS = [
    {"name": "auth", "description": "Bearer tokens (OAuth2 password flow), the current user, passwords."},
    {"name": "operations", "description": "Health of the server and its database."},
    {"name": "sites", "description": "The trial's sites."},
    {"name": "users", "description": "Accounts and their role assignments (administrators)."},
    {"name": "subjects", "description": "Subjects and their status, seen only at the actor's sites."},
    {
        "name": "forms",
        "description": "Versioned case report forms: entry, changes with a reason, locking, SDV.",
    },
    {"name": "queries", "description": "Data queries: raised, answered, closed, reopened; counts per site."},
    {"name": "signatures", "description": "Electronic signatures of forms and casebooks (21 CFR 11.50)."},
    {"name": "audit", "description": "The audit trail (read only)."},
    {"name": "reports", "description": "Aggregate reports."},
    {"name": "screening", "description": "Consent, eligibility and enrollment."},
    {"name": "assessments", "description": "Tumour assessments (RECIST 1.1 / iRECIST)."},
    {"name": "workflow", "description": "Treatment, adverse events and the other workflow forms."},
    {"name": "calendar", "description": "Each subject's visit calendar."},
    {"name": "randomization", "description": "Stratified randomization after induction."},
    {"name": "ctcae", "description": "CTCAE v5.0 terms and grades."},
    {"name": "radiotherapy", "description": "Radiotherapy courses and their BED."},
]
"""The API's tags in the order the documentation lists them (else the order of the routes, which puts the
busiest first)."""


class _Wrap:
    """Adapter so that plain ASGI middleware functions can be added with ``app.add_middleware``."""

    def __init__(self, app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self._app = wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def create_app_from_environment() -> FastAPI:
    """Application factory for ``uvicorn --factory`` (several worker processes): settings from the environment."""
    from oligotrial.settings import load_settings

    return create_app(load_settings())
