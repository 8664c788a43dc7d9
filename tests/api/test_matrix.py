"""Role x endpoint x site: every targeted endpoint, every role, a record of the user's own site and one of
another site. Allowed calls succeed; every denial is a 403 or 404 identical (codes, fields, messages) to the
answer for a record that does not exist, and writes nothing. Lists and counts show only the user's sites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient

from edc_fixtures import ADMIN, PASSWORD
from oligotrial.api import create_app
from oligotrial.services import data, queries
from oligotrial.services.audit_trail import verify_audit
from workflow_data import assessment, eligible

INV, CRC, MON, DM = "investigator.cn01", "researchcoordinator.cn01", "monitor.cn01", "datamanager.cn01"
STAT, DSMB = "statistician", "dsmbmember"
USERS = [INV, CRC, MON, DM, STAT, DSMB, ADMIN]
READ = {INV, CRC, MON, DM, STAT}
ENTER = {INV, CRC}
STUDY_WIDE = {STAT, DSMB, ADMIN}


@dataclass(frozen=True)
class Number:
    """A body value that is the id of a record (``_records``' key) as a JSON number."""

    key: str


# name: (method, path, body, roles allowed)
ENDPOINTS = {
    "get_subject": ("GET", "/subjects/{subject}", None, READ),
    "create_subject": ("POST", "/subjects", {"site": "{site}"}, ENTER),
    "subject_status": (
        "POST",
        "/subjects/{subject}/status",
        {"status": "enrolled", "base_version": 1, "reason": "ok"},
        ENTER,
    ),
    "list_forms": ("GET", "/subjects/{subject}/forms", None, READ),
    "save_form": (
        "PUT",
        "/subjects/{subject}/forms/SCREENING/DM",
        {"values": {"AGE": 65}, "base_version": 1, "reason": "fix"},
        ENTER,
    ),
    "get_form": ("GET", "/forms/{form}", None, READ),
    "form_history": ("GET", "/forms/{form}/history", None, READ),
    "lock": ("POST", "/forms/{form}/lock", None, {DM}),
    "unlock": ("POST", "/forms/{form}/unlock", {"reason": "correction"}, {DM}),
    "lock_casebook": ("POST", "/subjects/{settled}/lock", None, {DM}),
    "unlock_casebook": ("POST", "/subjects/{settled}/unlock", {"reason": "correction"}, {DM}),
    "verify": ("POST", "/forms/{form}/verify", {"version": 1}, {MON}),
    "verify_forms": ("POST", "/verification", {"forms": [{"form_id": Number("form"), "version": 1}]}, {MON}),
    "raise_query": ("POST", "/forms/{form}/queries", {"item": "AGE", "text": "check"}, {MON, DM}),
    "get_query": ("GET", "/queries/{query}", None, READ),
    "answer": ("POST", "/queries/{query}/answer", {"text": "confirmed"}, ENTER),
    "close": ("POST", "/queries/{query}/close", {"text": "ok"}, {MON, DM}),
    "reopen": ("POST", "/queries/{answered}/reopen", {"text": "again"}, {MON, DM}),
    "sign": ("POST", "/subjects/{subject}/signatures", {"password": PASSWORD, "meaning": "approval"}, {INV}),
    "signatures": ("GET", "/subjects/{subject}/signatures", None, READ),
    "eligibility": ("PUT", "/subjects/{subject}/eligibility", {"values": eligible(date(2024, 1, 2))}, ENTER),
    "tumour_assessment": (
        "POST",
        "/subjects/{subject}/tumour-assessments",
        {"values": assessment(date(2024, 1, 3), 30, 20)},
        ENTER,
    ),
    "tumour_assessments": ("GET", "/subjects/{subject}/tumour-assessments", None, READ),
    "screen_failure": (
        "POST",
        "/subjects/{subject}/screen-failure",
        {"date": "2024-01-04", "reason": "x"},
        ENTER,
    ),
    "deviation": (
        "POST",
        "/subjects/{subject}/deviations",
        {"values": {"date": "2024-01-04", "category": "consent", "description": "late consent"}},
        ENTER,
    ),
    "deviations": ("GET", "/subjects/{subject}/deviations", None, READ),
    "calendar": ("GET", "/subjects/{subject}/calendar?as_of=2024-03-01", None, READ),
}
MISSING = {
    "subject": "CN02-9999",
    "settled": "CN02-9998",
    "form": "999999",
    "query": "999999",
    "answered": "999998",
    "site": "ZZ99",
}


def _records(world, site: str) -> dict[str, str]:
    edc, inv, mon = (
        world.edc,
        world.actor(f"investigator.{site.lower()}"),
        world.actor(f"monitor.{site.lower()}"),
    )
    subject = data.create_subject(edc, inv, site)
    form = data.save_form(edc, inv, subject.code, "SCREENING", "DM", {"AGE": 64})
    query = queries.raise_query(edc, mon, form.id, "AGE", "check")
    answered = queries.raise_query(edc, mon, form.id, "SEX", "missing")
    queries.answer_query(edc, inv, answered.id, "male")
    settled = data.create_subject(edc, inv, site)  # a form and no query: its casebook may be locked
    data.save_form(edc, inv, settled.code, "SCREENING", "DM", {"AGE": 70})
    return {
        "subject": subject.code,
        "settled": settled.code,
        "form": str(form.id),
        "query": str(query.id),
        "answered": str(answered.id),
        "site": site,
    }


def _fill(template, values):
    if isinstance(template, Number):
        return int(values[template.key])
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _essence(response):
    problems = response.json()["error"]["problems"]
    return response.status_code, [(p["code"], p["field"], p["message"]) for p in problems]


@pytest.fixture
def client(world):
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as c:
        yield c


def test_role_endpoint_site_matrix(client, world):
    failures = []
    for endpoint, (method, path, body, allowed) in ENDPOINTS.items():
        for user in USERS:
            headers = {"Authorization": f"Bearer {world.tokens[user]}"}
            for where in ("own", "other"):
                records = _records(world, "CN01" if where == "own" else "CN02")
                may = user in allowed and (where == "own" or user in STUDY_WIDE)
                before = verify_audit(world.edc).entries
                r = client.request(
                    method, "/api/v1" + path.format(**records), json=_fill(body, records), headers=headers
                )
                case = f"{endpoint} {user} {where}: {r.status_code} {r.text[:200]}"
                if may:
                    if r.status_code not in (200, 201):
                        failures.append(case)
                    continue
                if r.status_code not in (403, 404) or verify_audit(world.edc).entries != before:
                    failures.append(case)
                    continue
                ghost = client.request(
                    method, "/api/v1" + path.format(**MISSING), json=_fill(body, MISSING), headers=headers
                )
                can_read_other = user in READ and user in STUDY_WIDE  # existence is no secret to them
                if where == "other" and not can_read_other and _essence(r) != _essence(ghost):
                    failures.append(f"{case} differs from a missing record: {ghost.text[:200]}")
    assert failures == [], "\n".join(failures)


def test_lists_and_counts_show_only_own_sites(client, world):
    _records(world, "CN01")
    _records(world, "CN02")
    for user in USERS:
        headers = {"Authorization": f"Bearer {world.tokens[user]}"}
        sites = {"CN01", "CN02"} if user in STUDY_WIDE else {"CN01"}
        for path, key in [("/subjects", "site"), ("/queries", "site")]:
            r = client.get("/api/v1" + path, headers=headers)
            if user in READ:
                assert r.status_code == 200
                assert {item[key] for item in r.json()["items"]} == sites, (user, path)
                assert r.json()["total"] == len(r.json()["items"])
            else:
                assert r.status_code == 403, (user, path)
        counts = client.get("/api/v1/queries/counts", headers=headers)
        assert counts.status_code == (200 if user in READ else 403)
        if user in READ:
            assert {c["site"] for c in counts.json()} == sites
        enrollment = client.get("/api/v1/reports/enrollment", headers=headers)
        assert enrollment.status_code == 200 and {e["site"] for e in enrollment.json()} == sites
        assert {s["code"] for s in client.get("/api/v1/sites", headers=headers).json()} == sites
        audit = client.get("/api/v1/audit?limit=1000", headers=headers)
        if user in {INV, MON, DM, ADMIN}:
            seen = {e["site"] for e in audit.json()["entries"]}
            assert seen <= ({"CN01", "CN02", None} if user == ADMIN else {"CN01"}), (user, seen)
        else:
            assert audit.status_code == 403
        users = client.get("/api/v1/users", headers=headers)
        assert users.status_code == (200 if user == ADMIN else 403)
        new_site = client.post("/api/v1/sites", json={"code": f"S{len(user)}X", "name": "x"}, headers=headers)
        assert new_site.status_code == (201 if user == ADMIN else 403)
