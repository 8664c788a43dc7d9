"""Cookie sessions on the database tokens, CSRF tokens keyed with the server secret, the page's actor.

Notes
-----
A session is a bearer token of :mod:`oligotrial.services.auth` (stored hashed, with an absolute expiry, in
the database) carried in an ``HttpOnly``, ``SameSite=Strict`` cookie; the server keeps nothing in memory, so
any number of processes serve the same sessions. The CSRF token of a session is
``HMAC-SHA256(secret_key, "csrf:" + SHA-256(session token))``: every POST must carry it in the ``csrf_token``
field (the login form uses a pre-session nonce cookie keyed the same way). A POST whose ``Origin`` header
names another host is refused as well.

The language of a logged-in user's pages is their stored choice (``users.language``), read with the session
(:func:`page_session`); the language cookie only carries a choice made on the login page, before a session
exists, and is applied to the user at login. Timestamps are shown in the time zone of the page's site: the
subject's or form's site on their pages; elsewhere the zone shared by all the user's sites, and ``UTC`` for
study-wide users or users whose sites lie in different zones (:func:`user_time_zone`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from oligotrial.errors import AuthenticationError
from oligotrial.services import Actor, Edc
from oligotrial.services.auth import authenticate, get_preferences, hash_token

__all__ = [
    "LANGUAGE_COOKIE",
    "PRELOGIN_COOKIE",
    "SESSION_COOKIE",
    "STUDY_WIDE_TIME_ZONE",
    "CsrfFailed",
    "LoginRequired",
    "WebSession",
    "check_csrf",
    "csrf_for",
    "page_session",
    "user_time_zone",
]

STUDY_WIDE_TIME_ZONE = "UTC"
"""Zone of the pages of study-wide users outside a subject's or form's page (their sites span zones)."""

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
    """The page's user, the service context, the session's CSRF token, the user's language, the time zone of
    each of their sites (site code -> IANA name) and the zone of their pages outside a site's record."""

    edc: Edc
    actor: Actor
    token: str
    csrf: str
    language: str = "en"
    site_time_zones: Mapping[str, str] = field(default_factory=dict)
    time_zone: str = STUDY_WIDE_TIME_ZONE

    def zone_of_site(self, site_code: str | None) -> str:
        """The zone a record of ``site_code`` is shown in (the user's zone when the site is unknown)."""
        if site_code is None:
            return self.time_zone
        return self.site_time_zones.get(site_code, self.time_zone)


def user_time_zone(actor: Actor, site_time_zones: Mapping[str, str]) -> str:
    """The zone of a user's pages outside a subject's or form's page.

    Notes
    -----
    Issue 8, item 8: dates are shown in the site's time zone. A user of one site (or of several sites in one
    zone) sees that zone; a study-wide user, or one whose sites lie in different zones, sees UTC, the zone the
    timestamps are stored in. Every timestamp carries its UTC offset (ISO 8601), so none is ambiguous.
    """
    if any(site_id is None for _, site_id in actor.assignments):
        return STUDY_WIDE_TIME_ZONE
    zones = set(site_time_zones.values())
    return zones.pop() if len(zones) == 1 else STUDY_WIDE_TIME_ZONE


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
    preferences = get_preferences(edc, actor)
    zone = user_time_zone(actor, preferences.site_time_zones)
    # read by language_of() and site_time_zone() of the page being built
    request.state.language = preferences.language
    request.state.time_zone = zone
    return WebSession(
        edc,
        actor,
        token,
        csrf_for(request, token),
        language=preferences.language,
        site_time_zones=preferences.site_time_zones,
        time_zone=zone,
    )


Session = Annotated[WebSession, Depends(page_session)]
