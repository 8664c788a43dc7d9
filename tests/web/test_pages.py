"""The web layer in-process: sessions in the database, CSRF on every POST, security headers, session expiry,
logout and password change, site isolation, translated pages, ISO 8601 dates."""

from __future__ import annotations

import codecs
import csv
import html
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from edc_fixtures import PASSWORD
from oligotrial.api import create_app
from oligotrial.services import Actor, Role, queries
from oligotrial.services import admin as admin_services
from oligotrial.services import data as data_services
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from oligotrial.services.audit_trail import read_audit
from oligotrial.services.auth import hash_token
from oligotrial.store.tables import Token
from oligotrial.web._i18n import format_datetime
from workflow_data import adverse_event, eligible, induction_dose

D0 = date(2024, 1, 8)


@pytest.fixture
def client(world):
    with TestClient(create_app(world.edc.settings, world.edc), follow_redirects=False) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _login(client, username="researchcoordinator.cn01", password=PASSWORD):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": _csrf(page.text), "next": "/"},
    )


def test_login_sets_an_httponly_strict_cookie_kept_in_the_database(client, world):
    assert client.get("/").headers["location"].startswith("/login")
    r = _login(client)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    token = client.cookies.get("oligotrial_session")
    with world.edc.engine.connect() as connection:
        stored = connection.execute(
            Token.__table__.select().where(Token.token_hash == hash_token(token))
        ).all()
    assert len(stored) == 1
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/v1/sites").headers["content-security-policy"].startswith("default-src 'none'")


def test_every_post_needs_the_session_csrf_token(client):
    bad_login = client.post("/login", data={"username": "x", "password": "y", "csrf_token": "forged"})
    assert bad_login.status_code == 403
    _login(client)
    for path, data in [
        ("/subjects", {"site": "CN01"}),
        ("/logout", {}),
        ("/language", {"language": "zh_Hans"}),
        ("/password", {"current_password": PASSWORD, "new_password": "x" * 20, "confirm_password": "x" * 20}),
    ]:
        assert client.post(path, data={**data, "csrf_token": "0" * 64}).status_code == 403, path
        assert client.post(path, data=data).status_code == 403, path
    token = _csrf(client.get("/subjects").text)
    other_origin = client.post(
        "/subjects", data={"site": "CN01", "csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert other_origin.status_code == 403
    assert client.post("/subjects", data={"site": "CN01", "csrf_token": token}).status_code == 303


def test_an_expired_session_goes_back_to_login(client, world):
    _login(client)
    token = client.cookies.get("oligotrial_session")
    with world.edc.engine.begin() as connection:
        connection.execute(
            update(Token)
            .where(Token.token_hash == hash_token(token))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    r = client.get("/subjects")
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    assert "oligotrial_session" in r.headers.get("set-cookie", "")


def test_logout_and_password_change_end_the_session(client):
    _login(client)
    r = client.post("/logout", data={"csrf_token": _csrf(client.get("/").text)})
    assert r.headers["location"] == "/login?done=logout"
    assert client.get("/").status_code == 303
    _login(client)
    page = client.get("/password")
    short = client.post(
        "/password",
        data={
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm_password": "short",
            "csrf_token": _csrf(page.text),
        },
    )
    assert short.status_code == 422 and "field-error" in short.text
    new = "a much longer new pass phrase"
    done = client.post(
        "/password",
        data={
            "current_password": PASSWORD,
            "new_password": new,
            "confirm_password": new,
            "csrf_token": _csrf(page.text),
        },
    )
    assert done.headers["location"] == "/login?done=password"
    assert client.get("/").status_code == 303
    assert _login(client, password=new).status_code == 303


def test_pages_in_chinese_and_site_isolation(client):
    _login(client, "researchcoordinator.cn02")
    client.post(
        "/language", data={"language": "zh_Hans", "csrf_token": _csrf(client.get("/").text), "next": "/"}
    )
    page = client.get("/subjects")
    assert '<html lang="zh-Hans">' in page.text and "受试者" in page.text
    created = client.post("/subjects", data={"site": "CN02", "csrf_token": _csrf(page.text)})
    code = created.headers["location"].split("/")[2].split("?")[0]
    client.cookies.clear()
    _login(client, "researchcoordinator.cn01")
    assert client.get(f"/subjects/{code}").status_code == 404
    assert code not in client.get("/subjects").text
    refused = client.post("/subjects", data={"site": "CN02", "csrf_token": _csrf(client.get("/").text)})
    assert refused.status_code in (403, 404)


def test_dates_are_iso_8601_in_the_site_zone():
    stored = datetime(2024, 5, 1, 10, 5, tzinfo=UTC)
    assert format_datetime(stored, "Asia/Shanghai") == "2024-05-01T18:05+08:00"
    assert format_datetime(stored.date(), "Asia/Shanghai") == "2024-05-01"
    assert format_datetime(None, "UTC") == ""


def test_the_maintenance_restart_opens_the_dose_form_at_maintenance_dose_1(client, world):
    """The timeline's MAINTSTART step (restart after radiotherapy) is maintenance dose 1 of the dose form."""
    _login(client)
    page = client.get("/subjects")
    created = client.post("/subjects", data={"site": "CN01", "csrf_token": _csrf(page.text)})
    code = created.headers["location"].split("/")[2].split("?")[0]
    form = client.get(f"/subjects/{code}/dose?event=MAINTSTART").text
    assert re.search(r'<option value="maintenance"[^>]*selected', form), form[:2000]
    assert re.search(r'name="cycle"[^>]*value="1"', form)


def test_dates_that_break_a_calendar_rule_leave_the_pages_working(client, world):
    """A randomization dated before the first dose (possible only for an allocation dated in the past, as a
    migration replays it) breaks the calendar's rule SCHED-001: the subject page still shows the subject and
    its forms, with the problem where the timeline would be, and the dashboard names the subject."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    wf.save_eligibility(world.edc, inv, code, eligible(D0 - timedelta(days=10)))
    wf.enroll_subject(world.edc, inv, code, D0 - timedelta(days=5))
    wf.record_dose(world.edc, inv, code, induction_dose(1, D0))
    wf.record_adverse_event(world.edc, inv, code, adverse_event(D0 + timedelta(days=9)))
    rnd.generate_randomization_list(world.edc, world.actor("statistician"), entries_per_stratum=2, seed=3)
    when = datetime.combine(D0 - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    rnd.randomize_subject(
        world.edc, inv, code, induction_response="PR", metastatic_organ_count=2, randomized_at=when
    )
    _login(client, "investigator.cn01")
    page = client.get(f"/subjects/{code}")
    assert page.status_code == 200 and "SCHED-001" in page.text and "<code>randomized</code>" in page.text
    assert f"/subjects/{code}/eligibility" in page.text  # the forms are still listed
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert f'<a href="/subjects/{code}">{code}</a> <code>SCHED-001 randomized</code>' in dashboard.text
    assert (
        "Neutrophil count decreased" in dashboard.text
    )  # its adverse events are still among the recent ones


def test_the_subjects_list_and_the_subject_page_show_the_arm_and_the_site_s_randomization_day(client, world):
    """Open label: whoever reads a subject sees its arm. The list has the arm and the randomization day at the
    site (17:00 UTC on 2024-02-01 is 2024-02-02 in Shanghai) for the randomized subject, nothing for the
    other; the subject page says the same under its title."""
    inv = world.actor("investigator.cn01")
    randomized, waiting = (data_services.create_subject(world.edc, inv, "CN01").code for _ in range(2))
    for code in (randomized, waiting):
        wf.save_eligibility(world.edc, inv, code, eligible(D0 - timedelta(days=10)))
        wf.enroll_subject(world.edc, inv, code, D0 - timedelta(days=5))
        wf.record_dose(world.edc, inv, code, induction_dose(1, D0))
    rnd.generate_randomization_list(world.edc, world.actor("statistician"), entries_per_stratum=2, seed=3)
    when = datetime(2024, 2, 1, 17, 0, tzinfo=UTC)
    arm = rnd.randomize_subject(
        world.edc, inv, randomized, induction_response="PR", metastatic_organ_count=2, randomized_at=when
    ).arm
    label = f"{arm} arm"
    _login(client, "investigator.cn01")
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(
            r'<tr><td><a href="/subjects/([A-Z0-9-]+)">.*?</tr>', client.get("/subjects").text
        )
    }
    assert f'<span class="status status-{arm}">{label}</span></td><td>2024-02-02</td>' in rows[randomized]
    assert "</td><td></td><td></td><td>" in rows[waiting] and "2024-02-02" not in rows[waiting]
    page = client.get(f"/subjects/{randomized}").text
    assert f'Arm: <span class="status status-{arm}">{label}</span> randomized on 2024-02-02' in page
    assert 'id="assignment"' not in client.get(f"/subjects/{waiting}").text


def test_a_subjects_audit_trail_is_read_newest_first_and_pages_with_its_filter(client, world):
    """The subject page's "Audit trail" is every entry about the subject's records (its forms too, which the
    trail of the subjects table alone left out), newest first; "Next entries" keeps the filter and goes
    further back; "oldest first" reads it in chain order."""
    inv = world.actor("investigator.cn01")
    code, other = (data_services.create_subject(world.edc, inv, "CN01").code for _ in range(2))
    wf.save_eligibility(world.edc, inv, code, eligible(D0 - timedelta(days=10)))
    wf.enroll_subject(world.edc, inv, code, D0 - timedelta(days=5))
    data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    for version in range(1, 200):  # more than a page (200 entries) of the subject's own
        values = {"AGE": 61 + version % 2}
        data_services.save_form(
            world.edc, inv, code, "SCREENING", "DM", values, base_version=version, reason="source check"
        )
    wf.save_eligibility(world.edc, inv, other, eligible(D0 - timedelta(days=10)))
    _login(client, "monitor.cn01")

    subject_page = client.get(f"/subjects/{code}").text
    assert f'href="/audit?subject={code}"' in subject_page
    first = client.get(f"/audit?subject={code}")
    positions = [int(p) for p in re.findall(r"<tr><td>(\d+)</td>", first.text)]
    assert len(positions) == 200 and positions == sorted(positions, reverse=True)
    assert "forms" in first.text and other not in first.text
    following = re.search(r'<a href="/audit\?([^"]+)">Next entries</a>', first.text)
    assert following is not None
    assert following.group(1).replace("&amp;", "&") == (
        f"subject={code}&table=&record=&order=newest&before={positions[-1]}"
    )
    rest = client.get("/audit?" + following.group(1).replace("&amp;", "&")).text
    older = [int(p) for p in re.findall(r"<tr><td>(\d+)</td>", rest)]
    assert older and max(older) < positions[-1] and other not in rest
    oldest = client.get(f"/audit?subject={code}&order=oldest").text
    in_chain = [int(p) for p in re.findall(r"<tr><td>(\d+)</td>", oldest)]
    assert in_chain == sorted(in_chain) and in_chain[0] == min(older)
    assert '<option value="oldest" selected>' in oldest
    unknown = client.get("/audit?subject=CN01-999")
    assert unknown.status_code == 404 and 'value="CN01-999" size="12" aria-invalid="true"' in unknown.text
    assert '<p class="field-error" id="subject-error">Not found. (EDC-020)' in unknown.text


def test_the_audit_trail_downloads_as_csv_whole_and_in_chain_order(client, world):
    """ "Download all as CSV" writes every entry the filters keep, not one page of 200: read back by the csv
    module (UTF-8 with a byte-order mark, for spreadsheets), the same entries as the API's, a reason in
    Chinese intact, the values as JSON; a subject the reader cannot see is refused before any download."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    for version in range(1, 1100):  # more than one service page (1,000) and the web page (200)
        values = {"AGE": 61 + version % 2}
        reason = "核对原始病历" if version == 1 else "source check"
        data_services.save_form(
            world.edc, inv, code, "SCREENING", "DM", values, base_version=version, reason=reason
        )
    expected = read_audit(world.edc, world.actor("monitor.cn01"), subject=code, limit=1000).entries
    expected += read_audit(
        world.edc, world.actor("monitor.cn01"), subject=code, after=expected[-1].id, limit=1000
    ).entries
    _login(client, "monitor.cn01")

    page = client.get(f"/audit?subject={code}").text
    assert f'href="/audit.csv?subject={code}&amp;table=&amp;record=" download>Download all as CSV</a>' in page
    download = client.get(f"/audit.csv?subject={code}&table=&record=")
    assert download.status_code == 200 and download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == f'attachment; filename="audit-trail-{code}.csv"'
    assert download.content.startswith(codecs.BOM_UTF8)
    text = download.content.decode("utf-8-sig")
    assert text.startswith("position,at_utc,user,action,table,record,site,old,new,reason,source,hash\r\n")
    _header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert len(rows) == len(expected) > 1100
    for row, entry in zip(rows, expected, strict=True):
        assert (int(row[0]), datetime.fromisoformat(row[1]), row[2], row[3], row[4], row[5], row[6]) == (
            entry.id,
            entry.at,
            entry.actor,
            entry.action,
            entry.table,
            entry.record_id,
            entry.site,
        )
        assert (json.loads(row[7]) if row[7] else None, json.loads(row[8]) if row[8] else None) == (
            entry.old,
            entry.new,
        )
        assert (row[9], row[11]) == (entry.reason or "", entry.hash)
    assert "核对原始病历" in {row[9] for row in rows}
    _login(client, "monitor.cn02")
    refused = client.get(f"/audit.csv?subject={code}")
    assert refused.status_code == 404 and refused.headers["content-type"].startswith("text/html")


def test_the_queries_page_filters_by_site_and_subject_pages_by_fifty_and_keeps_its_place(client, world):
    """A monitor of two sites chooses a site or a subject; more than fifty queries are paged; answering or
    closing one goes back to the same filtered page; a monitor of one site has no site choice."""
    system = Actor.system("test")
    admin_services.create_user(
        world.edc,
        system,
        "monitor.both",
        PASSWORD,
        "Monitor",
        roles=[(Role.MONITOR, s) for s in ("CN01", "CN02")],
    )
    forms = {}
    for site in ("CN01", "CN02"):
        inv = world.actor(f"investigator.{site.lower()}")
        code = data_services.create_subject(world.edc, inv, site).code
        forms[site] = data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    for n in range(55):
        queries.raise_query(
            world.edc, world.actor("monitor.cn01"), forms["CN01"].id, f"ITEM{n}", "Please check"
        )
    queries.raise_query(world.edc, world.actor("monitor.cn02"), forms["CN02"].id, "AGE", "Please check")
    _login(client, "monitor.both")

    def shown(html: str) -> list[str]:
        return re.findall(r'<article class="card query" id="q(\d+)">', html)

    first = client.get("/queries").text
    assert "56 queries · 1–50 shown" in first and len(shown(first)) == 50
    assert '<option value="CN01" >CN01</option><option value="CN02" >CN02</option>' in first
    following = re.search(r'<a href="/queries\?([^"]+)" rel="next">Next</a>', first)
    assert following is not None and following.group(1) == "state=open&amp;site=&amp;subject=&amp;page=2"
    second = client.get("/queries?state=open&site=&subject=&page=2").text
    assert "56 queries · 51–56 shown" in second and len(shown(second)) == 6 and 'rel="prev"' in second
    assert not set(shown(first)) & set(shown(second))
    only = client.get("/queries?state=open&site=CN02").text
    assert "1 query" in only and forms["CN02"].subject in only and 'rel="next"' not in only
    assert '<option value="CN02" selected>CN02</option>' in only
    of_subject = client.get(f"/queries?state=&subject={forms['CN01'].subject}").text
    assert "55 queries · 1–50 shown" in of_subject
    # closing one on page 2 goes back to page 2 of the same list
    query_id = shown(second)[0]
    back = re.search(rf'action="/queries/{query_id}".*?name="back" value="([^"]+)"', second, re.S)
    assert back is not None

    def close(query_id: str, text: str, back: str):
        form = {"csrf_token": _csrf(second), "action": "close", "text": text, "back": back}
        return client.post(f"/queries/{query_id}", data=form)

    closed = close(query_id, "Resolved", html.unescape(back.group(1)))
    assert closed.status_code == 303
    assert closed.headers["location"] == "/queries?state=open&page=2&done=closed"
    assert "55 queries · 51–55 shown" in client.get(closed.headers["location"]).text
    # an empty text is refused on the same filtered page, with the message next to the text
    refused = close(shown(second)[1], "", "state=open&site=CN01&page=2")
    assert refused.status_code == 422 and "54 queries · 51–54 shown" in refused.text  # CN01's open ones
    assert '<option value="CN01" selected>CN01</option>' in refused.text
    assert f'id="f-q{shown(second)[1]}" name="text" rows="2" aria-invalid="true"' in refused.text
    beyond = client.get("/queries?state=open&page=9").text  # past the end: the last page
    assert "55 queries · 51–55 shown" in beyond and 'rel="next"' not in beyond
    _login(client, "monitor.cn01")
    assert 'id="f-site"' not in client.get("/queries").text


def test_the_data_manager_locks_and_unlocks_a_whole_casebook_from_the_subject_page(client, world):
    """The subject page tells the data manager how many forms are locked and locks them all at once; an open
    query refuses it with the reason next to the button; unlocking asks for a reason."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    form = data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    data_services.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 60}, event_date=D0)
    query = queries.raise_query(world.edc, world.actor("monitor.cn01"), form.id, "AGE", "Please check")
    _login(client, "datamanager.cn01")
    page = client.get(f"/subjects/{code}").text
    assert "0 of 2 forms locked" in page and "Unlock every form" not in page

    def casebook(action: str, text: str = ""):
        form = {"csrf_token": _csrf(page), "action": action, "text": text}
        return client.post(f"/subjects/{code}/casebook", data=form)

    pending = casebook("lock")
    assert pending.status_code == 422 and "0 of 2 forms locked" in pending.text
    assert (
        '<p class="field-error" id="casebook-queries-error">Queries on this subject are open or answered: close '
        "them before locking its casebook. (EDC-027)" in pending.text
    )
    queries.close_query(world.edc, world.actor("monitor.cn01"), query.id, "Resolved")
    locked = casebook("lock")
    assert locked.status_code == 303 and locked.headers["location"] == f"/subjects/{code}?done=locked"
    page = client.get(f"/subjects/{code}").text
    assert "2 of 2 forms locked" in page and "Lock every form" not in page
    assert page.count('<span class="mark">locked</span>') == 2
    no_reason = casebook("unlock")
    assert (
        no_reason.status_code == 422
        and 'id="f-casebook-text" name="text" value="" aria-invalid="true"' in no_reason.text
    )
    assert casebook("unlock", "late laboratory results").status_code == 303
    assert "0 of 2 forms locked" in client.get(f"/subjects/{code}").text
    _login(client, "investigator.cn01")
    page = client.get(f"/subjects/{code}").text  # the investigator's own session and token
    assert "forms locked" not in page
    refused = casebook("lock")
    assert refused.status_code == 403 and "Your roles do not allow this page." in refused.text


def test_the_monitor_verifies_selected_forms_all_or_none(client, world):
    """The verification page lists the forms never verified or changed since, with the version verified
    before; the monitor ticks forms and marks them verified at the versions shown; a form changed in the
    meantime refuses the whole batch, named; nothing ticked is refused; site staff have no such page."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    dm = data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    vitals = data_services.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 60}, event_date=D0)
    labs = data_services.save_form(world.edc, inv, code, "C1D1", "LABS", {"ANC": 2.1}, event_date=D0)
    data_services.verify_form(world.edc, world.actor("monitor.cn01"), vitals.id, 1)
    data_services.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 61}, base_version=1, reason="scale")
    _login(client, "monitor.cn01")
    page = client.get("/verification").text
    assert (
        "3 forms await verification" in page and 'href="/verification">Source-data verification</a>' in page
    )
    rows = re.findall(r'<input type="checkbox" name="form" value="(\d+):(\d+)"', page)
    assert sorted(rows) == sorted([(str(dm.id), "1"), (str(vitals.id), "2"), (str(labs.id), "1")])
    assert "<td>version 1</td>" in page and page.count("<td>never</td>") == 2

    def verify(*values: str, back: str = "page=1"):
        return client.post(
            "/verification", data={"csrf_token": _csrf(page), "form": list(values), "back": back}
        )

    nothing = verify()
    assert nothing.status_code == 422 and "Select at least one form. (WEB-007)" in nothing.text
    data_services.save_form(world.edc, inv, code, "C1D1", "LABS", {"ANC": 2.2}, base_version=1, reason="lab")
    stale = verify(f"{dm.id}:1", f"{labs.id}:1")
    assert stale.status_code == 422 and f"<code>forms.{labs.id}.version</code>" in stale.text
    assert "3 forms await verification" in stale.text  # DM was not verified either
    done = verify(f"{dm.id}:1", f"{vitals.id}:2", back=f"subject={code}&page=1")
    assert (
        done.status_code == 303
        and done.headers["location"] == f"/verification?subject={code}&page=1&done=verified"
    )
    left = client.get(done.headers["location"]).text
    assert "1 form awaits verification" in left and f'value="{labs.id}:2"' in left
    _login(client, "researchcoordinator.cn01")
    assert "Source-data verification" not in client.get("/").text
    assert client.get("/verification").status_code == 403


def test_the_dashboard_gives_the_monitor_the_answered_queries_and_forms_to_verify(client, world):
    """A monitor's dashboard counts the answered queries to review and the forms awaiting verification, each
    a link to its list; site staff see neither."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    form = data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    data_services.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 60}, event_date=D0)
    for item in ("AGE", "SEX"):
        query = queries.raise_query(world.edc, world.actor("monitor.cn01"), form.id, item, "Please check")
    queries.answer_query(world.edc, inv, query.id, "Checked")
    _login(client, "monitor.cn01")
    page = client.get("/").text
    assert '<a href="/queries?state=answered">1 answered query to review</a>' in page
    assert '<a href="/verification">2 forms await verification</a>' in page
    _login(client, "researchcoordinator.cn01")
    page = client.get("/").text
    assert "to review" not in page and "await verification" not in page


def test_the_subjects_list_shows_monitors_each_casebooks_review(client, world):
    """Monitors and data managers read, per subject, the forms verified and locked of those entered and a link
    to its unsettled queries; site staff do not have these columns."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    form = data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    data_services.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 60}, event_date=D0)
    data_services.verify_form(world.edc, world.actor("monitor.cn01"), form.id, 1)
    queries.raise_query(world.edc, world.actor("monitor.cn01"), form.id, "AGE", "Please check")
    for user in ("monitor.cn01", "datamanager.cn01"):
        _login(client, user)
        page = client.get("/subjects").text
        assert '<th scope="col">Verified</th>' in page
        assert f'<td>1/2</td><td>0/2</td><td><a href="/queries?state=&amp;subject={code}">1</a></td>' in page
    _login(client, "researchcoordinator.cn01")
    assert "Open or answered queries" not in client.get("/subjects").text


def test_the_dashboard_reads_the_same_number_of_statements_for_one_subject_or_many(client, world):
    """The dashboard's calendars and recent adverse events are read for all subjects at once: its database
    statements do not grow with the number of subjects on study (they were several per subject)."""
    inv = world.actor("investigator.cn01")

    def enrolled_and_dosed() -> None:
        code = data_services.create_subject(world.edc, inv, "CN01").code
        wf.save_eligibility(world.edc, inv, code, eligible(D0 - timedelta(days=10)))
        wf.enroll_subject(world.edc, inv, code, D0 - timedelta(days=5))
        wf.record_dose(world.edc, inv, code, induction_dose(1, D0))
        wf.record_adverse_event(world.edc, inv, code, adverse_event(D0 + timedelta(days=9)))

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def dashboard_statements() -> int:
        statements.clear()
        event.listen(world.edc.engine, "before_cursor_execute", count)
        try:
            page = client.get("/")
        finally:
            event.remove(world.edc.engine, "before_cursor_execute", count)
        assert page.status_code == 200 and "Neutrophil count decreased" in page.text
        return len(statements)

    enrolled_and_dosed()
    _login(client, "investigator.cn01")
    one = dashboard_statements()
    for _ in range(4):
        enrolled_and_dosed()
    assert dashboard_statements() == one


def test_the_queries_download_as_csv_whole_with_the_pages_filters(client, world):
    """ "Download all as CSV" on the queries page writes every query its filters keep (more than a page of
    fifty), read back by the csv module: each with its raising and its latest step; another site's are not
    in it."""
    inv = world.actor("investigator.cn01")
    code = data_services.create_subject(world.edc, inv, "CN01").code
    form = data_services.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    monitor = world.actor("monitor.cn01")
    raised = [queries.raise_query(world.edc, monitor, form.id, f"ITEM{n}", "Please check") for n in range(55)]
    queries.answer_query(world.edc, inv, raised[0].id, "核对无误")
    other = data_services.create_subject(world.edc, world.actor("investigator.cn02"), "CN02").code
    other_form = data_services.save_form(
        world.edc, world.actor("investigator.cn02"), other, "SCREENING", "DM", {}
    )
    queries.raise_query(world.edc, world.actor("monitor.cn02"), other_form.id, "AGE", "Please check")
    _login(client, "monitor.cn01")

    page = client.get("/queries?state=").text
    assert '<a href="/queries.csv?state=&amp;site=&amp;subject=" download>Download all as CSV</a>' in page
    download = client.get("/queries.csv?state=&site=&subject=")
    assert download.status_code == 200 and download.content.startswith(codecs.BOM_UTF8)
    text = download.content.decode("utf-8-sig")
    assert text.startswith("query,site,subject,event,form,item,origin,check_code,state,raised_at_utc,")
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert [int(row[0]) for row in rows] == [q.id for q in raised]
    first = dict(zip(header, rows[0], strict=True))
    assert (first["state"], first["raised_by"], first["last_action"], first["last_text"]) == (
        "answered",
        "monitor.cn01",
        "answer",
        "核对无误",
    )
    assert first["last_action_by"] == "investigator.cn01" and other not in download.text
    answered = client.get("/queries.csv?state=answered").text
    assert len(answered.strip().splitlines()) == 2  # the header and the one answered query
