"""The protocol calendar against hand-counted dates, and visit statuses."""

import json
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.rules.schedule import add_months, derive_calendar, derive_visit_status

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


def test_experimental_arm_radiotherapy_window_and_maintenance_restart():
    events = by_id(
        derive_calendar(
            PROTOCOL,
            FIRST,
            randomized=date(2026, 3, 31),
            arm="experimental",
            rt_end=date(2026, 5, 15),
            maintenance_start=date(2026, 6, 1),
        )
    )
    assert (events["RTSTART"].earliest, events["RTSTART"].latest) == (date(2026, 3, 31), date(2026, 5, 4))
    restart = events["MAINTSTART"]
    assert (restart.target, restart.earliest, restart.latest) == (
        date(2026, 6, 1),
        date(2026, 5, 16),
        date(2026, 7, 10),
    )
    assert "M01" not in events and events["M02"].target == date(2026, 6, 22)
    assert events["RAND"].latest == date(2026, 5, 4)


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
