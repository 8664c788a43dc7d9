"""The protocol calendar against hand-counted dates, and visit statuses."""

import json
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.rules.schedule import add_months, derive_calendar, derive_visit_status, match_actual_dates

PROTOCOL = load_protocol()
FIRST = date(2026, 1, 5)


def by_id(events):
    return {e.id: e for e in events}


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 1, 5), 24, date(2028, 1, 5)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


@given(st.dates(date(1990, 1, 1), date(2090, 1, 1)), st.integers(0, 400))
def test_add_months_never_goes_back(day, months):
    later = add_months(day, months)
    assert later >= day and (later.year * 12 + later.month) - (day.year * 12 + day.month) == months


def test_induction_and_baseline():
    events = by_id(derive_calendar(PROTOCOL, FIRST))
    assert [events[f"C{k}D1"].target for k in range(1, 5)] == [
        date(2026, 1, 5),
        date(2026, 1, 26),
        date(2026, 2, 16),
        date(2026, 3, 9),
    ]
    assert (events["C2D1"].earliest, events["C2D1"].latest) == (date(2026, 1, 23), date(2026, 1, 29))
    assert (events["C1D1"].earliest, events["C1D1"].latest) == (FIRST, FIRST)
    assert (events["BASELINE"].earliest, events["BASELINE"].latest) == (date(2025, 12, 8), FIRST)
    # before randomization the calendar has no maintenance, no end of treatment
    assert not any(e.startswith(("M", "EOT", "SURV")) for e in events)


def test_assessments_every_6_weeks_for_a_year_then_every_9_weeks_to_24_months():
    events = derive_calendar(PROTOCOL, FIRST)
    days = [(e.target - FIRST).days for e in events if e.kind == "assessment"]
    assert days == [42, 84, 126, 168, 210, 252, 294, 336, 399, 462, 525, 588, 651, 714]
    asmt = by_id(events)["ASMT02"]
    assert asmt.label == "Tumour assessment (post-induction)"
    assert (asmt.earliest, asmt.latest) == (asmt.target - timedelta(days=7), asmt.target + timedelta(days=7))


def test_control_arm_maintenance_starts_3_weeks_after_cycle_4_until_24_months():
    events = by_id(derive_calendar(PROTOCOL, FIRST, randomized=date(2026, 3, 31), arm="control"))
    assert events["M01"].target == date(2026, 3, 30)  # C4D1 2026-03-09 + 21 days
    doses = [e for e in events.values() if e.kind == "maintenance dose"]
    assert all((b.target - a.target).days == 21 for a, b in pairwise(doses))
    assert events["EOT"].target == date(2028, 1, 5)
    assert doses[-1].target < date(2028, 1, 5) <= doses[-1].target + timedelta(days=21)
    assert len(doses) == 31
    assert events["AEFU"].target == date(2028, 2, 4)
    assert events["AEFU-SEVERE"].target == date(2028, 4, 4)
    assert events["SURV01"].target == date(2028, 3, 29)
    surv = [e for e in events.values() if e.kind == "survival follow-up"]
    assert len(surv) == 8 and surv[-1].target <= date(2030, 1, 5)


def _control_arm(**maintenance):
    """The calendar of a control-arm subject randomized on 2026-03-27 (M01 planned 2026-03-30)."""
    return by_id(derive_calendar(PROTOCOL, FIRST, randomized=date(2026, 3, 27), arm="control", **maintenance))


def _experimental_arm(**course):
    """The calendar of an experimental-arm subject randomized on 2026-03-31, radiotherapy to 2026-05-15."""
    return by_id(
        derive_calendar(
            PROTOCOL,
            FIRST,
            randomized=date(2026, 3, 31),
            arm="experimental",
            rt_end=date(2026, 5, 15),
            **course,
        )
    )


def test_a_delayed_maintenance_dose_moves_the_doses_after_it():
    # control arm: M01 2026-03-30, M02 planned 04-20 but given 04-27 (7 days late, recorded as delayed)
    planned = _control_arm()
    events = _control_arm(maintenance_start=date(2026, 3, 30), maintenance_given={2: date(2026, 4, 27)})
    assert planned["M02"].target == events["M02"].target == date(2026, 4, 20)
    assert planned["M03"].target == date(2026, 5, 11)
    # as the dosing edit check counts: 21 days after the dose before, as given
    assert (events["M03"].target, events["M03"].earliest, events["M03"].latest) == (
        date(2026, 5, 18),
        date(2026, 5, 15),
        date(2026, 5, 21),
    )
    assert events["M04"].target == date(2026, 6, 8)
    given = {"M01": date(2026, 3, 30), "M02": date(2026, 4, 27), "M03": date(2026, 5, 18)}
    statuses = {
        v.event.id: v.status for v in derive_visit_status(tuple(events.values()), given, date(2026, 5, 20))
    }
    assert (statuses["M02"], statuses["M03"], statuses["M04"]) == ("late", "on time", "upcoming")
    # each dose's own date: M03 given early inside its window moves M04 earlier
    early = _control_arm(maintenance_given={2: date(2026, 4, 27), 3: date(2026, 5, 16)})
    assert early["M04"].target == date(2026, 6, 6)


@pytest.mark.parametrize(
    ("given", "randomized", "code", "field"),
    [
        ({1: date(2026, 4, 1)}, date(2026, 3, 31), "SCHED-002", "maintenance_given[1]"),
        ({2: date(2026, 4, 27)}, None, "SCHED-002", "maintenance_given[2]"),
    ],
)
def test_maintenance_doses_given_are_checked(given, randomized, code, field):
    with pytest.raises(InputError) as bad:
        derive_calendar(
            PROTOCOL,
            FIRST,
            randomized=randomized,
            arm="control" if randomized else None,
            maintenance_given=given,
        )
    assert (bad.value.problems[0].code, bad.value.problems[0].field) == (code, field)


def test_experimental_arm_radiotherapy_window_and_maintenance_restart():
    events = _experimental_arm(maintenance_start=date(2026, 6, 1))
    assert (events["RTSTART"].earliest, events["RTSTART"].latest) == (date(2026, 3, 31), date(2026, 5, 4))
    restart = events["MAINTSTART"]
    assert (restart.target, restart.earliest, restart.latest) == (
        date(2026, 6, 1),
        date(2026, 5, 16),
        date(2026, 7, 10),
    )
    assert "M01" not in events and events["M02"].target == date(2026, 6, 22)
    assert events["RAND"].latest == date(2026, 5, 4)


def test_doses_entered_before_the_restart_dose_plan_the_doses_after_them():
    # experimental arm, the restart dose (M01) not yet entered but M02 and M03 are: the calendar plans on
    # from them (before, nothing was planned after the restart window until M01 was entered)
    events = _experimental_arm(maintenance_given={2: date(2026, 6, 22), 3: date(2026, 7, 15)})
    assert events["MAINTSTART"].target is None and "M01" not in events
    assert events["M02"].target == date(2026, 6, 22)
    assert events["M03"].target == date(2026, 7, 13)  # planned 21 days after M02 as given
    assert events["M04"].target == date(2026, 8, 5)  # 21 days after M03 as given (2 days late)
    doses = [e for e in events.values() if e.kind == "maintenance dose"]
    assert doses[-1].target < events["EOT"].target <= doses[-1].target + timedelta(days=21)


def test_treatment_ended_early_moves_end_of_treatment_and_follow_up():
    events = by_id(derive_calendar(PROTOCOL, FIRST, last_dose=date(2026, 2, 16)))
    assert events["EOT"].target == date(2026, 2, 16)
    assert events["AEFU"].target == date(2026, 3, 18)
    assert events["SURV01"].target == date(2026, 5, 11)


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"randomized": date(2025, 12, 1), "arm": "control"}, "SCHED-001", "randomized"),
        ({"randomized": date(2026, 4, 1), "arm": "placebo"}, "SCHED-002", "arm"),
        ({"arm": "control"}, "SCHED-002", "randomized"),
        (
            {"randomized": date(2026, 4, 1), "arm": "control", "rt_end": date(2026, 5, 1)},
            "SCHED-002",
            "rt_end",
        ),
        (
            {"randomized": date(2026, 4, 1), "arm": "experimental", "rt_end": date(2026, 3, 1)},
            "SCHED-001",
            "rt_end",
        ),
        ({"last_dose": date(2025, 1, 1)}, "SCHED-001", "last_dose"),
    ],
)
def test_dates_in_the_wrong_order_or_inconsistent_options(kwargs, code, field):
    with pytest.raises(InputError) as info:
        derive_calendar(PROTOCOL, FIRST, **kwargs)
    assert (info.value.problems[0].code, info.value.problems[0].field) == (code, field)


def test_visit_status():
    events = derive_calendar(PROTOCOL, FIRST)
    actual = {"C1D1": FIRST, "C2D1": date(2026, 1, 29), "C3D1": date(2026, 2, 21), "ASMT01": date(2026, 2, 5)}
    statuses = {s.event.id: s for s in derive_visit_status(events, actual, as_of=date(2026, 3, 10))}
    assert (statuses["C2D1"].status, statuses["C2D1"].days_outside) == (
        "on time",
        0,
    )  # last day of the window
    assert (statuses["C3D1"].status, statuses["C3D1"].days_outside) == ("late", 2)
    assert (statuses["ASMT01"].status, statuses["ASMT01"].days_outside) == ("early", 4)
    assert statuses["C4D1"].status == "due"
    assert statuses["ASMT02"].status == "upcoming"
    later = {s.event.id: s for s in derive_visit_status(events, actual, as_of=date(2026, 3, 20))}
    assert (later["C4D1"].status, later["C4D1"].days_outside) == ("missed", 8)


def test_visit_status_unknown_event():
    with pytest.raises(InputError) as info:
        derive_visit_status(derive_calendar(PROTOCOL, FIRST), {"C9D1": FIRST}, FIRST)
    assert info.value.problems[0].field == "actual.C9D1"


def test_cli_schedule(run_cli, tmp_path):
    result = run_cli(
        "schedule", "--first-dose", "2026-01-05", "--randomized", "2026-03-31", "--arm", "control", "--json"
    )
    assert result.exit_code == 0
    events = {e["id"]: e for e in result.json()["events"]}
    assert events["M01"]["target"] == "2026-03-30" and events["EOT"]["target"] == "2028-01-05"
    actual = tmp_path / "actual.json"
    actual.write_text(json.dumps({"C1D1": "2026-01-05", "C2D1": "2026-02-02"}), encoding="utf-8")
    statuses = run_cli(
        "schedule", "--first-dose", "2026-01-05", "--actual", actual, "--as-of", "2026-02-03", "--json"
    ).json()
    c2 = next(e for e in statuses["events"] if e["id"] == "C2D1")
    assert (c2["status"], c2["days_outside"]) == ("late", 4)
    assert "Protocol calendar" in run_cli("schedule", "--first-dose", "2026-01-05").stdout


def test_cli_schedule_moves_the_maintenance_doses_after_a_delayed_one(run_cli, tmp_path):
    # as test_a_delayed_maintenance_dose_moves_the_doses_after_it: M02 given 7 days late, M03 21 days after it
    actual = tmp_path / "actual.json"
    doses = {"M01": "2026-03-30", "M02": "2026-04-27", "M03": "2026-05-18"}
    actual.write_text(json.dumps(doses), encoding="utf-8")
    options = ["--first-dose", "2026-01-05", "--randomized", "2026-03-27", "--arm", "control"]
    result = run_cli("schedule", *options, "--actual", actual, "--as-of", "2026-05-20", "--json")
    assert result.exit_code == 0, result.stderr
    events = {e["id"]: e for e in result.json()["events"]}
    assert (events["M02"]["status"], events["M03"]["status"]) == ("late", "on time")
    assert (events["M03"]["target"], events["M04"]["target"]) == ("2026-05-18", "2026-06-08")


def test_cli_schedule_bad_input(run_cli, tmp_path):
    wrong_order = run_cli(
        "schedule", "--first-dose", "2026-01-05", "--randomized", "2025-12-01", "--arm", "control"
    )
    assert wrong_order.exit_code == 2 and "SCHED-001 randomized" in wrong_order.stderr
    bad_date = run_cli("schedule", "--first-dose", "2026-02-30")
    assert (
        bad_date.exit_code == 2
        and "CLI-001 --first-dose" in bad_date.stderr
        and "'2026-02-30'" in bad_date.stderr
    )
    actual = tmp_path / "actual.json"
    actual.write_text(json.dumps({"C1D1": "yesterday"}), encoding="utf-8")
    bad_actual = run_cli("schedule", "--first-dose", "2026-01-05", "--actual", actual)
    assert bad_actual.exit_code == 2 and "SCHED-004 actual.C1D1" in bad_actual.stderr


# --- the calendar follows the subject's course (issues 8 and 13) -------------------------------------------


def test_progression_during_induction_ends_treatment_and_assessments():
    # progression seen at the first assessment (2026-02-16); last dose C2 on 2026-01-26; EOT recorded next day
    events = by_id(
        derive_calendar(
            PROTOCOL,
            FIRST,
            last_dose=date(2026, 1, 26),
            end_of_treatment=date(2026, 2, 17),
            progression=date(2026, 2, 16),
            severe_adverse_event=False,
        )
    )
    assert "C3D1" not in events and "C4D1" not in events  # no induction after the end of treatment
    assert "RAND" not in events  # never randomized: progression before the post-induction assessment
    assert [e for e in events if e.startswith("ASMT")] == ["ASMT01"]  # followed for survival only
    eot = events["EOT"]
    assert (eot.target, eot.earliest, eot.latest, eot.phase) == (
        date(2026, 2, 17),
        date(2026, 1, 26),
        date(2026, 2, 17),
        "induction",
    )
    aefu = events["AEFU"]
    assert (aefu.target, aefu.earliest, aefu.latest) == (
        date(2026, 2, 25),
        date(2026, 2, 25),
        date(2026, 5, 4),
    )
    assert "AEFU-SEVERE" not in events  # no grade >= 3 adverse event
    assert events["SURV01"].target == date(2026, 4, 20)
    assert len([e for e in events if e.startswith("SURV")]) == 8


def test_assessment_whose_window_is_open_at_progression_is_kept():
    # progression on 2026-03-25, inside the window of the post-induction assessment (2026-03-23..04-06)
    events = by_id(
        derive_calendar(
            PROTOCOL,
            FIRST,
            last_dose=date(2026, 3, 9),
            end_of_treatment=date(2026, 3, 26),
            progression=date(2026, 3, 25),
        )
    )
    assert [e for e in events if e.startswith("ASMT")] == ["ASMT01", "ASMT02"]
    assert "C4D1" in events and "RAND" not in events
    assert events["AEFU-SEVERE"].target == date(2026, 6, 7)  # 2026-03-09 + 90 days
    assert events["AEFU-SEVERE"].latest == date(2026, 9, 7)  # 2026-03-09 + 2 x 84 + 14 days


def test_toxicity_in_maintenance_stops_doses_but_not_assessments():
    # control arm, last dose M03 on 2026-05-11, end of treatment for toxicity recorded on 2026-06-01
    events = by_id(
        derive_calendar(
            PROTOCOL,
            FIRST,
            randomized=date(2026, 3, 31),
            arm="control",
            last_dose=date(2026, 5, 11),
            end_of_treatment=date(2026, 6, 1),
        )
    )
    doses = sorted(e for e in events if e.startswith("M"))
    assert doses == ["M01", "M02", "M03"]
    assert (events["EOT"].target, events["EOT"].earliest) == (date(2026, 6, 1), date(2026, 5, 11))
    assessments = [e for e in events.values() if e.kind == "assessment"]
    assert len(assessments) == 14 and assessments[-1].target == date(2027, 12, 20)
    assert (events["ASMT03"].phase, events["ASMT04"].phase) == ("maintenance", "follow-up")
    assert events["AEFU"].target == date(2026, 6, 10)
    assert events["SURV01"].target == date(2026, 8, 3)


def test_a_dose_given_early_inside_its_window_is_still_planned():
    # M03 planned 2026-05-11, given on 2026-05-09 as the last dose
    events = by_id(
        derive_calendar(
            PROTOCOL, FIRST, randomized=date(2026, 3, 31), arm="control", last_dose=date(2026, 5, 9)
        )
    )
    assert sorted(e for e in events if e.startswith("M")) == ["M01", "M02", "M03"]


def test_nothing_is_planned_after_death():
    events = derive_calendar(
        PROTOCOL, FIRST, randomized=date(2026, 3, 31), arm="control", off_study=date(2026, 5, 20)
    )
    assert [e.id for e in events][-4:] == ["RAND", "M02", "ASMT03", "M03"]
    assert max(e.target or e.earliest for e in events) == date(2026, 5, 11)
    assert not any(e.kind in ("end of treatment", "survival follow-up") for e in events)


def test_radiotherapy_is_treatment_follow_up_counts_from_its_end():
    # experimental arm: radiotherapy to 2026-05-15, progression on 2026-06-22 before camrelizumab restarted
    events = _experimental_arm(
        last_dose=date(2026, 3, 9), end_of_treatment=date(2026, 6, 23), progression=date(2026, 6, 22)
    )
    assert "RTSTART" in events and "MAINTSTART" not in events
    assert not any(e.kind == "maintenance dose" for e in events.values())
    assert events["EOT"].earliest == date(2026, 5, 15)
    assert events["AEFU"].target == date(2026, 6, 14)
    assert events["SURV01"].target == date(2026, 8, 7)
    assert [e for e in events if e.startswith("ASMT")][-1] == "ASMT04"


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"end_of_treatment": date(2026, 3, 1)}, "SCHED-002", "end_of_treatment"),
        (
            {"last_dose": date(2026, 3, 9), "end_of_treatment": date(2026, 3, 1)},
            "SCHED-001",
            "end_of_treatment",
        ),
        ({"progression": date(2025, 12, 31)}, "SCHED-001", "progression"),
        ({"off_study": date(2025, 12, 31)}, "SCHED-001", "off_study"),
    ],
)
def test_course_dates_in_the_wrong_order(kwargs, code, field):
    with pytest.raises(InputError) as info:
        derive_calendar(PROTOCOL, FIRST, **kwargs)
    problem = info.value.problems[0]
    assert (problem.code, problem.field) == (code, field)
    assert problem.value == kwargs[field]


def test_match_assessments_to_the_nearest_planned_one():
    events = derive_calendar(PROTOCOL, FIRST)
    # 2026-02-12 inside ASMT01's window, 2026-03-02 an extra scan, 2026-04-10 ASMT02 (03-30) 4 days late
    found = match_actual_dates(events, "assessment", [date(2026, 2, 12), date(2026, 3, 2), date(2026, 4, 10)])
    assert found == {"ASMT01": date(2026, 2, 12), "ASMT02": date(2026, 4, 10)}
    statuses = {s.event.id: s for s in derive_visit_status(events, found, as_of=date(2026, 4, 20))}
    assert (statuses["ASMT02"].status, statuses["ASMT02"].days_outside) == ("late", 4)


def test_match_survival_contacts_inside_windows_late_ones_and_extra_ones():
    events = derive_calendar(PROTOCOL, FIRST, last_dose=date(2026, 1, 26), end_of_treatment=date(2026, 2, 17))
    surv = {e.id: e for e in events if e.kind == "survival follow-up"}
    assert (surv["SURV01"].target, surv["SURV02"].target) == (date(2026, 4, 20), date(2026, 7, 13))
    contacts = [
        date(2026, 3, 20),  # before the first window opens (04-06): an extra contact
        date(2026, 4, 22),  # inside SURV01's window
        date(2026, 5, 20),  # after SURV01's window, which already has its contact: extra
        date(2026, 8, 3),  # SURV02's window (06-29..07-27) closed without a contact: late
        date(2026, 9, 1),  # before SURV03's window opens (09-21), SURV02 already late-filled: extra
    ]
    found = match_actual_dates(events, "survival follow-up", contacts)
    assert found == {"SURV01": date(2026, 4, 22), "SURV02": date(2026, 8, 3)}
    aefu = match_actual_dates(events, "adverse event follow-up", contacts)
    assert aefu == {"AEFU": date(2026, 3, 20), "AEFU-SEVERE": date(2026, 5, 20)}
    statuses = {s.event.id: s for s in derive_visit_status(events, {**found, **aefu}, date(2026, 9, 1))}
    assert (statuses["SURV02"].status, statuses["SURV02"].days_outside) == ("late", 7)
    assert statuses["SURV03"].status == "upcoming"
    assert (statuses["AEFU"].status, statuses["AEFU-SEVERE"].status) == ("on time", "on time")
