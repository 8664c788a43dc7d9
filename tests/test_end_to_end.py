"""End to end through the HTTP API on SQLite and PostgreSQL: subjects on every path, the SDTM export by the
command line, ADaM derived from it, and literal endpoint values.

Paths: screen failure (CN01-0001); progression during induction (CN01-0002); experimental arm, progression
on maintenance and new therapy after it (CN01-0003); control arm and death before any post-randomization
assessment (CN01-0004); experimental arm, new therapy before progression, then lost to follow-up
(CN01-0005). The arms are those of the seeded allocation list.

Randomization goes through ``POST /api/v1/subjects/{code}/randomization`` without a body: the service reads
the post-induction response from the tumour assessments and the number of metastatic organs from the
eligibility form. It dates the allocation on the site's today; every other date is therefore placed relative
to today (taken when the test starts), so the endpoint values below are literal day counts. CN01-0003 gets a
radiotherapy course (the end of chemo-immunotherapy defaults to its last induction dose), which SDTM PR and ADSL
RTFL/RTSDT/RTEDT carry.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient

from edc_fixtures import site_today
from oligotrial.api import create_app
from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets
from oligotrial.protocol import load_protocol
from oligotrial.services import randomization
from workflow_data import adverse_event, assessment, eligible, induction_dose, maintenance_dose


@pytest.fixture
def api(world):
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as client:

        def call(method, path, body=None, user="investigator.cn01", expect=(200, 201)):
            r = client.request(
                method, "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {world.tokens[user]}"}
            )
            if expect is not None:
                assert r.status_code in expect, (path, r.status_code, r.text)
            return r

        yield call


def _screen_and_enroll(api, d0, **changes):
    code = api("POST", "/subjects", {"site": "CN01"}).json()["code"]
    elig = api(
        "PUT", f"/subjects/{code}/eligibility", {"values": eligible(d0 - timedelta(days=14), **changes)}
    )
    if elig.json()["derived"]["verdict"] == "eligible":
        api("POST", f"/subjects/{code}/enroll", {"enrollment_date": (d0 - timedelta(days=7)).isoformat()})
        api(
            "POST",
            f"/subjects/{code}/tumour-assessments",
            {"values": assessment(d0 - timedelta(days=10), 30, 20)},
        )
    return code


def _induction(api, code, d0, cycles=4):
    for cycle in range(1, cycles + 1):
        api(
            "POST",
            f"/subjects/{code}/doses",
            {"values": induction_dose(cycle, d0 + timedelta(days=21 * (cycle - 1)))},
        )


def test_every_path_through_the_api_to_adam(api, world, run_cli, tmp_path, database_url):
    # Today at the sites when the test runs (not when pytest imports the module): the server dates the
    # randomization made then on the site's calendar.
    today = site_today()
    d0 = today - timedelta(days=90)  # first induction dose

    def day(offset: int) -> date:
        return today + timedelta(days=offset)

    edc, stat = world.edc, world.actor("statistician")
    randomization.generate_randomization_list(edc, stat, entries_per_stratum=8, seed=20240501)
    # 1. screen failure: ECOG 2
    failed = _screen_and_enroll(api, d0, ecog=2)
    refused = api("POST", f"/subjects/{failed}/enroll", {"enrollment_date": d0.isoformat()}, expect=(409,))
    assert refused.json()["error"]["problems"][0]["code"] == "ENROLL-001"
    api("POST", f"/subjects/{failed}/screen-failure", {"date": (d0 - timedelta(days=13)).isoformat()})
    # 2. progression during induction: a new lesion at the post-induction assessment
    induction_pd = _screen_and_enroll(api, d0)
    _induction(api, induction_pd, d0)
    pd = api(
        "POST",
        f"/subjects/{induction_pd}/tumour-assessments",
        {"values": assessment(day(-6), 28, 19, new=True)},
    )
    assert pd.json()["derived"]["OVRLRESP"] == "PD"
    api(
        "POST",
        f"/subjects/{induction_pd}/end-of-treatment",
        {
            "values": {
                "date": day(-5).isoformat(),
                "last_dose_date": (d0 + timedelta(days=63)).isoformat(),
                "reason": "progression",
            }
        },
    )
    # 3.-5. responders after induction, randomized today
    responders = []
    for _ in range(3):
        code = _screen_and_enroll(api, d0)
        _induction(api, code, d0)
        pr = api("POST", f"/subjects/{code}/tumour-assessments", {"values": assessment(day(-6), 18, 15)})
        assert pr.json()["derived"]["OVRLRESP"] == "PR"
        responders.append(code)
    # randomization reads PD after induction from the records and refuses it
    r = api("POST", f"/subjects/{induction_pd}/randomization", expect=(409,))
    assert r.json()["error"]["problems"][0]["code"] == "RAND-003"
    arms = {}
    for code in responders:
        view = api("POST", f"/subjects/{code}/randomization", expect=(201,)).json()
        assert view["covariates"]["induction_response"] == "PR"
        assert view["covariates"]["metastatic_organ_count"] == 2  # liver and lung
        arms[code] = view["arm"]
    progressed, died, lost = responders
    assert arms == {progressed: "experimental", died: "control", lost: "experimental"}
    # 3. radiotherapy, progression on maintenance, then a new therapy
    plan = api(
        "PUT",
        f"/subjects/{progressed}/radiotherapy/courses",
        {
            "course": {
                "lesion_id": "T2",
                "lesion_type": "metastasis",
                "organ": "lung",
                "technique": "SBRT",
                "dose_per_fraction_gy": 8,
                "fractions": 5,
                "start_date": day(1).isoformat(),
                "end_date": day(7).isoformat(),
            }
        },
    ).json()
    assert plan["chemo_immunotherapy_end"] == (d0 + timedelta(days=63)).isoformat()  # last induction dose
    assert plan["verdict"] == "compliant"
    api("POST", f"/subjects/{progressed}/doses", {"values": maintenance_dose(1, day(14))})
    api("POST", f"/subjects/{progressed}/doses", {"values": maintenance_dose(2, day(35))})
    api("POST", f"/subjects/{progressed}/tumour-assessments", {"values": assessment(day(42), 25, 20)})
    api(
        "POST",
        f"/subjects/{progressed}/adverse-events",
        {
            "values": adverse_event(
                day(10), term="Hypothyroidism", grade=2, relation={"camrelizumab": "related"}
            )
        },
    )
    api(
        "POST",
        f"/subjects/{progressed}/end-of-treatment",
        {
            "values": {
                "date": day(43).isoformat(),
                "last_dose_date": day(35).isoformat(),
                "reason": "progression",
            }
        },
    )
    api(
        "POST",
        f"/subjects/{progressed}/new-therapies",
        {"values": {"therapy": "docetaxel", "start_date": day(50).isoformat()}},
    )
    # 4. death before the first post-randomization assessment, with a fatal serious AE
    sae = api(
        "POST",
        f"/subjects/{died}/adverse-events",
        {
            "values": adverse_event(
                day(25),
                term="Pneumonitis",
                grade=5,
                serious=True,
                seriousness_criteria=["death"],
                relation={"camrelizumab": "possibly related", "radiotherapy": "not applicable"},
                action_taken="drug withdrawn",
                outcome="fatal",
            )
        },
    )
    assert sae.json()["derived"]["expedited_report_due"].startswith(day(26).isoformat())
    api(
        "POST",
        f"/subjects/{died}/death",
        {"values": {"date": day(30).isoformat(), "cause": "adverse event"}},
    )
    api(
        "POST",
        f"/subjects/{died}/disposition",
        {"values": {"date": day(30).isoformat(), "reason": "DEATH"}},
    )
    # 5. stable disease, new therapy before progression, then lost to follow-up
    api("POST", f"/subjects/{lost}/doses", {"values": maintenance_dose(1, day(0))})
    api("POST", f"/subjects/{lost}/tumour-assessments", {"values": assessment(day(42), 20, 15)})
    api(
        "POST",
        f"/subjects/{lost}/new-therapies",
        {"values": {"therapy": "irinotecan", "start_date": day(50).isoformat()}},
    )
    api("POST", f"/subjects/{lost}/tumour-assessments", {"values": assessment(day(84), 30, 25)})
    api(
        "POST",
        f"/subjects/{lost}/disposition",
        {"values": {"date": day(120).isoformat(), "reason": "LOST TO FOLLOW-UP"}},
    )
    # bad input: grade 6, unknown term: 422 naming the rule, nothing stored
    before = len(api("GET", f"/subjects/{lost}/forms").json())
    for values, rule in [
        (adverse_event(day(5), grade=6), "AE-103"),
        (adverse_event(day(5), term="Sadness"), "AE-104"),
    ]:
        r = api("POST", f"/subjects/{lost}/adverse-events", {"values": values}, expect=(422,))
        assert [(p["code"], p["field"]) for p in r.json()["error"]["problems"]] == [
            (rule, "values." + ("grade" if rule == "AE-103" else "term"))
        ]
    assert len(api("GET", f"/subjects/{lost}/forms").json()) == before

    out = tmp_path / "sdtm"
    result = run_cli("export", "sdtm", "--out", out, "--database", database_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["records"]["DM"] == 5 and result.json()["problems"] == []
    xpt = run_cli("export", "sdtm", "--out", tmp_path / "xpt", "--format", "xpt", "--database", database_url)
    assert xpt.exit_code == 0, xpt.stderr  # every variable is described in the XPORT metadata
    sdtm = read_datasets(out, DOMAINS)
    pr = sdtm["PR"].select("USUBJID", "PRTRT", "PRLNKID", "PRLOC", "PRDOSE", "PRDOSTOT", "PRFRACN", "PRSTDTC")
    assert [(r["USUBJID"][-9:], *list(r.values())[1:]) for r in pr.iter_rows(named=True)] == [
        (progressed, "RADIOTHERAPY", "T2", "LUNG", "8.0", "40.0", "5", day(1).isoformat())  # CSV text
    ]
    adam = derive_adam(sdtm, load_protocol())
    adsl = {r["USUBJID"][-9:]: r for r in adam.adsl.iter_rows(named=True)}
    assert [(c, adsl[c]["RTFL"], adsl[c]["RTSDT"], adsl[c]["RTEDT"]) for c in responders] == [
        (progressed, "Y", day(1), day(7)),
        (died, "N", None, None),
        (lost, "N", None, None),
    ]
    assert {c: r["ARMCD"] for c, r in adsl.items()} == {
        failed: None,
        induction_pd: None,
        progressed: "RT",
        died: "CTRL",
        lost: "RT",
    }
    assert [(c, adsl[c]["ENRLFL"], adsl[c]["ITTFL"], adsl[c]["SAFFL"]) for c in sorted(adsl)] == [
        (failed, "N", "N", "N"),
        (induction_pd, "Y", "N", "Y"),
        (progressed, "Y", "Y", "Y"),
        (died, "Y", "Y", "Y"),
        (lost, "Y", "Y", "Y"),
    ]
    assert adsl[induction_pd]["TRT01P"] == "INDUCTION ONLY" and adsl[induction_pd]["INDRESP"] == "PD"
    assert adsl[died]["DTHFL"] == "Y" and adsl[died]["DCSREAS"] == "DEATH"
    assert adsl[lost]["DCSREAS"] == "LOST TO FOLLOW-UP"
    tte = {
        (r["USUBJID"][-9:], r["PARAMCD"]): (r["AVAL"], r["CNSR"]) for r in adam.adtte.iter_rows(named=True)
    }
    assert tte[(progressed, "PFS")] == (43, 0)
    assert tte[(died, "PFS")] == (31, 0)
    assert tte[(died, "OS")] == (31, 0)
    assert tte[(lost, "PFS")] == (43, 3)
    ae = adam.adae.filter(pl.col("AETOXGR").cast(pl.Utf8) == "5")
    assert ae.height == 1
