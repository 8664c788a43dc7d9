"""The aggregate-analysis service: what statisticians, DSMB members, the administrator and site staff see, the
numbers on a small study built through the services, one derivation per call (none from the cache), audit.

The study (protocol shipped with the package, allocation list seed 20240501, 8 entries per stratum):

* CN01-0001: enrolled 2024-01-05, four induction cycles from 2024-01-08, PR on 2024-04-01 (not confirmed),
  randomized 2024-04-03 (RT), progression (new lesion) on 2024-05-27; grade 3 neutropenia (not serious),
  grade 1 nausea and grade 2 vomiting.
* CN01-0002: enrolled 2024-02-09, SD on 2024-05-06, randomized 2024-05-08 (RT); grade 3 pneumonitis (serious);
  death on 2024-07-15.
* CN01-0003: enrolled 2024-03-15, PR on 2024-06-10 confirmed on 2024-07-15, randomized 2024-06-12 (CTRL);
  grade 2 platelet count decreased.
* CN02-0001: enrolled 2024-02-09, progression at the end of induction (new lesion): not randomized; grade 2
  anemia.
* CN02-0002: screen failure (ECOG 3).

Randomization is stamped with the service's clock; the tests set that clock to the dates above.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial import endpoints
from oligotrial.errors import InputError, PermissionDeniedError
from oligotrial.exports.sdtm import derive_sdtm
from oligotrial.protocol import load_protocol
from oligotrial.reports.tables import get_arms
from oligotrial.services import data, reports
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from oligotrial.store.tables import AuditEntry
from workflow_data import adverse_event, assessment, eligible, induction_dose

D0 = date(2024, 1, 8)


def _noon(day: date) -> datetime:
    """Randomizations are dated at noon UTC of their day (``randomized_at``)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _enrolled(world, site: str, start: date) -> tuple[object, str]:
    """Screened a week before ``start``, enrolled 3 days before, baseline 4 days before, 4 cycles from it."""
    inv = world.actor(f"investigator.{site.lower()}")
    code = data.create_subject(world.edc, inv, site).code
    wf.save_eligibility(world.edc, inv, code, eligible(start - timedelta(days=7)))
    wf.enroll_subject(world.edc, inv, code, start - timedelta(days=3))
    wf.record_tumour_assessment(world.edc, inv, code, assessment(start - timedelta(days=4), 30, 20))
    for cycle in range(4):
        wf.record_dose(world.edc, inv, code, induction_dose(cycle + 1, start + timedelta(days=21 * cycle)))
    return inv, code


def build_study(world) -> None:
    edc = world.edc
    rnd.generate_randomization_list(edc, world.actor("statistician"), entries_per_stratum=8, seed=20240501)
    inv, s1 = _enrolled(world, "CN01", D0)
    wf.record_tumour_assessment(edc, inv, s1, assessment(D0 + timedelta(days=84), 18, 15))
    assert rnd.randomize_subject(edc, inv, s1, randomized_at=_noon(date(2024, 4, 3))).arm == "experimental"
    wf.record_tumour_assessment(edc, inv, s1, assessment(D0 + timedelta(days=140), 18, 15, new=True))
    wf.record_adverse_event(edc, inv, s1, adverse_event(D0 + timedelta(days=9)))
    wf.record_adverse_event(edc, inv, s1, adverse_event(D0 + timedelta(days=2), term="Nausea", grade=1))
    wf.record_adverse_event(edc, inv, s1, adverse_event(D0 + timedelta(days=3), term="Vomiting", grade=2))

    d1 = D0 + timedelta(days=35)
    inv, s2 = _enrolled(world, "CN01", d1)
    wf.record_tumour_assessment(edc, inv, s2, assessment(d1 + timedelta(days=84), 22, 14))
    assert rnd.randomize_subject(edc, inv, s2, randomized_at=_noon(date(2024, 5, 8))).arm == "experimental"
    pneumonitis = adverse_event(
        d1 + timedelta(days=30),
        term="Pneumonitis",
        serious=True,
        seriousness_criteria=["hospitalization"],
        relation={"camrelizumab": "related"},
    )
    wf.record_adverse_event(edc, inv, s2, pneumonitis)
    wf.record_death(edc, inv, s2, {"date": "2024-07-15", "cause": "adverse event"})

    inv2, s3 = _enrolled(world, "CN02", d1)
    wf.record_tumour_assessment(edc, inv2, s3, assessment(d1 + timedelta(days=84), 30, 20, new=True))
    wf.record_adverse_event(edc, inv2, s3, adverse_event(d1 + timedelta(days=5), term="Anemia", grade=2))
    s4 = data.create_subject(edc, inv2, "CN02").code
    wf.save_eligibility(edc, inv2, s4, eligible(d1, ecog=3))
    wf.record_screen_failure(edc, inv2, s4, d1)

    d2 = D0 + timedelta(days=70)
    inv, s5 = _enrolled(world, "CN01", d2)
    wf.record_tumour_assessment(edc, inv, s5, assessment(d2 + timedelta(days=84), 18, 15))
    assert rnd.randomize_subject(edc, inv, s5, randomized_at=_noon(date(2024, 6, 12))).arm == "control"
    wf.record_tumour_assessment(edc, inv, s5, assessment(d2 + timedelta(days=119), 17, 14))
    platelets = adverse_event(d2 + timedelta(days=12), term="Platelet count decreased", grade=2)
    wf.record_adverse_event(edc, inv, s5, platelets)


@pytest.fixture
def study(world):
    build_study(world)
    return world


def _counting_derivations(monkeypatch) -> list[int]:
    """Count the ADaM derivations of the service (a wrapper around the real derivation)."""
    calls: list[int] = []
    real = endpoints.derive_adam

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(endpoints, "derive_adam", counted)  # the service imports it when it derives
    return calls


def _audit(edc, action: str) -> list[AuditEntry]:
    with Session(edc.engine) as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_dsmb_member_sees_the_aggregates_by_arm(study):
    edc, dsmb = study.edc, study.actor("dsmbmember")
    with pytest.raises(PermissionDeniedError):
        derive_sdtm(edc, dsmb)  # a DSMB member never receives the datasets themselves
    report = reports.aggregate_report(edc, dsmb)
    assert report.scope == "outcomes" and report.analysis_error is None and report.held_back == 0
    assert [
        (r.site, r.total, r.by_status["enrolled"], r.by_status["screen_failed"]) for r in report.enrollment
    ] == [
        ("CN01", 3, 3, 0),
        ("CN02", 2, 1, 1),
    ]
    series = {
        s.site: [(m.month, m.enrolled, m.randomized) for m in s.months] for s in report.enrollment_over_time
    }
    assert series == {
        "CN01": [
            ("2024-01", 1, 0),
            ("2024-02", 2, 0),
            ("2024-03", 3, 0),
            ("2024-04", 3, 1),
            ("2024-05", 3, 2),
            ("2024-06", 3, 3),
        ],
        "CN02": [
            ("2024-01", 0, 0),
            ("2024-02", 1, 0),
            ("2024-03", 1, 0),
            ("2024-04", 1, 0),
            ("2024-05", 1, 0),
            ("2024-06", 1, 0),
        ],
    }
    assert [a.code for a in report.arms] == ["CTRL", "RT"]
    consort = report.consort
    assert consort is not None
    assert (
        consort.screened,
        consort.not_enrolled,
        consort.enrolled,
        consort.induction_progression,
        consort.not_randomized_other,
    ) == (5, 1, 4, 1, 0)
    assert consort.not_enrolled_reasons == [("not met: ECOG performance status 0-1", 1)]  # the ECOG 3 subject
    assert consort.randomized == {"CTRL": 1, "RT": 2} and consort.analysed == {"CTRL": 1, "RT": 2}

    pfs, os_ = report.survival
    assert (pfs.paramcd, os_.paramcd) == ("PFS", "OS")
    assert [(a.arm, a.n, a.events) for a in pfs.arms] == [("CTRL", 1, 0), ("RT", 2, 2)]
    assert [(a.arm, a.n, a.events) for a in os_.arms] == [("CTRL", 1, 0), ("RT", 2, 1)]
    # RT: progression on day 55 (2024-04-03 to 2024-05-27) and death on day 69 (2024-05-08 to 2024-07-15);
    # S(55) = 0.5 exactly, so the median is the midpoint, 62 days (R survfit), over 30.4375 days per month
    assert pfs.arms[1].median.value == pytest.approx(62 / 30.4375)
    assert pfs.arms[1].median.lower == pytest.approx(55 / 30.4375) and pfs.arms[1].median.upper is None
    assert os_.arms[1].median.value == pytest.approx(69 / 30.4375)
    assert pfs.arms[0].median.value is None and pfs.arms[0].median.reason == "not reached"
    assert [(lm.months, lm.survival.reason) for lm in pfs.arms[1].landmarks] == [
        (6.0, "follow-up shorter than 6 months"),
        (12.0, "follow-up shorter than 12 months"),
        (24.0, "follow-up shorter than 24 months"),
    ]
    assert pfs.logrank_p.value is None and pfs.logrank_p.reason == "no events to compare"
    assert pfs.hazard_ratio.value is None and "no events in one arm" in (pfs.hazard_ratio.reason or "")

    response = report.response
    assert response is not None
    rows = {g.group: g for g in response.groups}
    assert [(g.group, g.n, g.orr_responders, g.dcr_responders) for g in response.groups] == [
        ("CTRL", 1, 1, 1),
        ("RT", 2, 0, 2),
        ("ALL", 4, 1, 3),
    ]
    assert rows["ALL"].best_response == {"CR": 0, "PR": 1, "SD": 2, "NON-CR/NON-PD": 0, "PD": 1, "NE": 0}
    assert rows["RT"].best_response["SD"] == 2 and rows["CTRL"].best_response["PR"] == 1
    # Clopper-Pearson: 1/4 -> (0.0063, 0.8059), 3/4 -> (0.1941, 0.9937), 0/2 -> (0, 0.8419) (R binom.test)
    assert (rows["ALL"].orr.value, rows["ALL"].orr.lower, rows["ALL"].orr.upper) == pytest.approx(
        (0.25, 0.0063095, 0.8058796), abs=1e-6
    )
    assert (rows["ALL"].dcr.lower, rows["ALL"].dcr.upper) == pytest.approx((0.1941204, 0.9936905), abs=1e-6)
    assert (rows["RT"].orr.value, rows["RT"].orr.upper) == pytest.approx((0.0, 0.8418861), abs=1e-6)
    assert response.orr_difference.value == pytest.approx(-1.0)

    ae = report.adverse_events
    assert ae is not None and ae.severe_grade == 3
    assert [(g.group, g.n, g.any_ae, g.severe, g.serious) for g in ae.groups] == [
        ("CTRL", 1, 1, 0, 0),
        ("RT", 2, 2, 2, 1),
        ("NOT_RANDOMIZED", 1, 1, 0, 0),
        ("TOTAL", 4, 4, 2, 1),
    ]
    assert [
        (r.soc, r.grade, r.counts["CTRL"], r.counts["RT"], r.counts["NOT_RANDOMIZED"]) for r in ae.by_soc
    ] == [
        ("BLOOD AND LYMPHATIC SYSTEM DISORDERS", None, 0, 0, 1),
        ("BLOOD AND LYMPHATIC SYSTEM DISORDERS", 2, 0, 0, 1),
        ("GASTROINTESTINAL DISORDERS", None, 0, 1, 0),
        ("GASTROINTESTINAL DISORDERS", 2, 0, 1, 0),  # nausea grade 1 and vomiting grade 2: worst grade 2
        ("INVESTIGATIONS", None, 1, 1, 0),
        ("INVESTIGATIONS", 2, 1, 0, 0),
        ("INVESTIGATIONS", 3, 0, 1, 0),
        ("RESPIRATORY, THORACIC AND MEDIASTINAL DISORDERS", None, 0, 1, 0),
        ("RESPIRATORY, THORACIC AND MEDIASTINAL DISORDERS", 3, 0, 1, 0),
    ]
    dumped = report.model_dump_json()
    assert "CN01-0001" not in dumped and "USUBJID" not in dumped  # aggregates only

    curves = reports.survival_curves(edc, dsmb, "PFS")
    assert [(a.arm.code, a.n, a.events) for a in curves.arms] == [("CTRL", 1, 0), ("RT", 2, 2)]
    assert curves.arms[1].curve is not None and list(curves.arms[1].curve.surv) == [0.5, 0.0]


def test_statistician_administrator_and_site_staff_scopes(study):
    edc = study.edc
    assert reports.aggregate_report(edc, study.actor("statistician")).scope == "outcomes"
    admin = reports.aggregate_report(edc, study.actor("admin"))
    assert admin.scope == "study" and admin.consort is None and admin.survival == []
    assert admin.response is None and admin.adverse_events is None
    assert [s.site for s in admin.enrollment_over_time] == ["CN01", "CN02"]
    assert [s.site for s in reports.enrollment_over_time(edc, study.actor("admin"))] == ["CN01", "CN02"]
    with pytest.raises(PermissionDeniedError):
        reports.survival_curves(edc, study.actor("admin"), "OS")

    coordinator = study.actor("researchcoordinator.cn01")
    site = reports.aggregate_report(edc, coordinator)
    assert site.scope == "site" and site.enrollment_over_time == [] and site.consort is None
    assert [(r.site, r.total) for r in site.enrollment] == [("CN01", 3)]
    for refused in (
        lambda: reports.survival_curves(edc, coordinator, "PFS"),
        lambda: reports.enrollment_over_time(edc, coordinator),
    ):
        with pytest.raises(PermissionDeniedError) as error:
            refused()
        assert error.value.code == "AUTH-101"


def test_one_derivation_per_call_none_from_the_cache_and_one_audit_entry_per_view(study, monkeypatch):
    edc, dsmb = study.edc, study.actor("dsmbmember")
    derivations = _counting_derivations(monkeypatch)
    exports_before = len(_audit(edc, "export"))
    reports.aggregate_report(edc, dsmb)
    assert len(derivations) == 1
    reports.survival_curves(edc, dsmb, "PFS")
    reports.survival_curves(edc, dsmb, "OS")
    reports.enrollment_over_time(edc, dsmb)
    reports.aggregate_report(edc, study.actor("statistician"))
    assert len(derivations) == 1  # the database did not change: the cached ADaM serves them all
    views = _audit(edc, "view")
    assert [(v.actor_username, v.table_name, v.record_id) for v in views] == [
        ("dsmbmember", "aggregate_report", "page"),
        ("dsmbmember", "aggregate_report", "figure:PFS"),
        ("dsmbmember", "aggregate_report", "figure:OS"),
        ("dsmbmember", "aggregate_report", "figure:enrollment"),
        ("statistician", "aggregate_report", "page"),
    ]
    exports = _audit(edc, "export")[exports_before:]
    assert [(e.actor_username, e.table_name) for e in exports] == [("system", "sdtm")]
    assert exports[0].source.startswith("aggregate report for dsmbmember")

    inv = study.actor("investigator.cn01")
    nausea = adverse_event(date(2024, 6, 1), term="Nausea", grade=1)
    wf.record_adverse_event(edc, inv, "CN01-0003", nausea)
    report = reports.aggregate_report(edc, dsmb)
    assert len(derivations) == 2  # a write invalidated the cache
    assert report.adverse_events is not None
    gastrointestinal = [
        (r.grade, r.counts) for r in report.adverse_events.by_soc if r.soc.startswith("GASTRO")
    ]
    assert gastrointestinal == [
        (None, {"CTRL": 1, "RT": 1, "NOT_RANDOMIZED": 0, "TOTAL": 2}),
        (1, {"CTRL": 1, "RT": 0, "NOT_RANDOMIZED": 0, "TOTAL": 1}),
        (2, {"CTRL": 0, "RT": 1, "NOT_RANDOMIZED": 0, "TOTAL": 1}),
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_empty_trial_reports_zeros_and_reasons(world):
    report = reports.aggregate_report(world.edc, world.actor("dsmbmember"))
    assert report.analysis_error is None
    assert [(r.site, r.total) for r in report.enrollment] == [("CN01", 0), ("CN02", 0)]
    assert [(s.site, s.months) for s in report.enrollment_over_time] == [("CN01", []), ("CN02", [])]
    assert report.consort is not None and report.consort.screened == 0
    assert [(a.arm, a.n, a.median.reason) for a in report.survival[0].arms] == [
        ("CTRL", 0, "no subjects"),
        ("RT", 0, "no subjects"),
    ]
    assert report.response is not None
    assert [(g.group, g.n, g.orr.value, g.orr.reason) for g in report.response.groups] == [
        ("CTRL", 0, None, "no subjects"),
        ("RT", 0, None, "no subjects"),
        ("ALL", 0, None, "no subjects"),
    ]
    assert report.adverse_events is not None and report.adverse_events.by_soc == []
    summary = reports.survival_curves(world.edc, world.actor("statistician"), "OS")
    assert [a.curve for a in summary.arms] == [None, None]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unknown_endpoint_is_refused_naming_it(world):
    with pytest.raises(InputError) as error:
        reports.survival_curves(world.edc, world.actor("dsmbmember"), "DFS")
    problem = error.value.problems[0]
    assert (problem.code, problem.field, problem.value) == ("REPORT-101", "endpoint", "DFS")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_refused_derivation_leaves_enrollment_and_names_the_problem(world, monkeypatch):
    def refused(*args, **kwargs):
        raise InputError.single("SDTM-010", "DM.USUBJID", "duplicate subject", "X-1")

    monkeypatch.setattr(endpoints, "derive_adam", refused)
    report = reports.aggregate_report(world.edc, world.actor("dsmbmember"))
    assert (report.scope, report.analysis_error, report.consort, report.survival) == (
        "outcomes",
        "SDTM-010",
        None,
        [],
    )
    assert [r.site for r in report.enrollment] == ["CN01", "CN02"]
    with pytest.raises(InputError, match="SDTM-010"):
        reports.survival_curves(world.edc, world.actor("dsmbmember"), "PFS")


def test_every_response_group_has_the_same_best_response_levels():
    """A level outside the standard ones (MISSING: no assessment after baseline) found in one group only is
    a column of every group, with 0 where it is absent: the page's table takes its columns from the first."""
    protocol = load_protocol()
    arms = get_arms(protocol)
    control, experimental = (next(a for a in arms if a.is_experimental is e) for e in (False, True))
    subjects = [
        ("S1", control.name, "Y", "PR"),
        ("S2", experimental.name, "Y", "SD"),
        ("S3", None, "N", "MISSING"),
    ]
    adrs = pl.DataFrame(
        [
            {"USUBJID": s, "PARAMCD": p, "AVALC": v, "TRT01P": arm, "ITTFL": itt, "ENRLFL": "Y"}
            for s, arm, itt, best in subjects
            for p, v in (
                ("CBOR", best),
                ("CRSP", "Y" if best == "PR" else "N"),
                ("CB", "N" if best == "MISSING" else "Y"),
            )
        ]
    )
    groups = {g.group: g.best_response for g in reports._response(adrs, protocol, arms).groups}
    levels = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"]
    assert all(list(best) == levels for best in groups.values())
    assert (groups[control.code]["MISSING"], groups["ALL"]["MISSING"], groups["ALL"]["PR"]) == (0, 1, 1)
