"""Bearer-token attacks on the API (issue 12 item 5), on SQLite and PostgreSQL: expired tokens (the clock
moved past ``token_ttl_minutes``), forged tokens (random, truncated, one character flipped, extended, another
installation's, the stored hash itself), and tokens that outlived their right: after logout, after a password
change, after deactivation, during a lockout. Each is refused with the same 401 ``AUTH-002`` answer and writes
nothing; a token never acts for anyone but its own user.

Notes
-----
Tokens are opaque 256-bit random strings; the database keeps their SHA-256 with an absolute expiry and a
revocation flag (services/auth.py), so "forging" means guessing or altering one. Expiry is tested by moving
the clock the authentication code reads (``oligotrial.services.auth.datetime``), not by waiting.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edc_fixtures import ADMIN, ADMIN_PASSWORD, PASSWORD, edc_settings
from oligotrial.api import create_app
from oligotrial.protocol import load_protocol
from oligotrial.services import Role, auth, init_database, open_edc
from oligotrial.services import admin as admin_services
from oligotrial.services.auth import hash_token, login
from oligotrial.store.tables import AuditEntry, Token, User

INV = "investigator.cn01"
NEW_PASSWORD = "a different long pass phrase"


class _Clock(datetime):
    """``datetime`` whose ``now`` runs ``offset`` ahead of the real clock."""

    offset = timedelta(0)

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return datetime.now(tz) + cls.offset


@pytest.fixture
def clock(monkeypatch):
    _Clock.offset = timedelta(0)
    monkeypatch.setattr(auth, "datetime", _Clock)
    yield _Clock
    _Clock.offset = timedelta(0)


@pytest.fixture
def client(world):
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as c:
        yield c


def _user(world, name: str, site: str = "CN01") -> str:
    """A fresh investigator (these tests revoke, disable and lock accounts)."""
    admin_services.create_user(
        world.edc, world.actor(ADMIN), name, PASSWORD, f"Attack {name}", roles=[(Role.INVESTIGATOR, site)]
    )
    return login(world.edc, name, PASSWORD, "test").access_token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit_rows(world) -> int:
    with world.edc.engine.connect() as db:
        return int(db.scalar(select(func.count()).select_from(AuditEntry)))


def _assert_refused(response, *, is_token_sent: bool = True) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    problems = response.json()["error"]["problems"]
    assert [(p["code"], p["field"]) for p in problems] == [("AUTH-002", "Authorization")], problems
    if is_token_sent:  # without a bearer token the message says how to send one
        assert problems[0]["message"] == "the token is missing, expired or revoked; log in again"


PROBES = [
    ("GET", "/api/v1/auth/me", None),
    ("GET", "/api/v1/subjects", None),
    ("POST", "/api/v1/subjects", {"site": "CN01"}),
]


def _probe_all_refused(client, world, token: str) -> None:
    before = _audit_rows(world)
    for method, path, body in PROBES:
        _assert_refused(client.request(method, path, json=body, headers=_bearer(token)))
    assert _audit_rows(world) == before


def test_token_expires_at_its_lifetime(client, world, clock):
    token = _user(world, "expiring")
    ttl = world.edc.settings.token_ttl_minutes
    clock.offset = timedelta(minutes=ttl) - timedelta(seconds=30)
    assert client.get("/api/v1/auth/me", headers=_bearer(token)).json()["username"] == "expiring"
    clock.offset = timedelta(minutes=ttl) + timedelta(seconds=1)
    _probe_all_refused(client, world, token)
    clock.offset = timedelta(days=365)
    _probe_all_refused(client, world, token)


def test_a_short_configured_lifetime_is_the_expiry(world, clock):
    """``token_ttl_minutes`` (OLIGOTRIAL_TOKEN_TTL_MINUTES) sets the expiry a token is issued with."""
    edc = open_edc(
        edc_settings(world.edc.engine.url.render_as_string(hide_password=False), token_ttl_minutes=1)
    )
    try:
        admin_services.create_user(
            edc, world.actor(ADMIN), "brief", PASSWORD, "Brief", roles=[(Role.INVESTIGATOR, "CN01")]
        )
        issued = login(edc, "brief", PASSWORD, "test")
        assert issued.expires_in == 60
        with TestClient(create_app(edc.settings, edc), raise_server_exceptions=False) as short:
            assert short.get("/api/v1/auth/me", headers=_bearer(issued.access_token)).status_code == 200
            clock.offset = timedelta(seconds=61)
            _assert_refused(short.get("/api/v1/auth/me", headers=_bearer(issued.access_token)))
    finally:
        edc.engine.dispose()


def test_forged_tokens_are_refused_alike(client, world, tmp_path):
    token = _user(world, "victim")
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    elsewhere_url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    init_database(edc_settings(elsewhere_url), load_protocol(), ADMIN, ADMIN_PASSWORD, source="test")
    elsewhere = open_edc(edc_settings(elsewhere_url))
    try:
        other_installation = login(elsewhere, ADMIN, ADMIN_PASSWORD, "test").access_token
    finally:
        elsewhere.engine.dispose()
    with world.edc.engine.connect() as db:
        stored_hash = db.scalar(select(Token.token_hash).where(Token.token_hash == hash_token(token)))
    forged = {
        "random": secrets.token_urlsafe(32),
        "truncated by one": token[:-1],
        "truncated to half": token[: len(token) // 2],
        "one character flipped": flipped,
        "extended": token + "A",
        "upper-cased": token.upper() if token.upper() != token else token.lower(),
        "another installation's": other_installation,
        "the stored hash": stored_hash,
        "non-ASCII": "ключ" + token[4:],
        "very long": "A" * 4000,
    }
    assert client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 200
    for what, value in forged.items():
        assert value != token, what
        before = _audit_rows(world)
        r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {value}".encode()})
        _assert_refused(r)
        assert _audit_rows(world) == before, what
    for header in (f"Basic {token}", f"Token {token}", token, "Bearer", "Bearer "):
        _assert_refused(client.get("/api/v1/auth/me", headers={"Authorization": header}), is_token_sent=False)


def test_logged_out_token_is_dead_and_other_tokens_live(client, world):
    first = _user(world, "leaver")
    second = login(world.edc, "leaver", PASSWORD, "test").access_token
    bystander = world.tokens[INV]
    assert client.post("/api/v1/auth/logout", headers=_bearer(first)).status_code == 204
    _probe_all_refused(client, world, first)
    _assert_refused(client.post("/api/v1/auth/logout", headers=_bearer(first)))  # no second logout
    assert client.get("/api/v1/auth/me", headers=_bearer(second)).json()["username"] == "leaver"
    assert client.get("/api/v1/auth/me", headers=_bearer(bystander)).json()["username"] == INV


def test_password_change_revokes_every_token_of_the_user(client, world):
    token = _user(world, "changer")
    other_session = login(world.edc, "changer", PASSWORD, "test").access_token
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password", json=body, headers=_bearer(token)).status_code == 204
    _probe_all_refused(client, world, token)
    _probe_all_refused(client, world, other_session)
    fresh = client.post("/api/v1/auth/token", data={"username": "changer", "password": NEW_PASSWORD})
    assert fresh.status_code == 200
    old = client.post("/api/v1/auth/token", data={"username": "changer", "password": PASSWORD})
    assert old.status_code == 401 and old.json()["error"]["problems"][0]["code"] == "AUTH-001"


def test_deactivated_account_tokens_are_refused(client, world):
    token = _user(world, "departed")
    disable = client.post(
        "/api/v1/users/departed/disable",
        json={"reason": "left the site"},
        headers=_bearer(world.tokens[ADMIN]),
    )
    assert disable.status_code == 200 and disable.json()["is_active"] is False
    _probe_all_refused(client, world, token)
    again = client.post("/api/v1/auth/token", data={"username": "departed", "password": PASSWORD})
    assert again.status_code == 401 and again.json()["error"]["problems"][0]["code"] == "AUTH-001"


def test_a_token_on_a_disabled_account_stays_refused_even_if_not_revoked(client, world):
    """Disabling an account behind the application's back (no revocation) still makes its tokens useless:
    authentication checks the account on every request."""
    token = _user(world, "sleeper")
    with world.edc.engine.begin() as db:
        db.execute(User.__table__.update().where(User.username == "sleeper").values(is_active=False))
    with world.edc.engine.connect() as db:
        assert db.scalar(select(Token.revoked).where(Token.token_hash == hash_token(token))) is False
    _probe_all_refused(client, world, token)


def test_locked_account_tokens_are_refused_until_the_lock_ends(client, world, clock):
    token = _user(world, "locked")
    for _ in range(world.edc.settings.lockout_threshold):
        wrong = client.post("/api/v1/auth/token", data={"username": "locked", "password": "wrong " * 3})
        assert wrong.status_code == 401
    _probe_all_refused(client, world, token)
    clock.offset = timedelta(minutes=world.edc.settings.lockout_minutes, seconds=1)
    assert client.get("/api/v1/auth/me", headers=_bearer(token)).json()["username"] == "locked"


def test_a_token_acts_only_for_its_own_user(client, world):
    mine, theirs = _user(world, "alice"), _user(world, "bob.cn02", site="CN02")
    assert client.get("/api/v1/auth/me", headers=_bearer(mine)).json()["username"] == "alice"
    for path in ("/api/v1/users/bob.cn02", "/api/v1/users/alice/disable"):
        r = client.request(
            "GET" if "disable" not in path else "POST", path, json={"reason": "x"}, headers=_bearer(mine)
        )
        assert r.status_code in (403, 404), (path, r.text)
        assert "bob" not in r.text
    subject = client.post("/api/v1/subjects", json={"site": "CN02"}, headers=_bearer(mine))
    assert subject.status_code in (403, 404)
    assert client.post("/api/v1/auth/logout", headers=_bearer(mine)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=_bearer(theirs)).json()["username"] == "bob.cn02"
    with world.edc.engine.connect() as db:
        bob_logins = db.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "login", AuditEntry.record_id == "bob.cn02")
        )
    assert bob_logins == 1  # alice's requests and logout were never recorded as bob's
