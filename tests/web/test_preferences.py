"""Per-user language and per-site time zone in the pages (issue 8, item 8), on SQLite and PostgreSQL: the
language choice is stored with the user (audited) and follows them to another browser; a choice made on the
login page becomes theirs at login; timestamps are shown in the zone of the page's site, UTC for study-wide
users elsewhere."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from edc_fixtures import ADMIN, PASSWORD
from oligotrial.api import create_app
from oligotrial.services import Actor
from oligotrial.services import admin as admin_services
from oligotrial.services.audit_trail import read_audit
from oligotrial.services.auth import get_preferences


@pytest.fixture
def app(world):
    return create_app(world.edc.settings, world.edc)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _login(client, username, password=PASSWORD):
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": _csrf(page.text), "next": "/"},
    )
    assert r.status_code == 303, r.text[:500]
    return r


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    assert found
    return found.group(1)


def test_the_language_is_stored_with_the_user_and_follows_them(app, world):
    with TestClient(app, follow_redirects=False) as first:
        _login(first, "investigator.cn01")
        assert _lang(first.get("/").text) == "en"
        r = first.post("/language", data={"language": "zh_Hans", "csrf_token": _csrf(first.get("/").text)})
        assert r.status_code == 303
        assert "oligotrial_lang" not in first.cookies
        assert _lang(first.get("/subjects").text) == "zh-Hans"
    assert get_preferences(world.edc, world.actor("investigator.cn01")).language == "zh_Hans"
    entries = read_audit(
        world.edc, Actor.system("test"), table="users", record_id="investigator.cn01"
    ).entries
    assert [(e.action, e.old, e.new) for e in entries if e.action == "update"] == [
        ("update", {"language": "en"}, {"language": "zh_Hans"})
    ]
    # another browser, no cookie: the stored choice is applied at login
    with TestClient(app, follow_redirects=False) as second:
        assert _lang(second.get("/login").text) == "en"
        _login(second, "investigator.cn01")
        page = second.get("/")
        assert _lang(page.text) == "zh-Hans"
        # and someone else in that browser keeps their own language
        second.post("/logout", data={"csrf_token": _csrf(page.text)})
        _login(second, "monitor.cn01")
        assert _lang(second.get("/").text) == "en"


def test_a_choice_on_the_login_page_becomes_the_users_language(app, world):
    with TestClient(app, follow_redirects=False) as client:
        login_page = client.get("/login")
        client.post(
            "/language", data={"language": "zh_Hans", "csrf_token": _csrf(login_page.text), "next": "/login"}
        )
        assert client.cookies.get("oligotrial_lang") == "zh_Hans"
        assert _lang(client.get("/login").text) == "zh-Hans"
        _login(client, "datamanager.cn02")
        assert "oligotrial_lang" not in client.cookies  # from now on the stored choice decides
        assert _lang(client.get("/queries").text) == "zh-Hans"
    assert get_preferences(world.edc, world.actor("datamanager.cn02")).language == "zh_Hans"
    assert get_preferences(world.edc, world.actor("datamanager.cn01")).language == "en"


def test_an_unknown_language_changes_nothing(app, world):
    with TestClient(app, follow_redirects=False) as client:
        _login(client, "monitor.cn02")
        r = client.post("/language", data={"language": "xx", "csrf_token": _csrf(client.get("/").text)})
        assert r.status_code == 303
        assert _lang(client.get("/").text) == "en"
    assert get_preferences(world.edc, world.actor("monitor.cn02")).language == "en"


def test_times_are_shown_in_the_zone_of_the_pages_site(app, world):
    # zones without daylight saving time, so the offsets below hold on any day
    admin_services.set_site_time_zone(world.edc, world.actor(ADMIN), "CN01", "Asia/Kolkata")
    admin_services.set_site_time_zone(world.edc, world.actor(ADMIN), "CN02", "America/Bogota")
    with TestClient(app, follow_redirects=False) as client:
        _login(client, "researchcoordinator.cn01")
        page = client.get("/subjects")
        created = client.post("/subjects", data={"site": "CN01", "csrf_token": _csrf(page.text)})
        code = created.headers["location"].split("/")[2].split("?")[0]
        listing = client.get("/subjects").text
        assert "in the time zone Asia/Kolkata." in listing
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d\+05:30", listing)
        assert "in the time zone Asia/Kolkata." in client.get(f"/subjects/{code}").text
        client.cookies.clear()
        _login(client, "statistician")
        assert "in the time zone UTC." in client.get("/").text
        study_listing = client.get("/subjects").text
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d\+00:00", study_listing)
        assert "in the time zone Asia/Kolkata." in client.get(f"/subjects/{code}").text
        client.cookies.clear()
        _login(client, "researchcoordinator.cn02")
        assert "in the time zone America/Bogota." in client.get("/").text
