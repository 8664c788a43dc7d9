"""Display preferences (issue 8, item 8): each user's language, each site's time zone; audited changes,
coded refusals naming field, value and rule; the same through the command line and the HTTP API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from edc_fixtures import ADMIN
from oligotrial.api import create_app
from oligotrial.errors import InputError, NotFoundError, PermissionDeniedError
from oligotrial.services import Actor
from oligotrial.services import admin as admin_services
from oligotrial.services.audit_trail import read_audit, verify_audit
from oligotrial.services.auth import get_preferences, set_language


def _audit(edc, table, record_id):
    page = read_audit(edc, Actor.system("test"), table=table, record_id=record_id, limit=1000)
    return [(e.action, e.actor, e.old, e.new) for e in page.entries if e.action == "update"]


def test_a_user_sets_their_own_language_audited_as_a_change_of_their_record(world):
    edc, coordinator = world.edc, world.actor("researchcoordinator.cn01")
    assert get_preferences(edc, coordinator).language == "en"
    assert set_language(edc, coordinator, "zh_Hans") == "zh_Hans"
    assert get_preferences(edc, coordinator).language == "zh_Hans"
    assert get_preferences(edc, world.actor("investigator.cn01")).language == "en"
    set_language(edc, coordinator, "zh_Hans")  # no change, no entry
    assert _audit(edc, "users", "researchcoordinator.cn01") == [
        ("update", "researchcoordinator.cn01", {"language": "en"}, {"language": "zh_Hans"})
    ]
    assert admin_services.get_user(edc, coordinator, "researchcoordinator.cn01").language == "zh_Hans"
    assert verify_audit(edc).is_intact


def test_an_unknown_language_is_refused_naming_field_value_and_rule(world):
    with pytest.raises(InputError) as refused:
        set_language(world.edc, world.actor("monitor.cn02"), "fr")
    problem = refused.value.problems[0]
    assert (problem.code, problem.field, problem.value) == ("EDC-014", "language", "fr")
    assert problem.message == "expected one of: en, zh_Hans"
    with pytest.raises(InputError) as system:
        set_language(world.edc, Actor.system("test"), "en")
    assert system.value.problems[0].code == "EDC-004"


def test_sites_get_the_settings_default_zone_and_an_administrator_changes_it(world):
    edc, admin = world.edc, world.actor(ADMIN)
    assert {s.code: s.time_zone for s in admin_services.list_sites(edc, admin)} == {
        "CN01": "Asia/Shanghai",
        "CN02": "Asia/Shanghai",
    }
    created = admin_services.create_site(edc, admin, "HK01", "Hong Kong site", "Asia/Hong_Kong")
    assert created.time_zone == "Asia/Hong_Kong"
    changed = admin_services.set_site_time_zone(edc, admin, "CN02", "Asia/Urumqi")
    assert changed.time_zone == "Asia/Urumqi"
    assert _audit(edc, "sites", "CN02") == [
        ("update", ADMIN, {"time_zone": "Asia/Shanghai"}, {"time_zone": "Asia/Urumqi"})
    ]
    zones = get_preferences(edc, world.actor("investigator.cn02")).site_time_zones
    assert zones == {"CN02": "Asia/Urumqi"}
    assert get_preferences(edc, world.actor("statistician")).site_time_zones == {
        "CN01": "Asia/Shanghai",
        "CN02": "Asia/Urumqi",
        "HK01": "Asia/Hong_Kong",
    }


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CST", "+08:00", "../etc/passwd", ""])
def test_a_bad_time_zone_is_refused_and_nothing_changes(world, zone):
    edc, admin = world.edc, world.actor(ADMIN)
    with pytest.raises(InputError) as refused:
        admin_services.set_site_time_zone(edc, admin, "CN01", zone)
    problem = refused.value.problems[0]
    assert (problem.code, problem.field, problem.value) == ("EDC-013", "time_zone", zone)
    assert "IANA time zone" in problem.message
    with pytest.raises(InputError):
        admin_services.create_site(edc, admin, "CN09", "Site nine", zone)
    assert [s.code for s in admin_services.list_sites(edc, admin)] == ["CN01", "CN02"]
    assert admin_services.list_sites(edc, admin)[0].time_zone == "Asia/Shanghai"


def test_only_administrators_set_a_site_zone(world):
    with pytest.raises(PermissionDeniedError):
        admin_services.set_site_time_zone(world.edc, world.actor("investigator.cn01"), "CN01", "UTC")
    with pytest.raises(NotFoundError) as missing:
        admin_services.set_site_time_zone(world.edc, world.actor(ADMIN), "ZZ99", "UTC")
    assert missing.value.problems[0].code == "EDC-003"


def test_the_command_line_adds_lists_and_changes_site_zones(run_cli, database_url, world, monkeypatch):
    monkeypatch.setenv("OLIGOTRIAL_ARGON2_TIME_COST", "1")
    added = run_cli(
        "sites",
        "add",
        "SG01",
        "--name",
        "Singapore",
        "--time-zone",
        "Asia/Singapore",
        "--database",
        database_url,
        "--json",
    )
    assert added.exit_code == 0, added.stderr
    assert added.json()["time_zone"] == "Asia/Singapore"
    default = run_cli("sites", "add", "CN03", "--name", "Site three", "--database", database_url, "--json")
    assert default.json()["time_zone"] == "Asia/Shanghai"
    bad = run_cli("sites", "set-time-zone", "CN01", "Beijing", "--database", database_url)
    assert bad.exit_code == 2
    assert "EDC-013" in bad.stderr and "time_zone" in bad.stderr and "Beijing" in bad.stderr
    ok = run_cli("sites", "set-time-zone", "CN01", "UTC", "--database", database_url, "--json")
    assert ok.exit_code == 0 and ok.json()["time_zone"] == "UTC"
    listed = run_cli("sites", "list", "--database", database_url, "--json").json()
    assert {s["code"]: s["time_zone"] for s in listed} == {
        "CN01": "UTC",
        "CN02": "Asia/Shanghai",
        "CN03": "Asia/Shanghai",
        "SG01": "Asia/Singapore",
    }


def test_the_api_sets_ones_language_and_a_site_zone(world):
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as client:
        monitor = {"Authorization": f"Bearer {world.tokens['monitor.cn01']}"}
        admin = {"Authorization": f"Bearer {world.tokens[ADMIN]}"}
        r = client.put("/api/v1/auth/me/language", json={"language": "zh_Hans"}, headers=monitor)
        assert r.status_code == 200 and r.json()["language"] == "zh_Hans"
        assert client.get("/api/v1/auth/me", headers=monitor).json()["language"] == "zh_Hans"
        bad = client.put("/api/v1/auth/me/language", json={"language": "de"}, headers=monitor)
        assert bad.status_code == 422
        assert bad.json()["error"]["problems"][0]["code"] == "EDC-014"
        denied = client.put("/api/v1/sites/CN01/time-zone", json={"time_zone": "UTC"}, headers=monitor)
        assert denied.status_code == 403
        zone = client.put("/api/v1/sites/CN01/time-zone", json={"time_zone": "Europe/Paris"}, headers=admin)
        assert zone.status_code == 200 and zone.json()["time_zone"] == "Europe/Paris"
        wrong = client.put("/api/v1/sites/CN01/time-zone", json={"time_zone": "Paris"}, headers=admin)
        assert wrong.status_code == 422
        problem = wrong.json()["error"]["problems"][0]
        assert (problem["code"], problem["field"], problem["value"]) == ("EDC-013", "time_zone", "Paris")
        sites = client.get("/api/v1/sites", headers=monitor).json()
        assert [(s["code"], s["time_zone"]) for s in sites] == [("CN01", "Europe/Paris")]
