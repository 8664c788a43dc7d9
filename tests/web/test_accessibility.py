"""Accessibility of every page type (issue 8, item 7), checked in chromium on a tablet-sized screen.

No third-party checker: ``a11y_audit.js`` (beside this file) checks in the page that every form control has an
accessible name, images have ``alt``, there is one ``h1``, ``<html lang>`` is the page's language, text has
a contrast of at least 4.5:1 against its background (WCAG 2.1 SC 1.4.3, computed from the computed styles),
and the page does not scroll sideways at 768x1024. Then the keyboard: pressing Tab must reach every
focusable control (WCAG 2.1.1), and each focused control must show a focus indicator (an outline or ring
with a contrast of at least 3:1 against what surrounds it, WCAG 2.4.7 and 1.4.11).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from edc_fixtures import ADMIN, PASSWORD
from oligotrial.services import data, queries
from oligotrial.services import workflow as wf
from oligotrial.web._forms import FORMS
from workflow_data import eligible, induction_dose

AUDIT_JS = (Path(__file__).parent / "a11y_audit.js").read_text(encoding="utf-8")
D0 = date.today() - timedelta(days=120)
TABLET = {"width": 768, "height": 1024}

FOCUS_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const parse = (c) => { const m = (c || '').match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[,\\s/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = (c) => { const ch = [c.r, c.g, c.b].map(v => { const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4); });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]; };
  const ratio = (a, b) => { const [h, l] = [lum(a), lum(b)].sort((x, y) => y - x); return (h + 0.05) / (l + 0.05); };
  let around = {r: 255, g: 255, b: 255, a: 1};
  for (let p = e.parentElement; p; p = p.parentElement) {
    const bg = parse(getComputedStyle(p).backgroundColor); if (bg && bg.a >= 1) { around = bg; break; } }
  const s = getComputedStyle(e);
  const rings = [];
  if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) rings.push(parse(s.outlineColor));
  if (s.boxShadow && s.boxShadow !== 'none') rings.push(parse(s.boxShadow));
  const best = Math.max(0, ...rings.filter(Boolean).map(c => ratio(c, around)));
  return {id: e.getAttribute('data-a11y'), ring: best, what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.getAttribute('name') ? '[name=' + e.getAttribute('name') + ']' : '')};
}"""


def _seed(live) -> tuple[str, int]:
    """A subject of CN01 on study with forms, a query on one of them; returns its code and a form id."""
    edc, world = live.world.edc, live.world
    inv = world.actor("investigator.cn01")
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    for cycle in range(1, 5):
        wf.record_dose(edc, inv, code, induction_dose(cycle, D0 + timedelta(days=21 * (cycle - 1))))
    form_id = data.list_forms(edc, inv, code)[0].id
    queries.raise_query(edc, world.actor("monitor.cn01"), form_id, "age", "Please confirm the age.")
    return code, form_id


def _pages(code: str, form_id: int) -> list[tuple[str | None, str]]:
    """(user, path) of every page type; ``None``: not logged in."""
    coordinator = "researchcoordinator.cn01"
    pages: list[tuple[str | None, str]] = [(None, "/login")]
    pages += [
        (coordinator, path)
        for path in (
            "/",
            "/subjects",
            f"/subjects/{code}",
            f"/forms/{form_id}",
            "/queries",
            "/password",
            f"/subjects/{code}/randomize",
        )
    ]
    pages += [(coordinator, f"/subjects/{code}/{kind}") for kind in FORMS]
    pages += [
        ("monitor.cn01", "/audit"),
        ("monitor.cn01", "/verification"),
        ("datamanager.cn01", f"/subjects/{code}"),
        ("statistician", "/reports"),
        ("statistician", "/randomization-list"),
    ]
    pages += [(ADMIN, "/")]
    return pages


def _log_in(page, base: str, username: str, language: str) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "oligotrial_lang", "value": language, "url": base}])
    page.goto(base + "/login")
    page.fill("#f-username", username)
    page.fill("#f-password", "correct horse battery staple" if username == ADMIN else PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def _tab_walk(page, focusable: list[dict[str, str]]) -> list[str]:
    """Press Tab through one full cycle; the problems: controls never reached, focus without a visible ring."""
    problems: list[str] = []
    reached: set[str] = set()
    for _ in range(len(focusable) + 3):
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUS_JS)
        if info is None:
            continue
        if info["id"] is not None:
            reached.add(info["id"])
        if info["ring"] < 3:
            problems.append(f"focus not visible (indicator contrast {info['ring']:.2f}:1): {info['what']}")
    missed = [f["what"] for f in focusable if f["id"] not in reached]
    if missed:
        problems.append(f"Tab never reaches: {missed[:5]}")
    return problems


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_every_page_type_is_accessible_on_a_tablet(browser, live_server, artifacts, language):
    code, form_id = _seed(live_server)
    context = browser.new_context(viewport=TABLET)
    page = context.new_page()
    page.set_default_timeout(60000)  # 15 s was once too short for a form submit on a loaded 2-core machine
    expected_lang = "zh-Hans" if language == "zh_Hans" else "en"
    found: dict[str, list[str]] = {}
    user: str | None = "-"
    for who, path in _pages(code, form_id):
        if who != user:
            if who is None:
                page.context.clear_cookies()
                page.context.add_cookies(
                    [{"name": "oligotrial_lang", "value": language, "url": live_server.url}]
                )
            else:
                _log_in(page, live_server.url, who, language)
            user = who
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, (who, path)
        result = page.evaluate(AUDIT_JS, expected_lang)
        problems = list(result["problems"]) + _tab_walk(page, result["focusable"])
        if problems:
            found[f"{who} {path}"] = problems
    page.screenshot(path=str(artifacts / f"a11y-{language}-tablet.png"), full_page=True)
    context.close()
    assert not found, "\n".join(f"{where}:\n  " + "\n  ".join(p) for where, p in found.items())


def test_the_audit_finds_what_it_is_meant_to_find(browser):
    """The checks themselves: a page with each fault is reported, the same page without is clean."""
    page = browser.new_page(viewport=TABLET)
    page.set_content(
        """<html lang="fr"><head><title>t</title></head><body>
        <h1>One</h1><h1>Two</h1>
        <input name="nolabel"><img src="x.png">
        <p style="color:#999;background:#fff">faint text</p>
        <div style="width:2000px">wide</div>
        <button style="outline:none" id="b">Go</button>
        </body></html>"""
    )
    result = page.evaluate(AUDIT_JS, "en")
    text = "\n".join(result["problems"])
    assert "html lang is fr, expected en" in text
    assert "2 h1 elements" in text
    assert "no accessible name: input[name=nolabel]" in text
    assert "img without alt: x.png" in text
    assert "contrast 2.85:1 < 4.5:1" in text
    assert "horizontal scroll" in text
    walk = _tab_walk(page, result["focusable"])
    assert any("focus not visible" in p and "button#b" in p for p in walk)
    page.set_content(
        """<html lang="en"><head><title>t</title></head><body><h1>One</h1>
        <label for="a">Name</label><input id="a" style="outline-offset:1px" name="a">
        <img src="x.png" alt="">
        <p style="color:#595959;background:#fff">enough contrast</p>
        <style>input:focus { outline: 3px solid #0b4f8a; }</style></body></html>"""
    )
    clean = page.evaluate(AUDIT_JS, "en")
    assert clean["problems"] == []
    assert _tab_walk(page, clean["focusable"]) == []
    page.close()
