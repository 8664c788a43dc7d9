"""The form save and read requests, answered without FastAPI's per-request machinery (issue 6 load work).

The two routes under the heaviest load (``PUT /api/v1/subjects/{code}/forms/{event_code}/{form_code}`` and
``GET /api/v1/forms/{form_id}``) stay declared in :mod:`oligotrial.api._routes`, which documents them and
answers every request this module leaves to it. This module answers the ordinary ones itself: it parses the
same input with the same schema, calls the same use case with the same arguments and sends the same answer,
without FastAPI's route matching over every route, dependency solving, content-type parsing and exception
middleware, about a third of the server's own work for a save or a read.

Anything out of the ordinary goes to the FastAPI route, with the request body replayed: a body that does not
validate (FastAPI then answers the 422 with its field paths, or the 401 of a bad token first), a missing or
unusual ``Authorization`` or ``Content-Type`` header, a form id that is not a plain positive number, a mounted
root path. So every refusal and every edge of the input is FastAPI's own answer, and the fast answers are
those FastAPI would give (``tests/api/test_hot_routes.py`` sends the same requests both ways).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oligotrial.api._routes import save_form
from oligotrial.api.deps import in_thread, scope_source, view_response
from oligotrial.api.schemas import MAX_INT32, SaveForm
from oligotrial.errors import OligotrialError
from oligotrial.services import Edc, data
from oligotrial.services.auth import BearerToken

__all__ = ["HotRoutes"]

ErrorHandler = Callable[[Any, Exception], Awaitable[Any]]

_SAVE_PATH = re.compile(r"/api/v1/subjects/([^/]+)/forms/([^/]+)/([^/]+)")
"""The save route's path, matched as Starlette matches ``{param}`` segments (any characters but ``/``)."""

_READ_PATH = re.compile(r"/api/v1/forms/([1-9][0-9]{0,9})")
"""The read route's path, with a form id of plain digits only (FastAPI's integer parsing decides the rest)."""

_BEARER = re.compile(rb"Bearer ([A-Za-z0-9._~+/=-]+)")
"""An ``Authorization`` header with a token of RFC 6750's token characters only (FastAPI's parsing, which
also strips blanks and takes the scheme in any case, decides the rest)."""


class HotRoutes:
    """ASGI middleware answering ordinary form saves and reads (see the module); ``on_error`` is the
    application's handler of :class:`~oligotrial.errors.OligotrialError` (the same error documents)."""

    def __init__(self, app: ASGIApp, edc: Edc, on_error: ErrorHandler) -> None:
        self._app, self._edc, self._on_error = app, edc, on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            if method == "PUT" and (match := _SAVE_PATH.fullmatch(path)) is not None:
                await self._save(match.groups(), scope, receive, send)
                return
            if method == "GET" and (match := _READ_PATH.fullmatch(path)) is not None:
                form_id = int(match[1])
                who = _credentials(scope, needs_json=False)
                if who is not None and form_id <= MAX_INT32:
                    await self._answer(scope, receive, send, data.get_form, who, form_id)
                    return
        await self._app(scope, receive, send)

    async def _save(self, path: tuple[str, ...], scope: Scope, receive: Receive, send: Send) -> None:
        who = _credentials(scope, needs_json=True)
        if who is None:
            await self._app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client has gone: nobody to answer
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            form = SaveForm.model_validate(json.loads(body))
        # not JSON (JSONDecodeError is a ValueError), or not a valid form
        except (ValueError, ValidationError):
            await self._app(scope, _replay(body, receive), send)
            return
        await self._answer(scope, receive, send, save_form, who, *path, form)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, use_case: Callable[..., Any], *args: Any
    ) -> None:
        """Run the use case (on this application's context, then ``args``) in the thread pool; its view, or
        its error as the application answers errors."""
        try:
            response = view_response(await in_thread(use_case, self._edc, *args))
        except OligotrialError as exc:
            response = await self._on_error(None, exc)
        await response(scope, receive, send)


def _credentials(scope: Scope, *, needs_json: bool) -> BearerToken | None:
    """The request's bearer token and origin, or ``None`` when its headers are anything but the ordinary:
    one ``Authorization: Bearer <token>`` and (``needs_json``) one ``Content-Type: application/json``."""
    authorization: bytes | None = None
    content_type: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is not None:
                return None
            authorization = value
        elif name == b"content-type":
            if content_type is not None:
                return None
            content_type = value
    if authorization is None or (needs_json and content_type != b"application/json"):
        return None
    bearer = _BEARER.fullmatch(authorization)
    if bearer is None:
        return None
    return BearerToken(bearer[1].decode("ascii"), scope_source(scope))


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the FastAPI route after this module has read the body: the body first, then the
    connection's own messages (a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
