"""Randomization over HTTP and the command line: 201 then 200 on a retry (Idempotency-Key), 4xx naming the
rule with nothing stored, the list only for the statistician; ``oligotrial randomization generate|upload``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from oligotrial.api import create_app
from oligotrial.services import data
from oligotrial.services.audit_trail import verify_audit


@pytest.fixture
def client(world):
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as c:
        yield c


def _h(world, user):
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def test_randomize_over_http(client, world):
    stat, inv = _h(world, "statistician"), _h(world, "investigator.cn01")
    assert (
        client.post("/api/v1/randomization/lists", json={"entries_per_stratum": 4}, headers=inv).status_code
        == 403
    )
    made = client.post(
        "/api/v1/randomization/lists", json={"entries_per_stratum": 4, "seed": 3}, headers=stat
    )
    assert made.status_code == 201 and made.json()["seed"] == 3
    actor = world.actor("investigator.cn01")
    code = data.create_subject(world.edc, actor, "CN01").code
    data.update_subject_status(world.edc, actor, code, "enrolled", 1, "ok")
    url = f"/api/v1/subjects/{code}/randomization"
    for body, status, rule in [
        ({"induction_response": "PD", "metastatic_organ_count": 1}, 409, "RAND-003"),
        ({"metastatic_organ_count": 1}, 409, "RAND-002"),
        ({"induction_response": "CR", "metastatic_organ_count": 7}, 422, "RAND-005"),
        ({"induction_response": "XX", "metastatic_organ_count": 1}, 422, "API-001"),
    ]:
        before = verify_audit(world.edc).entries
        r = client.post(url, json=body, headers=inv)
        assert (r.status_code, r.json()["error"]["problems"][0]["code"]) == (status, rule), r.text
        assert verify_audit(world.edc).entries == before
    body = {"induction_response": "SD", "metastatic_organ_count": 2}
    first = client.post(url, json=body, headers={**inv, "Idempotency-Key": "k1"})
    retry = client.post(url, json=body, headers={**inv, "Idempotency-Key": "k1"})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["arm"] == first.json()["arm"] and retry.json()["is_replay"]
    twice = client.post(url, json=body, headers=inv)
    assert twice.status_code == 409 and twice.json()["error"]["problems"][0]["code"] == "RAND-004"
    other = client.post(url, json=body, headers=_h(world, "investigator.cn02"))
    assert other.status_code == 404
    assert client.get(url, headers=_h(world, "monitor.cn01")).json()["arm"] == first.json()["arm"]
    assert client.get("/api/v1/randomization/entries?used=false", headers=inv).status_code == 403
    unused = client.get("/api/v1/randomization/entries?used=false&limit=5", headers=stat).json()
    assert len(unused["items"]) == 5 and unused["total"] > 5
    listed = client.get("/api/v1/randomizations", headers=_h(world, "investigator.cn02")).json()
    assert listed == []


def test_cli_generate_and_upload(run_cli, world, tmp_path):
    url = world.edc.engine.url.render_as_string(hide_password=False)
    result = run_cli(
        "randomization",
        "generate",
        "--statistician",
        "statistician",
        "--per-stratum",
        "2",
        "--seed",
        "9",
        "--database",
        url,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["kind"] == "generated" and "seed" not in result.json()
    denied = run_cli("randomization", "generate", "--statistician", "investigator.cn01", "--database", url)
    assert denied.exit_code == 1 and "AUTH-110" in denied.stderr
    bad = tmp_path / "list.csv"
    bad.write_text("position,arm,site,induction_response,metastatic_organs\n1,placebo,CN01,SD,1\n")
    result = run_cli("randomization", "upload", bad, "--statistician", "statistician", "--database", url)
    assert result.exit_code == 2 and "RAND-021" in result.stderr
