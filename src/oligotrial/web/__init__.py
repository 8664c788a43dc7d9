"""Server-rendered pages for sites, monitors, data managers, statisticians and the DSMB (issue 8).

The pages are served by the API's FastAPI application under ``/`` (the JSON API stays under ``/api``); they
call the use cases of :mod:`oligotrial.services` only. :func:`mount_web` adds them to an application.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from oligotrial.web._session import CsrfFailed, LoginRequired

__all__ = ["WEB_CSP", "mount_web"]

STATIC = Path(__file__).parent / "static"
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of the pages: own scripts, styles and images only, no inline code."""


async def _on_login_required(request: Request, exc: Exception) -> Response:
    from oligotrial.web._auth_pages import login_redirect

    assert isinstance(exc, LoginRequired)
    return login_redirect(request, exc.expired)


async def _on_csrf_failed(request: Request, exc: Exception) -> Response:
    from oligotrial.web._render import render

    assert isinstance(exc, CsrfFailed)
    response: HTMLResponse = render(request, "error.html", {"kind": "csrf"}, status_code=403)
    return response


def mount_web(app: FastAPI) -> None:
    """Add the pages, their static files and their error handling to ``app``."""
    from oligotrial.web._auth_pages import router as auth_router
    from oligotrial.web._forms import router as forms_router
    from oligotrial.web._pages import router as pages_router
    from oligotrial.web._reports import router as reports_router

    for router in (auth_router, pages_router, forms_router, reports_router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(CsrfFailed, _on_csrf_failed)
