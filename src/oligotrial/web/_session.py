"""Cookie sessions on the database tokens, CSRF tokens keyed with the server secret, the page's actor.

Notes
-----
A session is a bearer token of :mod:`oligotrial.services.auth` (stored hashed, with an absolute expiry, in
the database) carried in an ``HttpOnly``, ``SameSite=Strict`` cookie; the server keeps nothing in memory, so
any number of processes serve the same sessions. The CSRF token of a session is
``HMAC-SHA256(secret_key, "csrf:" + SHA-256(session token))``: every POST must carry it in the ``csrf_token``
field (the login form uses a pre-session nonce cookie keyed the same way). A POST whose ``Origin`` header
names another host is refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from oligotrial.errors import AuthenticationError
from oligotrial.services import Actor, Edc
from oligotrial.services.auth import authenticate, hash_token

__all__ = [
    "LANGUAGE_COOKIE",
    "PRELOGIN_COOKIE",
    "SESSION_COOKIE",
    "CsrfFailed",
    "LoginRequired",
    "WebSession",
    "check_csrf",
    "csrf_for",
    "page_session",
]

SESSION_COOKIE = "oligotrial_session"
PRELOGIN_COOKIE = "oligotrial_prelogin"
LANGUAGE_COOKIE = "oligotrial_lang"


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form (``expired`` when a cookie was sent)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("login required")
        self.expired = expired


class CsrfFailed(Exception):
    """A POST without a valid CSRF token or from another origin."""


def _secret(request: Request) -> bytes:
    return str(request.app.state.settings.secret_key).encode("utf-8")


def csrf_for(request: Request, secret_material: str) -> str:
    """The CSRF token bound to ``secret_material`` (a session token, or a pre-login nonce)."""
    digest = hash_token(secret_material)
    return hmac.new(_secret(request), f"csrf:{digest}".encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A pre-login nonce for the login form's CSRF token."""
    return secrets.token_urlsafe(24)


def check_csrf(request: Request, submitted: str | None, secret_material: str | None) -> None:
    """Raise :class:`CsrfFailed` unless ``submitted`` is the token of ``secret_material`` and the request
    comes from this origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin.rstrip("/") != expected:
            raise CsrfFailed
    if not submitted or not secret_material:
        raise CsrfFailed
    if not hmac.compare_digest(submitted, csrf_for(request, secret_material)):
        raise CsrfFailed


@dataclass(frozen=True)
class WebSession:
    """The page's user, the service context and the session's CSRF token."""

    edc: Edc
    actor: Actor
    token: str
    csrf: str


def _source(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return f"web:{host}"


def page_session(request: Request) -> WebSession:
    """The logged-in session of the request; :class:`LoginRequired` when absent, expired or revoked."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(expired=False)
    edc: Edc = request.app.state.edc
    try:
        actor = authenticate(edc, token, _source(request))
    except AuthenticationError:
        raise LoginRequired(expired=True) from None
    return WebSession(edc, actor, token, csrf_for(request, token))


Session = Annotated[WebSession, Depends(page_session)]
