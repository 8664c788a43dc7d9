"""iRECIST engine: Seymour 2017 Table 3 examples (iBOR) and time-point rules from lesion data."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from oligotrial.errors import InputError
from oligotrial.rules.irecist import derive_irecist_best_overall_response, derive_irecist_timepoint_responses
from rules.recist_strategies import read_cases, tables

DM = pl.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]})
CASES = read_cases("irecist_bor.csv")


def _d(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@pytest.mark.parametrize("case", CASES, ids=[f"{i}:{c['source']}" for i, c in enumerate(CASES)])
def test_ibor_table_3(case):
    pairs = [item.split(":", 1) for item in case["sequence"].split()]
    rs = pl.DataFrame(
        {"USUBJID": ["S1"] * len(pairs), "RSDTC": [d for d, _ in pairs], "IOVRLRESP": [c for _, c in pairs]},
        schema={"USUBJID": pl.Utf8, "RSDTC": pl.Utf8, "IOVRLRESP": pl.Utf8},
    )
    row = derive_irecist_best_overall_response(rs, DM, sd_min_days=42).row(0, named=True)
    assert (row["IBOR"], row["IBOR_DATE"], row["IPD_DATE"]) == (
        case["ibor"],
        _d(case["ibor_date"]),
        _d(case["ipd_date"]),
    )


def test_ibor_rejects_unknown_code():
    rs = pl.DataFrame({"USUBJID": ["S1"], "RSDTC": ["2024-02-12"], "IOVRLRESP": ["PD"]})
    with pytest.raises(InputError) as caught:
        derive_irecist_best_overall_response(rs, DM, sd_min_days=42)
    assert (caught.value.code, caught.value.problems[0].field) == ("IRECIST-021", "RS[USUBJID=S1].IOVRLRESP")


TARGETS = [("T1", "TARGET", "LIVER"), ("T2", "TARGET", "LUNG"), ("NT1", "NON-TARGET", "BONE")]
DATES = ["2024-01-01", "2024-02-12", "2024-03-25", "2024-05-06", "2024-06-17", "2024-07-29"]


WINDOW = (28, 56)  # protocol response.irecist.confirmation_window_days: iRECIST's 4-8 weeks


def _run(lesions, *visits, dates=DATES):
    tu, tr = tables({"S1": {"lesions": lesions, "visits": list(zip(dates, visits, strict=False))}})
    return derive_irecist_timepoint_responses(tu, tr, confirmation_window_days=WINDOW)


def _t(t1, t2, nt="PRESENT", **new):
    return {"T1": t1, "T2": t2, "NT1": nt, **new}


def test_target_growth_of_5_mm_confirms_iupd_and_dates_progression_at_the_iupd():
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(38, 27))  # SOD 50 -> 60 (iUPD) -> 65 (+5 mm)
    assert rs["OVRLRESP"].to_list() == ["PD", "PD"]
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iCPD"]
    assert rs["IUPDDTC"].to_list() == [date(2024, 2, 12)] * 2


def test_iupd_stays_pending_through_small_growth_and_ne_then_confirms():
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(38, 26), _t(None, 26), _t(40, 26), _t(10, 10))
    # +4 mm: still iUPD; NOT DONE: iNE; +6 mm from the iUPD: iCPD; nothing after iCPD
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iUPD", "iNE", "iCPD", None]
    assert rs["IUPDDTC"].to_list()[:4] == [date(2024, 2, 12), date(2024, 2, 12), None, date(2024, 2, 12)]


def test_reset_after_ipr_needs_a_new_iupd_and_its_own_confirmation():
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(20, 10), _t(24, 14), _t(26, 17))
    # 60 iUPD; 30 iPR resets; 38 (+8 mm, +27 % over nadir 30) a new iUPD; 43 (+5 mm) iCPD
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iPR", "iUPD", "iCPD"]
    assert rs["IUPDDTC"].to_list()[3] == date(2024, 5, 6)
    irs = derive_irecist_best_overall_response(rs, DM, sd_min_days=42)
    assert irs.row(0) == ("S1", "iPR", date(2024, 3, 25), date(2024, 5, 6))


def test_another_new_lesion_confirms():
    lesions = [*TARGETS, ("NEW1", "NEW", "BRAIN"), ("NEW2", "NEW", "ADRENAL")]
    rs = _run(lesions, _t(30, 20), _t(30, 20, NEW1="PRESENT"), _t(30, 20, NEW1="PRESENT", NEW2="PRESENT"))
    assert rs["NEWLIND"].to_list() == ["Y", "Y"]
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iCPD"]


def test_same_new_lesion_without_growth_stays_iupd():
    lesions = [*TARGETS, ("NEW1", "NEW", "BRAIN")]
    rs = _run(lesions, _t(30, 20), _t(30, 20, NEW1="PRESENT"), _t(20, 10, NEW1="PRESENT"))
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iUPD"]


def test_new_target_sum_growth_of_5_mm_confirms_and_is_kept_out_of_the_sod():
    lesions = [*TARGETS, ("NEW1", "NEW", "BRAIN")]
    rs = _run(lesions, _t(30, 20), _t(30, 20, NEW1=12), _t(30, 20, NEW1=16), _t(30, 20, NEW1=17))
    assert rs["SOD"].to_list() == [50.0, 50.0, 50.0]
    assert rs["NEWSOD"].to_list() == [12.0, 16.0, 17.0]
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iUPD", "iCPD"]


def test_non_target_further_progression_confirms():
    rs = _run(
        TARGETS, _t(30, 20), _t(30, 20, "UNEQUIVOCAL PROGRESSION"), _t(30, 20, "UNEQUIVOCAL PROGRESSION")
    )
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iCPD"]


def test_iupd_ipr_icr_end_to_end_gives_icr():
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(20, 10), _t(0, 0, "ABSENT"))
    assert rs["OVRLRESP"].to_list() == ["PD", "PR", "CR"]
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iPR", "iCR"]
    irs = derive_irecist_best_overall_response(rs, DM, sd_min_days=42)
    assert irs.row(0) == ("S1", "iCR", date(2024, 5, 6), None)


# The iUPD confirmation window (iRECIST: the next assessment "no less than 4 weeks and no more than 8 weeks"
# after iUPD; protocol 28-56 days), counted from the iUPD that opened the episode.
def test_growth_before_the_window_does_not_confirm_and_in_window_growth_does():
    dates = ["2024-01-01", "2024-02-12", "2024-03-04", "2024-03-18"]  # iUPD, +21 d (early), +35 d
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(40, 26), _t(40, 26), dates=dates)
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iUPD", "iCPD"]
    assert rs["ICONFWIN"].to_list() == [None, "EARLY", "IN WINDOW"]
    assert rs["IUPDDTC"].to_list() == [date(2024, 2, 12)] * 3


def test_shrinkage_before_the_window_does_not_reset_the_pending_iupd():
    dates = ["2024-01-01", "2024-02-12", "2024-02-26", "2024-03-25"]  # iUPD, +14 d PR (early), +42 d
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(20, 10), _t(42, 26), dates=dates)
    # the early PR leaves the iUPD pending; +8 mm over the iUPD SOD of 60 at day 42 confirms it
    assert rs["OVRLRESP"].to_list() == ["PD", "PR", "PD"]
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iUPD", "iCPD"]
    assert rs["ICONFWIN"].to_list() == [None, "EARLY", "IN WINDOW"]


def test_not_evaluable_before_the_window_is_ine_and_still_pending():
    dates = ["2024-01-01", "2024-02-12", "2024-02-19", "2024-03-18"]
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(None, 24), _t(20, 10), dates=dates)
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iNE", "iPR"]  # the in-window iPR resets
    assert rs["ICONFWIN"].to_list() == [None, "EARLY", "IN WINDOW"]


def test_late_confirmation_still_confirms_and_is_marked_late():
    dates = ["2024-01-01", "2024-02-12", "2024-04-22"]  # 70 days after the iUPD
    rs = _run(TARGETS, _t(30, 20), _t(36, 24), _t(40, 26), dates=dates)
    assert rs["IOVRLRESP"].to_list() == ["iUPD", "iCPD"]
    assert rs["ICONFWIN"].to_list() == [None, "LATE"]


@pytest.mark.parametrize("window", [(56, 28), (-1, 56), (28.5, 56)])
def test_a_confirmation_window_that_is_not_ordered_whole_days_is_refused(window):
    tu, tr = tables({"S1": {"lesions": TARGETS, "visits": [(DATES[0], _t(30, 20))]}})
    with pytest.raises(InputError) as caught:
        derive_irecist_timepoint_responses(tu, tr, confirmation_window_days=window)
    problem = caught.value.problems[0]
    assert (problem.code, problem.field, problem.value) == ("IRECIST-030", "confirmation_window_days", window)
