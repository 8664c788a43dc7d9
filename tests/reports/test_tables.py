"""Report tables on edge-case studies (issue 9): statistics that do not exist read as such, never NaN."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest
from tests.reports.conftest import make_study

from oligotrial.reports import apply_cutoff, build_report, prepare_adam, render_html, summarize_report
from oligotrial.reports.tables import (
    compute_best_change,
    compute_consort,
    compute_response,
    compute_rt_compliance,
    compute_subgroups,
    compute_survival,
    compute_swimmer,
    get_arms,
    longest_swimmers,
    screen_failure_reasons,
)


def _subject(i, arm, pfs, os=None, **extra):
    return {"id": f"X{i:02d}", "arm": arm, "pfs": pfs, "os": os or (pfs[0] + 30, False), **extra}


def _no_nan(document):
    if isinstance(document, dict):
        return all(_no_nan(v) for v in document.values())
    if isinstance(document, list | tuple):
        return all(_no_nan(v) for v in document)
    return not (isinstance(document, float) and not math.isfinite(document))


def _report(protocol, subjects):
    report = build_report(prepare_adam(make_study(subjects)), protocol)
    document = render_html(report)
    text = re.sub(r"data:image/png;base64,[^\"]+", "", document)
    assert not re.search(r"\b(nan|inf)\b", text, flags=re.IGNORECASE)
    assert not re.search(r"\bNone\b", text)  # a Python None leaking into the page
    assert _no_nan(summarize_report(report))
    return report, document


def test_zero_events_in_one_arm(protocol):
    subjects = [_subject(i, "CTRL", (30 * (i + 1), True)) for i in range(6)]
    subjects += [_subject(10 + i, "RT", (200 + 10 * i, False)) for i in range(5)]
    report, document = _report(protocol, subjects)
    pfs = report.survival[0]
    ctrl, rt = pfs.arms
    assert (ctrl.events, rt.events) == (6, 0)
    assert rt.median.value is None and rt.median.reason == "not reached"
    assert pfs.cox.value is None and "no events in one arm" in (pfs.cox.reason or "")
    assert pfs.logrank.value is not None  # the log-rank test exists with events in one arm only
    assert "NR (95% CI" in document
    assert "not estimable: no events in one arm" in document


def test_one_arm_empty(protocol):
    subjects = [_subject(i, "CTRL", (30 * (i + 1), i % 2 == 0)) for i in range(6)]
    subjects.append({"id": "X99", "arm": None, "pfs": (10, True)})
    report, document = _report(protocol, subjects)
    pfs = report.survival[0]
    assert pfs.arms[1].n == 0 and pfs.arms[1].median.reason == "no subjects"
    for statistic in (pfs.logrank, pfs.cox, pfs.rmst):
        assert statistic.value is None and statistic.reason == "only one arm has subjects"
    orr = report.responses[0]
    assert orr.rows[1][3].reason == "no subjects"
    assert orr.difference.reason == "only one arm has subjects"
    assert "not estimable: only one arm has subjects" in document
    assert "Kaplan–Meier estimate of progression-free survival" in document  # the curve of the other arm


def test_no_responders(protocol):
    subjects = [_subject(i, "CTRL" if i % 2 else "RT", (40 + 20 * i, i % 3 == 0)) for i in range(8)]
    report, document = _report(protocol, subjects)
    orr = report.responses[0]
    assert [row[1] for row in orr.rows] == [0, 0, 0]
    assert orr.rows[0][3].value == 0.0 and orr.rows[0][3].upper is not None  # 0% with its exact upper bound
    assert orr.difference.value == 0.0
    assert report.figures["km_dor"] == "no responders: duration of response does not exist"
    assert "no responders: duration of response does not exist" in document


def test_no_events_at_all(protocol):
    subjects = [_subject(i, "CTRL" if i % 2 else "RT", (100 + i, False)) for i in range(6)]
    report, _ = _report(protocol, subjects)
    pfs = report.survival[0]
    assert pfs.logrank.reason == "no events"
    assert pfs.cox.reason == "no events"


def test_landmark_rates_after_follow_up_are_not_estimable(protocol):
    subjects = [_subject(i, "CTRL" if i % 2 else "RT", (30 * (i + 1), True)) for i in range(10)]
    summary = compute_survival(prepare_adam(make_study(subjects)).adtte, "PFS", protocol)
    six, _, twenty_four = summary.arms[0].rates
    assert six[1].value is not None
    assert twenty_four[1].value is None and twenty_four[1].reason == "follow-up shorter than 24 months"
    assert summary.rmst.value is not None and summary.rmst_tau == pytest.approx(270 / 30.4375)


def test_subgroups_with_too_few_events_are_not_estimable(protocol):
    subjects = [_subject(i, "CTRL" if i % 2 else "RT", (30 + 7 * i, True)) for i in range(24)]
    inputs = prepare_adam(make_study(subjects))
    rows = compute_subgroups(inputs.adtte, inputs.adsl, protocol)
    overall = rows[0]
    assert overall.variable == "All randomized" and overall.hr.value is not None
    assert sum(overall.events.values()) == 24
    small = compute_subgroups(inputs.adtte, inputs.adsl, protocol, min_events=30)
    assert all(r.hr.value is None for r in small)
    assert small[0].hr.reason == "fewer than 30 events (24)"


def test_cutoff_re_censors_at_the_cutoff(worked_inputs):
    """S01's PFS progression on 2026-06-22 is after a 2026-06-01 cutoff: censored at the cutoff, AVAL
    2026-06-01 - 2026-04-01 + 1 = 62 days; S04's death on 2026-08-20 no longer exists."""
    cut = apply_cutoff(worked_inputs, date(2026, 6, 1))
    s01 = cut.adtte.filter((pl.col("USUBJID") == "S01") & (pl.col("PARAMCD") == "PFS")).row(0, named=True)
    assert (s01["ADT"], s01["AVAL"], s01["CNSR"], s01["CNSDTDSC"]) == (
        date(2026, 6, 1),
        62.0,
        1,
        "DATA CUTOFF",
    )
    assert s01["EVNTDESC"] is None
    s04 = cut.adsl.filter(pl.col("USUBJID") == "S04").row(0, named=True)
    assert s04["DTHFL"] is None and s04["DTHDT"] is None and s04["EOSSTT"] == "ONGOING"
    early = cut.adtte.filter((pl.col("USUBJID") == "S05") & (pl.col("PARAMCD") == "PFS")).row(0, named=True)
    assert early["CNSR"] == 0  # death on 2026-04-01, before the cutoff: unchanged
    assert cut.adrs.filter((pl.col("PARAMCD") == "OVR") & (pl.col("ADT") > date(2026, 6, 1))).height == 0
    # Before every randomization, nobody is randomized and nothing can be compared.
    none = apply_cutoff(worked_inputs, date(2026, 3, 1))
    assert none.adsl.filter(pl.col("ITTFL") == "Y").height == 0
    assert none.adtte.filter(pl.col("ITTFL") == "Y").height == 0


def test_waterfall_data_from_pchg_or_its_absence(protocol, worked_inputs):
    absent = compute_best_change(worked_inputs.adrs, worked_inputs.adsl, protocol)
    assert isinstance(absent, str) and "PCHG" in absent
    subjects = [_subject(1, "CTRL", (100, True), pchg=[(42, -35.0), (84, -50.0)], crsp="Y", cb="Y")]
    subjects.append(_subject(2, "RT", (100, False), pchg=[(42, 10.0)]))
    inputs = prepare_adam(make_study(subjects))
    changes = compute_best_change(inputs.adrs, inputs.adsl, protocol)
    assert not isinstance(changes, str)
    best = changes.group_by("USUBJID").agg(pl.col("PCHG").min()).sort("USUBJID")
    assert best.get_column("PCHG").to_list() == [-50.0, 10.0]
    orr = compute_response(inputs.adrs, protocol, "CRSP", "ORR")
    assert [row[1:3] for row in orr.rows] == [(1, 1), (0, 1), (1, 2)]


def test_radiotherapy_compliance_from_pr(protocol, worked_inputs):
    """8 Gy x 5 lung SBRT: BED10 72 Gy, compliant; 8 Gy x 3: 43.2 Gy, advisory; 2 Gy x 15 conventional to a
    metastasis (30 Gy, not above 30): deviation; 2 Gy x 20 to the esophagus (40 Gy primary): compliant."""
    pr = pl.DataFrame(
        {
            "USUBJID": ["S02", "S04", "S08", "S08"],
            "PRTRT": ["SBRT", "SBRT", "RADIOTHERAPY", "RADIOTHERAPY"],
            "PRDOSE": [8.0, 8.0, 2.0, 2.0],
            "PRDOSU": ["Gy", "Gy", "Gy", "Gy"],
            "PRDOSFRQ": ["5", "3", "15", "20"],
            "PRLOC": ["lung", "liver", "bone", "esophagus"],
            "PRSTDTC": [date(2026, 4, 10)] * 4,
            "PRENDTC": [date(2026, 4, 20)] * 4,
        }
    )
    summary, courses, beds = compute_rt_compliance(pr, None, worked_inputs.adsl, protocol)
    assert sorted(beds) == pytest.approx([43.2, 48.0, 36.0, 72.0].__class__(sorted([43.2, 48.0, 36.0, 72.0])))
    verdicts = {(row[0], row[2]): row[9] for row in courses.rows}
    assert verdicts == {
        ("S02", "lung"): "compliant",
        ("S04", "liver"): "advisory",
        ("S08", "bone"): "deviation",
        ("S08", "esophagus"): "compliant",
    }
    rt_row = summary.rows[1]
    assert rt_row[0] == "Experimental (RT)" and rt_row[1:4] == ("5", "3 (60.0%)", "4")
    assert rt_row[5:] == ("1", "1", "1")  # subjects: S02 compliant, S04 advisory, S08 deviation
    assert any("Timing windows not checked" in note for note in summary.notes)
    unavailable = compute_rt_compliance(None, None, worked_inputs.adsl, protocol)
    assert isinstance(unavailable, str) and "--sdtm" in unavailable


def test_the_swimmer_plot_shows_the_longest_treatments_of_every_arm(protocol):
    """Grouped by arm in the protocol's order (then the subjects not randomized), longest first; of more
    subjects than the figure holds, the longest whatever their arm: before, the first 80 rows sorted by arm
    name were drawn, so a 150-subject trial lost its experimental arm."""
    control, experimental = (a.name for a in get_arms(protocol))
    start = date(2026, 1, 5)
    groups = [(experimental, 60), (control, 50), ("INDUCTION ONLY", 40)]  # days of treatment: 10 .. 10 x n
    adsl = pl.DataFrame(
        [
            {
                "USUBJID": f"{arm[:3]}{k:03d}",
                "TRT01P": arm,
                "TRTSDT": start,
                "TRTEDT": start + timedelta(days=10 * k),
            }
            for arm, n in groups
            for k in range(1, n + 1)
        ]
    ).with_columns(pl.lit(None, pl.Date).alias(c) for c in ("DTHDT", "RTSDT", "RTEDT"))
    adrs = pl.DataFrame(schema={"USUBJID": pl.Utf8, "PARAMCD": pl.Utf8, "AVALC": pl.Utf8, "ADT": pl.Date})
    swimmer = compute_swimmer(adsl, adrs, protocol)
    assert swimmer.height == 150
    arms = [code for code, _ in itertools.groupby(swimmer["_ARM"].to_list())]
    assert arms == ["CTRL", "RT", "INDUCTION ONLY"]
    assert swimmer["DURATION"].head(50).is_sorted(descending=True)
    shown = longest_swimmers(swimmer, 80)
    assert shown.height == 80 and set(shown["_ARM"]) == {"CTRL", "RT", "INDUCTION ONLY"}
    assert shown["DURATION"].min() >= swimmer.sort("DURATION", descending=True)["DURATION"][79]
    assert shown.equals(swimmer.filter(pl.col("USUBJID").is_in(shown["USUBJID"].to_list())))  # same order
    assert longest_swimmers(swimmer.head(20), 80).equals(swimmer.head(20))


def test_consort_counts_the_screen_failures_by_the_criteria_they_did_not_meet(protocol):
    """SDTM IE and DS give the reasons of the subjects not enrolled: subjects per criterion (an inclusion criterion
    not met, an exclusion criterion met; a subject failing two counts under both) or per reason stated on the
    screen-failure form (DS ``DSTERM``), most first, and "reason not recorded" for a screen failure with
    neither. IE records of enrolled subjects are not reasons."""
    adam = prepare_adam(make_study([_subject(i, "CTRL", (200, False)) for i in range(1, 4)]))
    failures = pl.DataFrame(
        {"USUBJID": ["F1", "F2", "F3", "F4", "F5"], "ENRLFL": ["N"] * 5, "ITTFL": ["N"] * 5},
    )
    adsl = pl.concat([adam.adsl, failures], how="diagonal_relaxed")
    ecog, organs, brain = "ECOG performance status 0-1", "At most 3 metastatic organs", "Brain metastases"
    ie = pl.DataFrame(
        {
            "USUBJID": ["F1", "F2", "F2", "F3", "X01"],
            "IETEST": [ecog, ecog, brain, organs, ecog],
            "IECAT": ["INCLUSION", "INCLUSION", "EXCLUSION", "INCLUSION", "INCLUSION"],
        }
    )
    ds = pl.DataFrame(  # F5 failed no criterion: the reason stated on its screen-failure form
        {
            "USUBJID": ["F1", "F5", "F4"],
            "DSDECOD": ["SCREEN FAILURE", "SCREEN FAILURE", "SCREEN FAILURE"],
            "DSTERM": ["SCREEN FAILURE", "consent withdrawn", "SCREEN FAILURE"],
        }
    )
    consort = compute_consort(adsl, adam.adtte, protocol, screen_failure_reasons(ie, ds))
    assert (consort.screened, consort.not_enrolled) == (8, 5)
    assert consort.not_enrolled_reasons == (
        ("not met: ECOG performance status 0-1", 2),
        ("consent withdrawn", 1),
        ("met: Brain metastases", 1),
        ("not met: At most 3 metastatic organs", 1),
        ("reason not recorded", 1),
    )
    assert compute_consort(adsl, adam.adtte, protocol).not_enrolled_reasons == ()
    assert screen_failure_reasons(None, None) is None


def test_cutoff_drops_the_screen_failures_consented_after_it(protocol):
    """At a cutoff, a subject never enrolled counts as screened only when consented on or before it; its IE
    records (the criteria not met) go with it."""
    adam = prepare_adam(make_study([_subject(1, "CTRL", (200, False))]))
    failures = pl.DataFrame(
        {
            "USUBJID": ["F1", "F2"],
            "ENRLFL": ["N", "N"],
            "ITTFL": ["N", "N"],
            "RFICDT": [date(2026, 2, 1), date(2026, 7, 1)],
        }
    )
    ie = pl.DataFrame({"USUBJID": ["F1", "F2"], "IETEST": ["ECOG performance status 0-1"] * 2})
    inputs = replace(adam, adsl=pl.concat([adam.adsl, failures], how="diagonal_relaxed"), ie=ie)
    cut = apply_cutoff(inputs, date(2026, 6, 1))
    assert sorted(cut.adsl["USUBJID"].to_list()) == ["F1", "X01"]
    assert cut.ie is not None and cut.ie["USUBJID"].to_list() == ["F1"]
    consort = compute_consort(cut.adsl, cut.adtte, protocol, screen_failure_reasons(cut.ie, cut.ds))
    assert (consort.screened, consort.not_enrolled_reasons) == (
        2,
        (("not met: ECOG performance status 0-1", 1),),
    )
