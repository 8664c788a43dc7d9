"""Login, logout, password change, language choice."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from oligotrial.errors import AuthenticationError, OligotrialError, Problem
from oligotrial.services.auth import authenticate, change_password, login, logout, set_language
from oligotrial.web._i18n import LANGUAGES
from oligotrial.web._render import field_errors, render
from oligotrial.web._session import (
    LANGUAGE_COOKIE,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    CsrfFailed,
    LoginRequired,
    Session,
    check_csrf,
    csrf_for,
    new_nonce,
    page_session,
)

__all__ = ["login_redirect", "router", "safe_next"]

router = APIRouter(include_in_schema=False)
_YEAR = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """A local path to go to after a form (never another site: no scheme, no ``//``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    *,
    username: str = "",
    errors: dict[str, list[Problem]] | None = None,
    notice: str = "",
    status_code: int = 200,
    next_path: str = "/",
) -> Response:
    nonce = request.cookies.get(PRELOGIN_COOKIE) or new_nonce()
    response = render(
        request,
        "login.html",
        {
            "login_csrf": csrf_for(request, nonce),
            "typed": {"username": username},
            "errors": errors or {},
            "notice": notice,
            "next_path": safe_next(next_path),
        },
        status_code=status_code,
    )
    response.set_cookie(
        PRELOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/", expired: int = 0, done: str = "") -> Response:
    """The login form (``expired``: the session ended; ``done``: logged out or password changed)."""
    notice = {"expired": "expired", "logout": "logout", "password": "password"}.get(
        "expired" if expired else done, ""
    )
    return _login_page(request, notice=notice, next_path=next)


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Exchange user name and password for a session cookie."""
    check_csrf(request, csrf_token, request.cookies.get(PRELOGIN_COOKIE))
    if not username or not password:
        errors = {
            name: [Problem("WEB-004", name, "required")]
            for name, value in (("username", username), ("password", password))
            if not value
        }
        return _login_page(request, username=username, errors=errors, status_code=422, next_path=next)
    host = request.client.host if request.client else "unknown"
    try:
        issued = login(request.app.state.edc, username, password, f"web:{host}")
    except OligotrialError as error:
        problems = field_errors(error)
        return _login_page(request, username=username, errors=problems, status_code=401, next_path=next)
    _apply_login_page_language(request, issued.access_token, f"web:{host}")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.delete_cookie(LANGUAGE_COOKIE, path="/")
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/")
    return response


def _apply_login_page_language(request: Request, token: str, source: str) -> None:
    """A language chosen on the login page (the cookie) becomes the user's stored language at login.

    The cookie is then removed: from here on the stored choice decides, on every device of the user.
    """
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen not in LANGUAGES:
        return
    edc = request.app.state.edc
    try:
        set_language(edc, authenticate(edc, token, source), chosen)
    except AuthenticationError:  # the token just issued cannot be refused; nothing to apply if it were
        return


@router.post("/logout")
def logout_submit(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    """Revoke the session's token and forget the cookie."""
    session = page_session(request)
    check_csrf(request, csrf_token, session.token)
    logout(session.edc, session.token, session.actor)
    response = RedirectResponse("/login?done=logout", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password")
def password_form(request: Request, session: Session) -> Response:
    """The password change form."""
    return render(request, "password.html", session=session)


@router.post("/password")
def password_submit(
    request: Request,
    session: Session,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=256)] = "",
    confirm_password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Change the password (current one re-entered); every session of the user ends, so log in again."""
    check_csrf(request, csrf_token, session.token)
    errors: dict[str, list[Problem]] = {}
    for name, value in (
        ("current_password", current_password),
        ("new_password", new_password),
        ("confirm_password", confirm_password),
    ):
        if not value:
            errors[name] = [Problem("WEB-004", name, "required")]
    if not errors and new_password != confirm_password:
        errors["confirm_password"] = [Problem("WEB-006", "confirm_password", "differ")]
    if not errors:
        try:
            change_password(session.edc, session.actor, current_password, new_password)
        except OligotrialError as error:
            errors = field_errors(error)
    if errors:
        return render(request, "password.html", {"errors": errors}, session=session, status_code=422)
    response = RedirectResponse("/login?done=password", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def language_submit(
    request: Request,
    language: Annotated[str, Form(max_length=16)] = "en",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Choose the language of the pages: stored with the logged-in user (audited); before login kept in a
    cookie of this browser and stored with the user at login."""
    session_token = request.cookies.get(SESSION_COOKIE)
    try:
        check_csrf(request, csrf_token, session_token or request.cookies.get(PRELOGIN_COOKIE))
    except CsrfFailed:
        # the pre-login nonce and the session token are both accepted: the form is on every page
        check_csrf(request, csrf_token, request.cookies.get(PRELOGIN_COOKIE))
        session_token = None
    target = safe_next(next)
    response = RedirectResponse(target if target != "/login" else "/login", status_code=303)
    if language not in LANGUAGES:
        return response
    if session_token:
        try:
            session = page_session(request)
        except LoginRequired:
            session = None
        if session is not None:
            set_language(session.edc, session.actor, language)
            response.delete_cookie(LANGUAGE_COOKIE, path="/")
            return response
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=_YEAR,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    return response


def login_redirect(request: Request, expired: bool) -> Response:
    """Where a page without a valid session sends the browser."""
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/")
    response = RedirectResponse(f"/login?next={target}&expired={int(expired)}", status_code=303)
    if expired:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response
