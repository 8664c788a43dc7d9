"""The pages after induction against the real server (HTTP), and in chromium in English and Chinese.

End of treatment, survival follow-up, death, new anticancer therapy, disposition and protocol deviations:
for each, a valid save, a refusal shown next to its field with the typed value kept, and a change after
entry that needs a reason. Form-level signing: a wrong password is refused in the dialog, the right one
stores the signature, and a later change of the form shows it invalidated.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import httpx
import pytest

from edc_fixtures import PASSWORD
from oligotrial.services import data
from oligotrial.services import workflow as wf
from oligotrial.services.signatures import list_signatures
from oligotrial.web._forms import FORMS
from oligotrial.web._pages import EDIT_KINDS
from workflow_data import eligible, induction_dose

D0 = date(2024, 1, 8)
COORDINATOR = "researchcoordinator.cn01"


def _on_study(live) -> str:
    """A subject of CN01 enrolled and given four induction cycles (through the services)."""
    edc, inv = live.world.edc, live.world.actor("investigator.cn01")
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    for cycle in range(1, 5):
        wf.record_dose(edc, inv, code, induction_dose(cycle, D0 + timedelta(days=21 * (cycle - 1))))
    return code


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:500]
    return found.group(1)


def _client(live, username: str = COORDINATOR) -> httpx.Client:
    client = httpx.Client(base_url=live.url, follow_redirects=False, timeout=30)
    page = client.get("/login")
    done = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _csrf(page.text), "next": "/"},
    )
    assert done.status_code == 303, done.text[:500]
    return client


def _post(client: httpx.Client, path: str, values: dict[str, str]) -> httpx.Response:
    """Open the page (for its CSRF token, event and version) and post ``values`` as the form would."""
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    hidden = dict(re.findall(r'<input type="hidden" name="(event|base_version)" value="([^"]*)"', page.text))
    target = path.split("?")[0]
    return client.post(target, data={"csrf_token": _csrf(page.text), **hidden, **values})


def _field_error(text: str, name: str) -> str:
    """The message shown next to input ``name`` (its ``<name>-error`` paragraph)."""
    found = re.search(
        rf'<p class="field-error" id="{re.escape(name.replace(".", "-"))}-error">(.*?)</p>', text
    )
    assert found, f"no message next to {name}"
    return html.unescape(found.group(1)).strip()


def _messages(text: str) -> list[str]:
    """Every message of a refused page (next to fields and at the top), for the failure report."""
    return [
        html.unescape(m)
        for m in re.findall(
            r'<p class="field-error"[^>]*>(.*?)</p>|<div class="error-summary" role="alert"><p>(.*?)</p>',
            text,
        )
        for m in m
        if m
    ]


def _typed(text: str, name: str) -> str:
    """The value an input, textarea or select shows."""
    fid = "f-" + name.replace(".", "-")
    quoted = re.escape(name)
    found = re.search(rf'<input id="{fid}" name="{quoted}" value="([^"]*)"', text) or re.search(
        rf'<textarea id="{fid}" name="{quoted}"[^>]*>(.*?)</textarea>', text, re.S
    )
    if found:
        return html.unescape(found.group(1))
    select = re.search(rf'<select id="{fid}" name="{quoted}"[^>]*>(.*?)</select>', text, re.S)
    assert select, f"no input {name}"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(1))
    return html.unescape(chosen.group(1)) if chosen else ""


def _form(live, code: str, form_code: str, event: str | None = None):
    forms = [
        f
        for f in data.list_forms(live.world.edc, live.world.actor("investigator.cn01"), code)
        if f.form_code == form_code and (event is None or f.event_code == event)
    ]
    assert len(forms) == 1, forms
    return forms[0]


CASES = [
    # kind, form code, event of the first entry, valid values, (bad field, bad value, message), change
    (
        "end-of-treatment",
        "EOT",
        "EOT",
        {"date": "2024-03-20", "last_dose_date": "2024-03-11", "reason": "progression", "details": ""},
        ("last_dose_date", "2024-03-31", "the last dose cannot be after the end of treatment. (EOT-101)"),
        {"reason": "intolerable toxicity"},
    ),
    (
        "follow-up",
        "FOLLOWUP",
        "FU.001",
        {"date": "2024-06-01", "status": "alive", "method": "telephone", "last_known_alive_date": ""},
        ("date", "2024-06-31", "Enter a date as YYYY-MM-DD. (WEB-001)"),
        {"method": "visit"},
    ),
    (
        "death",
        "DEATH",
        "DEATH",
        {"date": "2024-09-02", "cause": "disease progression", "details": "at home"},
        ("date", "02/09/2024", "Enter a date as YYYY-MM-DD. (WEB-001)"),
        {"cause": "unknown"},
    ),
    (
        "new-therapy",
        "NEWTHERAPY",
        "NT.001",
        {"therapy": "docetaxel", "category": "systemic", "start_date": "2024-05-02", "end_date": ""},
        ("therapy", "", "This field is required. (WEB-004)"),
        {"end_date": "2024-07-30"},
    ),
    (
        "disposition",
        "DISPOSITION",
        "DISPOSITION",
        {"date": "2024-09-02", "reason": "DEATH", "details": ""},
        ("date", "2024-13-01", "Enter a date as YYYY-MM-DD. (WEB-001)"),
        {"details": "date of death from the hospital record"},
    ),
    (
        "deviation",
        "DEVIATION",
        "DEV.001",
        {
            "date": "2024-02-03",
            "category": "visit window",
            "description": "Cycle 2 given 5 days after its window",
            "calendar_event": "C2D1",
            "is_major": "false",
        },
        ("description", "", "This field is required. (WEB-004)"),
        {"is_major": "true"},
    ),
]


def test_the_pages_after_induction_save_refuse_next_to_the_field_and_need_a_reason(live_server):
    code = _on_study(live_server)
    client = _client(live_server)
    subject_page = client.get(f"/subjects/{code}").text
    for kind, *_ in CASES:
        assert f'href="/subjects/{code}/{kind}"' in subject_page, kind

    for kind, form_code, event, valid, (bad_field, bad_value, message), change in CASES:
        path = f"/subjects/{code}/{kind}"
        refused = _post(client, path, {**valid, bad_field: bad_value})
        assert refused.status_code == 422, (kind, refused.text[:300])
        assert _field_error(refused.text, bad_field).endswith(message), kind
        assert _typed(refused.text, bad_field) == bad_value, kind
        assert 'role="alert"' in refused.text

        saved = _post(client, path, valid)
        assert saved.status_code == 303 and saved.headers["location"] == f"/subjects/{code}?done=saved", kind
        stored = _form(live_server, code, form_code, event)
        assert stored.version == 1

        edit_path = f"{path}?event={event}" if kind in ("follow-up", "new-therapy", "deviation") else path
        edit_page = client.get(edit_path).text
        assert 'name="base_version" value="1"' in edit_page and 'id="f-change_reason"' in edit_page, kind
        no_reason = _post(client, edit_path, {**valid, **change})
        assert no_reason.status_code == 422
        assert _field_error(no_reason.text, "change_reason") == (
            "A reason is required for a change after first entry. (EDC-010)"
        )
        for name, value in change.items():
            assert _typed(no_reason.text, name) == value, (kind, name)
        changed = _post(client, edit_path, {**valid, **change, "change_reason": "corrected from the source"})
        assert changed.status_code == 303, (kind, _messages(changed.text))
        stored = _form(live_server, code, form_code, event)
        assert stored.version == 2
        for name, value in change.items():
            expected = {"true": True, "false": False}.get(value, value)
            assert stored.values[name] == expected, (kind, name)

    # after the disposition (reason death) the subject has died; a second end of treatment is refused
    assert data.get_subject(
        live_server.world.edc, live_server.world.actor("investigator.cn01"), code
    ).status == ("died")
    again = _post(client, f"/subjects/{code}/end-of-treatment?event=none", CASES[0][3])
    assert again.status_code == 422 and "(EDC-010)" in again.text  # the page opened the entered form

    # the repeating forms list what was entered, with links to change them; the subject page lists deviations
    deviation_page = client.get(f"/subjects/{code}/deviation").text
    assert f'href="/subjects/{code}/deviation?event=DEV.001"' in deviation_page
    assert "visit window" in deviation_page
    subject_page = client.get(f"/subjects/{code}").text
    assert "Cycle 2 given 5 days after its window" in subject_page
    for step, kind in (("DEATH", "death"), ("DISPOSITION", "disposition")):
        assert re.search(rf"<code>{step}</code>.*?<a href=\"/subjects/{code}/{kind}\">", subject_page, re.S)
    assert f'<a href="/subjects/{code}/end-of-treatment">' in subject_page  # the calendar's EOT step
    client.close()


def test_a_second_follow_up_is_a_new_record_and_a_wrong_reason_is_refused(live_server):
    code = _on_study(live_server)
    client = _client(live_server)
    first = {"date": "2024-06-01", "status": "alive", "method": "telephone", "last_known_alive_date": ""}
    assert _post(client, f"/subjects/{code}/follow-up", first).status_code == 303
    second = {**first, "date": "2024-08-24", "status": "lost to follow-up"}
    assert _post(client, f"/subjects/{code}/follow-up", second).status_code == 303
    assert _form(live_server, code, "FOLLOWUP", "FU.002").values["status"] == "lost to follow-up"
    bad = _post(
        client,
        f"/subjects/{code}/end-of-treatment",
        {"date": "2024-03-20", "last_dose_date": "2024-03-11", "reason": "boredom"},
    )
    assert bad.status_code == 422
    assert _field_error(bad.text, "reason") == "Choose one of the listed values. (WEB-005)"
    listed = client.get(f"/subjects/{code}/follow-up").text
    assert f'href="/subjects/{code}/follow-up?event=FU.002"' in listed
    client.close()


def test_an_investigator_signs_one_form_and_a_change_invalidates_the_signature(live_server):
    code = _on_study(live_server)
    client = _client(live_server)
    valid = {"date": "2024-06-01", "status": "alive", "method": "telephone"}
    assert _post(client, f"/subjects/{code}/follow-up", valid).status_code == 303
    form = _form(live_server, code, "FOLLOWUP")
    assert "/sign" not in client.get(f"/forms/{form.id}").text  # a coordinator does not sign
    client.close()

    investigator = _client(live_server, "investigator.cn01")
    page = investigator.get(f"/forms/{form.id}")
    assert f'action="/forms/{form.id}/sign"' in page.text and "Not signed." in page.text
    assert f'href="/subjects/{code}/follow-up?event=FU.001"' in page.text  # change this form
    token = _csrf(page.text)
    wrong = investigator.post(
        f"/forms/{form.id}/sign",
        data={"csrf_token": token, "meaning": "review", "password": "not the password"},
    )
    assert wrong.status_code == 422
    assert (
        _field_error(wrong.text, "password")
        == "The password is wrong; the signature was not applied. (AUTH-010)"
    )
    assert '<details class="dialog" open>' in wrong.text
    assert 'value="review" checked' in wrong.text
    no_meaning = investigator.post(f"/forms/{form.id}/sign", data={"csrf_token": token, "password": PASSWORD})
    assert _field_error(no_meaning.text, "meaning") == "Choose the meaning of the signature. (EDC-040)"
    inv = live_server.world.actor("investigator.cn01")
    assert list_signatures(live_server.world.edc, inv, code) == []

    signed = investigator.post(
        f"/forms/{form.id}/sign", data={"csrf_token": token, "meaning": "review", "password": PASSWORD}
    )
    assert signed.status_code == 303 and signed.headers["location"] == f"/forms/{form.id}?done=signed"
    [signature] = list_signatures(live_server.world.edc, inv, code)
    assert (signature.form_id, signature.meaning, signature.status) == (form.id, "review", "valid")
    assert [(r.id, r.version) for r in signature.records] == [(form.id, 1)]
    shown = investigator.get(f"/forms/{form.id}").text
    assert "I have reviewed the data recorded in these records." in shown
    assert 'class="status status-valid"' in shown

    # a change of the signed form (with a reason) shows the signature invalidated, naming the form
    changed = _post(
        investigator,
        f"/subjects/{code}/follow-up?event=FU.001",
        {**valid, "method": "visit", "change_reason": "the contact was a clinic visit"},
    )
    assert changed.status_code == 303
    shown = investigator.get(f"/forms/{form.id}").text
    assert 'class="status status-invalidated"' in shown
    assert f"Changed since signing: form {form.id}" in shown
    subject_page = investigator.get(f"/subjects/{code}").text
    assert f'<a href="/forms/{form.id}">Form {form.id}</a>' in subject_page
    investigator.close()


def test_every_entry_page_is_reachable_from_its_forms_page():
    """Each workflow form code the form page offers to change has an entry page of that kind and code."""
    from oligotrial.protocol import load_protocol

    protocol = load_protocol()
    codes = {kind: FORMS[kind](protocol).form_code for kind in FORMS}
    for form_code, kind in EDIT_KINDS.items():
        assert codes[kind] == form_code
    assert set(EDIT_KINDS) == {c for c in codes.values() if c != "RT"}


@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_walk_through_the_pages_after_induction(browser, live_server, artifacts, language):
    """In chromium: each new page refuses bad input next to the field keeping it, then saves; a deviation
    is listed on the subject page; the investigator signs one form from its page (wrong password first)."""
    from tests.web.test_browser import Walk

    code = _on_study(live_server)
    context = browser.new_context(viewport={"width": 1024, "height": 1366})  # a tablet
    page = context.new_page()
    page.set_default_timeout(60000)  # 15 s was once too short for a form submit on a loaded 2-core machine
    w = Walk(page, live_server.url, language, artifacts)
    w.login(COORDINATOR)
    w.go(f"/subjects/{code}")
    for kind, _form_code, _event, valid, (bad_field, bad_value, _message), _change in CASES:
        with page.expect_navigation():
            page.click(f"nav.actions a[href='/subjects/{code}/{kind}']")
        w.check_language()
        w.fill({k: v for k, v in {**valid, bad_field: bad_value}.items() if v or k == bad_field})
        w.submit()
        w.expect_error_next_to(bad_field, bad_value)
        w.fill({bad_field: valid[bad_field]})
        w.shot(f"workflow-{kind}")
        w.submit()
        assert "done=saved" in page.url, (kind, page.url)
    assert page.locator("#h-deviations + table").inner_text().count("DEV.001") == 1
    w.shot("workflow-subject")

    # a change of the follow-up needs its reason (refused next to the reason field, typed value kept)
    w.go(f"/subjects/{code}/follow-up?event=FU.001")
    w.fill({"method": "visit"})
    w.submit()
    w.expect_error_next_to("change_reason", "")
    assert page.locator("[name='method']").input_value() == "visit"
    w.fill({"change_reason": "a clinic visit, not a call"})
    w.submit()
    assert "done=saved" in page.url

    # the investigator signs the new therapy form from its page
    form = _form(live_server, code, "NEWTHERAPY")
    w.login("investigator.cn01")
    w.go(f"/forms/{form.id}")
    page.click("details.dialog summary")
    page.check("input[name=meaning][value=authorship]")
    page.fill("#f-sign-password", "wrong password here")
    w.submit(f"form[action='/forms/{form.id}/sign']")
    assert page.locator("#f-sign-password").locator("xpath=..").locator(".field-error").is_visible()
    assert page.locator("input[name=meaning][value=authorship]").is_checked()
    page.fill("#f-sign-password", PASSWORD)
    w.submit(f"form[action='/forms/{form.id}/sign']")
    assert "done=signed" in page.url
    assert page.locator("li.signature .status-valid").count() == 1
    w.shot("workflow-form-signed")
    context.close()
