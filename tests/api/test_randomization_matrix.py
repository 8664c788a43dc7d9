"""Role x endpoint x site for the randomization, radiotherapy and CTCAE endpoints (the pattern and users of
``test_matrix.py``): allowed calls succeed; every denial is a 403 or 404 identical to the answer for a record
that does not exist, and writes nothing. Only the statistician sees the concealed list."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from edc_fixtures import ADMIN
from oligotrial.api import create_app
from oligotrial.services import data
from oligotrial.services import radiotherapy as rt
from oligotrial.services import randomization as rnd
from oligotrial.services.audit_trail import verify_audit

INV, CRC, MON, DM = "investigator.cn01", "researchcoordinator.cn01", "monitor.cn01", "datamanager.cn01"
STAT, DSMB = "statistician", "dsmbmember"
USERS = [INV, CRC, MON, DM, STAT, DSMB, ADMIN]
READ = {INV, CRC, MON, DM, STAT}
ENTER = {INV, CRC}
STUDY_WIDE = {STAT, DSMB, ADMIN}
EVERYONE = set(USERS)
COURSE = {
    "course": {
        "lesion_id": "L9",
        "lesion_type": "metastasis",
        "organ": "liver",
        "technique": "SBRT",
        "dose_per_fraction_gy": 8,
        "fractions": 5,
        "start_date": "2025-03-01",
        "end_date": "2025-03-05",
    }
}
ENDPOINTS = {
    "randomize": (
        "POST",
        "/subjects/{enrolled}/randomization",
        {"induction_response": "CR", "metastatic_organ_count": 1},
        ENTER,
    ),
    "get_randomization": ("GET", "/subjects/{experimental}/randomization", None, READ),
    "rt_course": ("PUT", "/subjects/{experimental}/radiotherapy/courses", COURSE, ENTER),
    "rt_plan": ("GET", "/subjects/{experimental}/radiotherapy", None, READ),
    "rt_restart": (
        "PUT",
        "/subjects/{experimental}/radiotherapy/maintenance-restart",
        {"restart": "2025-04-01"},
        ENTER,
    ),
    "list_entries": ("GET", "/randomization/entries", None, {STAT}),
    "list_lists": ("GET", "/randomization/lists", None, {STAT}),
    "generate": ("POST", "/randomization/lists", {"entries_per_stratum": 2}, {STAT}),
    "ctcae_search": ("GET", "/ctcae/terms?q=nausea", None, EVERYONE),
    "ctcae_term": ("GET", "/ctcae/terms/Nausea", None, EVERYONE),
}
MISSING = {"enrolled": "CN02-9999", "experimental": "CN02-9998"}


def _fill(template, values):
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _essence(response):
    problems = response.json()["error"]["problems"]
    return response.status_code, [(p["code"], p["field"], p["message"]) for p in problems]


def _records(world, site: str) -> dict[str, str]:
    edc, inv = world.edc, world.actor(f"investigator.{site.lower()}")

    def enrolled() -> str:
        code = data.create_subject(edc, inv, site).code
        data.update_subject_status(edc, inv, code, "enrolled", 1, "eligible")
        return code

    while True:
        code = enrolled()
        view = rnd.randomize_subject(
            edc,
            inv,
            code,
            induction_response="SD",
            metastatic_organ_count=2,
            randomized_at=datetime(2025, 2, 20, 2, tzinfo=UTC),  # before the courses of 2025-03
        )
        if view.arm == "experimental":
            break
    rt.record_radiotherapy_course(
        edc, inv, code, {**COURSE["course"], "lesion_id": "L1"}, chemo_immunotherapy_end=date(2025, 2, 1)
    )
    return {"enrolled": enrolled(), "experimental": code}


@pytest.fixture
def client(world):
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=300, seed=5)
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as c:
        yield c


def test_randomization_role_endpoint_site_matrix(client, world):
    failures = []
    records = {site: _records(world, site) for site in ("CN01", "CN02")}
    for endpoint, (method, path, body, allowed) in ENDPOINTS.items():
        for user in USERS:
            headers = {"Authorization": f"Bearer {world.tokens[user]}"}
            for where in ("own", "other"):
                if endpoint in {"randomize", "rt_course", "rt_restart"}:  # each write on a fresh record
                    records["CN01" if where == "own" else "CN02"] = _records(
                        world, "CN01" if where == "own" else "CN02"
                    )
                current = records["CN01" if where == "own" else "CN02"]
                site_bound = "{" in path
                may = user in allowed and (where == "own" or user in STUDY_WIDE or not site_bound)
                before = verify_audit(world.edc).entries
                r = client.request(
                    method, "/api/v1" + path.format(**current), json=_fill(body, current), headers=headers
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
                can_read_other = user in READ and user in STUDY_WIDE
                if where == "other" and site_bound and not can_read_other and _essence(r) != _essence(ghost):
                    failures.append(f"{case} differs from a missing record: {ghost.text[:200]}")
    assert failures == [], "\n".join(failures)
