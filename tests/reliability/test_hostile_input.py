"""Hostile input the fuzzer rarely generates, on SQLite and PostgreSQL: NUL characters in every kind of
parameter (PostgreSQL text cannot hold them), NaN and infinities (not JSON, but Python's parser accepts them),
integers beyond 32 and 64 bits, deep nesting, an oversized body. No answer is a 5xx (a search may find
nothing: 200), every error is the documented error document, and nothing reaches the audit trail."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from edc_fixtures import ADMIN
from oligotrial.api import create_app
from oligotrial.services.audit_trail import verify_audit

JSON = {"content-type": "application/json"}
NESTED = "[" * 5000 + "]" * 5000


def _cases(code: str) -> list[tuple[str, str, dict, str]]:
    """(method, url, request options, user) triples; ``code`` is a subject at the user's site."""
    inv, adm = "investigator.cn01", ADMIN
    return [
        ("POST", "/api/v1/subjects", {"json": {"site": "C\x00N"}}, inv),
        ("GET", "/api/v1/subjects/A%00B", {}, inv),
        ("GET", "/api/v1/subjects?site=A%00B&status=%00", {}, inv),
        ("GET", "/api/v1/queries?state=open&subject=%00&site=%00", {}, inv),
        ("GET", "/api/v1/audit?table=%00&record_id=%00", {}, adm),
        ("GET", "/api/v1/ctcae/terms?q=%00&soc=%00", {}, inv),
        ("GET", "/api/v1/ctcae/terms/%00", {}, inv),
        ("GET", "/api/v1/users/%00", {}, adm),
        ("POST", "/api/v1/sites", {"json": {"code": "X\x00Y", "name": "n\x00"}}, adm),
        ("POST", "/api/v1/auth/token", {"data": {"username": "a\x00b", "password": "x"}}, ""),
        ("PUT", f"/api/v1/subjects/{code}/forms/SCR%00/DM", {"json": {"values": {"AGE": 4}}}, inv),
        ("PUT", f"/api/v1/subjects/{code}/forms/SCREENING/DM", {"json": {"values": {"A\x00GE": 4}}}, inv),
        (
            "POST",
            f"/api/v1/subjects/{code}/status",
            {"json": {"status": "x\x00", "base_version": 1, "reason": "r"}},
            inv,
        ),
        ("POST", f"/api/v1/subjects/{code}/randomization", {"json": {"request_id": "\x00"}}, inv),
        ("POST", f"/api/v1/subjects/{code}/deviations", {"json": {"values": {"category": "\x00"}}}, inv),
        ("PUT", f"/api/v1/subjects/{code}/forms/SCREENING/VS", {"content": b'{"values": {"AGE": NaN}}'}, inv),
        (
            "PUT",
            f"/api/v1/subjects/{code}/forms/SCREENING/VS",
            {"content": b'{"values": {"AGE": 1e999}}'},
            inv,
        ),
        ("PUT", f"/api/v1/subjects/{code}/eligibility", {"content": b'{"values": {"age": NaN}}'}, inv),
        (
            "POST",
            f"/api/v1/subjects/{code}/adverse-events",
            {"content": b'{"values": {"grade": Infinity}}'},
            inv,
        ),
        (
            "POST",
            f"/api/v1/subjects/{code}/randomization",
            {"content": b'{"metastatic_organ_count": NaN}'},
            inv,
        ),
        (
            "POST",
            f"/api/v1/subjects/{code}/status",
            {"json": {"status": "enrolled", "base_version": 2**70, "reason": "r"}},
            inv,
        ),
        ("POST", "/api/v1/forms/99999999999999999999/verify", {"json": {"version": 1}}, "monitor.cn01"),
        ("GET", "/api/v1/forms/2147483648", {}, inv),
        ("GET", "/api/v1/subjects?offset=99999999999999999999", {}, inv),
        (
            "POST",
            f"/api/v1/subjects/{code}/signatures",
            {"json": {"password": "x", "meaning": "approval", "form_id": 2**40}},
            inv,
        ),
        (
            "POST",
            f"/api/v1/subjects/{code}/deviations",
            {"content": ('{"values": ' + NESTED + "}").encode()},
            inv,
        ),
        (
            "PUT",
            f"/api/v1/subjects/{code}/eligibility",
            {"content": ('{"values": {"a": ' + NESTED + "}}").encode()},
            inv,
        ),
        (
            "PUT",
            f"/api/v1/subjects/{code}/forms/SCREENING/DM",
            {"content": b"{" + b" " * 2_000_000 + b"}"},
            inv,
        ),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_hostile_input_is_refused_without_a_server_error(world):
    app = create_app(world.edc.settings, world.edc)
    failures = []
    with TestClient(app, raise_server_exceptions=False) as client:
        token = world.tokens["investigator.cn01"]
        code = client.post(
            "/api/v1/subjects", json={"site": "CN01"}, headers={"Authorization": f"Bearer {token}"}
        ).json()["code"]
        before = verify_audit(world.edc).entries
        for method, url, options, user in _cases(code):
            headers = {"Authorization": f"Bearer {world.tokens[user]}"} if user else {}
            if "content" in options:
                headers |= JSON
            response = client.request(method, url, headers=headers, **options)
            is_error_document = response.status_code < 400 or set(response.json()) == {"error"}
            if response.status_code >= 500 or not is_error_document:
                failures.append(f"{method} {url[:80]}: {response.status_code} {response.text[:300]}")
        assert verify_audit(world.edc).entries == before
    assert failures == [], "\n".join(failures)
