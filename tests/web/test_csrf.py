"""CSRF, session fixation and cookie flags of the cookie-authenticated pages (issue 12 item 5), against the
real server (uvicorn on loopback, ``live_server`` of tests/web/conftest.py) with a plain HTTP client.

- Every POST page of the application, enumerated from its routes (a new page cannot be forgotten), refuses
  a missing, a wrong, another session's and a login-page CSRF token with the 403 CSRF page and writes
  nothing; the same request with the session's own token is not refused for CSRF.
- A POST with the right token from another origin is refused.
- Session fixation: a session cookie planted before login (any value, or the attacker's own session) is
  replaced at login by a new random token; the planted one never becomes the victim's session.
- Cookie flags: the session and pre-login cookies are ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, and
  ``Secure`` when the server is reached over HTTPS (here: a TLS proxy on loopback sending
  ``X-Forwarded-Proto: https``, which uvicorn trusts from 127.0.0.1).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from edc_fixtures import PASSWORD
from oligotrial.services import data, queries
from oligotrial.store.tables import AuditEntry

INV, CRC = "investigator.cn01", "researchcoordinator.cn01"
CSRF_PAGE = "without a valid security token"
SESSION, PRELOGIN = "oligotrial_session", "oligotrial_prelogin"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _login(base: str, username: str = INV, **client_options: Any) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30, **client_options)
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _csrf(page.text), "next": "/"},
    )
    assert r.status_code == 303, r.text[:300]
    return client


def _post_routes(app) -> list[str]:
    """The paths of every POST page (routes outside /api), walking included routers."""
    found: list[str] = []

    def walk(routes):
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                walk(original.routes)
            elif (
                isinstance(route, APIRoute) and "POST" in route.methods and not route.path.startswith("/api")
            ):
                found.append(route.path)

    walk(app.routes)
    return sorted(set(found))


def _audit_rows(world) -> int:
    with world.edc.engine.connect() as db:
        return int(db.scalar(select(func.count()).select_from(AuditEntry)))


@pytest.fixture
def site(live_server):
    """A subject of CN01 with a form and an open query, and the values of the pages' path parameters."""
    world = live_server.world
    inv, mon = world.actor(INV), world.actor("monitor.cn01")
    subject = data.create_subject(world.edc, inv, "CN01")
    form = data.save_form(world.edc, inv, subject.code, "SCREENING", "DM", {"AGE": 64})
    query = queries.raise_query(world.edc, mon, form.id, "AGE", "check")
    return {"code": subject.code, "form_id": str(form.id), "query_id": str(query.id), "kind": "eligibility"}


def _app(live_server):
    from oligotrial.api import create_app

    world = live_server.world
    return create_app(world.edc.settings, world.edc)


def test_every_post_page_refuses_missing_wrong_and_foreign_csrf_tokens(live_server, site):
    world = live_server.world
    paths = _post_routes(_app(live_server))
    assert {"/login", "/logout", "/subjects", "/password", "/language"} <= set(paths), paths
    victim = _login(live_server.url)
    own_token = _csrf(victim.get("/").text)
    other_session = _csrf(_login(live_server.url, CRC).get("/").text)
    with httpx.Client(base_url=live_server.url) as stranger:
        login_page_token = _csrf(stranger.get("/login").text)
    forged = {
        "missing": None,
        "wrong": "0" * 64,
        "another session's": other_session,
        "a login page's": login_page_token,
        "the session token itself": victim.cookies.get(SESSION),
    }
    failures = []
    for template in paths:
        path = re.sub(r"\{(\w+)\}", lambda m: site.get(m.group(1), "1"), template)
        in_header = path.endswith("/preview")
        for what, token in forged.items():
            if template == "/language" and what == "a login page's":
                continue  # the language form on the login page: its pre-login token is accepted by design
            before = _audit_rows(world)
            fields = {"site": "CN01", "language": "zh_Hans", "username": INV, "password": PASSWORD}
            headers = {}
            if token is not None and in_header:
                headers["x-csrf-token"] = token
            elif token is not None:
                fields["csrf_token"] = token
            r = victim.post(path, data=fields, headers=headers)
            if r.status_code != 403 or CSRF_PAGE not in r.text or _audit_rows(world) != before:
                failures.append(f"POST {path} with {what} token: {r.status_code} {r.text[:200]}")
    assert failures == [], "\n".join(failures)
    # the session still works, and its own token is accepted (the refusals above were for CSRF only)
    created = victim.post("/subjects", data={"site": "CN01", "csrf_token": own_token})
    assert created.status_code == 303, created.text[:300]
    assert victim.post("/logout", data={"csrf_token": own_token}).status_code == 303


def test_right_token_from_another_origin_is_refused(live_server):
    world = live_server.world
    client = _login(live_server.url)
    token = _csrf(client.get("/").text)
    before = _audit_rows(world)
    for origin in ("https://evil.example", "http://127.0.0.1:1", "http://localhost"):
        r = client.post("/subjects", data={"site": "CN01", "csrf_token": token}, headers={"origin": origin})
        assert r.status_code == 403 and CSRF_PAGE in r.text, origin
    assert _audit_rows(world) == before
    same = client.post(
        "/subjects", data={"site": "CN01", "csrf_token": token}, headers={"origin": live_server.url}
    )
    assert same.status_code == 303


def test_login_form_needs_its_token(live_server):
    world = live_server.world
    before = _audit_rows(world)
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as client:
        page_token = _csrf(client.get("/login").text)
        for token in (None, "0" * 64, page_token[:-1]):
            form = {"username": INV, "password": PASSWORD} | ({"csrf_token": token} if token else {})
            r = client.post("/login", data=form)
            assert r.status_code == 403 and SESSION not in r.headers.get("set-cookie", "")
        with httpx.Client(base_url=live_server.url) as attacker:  # a token bound to another browser's nonce
            foreign = _csrf(attacker.get("/login").text)
        r = client.post("/login", data={"username": INV, "password": PASSWORD, "csrf_token": foreign})
        assert r.status_code == 403
    assert _audit_rows(world) == before  # not even a login attempt was recorded


@pytest.mark.parametrize("planted", ["fixated-by-the-attacker", "attacker's session"])
def test_login_replaces_a_planted_session_cookie(live_server, planted):
    attacker_session = _login(live_server.url, CRC).cookies.get(SESSION)
    value = attacker_session if planted == "attacker's session" else planted
    victim = httpx.Client(base_url=live_server.url, follow_redirects=False)
    victim.cookies.set(SESSION, value, domain="127.0.0.1", path="/")
    page = victim.get("/login")
    r = victim.post(
        "/login", data={"username": INV, "password": PASSWORD, "csrf_token": _csrf(page.text), "next": "/"}
    )
    assert r.status_code == 303
    issued = re.search(rf"{SESSION}=([^;]+)", r.headers["set-cookie"])
    assert issued and issued.group(1) not in {value, f'"{value}"'}
    assert len(issued.group(1)) >= 43  # 256 random bits, url-safe base64
    me = httpx.get(
        live_server.url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {issued.group(1)}"}
    )
    assert me.json()["username"] == INV
    planted_me = httpx.get(live_server.url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {value}"})
    if planted == "attacker's session":
        assert planted_me.json()["username"] == CRC  # still the attacker's own, never the victim's
    else:
        assert planted_me.status_code == 401


def _cookie(headers: httpx.Headers, name: str) -> str:
    found = [c for c in headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, headers.get_list("set-cookie")
    return found[0]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_cookie_flags(live_server, scheme):
    proxy = {"x-forwarded-proto": "https"} if scheme == "https" else {}
    with httpx.Client(base_url=live_server.url, follow_redirects=False, headers=proxy) as client:
        page = client.get("/login")
        prelogin = _cookie(page.headers, PRELOGIN)
        r = client.post(
            "/login",
            data={"username": INV, "password": PASSWORD, "csrf_token": _csrf(page.text), "next": "/"},
            cookies={PRELOGIN: page.cookies[PRELOGIN]},
        )
        session = _cookie(r.headers, SESSION)
    ttl = live_server.world.edc.settings.token_ttl_minutes * 60
    for cookie in (prelogin, session):
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
        assert "httponly" in attributes, cookie
        assert attributes["samesite"].lower() == "samesite=strict", cookie
        assert attributes["path"] == "Path=/", cookie
        assert ("secure" in attributes) is (scheme == "https"), cookie
    assert f"Max-Age={ttl}" in session
