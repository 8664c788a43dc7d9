"""The reports pages against the real server: what each role sees on /reports, the PNG figures and who may fetch
them, an empty trial and a trial with one arm empty rendering without error, and, in chromium, a DSMB member
seeing the Kaplan-Meier image (in Simplified Chinese, every line translated) while only the statistician gets
the randomization list."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import httpx
from babel.messages.pofile import read_po
from PIL import Image

import oligotrial.services.randomization as rnd_module
import oligotrial.web
from edc_fixtures import ADMIN, ADMIN_PASSWORD, PASSWORD
from oligotrial.services import data
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from workflow_data import adverse_event, assessment, eligible, induction_dose

D0 = date(2024, 1, 8)
PO = oligotrial.web.__file__.rsplit("/", 1)[0] + "/locale/zh_Hans/LC_MESSAGES/messages.po"


def _client(live, username: str, password: str = PASSWORD, language: str = "en") -> httpx.Client:
    client = httpx.Client(base_url=live.url, follow_redirects=False, timeout=60)
    client.cookies.set("oligotrial_lang", language)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    done = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1), "next": "/"}
    )
    assert done.status_code == 303, done.text[:300]
    return client


def _text(html: str) -> str:
    main = html[html.index("<main") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def _png_size(content: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return image.size


def _one_randomized_subject(world, monkeypatch) -> None:
    """CN01-0001 randomized on 2024-04-03 (RT, the first slot of its stratum), progression on 2024-05-27;
    CN02-0001 progressed during induction. The control arm stays empty."""

    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):  # the randomization service asks for UTC
            return datetime(2024, 4, 3, 12, tzinfo=UTC)

    monkeypatch.setattr(rnd_module, "datetime", Fixed)
    edc = world.edc
    for site in ("CN01", "CN02"):
        inv = world.actor(f"investigator.{site.lower()}")
        code = data.create_subject(edc, inv, site).code
        wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
        wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
        wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=4), 30, 20))
        for cycle in range(4):
            wf.record_dose(edc, inv, code, induction_dose(cycle + 1, D0 + timedelta(days=21 * cycle)))
        if site == "CN02":
            wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=84), 30, 20, new=True))
            continue
        wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=84), 18, 15))
        assert rnd.randomize_subject(edc, inv, code).arm == "experimental"
        wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=140), 18, 15, new=True))
        wf.record_adverse_event(edc, inv, code, adverse_event(D0 + timedelta(days=9)))


def test_an_empty_trial_renders_for_every_role(live_server):
    dsmb = _client(live_server, "dsmbmember")
    page = dsmb.get("/reports")
    assert page.status_code == 200
    text = _text(page.text)
    for heading in ("CONSORT counts", "Kaplan-Meier by arm", "Response (RECIST 1.1, confirmed)"):
        assert heading in text
    assert "Control (CTRL) 0 0 not estimable" in text and "No treatment-emergent adverse event." in text
    assert "No subject enrolled yet." in text
    for path, size in (("/reports/km/PFS.png", (800, 600)), ("/reports/km/OS.png", (800, 600))):
        figure = dsmb.get(path)
        assert figure.status_code == 200 and figure.headers["content-type"] == "image/png", path
        assert _png_size(figure.content) == size
    assert _png_size(dsmb.get("/reports/enrollment.png").content) == (800, 450)
    assert dsmb.get("/reports/km/DFS.png").status_code == 404
    assert dsmb.get("/randomization-list").status_code == 403

    admin = _client(live_server, ADMIN, ADMIN_PASSWORD)
    page = admin.get("/reports")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Results by arm are shown to the statistician and the DSMB only." in text
    assert "Kaplan-Meier" not in text and "/reports/km/" not in page.text
    assert admin.get("/reports/km/PFS.png").status_code == 403
    assert admin.get("/reports/enrollment.png").status_code == 200

    coordinator = _client(live_server, "researchcoordinator.cn01")
    page = coordinator.get("/reports")
    assert page.status_code == 200 and "CN01" in page.text and "CN02" not in page.text
    assert "/reports/enrollment.png" not in page.text and "/reports/km/" not in page.text
    for path in ("/reports/km/PFS.png", "/reports/km/OS.png", "/reports/enrollment.png"):
        assert coordinator.get(path).status_code == 403, path


def test_one_arm_empty_with_events(live_server, monkeypatch):
    _one_randomized_subject(live_server.world, monkeypatch)
    dsmb = _client(live_server, "dsmbmember")
    page = dsmb.get("/reports")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Screened 2 Enrolled 2 Not enrolled 0 Progression during induction 1" in text
    assert "Control (CTRL) 0 0 0 0 0 Experimental (RT) 1 0 0 0 1" in text  # CONSORT by arm
    # PFS: one event on day 55 in RT; median 55 / 30.4375 = 1.8 months; nothing to compare with control
    assert "Experimental (RT) 1 1 1.8 not estimable" in text
    assert "Stratified log-rank p: not estimable." in text
    assert "Experimental (RT) 1 0 · 0.0% (0.0–97.5) 1 · 100.0% (2.5–100.0)" in text  # ORR, DCR
    assert "All enrolled 2 0 · 0.0% (0.0–84.2) 1 · 50.0% (1.3–98.7)" in text
    assert "any adverse event 0 1 0 1" in text
    for path in ("/reports/km/PFS.png", "/reports/km/OS.png", "/reports/enrollment.png"):
        figure = dsmb.get(path)
        assert figure.status_code == 200 and figure.headers["cache-control"] == "no-store", (
            path
        )  # set by the app
    statistician = _client(live_server, "statistician", language="zh_Hans")
    page = statistician.get("/reports")
    assert page.status_code == 200 and "无进展生存期" in page.text and "试验组 (RT)" in page.text
    assert statistician.get("/randomization-list").status_code == 200


def _english_messages() -> set[str]:
    with open(PO, "rb") as handle:
        catalog = read_po(handle, locale="zh_Hans")
    return {m.id for m in catalog if isinstance(m.id, str) and m.id and m.string and m.string != m.id}


def test_dsmb_sees_the_curves_and_only_the_statistician_the_list(
    browser, live_server, artifacts, monkeypatch
):
    _one_randomized_subject(live_server.world, monkeypatch)
    language = "zh_Hans"
    context = browser.new_context(viewport={"width": 1024, "height": 1366})
    context.add_cookies([{"name": "oligotrial_lang", "value": language, "url": live_server.url}])
    page = context.new_page()
    english = _english_messages()

    def login(username: str) -> None:
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "oligotrial_lang", "value": language, "url": live_server.url}])
        page.goto(live_server.url + "/login")
        page.fill("#f-username", username)
        page.fill("#f-password", PASSWORD)
        with page.expect_navigation():
            page.click("form[action='/login'] button[type=submit]")
        assert page.url == live_server.url + "/", page.url

    login("dsmbmember")
    page.goto(live_server.url + "/reports")
    for src in ("/reports/km/PFS.png", "/reports/km/OS.png", "/reports/enrollment.png"):
        image = page.locator(f"img[src='{src}']")
        image.scroll_into_view_if_needed()
        assert image.evaluate("i => i.complete && i.naturalWidth") > 0, src
    lines = page.evaluate("() => document.body.innerText.split('\\n').map(s => s.trim()).filter(Boolean)")
    assert "无进展生存期" in lines and not [line for line in lines if line in english]
    assert page.locator("a[href='/randomization-list']").count() == 0
    page.screenshot(path=str(artifacts / f"{language}-reports-dsmb.png"), full_page=True)
    response = page.goto(live_server.url + "/randomization-list")
    assert response is not None and response.status == 403

    login("statistician")
    page.goto(live_server.url + "/randomization-list")
    assert page.locator("table tbody tr").count() > 0
    page.screenshot(path=str(artifacts / f"{language}-randomization-list-statistician.png"), full_page=True)
    context.close()
