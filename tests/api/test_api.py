"""The HTTP API in-process: token flow, error documents with field paths, bad input stores nothing,
security headers, OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from edc_fixtures import ADMIN, ADMIN_PASSWORD
from oligotrial.api import create_app
from oligotrial.services.audit_trail import verify_audit
from oligotrial.services.workflow.forms import WORKFLOW_FORMS


@pytest.fixture
def client(world):
    app = create_app(world.edc.settings, world.edc)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(world, name):
    return {"Authorization": f"Bearer {world.tokens[name]}"}


def test_token_flow_and_401s(client, world):
    r = client.post("/api/v1/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer" and r.json()["expires_in"] == 1800
    token = r.json()["access_token"]
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["username"]
        == ADMIN
    )
    bad = client.post("/api/v1/auth/token", data={"username": ADMIN, "password": "nope nope nope"})
    assert bad.status_code == 401 and bad.json()["error"]["problems"][0]["code"] == "AUTH-001"
    missing = client.get("/api/v1/sites")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/sites", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"{not json", {"body"}),
        (b'{"values": {"AGE": "64"}, "base_version": "1"}', {"body.base_version"}),
        (b'{"values": {"AGE": [1, 2]}}', {"body.values.AGE"}),
        (b'{"values": {}, "colour": "red"}', {"body.colour"}),
        (b'{"values": {}, "event_date": "2024-02-30"}', {"body.event_date"}),
        (b'{"values": {"1x": 1}}', {"values.1x"}),
        (b'{"vals": {}}', {"body.values", "body.vals"}),
        (b"[]", {"body"}),
    ],
)
def test_bad_input_is_422_with_field_paths_and_stores_nothing(client, world, body, fields):
    subject = client.post(
        "/api/v1/subjects", json={"site": "CN01"}, headers=bearer(world, "investigator.cn01")
    ).json()
    before = verify_audit(world.edc).entries
    r = client.put(
        f"/api/v1/subjects/{subject['code']}/forms/SCREENING/DM",
        content=body,
        headers={**bearer(world, "investigator.cn01"), "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert {p["field"] for p in r.json()["error"]["problems"]} == fields
    assert "Traceback" not in r.text
    assert verify_audit(world.edc).entries == before
    forms = client.get(
        f"/api/v1/subjects/{subject['code']}/forms", headers=bearer(world, "investigator.cn01")
    )
    assert forms.json() == []


def test_oversized_payload_is_413(client, world):
    huge = b'{"values": {"X": "' + b"a" * 1_100_000 + b'"}}'
    r = client.put(
        "/api/v1/subjects/CN01-0001/forms/SCREENING/DM",
        content=huge,
        headers={**bearer(world, "investigator.cn01"), "content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["problems"][0]["code"] == "API-413"


def test_conflicts_are_409_and_only_stored_changes_are_audited(client, world):
    h = bearer(world, "investigator.cn01")
    code = client.post("/api/v1/subjects", json={"site": "CN01"}, headers=h).json()["code"]
    url = f"/api/v1/subjects/{code}/forms/SCREENING/DM"
    assert client.put(url, json={"values": {"A": 1}}, headers=h).status_code == 200
    before = verify_audit(world.edc).entries
    stale = client.put(url, json={"values": {"A": 2}, "base_version": 5, "reason": "x"}, headers=h)
    assert stale.status_code == 409 and stale.json()["error"]["problems"][0]["field"] == "base_version"
    no_reason = client.put(url, json={"values": {"A": 2}, "base_version": 1}, headers=h)
    assert no_reason.status_code == 422 and no_reason.json()["error"]["problems"][0]["field"] == "reason"
    assert verify_audit(world.edc).entries == before
    ok = client.put(url, json={"values": {"A": 2}, "base_version": 1, "reason": "typo"}, headers=h)
    assert ok.status_code == 200 and verify_audit(world.edc).entries == before + 1
    dup = client.post("/api/v1/sites", json={"code": "CN01", "name": "again"}, headers=bearer(world, ADMIN))
    assert dup.status_code == 409


def test_security_headers_openapi_and_unknown_routes(client, world):
    r = client.get("/api/v1/sites", headers=bearer(world, ADMIN))
    for header in ("x-content-type-options", "x-frame-options", "content-security-policy", "cache-control"):
        assert header in r.headers
    spec = client.get("/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/audit" in spec["paths"]
    assert client.get("/docs").status_code == 200
    nf = client.get("/api/v1/nothing-here")
    assert nf.status_code == 404 and nf.json()["error"]["problems"][0]["code"] == "API-404"
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_no_api_route_can_change_audit_rows(client):
    spec = client.get("/openapi.json").json()
    audit_paths = {p: ops for p, ops in spec["paths"].items() if "audit" in p}
    assert audit_paths and all(set(ops) == {"get"} for ops in audit_paths.values())


def test_workflow_forms_are_refused_by_the_generic_form_save(client, world):
    h = bearer(world, "investigator.cn01")
    code = client.post("/api/v1/subjects", json={"site": "CN01"}, headers=h).json()["code"]
    before = verify_audit(world.edc).entries
    body = {"values": {"term": "Sadness", "grade": 9}}
    r = client.put(f"/api/v1/subjects/{code}/forms/AE.001/AE", json=body, headers=h)
    assert r.status_code == 409, r.text
    (problem,) = r.json()["error"]["problems"]
    assert (
        problem["code"] == "EDC-026" and "POST /api/v1/subjects/{code}/adverse-events" in problem["message"]
    )
    assert verify_audit(world.edc).entries == before
    paths = client.get("/openapi.json").json()["paths"]
    for form_code, (_, endpoint) in WORKFLOW_FORMS.items():
        method, path = endpoint.split(" ")
        assert method.lower() in paths.get(path, {}), form_code  # the route the refusal names exists


def test_a_subjects_audit_trail_newest_first(client, world):
    """``GET /audit?subject=`` keeps the entries about one subject's records; ``before`` pages newest first;
    a subject the reader cannot see is 404 naming the field and the value; ``before`` below 0 is 422."""
    inv = bearer(world, "investigator.cn01")
    code = client.post("/api/v1/subjects", json={"site": "CN01"}, headers=inv).json()["code"]
    client.post("/api/v1/subjects", json={"site": "CN01"}, headers=inv)
    saved = client.put(
        f"/api/v1/subjects/{code}/forms/SCREENING/DM", json={"values": {"AGE": 64}}, headers=inv
    )
    assert saved.status_code == 200, saved.text
    mon = bearer(world, "monitor.cn01")
    page = client.get("/api/v1/audit", params={"subject": code, "before": 0, "limit": 1}, headers=mon).json()
    assert [(e["table"], e["action"]) for e in page["entries"]] == [("forms", "create")]
    assert page["next_after"] is None and page["next_before"] == page["entries"][0]["id"]
    rest = client.get(
        "/api/v1/audit", params={"subject": code, "before": page["next_before"]}, headers=mon
    ).json()
    assert [(e["table"], e["action"]) for e in rest["entries"]] == [
        ("events", "create"),
        ("subjects", "create"),
    ]
    assert rest["entries"][-1]["record_id"] == code
    assert rest["next_before"] is None
    elsewhere = client.get("/api/v1/audit", params={"subject": code}, headers=bearer(world, "monitor.cn02"))
    problem = elsewhere.json()["error"]["problems"][0]
    assert elsewhere.status_code == 404 and (problem["field"], problem["value"]) == ("subject", code)
    negative = client.get("/api/v1/audit", params={"before": -1}, headers=mon)
    assert negative.status_code == 422 and negative.json()["error"]["problems"][0]["field"] == "query.before"


def test_a_casebook_lock_over_the_api(client, world):
    """``POST /subjects/{code}/lock`` locks every form (the forms returned), 409 naming the open queries while
    any is open; ``/unlock`` needs a reason (422 naming ``body.reason`` when it is missing)."""
    inv, dm = bearer(world, "investigator.cn01"), bearer(world, "datamanager.cn01")
    code = client.post("/api/v1/subjects", json={"site": "CN01"}, headers=inv).json()["code"]
    form = client.put(
        f"/api/v1/subjects/{code}/forms/SCREENING/DM", json={"values": {"AGE": 64}}, headers=inv
    )
    query = client.post(
        f"/api/v1/forms/{form.json()['id']}/queries",
        json={"item": "AGE", "text": "Please confirm"},
        headers=bearer(world, "monitor.cn01"),
    )
    assert query.status_code in (200, 201), query.text
    pending = client.post(f"/api/v1/subjects/{code}/lock", headers=dm)
    problem = pending.json()["error"]["problems"][0]
    assert pending.status_code == 409 and (problem["code"], problem["field"], problem["value"]) == (
        "EDC-027",
        "queries",
        1,
    )
    client.post(
        f"/api/v1/queries/{query.json()['id']}/close",
        json={"text": "ok"},
        headers=bearer(world, "monitor.cn01"),
    )
    locked = client.post(f"/api/v1/subjects/{code}/lock", headers=dm)
    assert locked.status_code == 200 and [f["is_locked"] for f in locked.json()] == [True]
    missing = client.post(f"/api/v1/subjects/{code}/unlock", json={}, headers=dm)
    assert missing.status_code == 422 and missing.json()["error"]["problems"][0]["field"] == "body.reason"
    unlocked = client.post(f"/api/v1/subjects/{code}/unlock", json={"reason": "late results"}, headers=dm)
    assert unlocked.status_code == 200 and [f["is_locked"] for f in unlocked.json()] == [False]


def test_source_data_verification_of_several_forms_over_the_api(client, world):
    """``GET /verification`` lists the forms awaiting verification with the version verified before;
    ``POST /verification`` verifies several at their versions, all or none: 409 naming the form changed
    since, and nothing verified."""
    inv, mon = bearer(world, "investigator.cn01"), bearer(world, "monitor.cn01")
    code = client.post("/api/v1/subjects", json={"site": "CN01"}, headers=inv).json()["code"]
    first = client.put(
        f"/api/v1/subjects/{code}/forms/SCREENING/DM", json={"values": {"AGE": 64}}, headers=inv
    )
    second = client.put(
        f"/api/v1/subjects/{code}/forms/SCREENING/LABS", json={"values": {"ANC": 2}}, headers=inv
    )
    ids = [first.json()["id"], second.json()["id"]]
    waiting = client.get("/api/v1/verification", params={"subject": code}, headers=mon).json()
    assert waiting["total"] == 2 and [f["verified_version"] for f in waiting["items"]] == [None, None]
    changed = client.put(
        f"/api/v1/subjects/{code}/forms/SCREENING/LABS",
        json={"values": {"ANC": 3}, "base_version": 1, "reason": "typo"},
        headers=inv,
    )
    assert changed.status_code == 200
    stale = client.post(
        "/api/v1/verification",
        json={"forms": [{"form_id": ids[0], "version": 1}, {"form_id": ids[1], "version": 1}]},
        headers=mon,
    )
    problem = stale.json()["error"]["problems"][0]
    assert stale.status_code == 409 and (problem["code"], problem["field"]) == (
        "EDC-023",
        f"forms.{ids[1]}.version",
    )
    assert client.get("/api/v1/verification", params={"subject": code}, headers=mon).json()["total"] == 2
    done = client.post(
        "/api/v1/verification",
        json={"forms": [{"form_id": ids[0], "version": 1}, {"form_id": ids[1], "version": 2}]},
        headers=mon,
    )
    assert done.status_code == 200 and [(f["is_verified"], f["verified_version"]) for f in done.json()] == [
        (True, 1),
        (True, 2),
    ]
    assert client.get("/api/v1/verification", params={"subject": code}, headers=mon).json()["total"] == 0
    empty = client.post("/api/v1/verification", json={"forms": []}, headers=mon)
    assert empty.status_code == 422 and empty.json()["error"]["problems"][0]["field"] == "body.forms"


def test_casebook_progress_over_the_api(client, world):
    """``GET /casebooks`` gives each subject's forms, verified, locked and unsettled queries."""
    inv, mon = bearer(world, "investigator.cn01"), bearer(world, "monitor.cn01")
    code = client.post("/api/v1/subjects", json={"site": "CN01"}, headers=inv).json()["code"]
    form = client.put(
        f"/api/v1/subjects/{code}/forms/SCREENING/DM", json={"values": {"AGE": 64}}, headers=inv
    )
    client.post(f"/api/v1/forms/{form.json()['id']}/verify", json={"version": 1}, headers=mon)
    rows = client.get("/api/v1/casebooks", params={"site": "CN01"}, headers=mon).json()
    assert rows == [
        {"subject": code, "site": "CN01", "forms": 1, "verified": 1, "locked": 0, "pending_queries": 0}
    ]
