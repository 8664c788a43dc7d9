"""The subject calendar follows the subject's course (PROTOCOL.md sections 1, 3, 4): progression during
induction, treatment stopped for toxicity, death, and a subject in maintenance after radiotherapy, on
SQLite and PostgreSQL, with the dates hand-counted from a first dose on 2024-01-08."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from oligotrial.services import data
from oligotrial.services import radiotherapy as rt
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from workflow_data import adverse_event, assessment, eligible, induction_dose, maintenance_dose

D0 = date(2024, 1, 8)  # cycles 01-08, 01-29, 02-19, 03-11; assessments 02-19, 04-01, 05-13, 06-24, ...
INV = "investigator.cn01"
HEADER = "position,arm,site,induction_response,metastatic_organs\n"


def _induction(world) -> str:
    """An enrolled subject with a baseline scan, the four induction cycles on their days and the first
    assessment (PR)."""
    edc, inv = world.edc, world.actor(INV)
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=4), 30, 20))
    for cycle in (1, 2, 3, 4):
        wf.record_dose(edc, inv, code, induction_dose(cycle, D0 + timedelta(days=21 * (cycle - 1))))
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 2, 19), 18, 15))
    return code


def _randomize(world, code: str, arm: str, day: date) -> None:
    response, organs = ("CR", 1) if arm == "control" else ("SD", 2)
    rnd.randomize_subject(
        world.edc,
        world.actor(INV),
        code,
        induction_response=response,
        metastatic_organ_count=organs,
        randomized_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
    )


def _items(world, code: str, as_of: date) -> dict[str, tuple[str, date | None, date, date, date | None]]:
    calendar = wf.get_subject_calendar(world.edc, world.actor(INV), code, as_of)
    return {i.id: (i.status, i.target, i.earliest, i.latest, i.actual) for i in calendar.items}


def test_progression_during_induction_leaves_survival_follow_up_only(world):
    edc, inv = world.edc, world.actor(INV)
    code = _induction(world)
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 4, 1), 40, 30, new=True))
    wf.record_end_of_treatment(
        edc, inv, code, {"date": "2024-04-02", "last_dose_date": "2024-03-11", "reason": "progression"}
    )
    for day in ("2024-05-01", "2024-06-05", "2024-07-01"):
        wf.record_follow_up(edc, inv, code, {"date": day, "status": "alive", "method": "telephone"})
    items = _items(world, code, date(2024, 7, 15))
    assert "RAND" not in items  # progression at the post-induction assessment: never randomized
    assert [i for i in items if i.startswith("ASMT")] == ["ASMT01", "ASMT02"]
    assert items["ASMT02"] == (
        "on time",
        date(2024, 4, 1),
        date(2024, 3, 25),
        date(2024, 4, 8),
        date(2024, 4, 1),
    )
    assert items["EOT"] == (
        "on time",
        date(2024, 4, 2),
        date(2024, 3, 11),
        date(2024, 4, 2),
        date(2024, 4, 2),
    )
    # the end of AE reporting (03-11 + 30 days) is confirmed at the first contact after it
    assert items["AEFU"] == (
        "on time",
        date(2024, 4, 10),
        date(2024, 4, 10),
        date(2024, 6, 17),
        date(2024, 5, 1),
    )
    assert "AEFU-SEVERE" not in items  # no grade >= 3 adverse event
    # survival follow-up every 12 weeks from the last dose; 05-01 and 07-01 are extra contacts
    assert items["SURV01"] == (
        "on time",
        date(2024, 6, 3),
        date(2024, 5, 20),
        date(2024, 6, 17),
        date(2024, 6, 5),
    )
    assert items["SURV02"][:2] == ("upcoming", date(2024, 8, 26))
    assert not any(i.startswith(("M", "RT")) for i in items)
    assert wf.list_schedule_exceptions(edc, inv, date(2024, 7, 15)) == []


def test_toxicity_in_maintenance_stops_doses_and_keeps_assessments(world):
    edc, inv = world.edc, world.actor(INV)
    rnd.upload_randomization_list(edc, world.actor("statistician"), HEADER + "1,control,CN01,CR/PR,1\n")
    code = _induction(world)
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 4, 1), 18, 15))
    _randomize(world, code, "control", date(2024, 4, 2))
    wf.record_dose(edc, inv, code, maintenance_dose(1, date(2024, 4, 2)))
    wf.record_dose(edc, inv, code, maintenance_dose(2, date(2024, 4, 23)))
    wf.record_adverse_event(
        edc, inv, code, adverse_event(date(2024, 4, 25), outcome="not recovered/not resolved")
    )
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 5, 13), 18, 15))
    wf.record_end_of_treatment(
        edc,
        inv,
        code,
        {"date": "2024-05-14", "last_dose_date": "2024-04-23", "reason": "intolerable toxicity"},
    )
    items = _items(world, code, date(2024, 6, 10))
    assert items["RAND"][0] == "on time"
    assert sorted(i for i in items if i.startswith("M")) == ["M01", "M02"]  # M03 (05-14) not given: dropped
    assert items["M02"] == (
        "on time",
        date(2024, 4, 23),
        date(2024, 4, 20),
        date(2024, 4, 26),
        date(2024, 4, 23),
    )
    assert items["EOT"] == (
        "on time",
        date(2024, 5, 14),
        date(2024, 4, 23),
        date(2024, 5, 14),
        date(2024, 5, 14),
    )
    # no progression: tumour assessments go on after the end of treatment (to 24 months)
    assert items["ASMT03"][0] == "on time" and items["ASMT04"][:2] == ("upcoming", date(2024, 6, 24))
    assert [i for i in items if i.startswith("ASMT")][-1] == "ASMT14"
    assert items["AEFU"][:4] == ("due", date(2024, 5, 23), date(2024, 5, 23), date(2024, 7, 30))
    assert items["AEFU-SEVERE"][:2] == ("upcoming", date(2024, 7, 22))  # a grade 3 adverse event
    assert items["SURV01"][:2] == ("upcoming", date(2024, 7, 16))
    assert wf.list_schedule_exceptions(edc, inv, date(2024, 6, 10)) == []
    # a month later the scan of 06-24 was not done: that is a real overdue item
    assert [(e["id"], e["status"]) for e in wf.list_schedule_exceptions(edc, inv, date(2024, 7, 10))] == [
        ("ASMT04", "missed")
    ]


def test_nothing_is_planned_after_death(world):
    edc, inv = world.edc, world.actor(INV)
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=4), 30, 20))
    wf.record_dose(edc, inv, code, induction_dose(1, D0))
    wf.record_dose(edc, inv, code, induction_dose(2, date(2024, 1, 29)))
    wf.record_death(edc, inv, code, {"date": "2024-02-10", "cause": "adverse event"})
    items = _items(world, code, date(2024, 3, 15))
    assert list(items) == ["BASELINE", "C1D1", "C2D1"]  # C3D1 and the first scan (02-19) fall after death
    assert {status for status, *_ in items.values()} == {"on time"}


def test_maintenance_after_radiotherapy_is_matched_by_the_doses(world):
    edc, inv = world.edc, world.actor(INV)
    rnd.upload_randomization_list(edc, world.actor("statistician"), HEADER + "1,experimental,CN01,SD,2-3\n")
    code = _induction(world)
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 4, 1), 22, 14))
    _randomize(world, code, "experimental", date(2024, 4, 3))
    course = {
        "lesion_id": "T1",
        "lesion_type": "metastasis",
        "organ": "liver",
        "technique": "SBRT",
        "dose_per_fraction_gy": 8,
        "fractions": 5,
        "start_date": "2024-04-22",
        "end_date": "2024-05-03",
    }
    rt.record_radiotherapy_course(edc, inv, code, course, chemo_immunotherapy_end=date(2024, 3, 11))
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 5, 13), 22, 14))
    wf.record_dose(edc, inv, code, maintenance_dose(1, date(2024, 5, 20)))
    wf.record_dose(edc, inv, code, maintenance_dose(2, date(2024, 6, 10)))
    items = _items(world, code, date(2024, 6, 20))
    assert items["RTSTART"] == ("on time", None, date(2024, 4, 3), date(2024, 5, 6), date(2024, 4, 22))
    # the first maintenance dose is the restart within 8 weeks of the end of radiotherapy
    assert items["MAINTSTART"] == (
        "on time",
        date(2024, 5, 20),
        date(2024, 5, 4),
        date(2024, 6, 28),
        date(2024, 5, 20),
    )
    assert "M01" not in items
    assert items["M02"] == (
        "on time",
        date(2024, 6, 10),
        date(2024, 6, 7),
        date(2024, 6, 13),
        date(2024, 6, 10),
    )
    assert items["M03"][:2] == ("upcoming", date(2024, 7, 1))
    assert items["ASMT04"][:2] == ("due", date(2024, 6, 24))
    assert items["EOT"][:2] == ("upcoming", date(2026, 1, 8))
    assert wf.list_schedule_exceptions(edc, inv, date(2024, 6, 20)) == []


def test_death_closes_the_adverse_event_follow_up(world):
    edc, inv = world.edc, world.actor(INV)
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    wf.record_dose(edc, inv, code, induction_dose(1, D0))
    wf.record_dose(edc, inv, code, induction_dose(2, date(2024, 1, 29)))
    wf.record_end_of_treatment(
        edc,
        inv,
        code,
        {"date": "2024-02-05", "last_dose_date": "2024-01-29", "reason": "intolerable toxicity"},
    )
    wf.record_death(edc, inv, code, {"date": "2024-03-15", "cause": "adverse event"})
    items = _items(world, code, date(2024, 6, 1))
    assert "C3D1" not in items and "RAND" not in items
    # end of AE reporting 01-29 + 30 days, closed by the death record; no survival follow-up after death
    assert items["AEFU"] == (
        "on time",
        date(2024, 2, 28),
        date(2024, 2, 28),
        date(2024, 5, 6),
        date(2024, 3, 15),
    )
    assert not any(i.startswith("SURV") for i in items)
    assert items["ASMT01"][:2] == ("missed", date(2024, 2, 19))  # off treatment, not progressed: still due


def test_a_delayed_maintenance_dose_moves_the_calendar_as_it_moves_the_window(world):
    """The calendar and the dosing edit check agree: after a delayed dose the next is due a dose interval
    after it, so a dose on that day is on time in both, and only the delayed dose is a schedule exception."""
    edc, inv = world.edc, world.actor(INV)
    rnd.upload_randomization_list(edc, world.actor("statistician"), HEADER + "1,control,CN01,CR/PR,1\n")
    code = _induction(world)
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 4, 1), 18, 15))
    _randomize(world, code, "control", date(2024, 4, 2))
    wf.record_dose(edc, inv, code, maintenance_dose(1, date(2024, 4, 2)))
    delayed = {
        **maintenance_dose(2, date(2024, 4, 30)),
        "delayed": True,
        "delay_reason": "neutropenia grade 3",
    }
    assert wf.record_dose(edc, inv, code, delayed).derived["window"]["status"] == "late"  # due 04-23
    wf.record_tumour_assessment(edc, inv, code, assessment(date(2024, 5, 13), 18, 15))
    third = wf.record_dose(edc, inv, code, maintenance_dose(3, date(2024, 5, 21)))
    assert third.derived["window"]["status"] == "on time" and third.open_queries == []
    items = _items(world, code, date(2024, 5, 22))
    assert items["M02"][:2] == ("late", date(2024, 4, 23))
    assert items["M03"] == (
        "on time",
        date(2024, 5, 21),
        date(2024, 5, 18),
        date(2024, 5, 24),
        date(2024, 5, 21),
    )
    assert items["M04"][:2] == ("upcoming", date(2024, 6, 11))
    exceptions = wf.list_schedule_exceptions(edc, inv, date(2024, 5, 22))
    assert [(e["id"], e["status"]) for e in exceptions] == [("M02", "late")]


def test_a_subject_whose_dates_break_a_calendar_rule_is_listed_as_unavailable(world):
    """An allocation dated before the first dose (as a migration may replay one) breaks SCHED-001: the
    exceptions list that subject as unavailable, with the problem, instead of failing for every subject."""
    code = _induction(world)
    rnd.generate_randomization_list(world.edc, world.actor("statistician"), entries_per_stratum=2, seed=3)
    _randomize(world, code, "control", D0 - timedelta(days=1))
    (entry,) = wf.list_schedule_exceptions(world.edc, world.actor(INV), date(2024, 3, 1))
    assert (entry["subject"], entry["id"], entry["status"]) == (code, "CALENDAR", "unavailable")
    assert [(p["code"], p["field"]) for p in entry["problems"]] == [("SCHED-001", "randomized")]


def test_the_calendars_of_all_subjects_are_each_subjects_own_calendar(world):
    """``list_subject_calendars`` (read in a few statements for all subjects) gives, subject by subject, the
    calendar ``get_subject_calendar`` gives, and the problems instead for a subject whose dates break a rule;
    a subject not yet dosed has an empty calendar; another site's subjects are not listed."""
    inv = world.actor(INV)
    rnd.generate_randomization_list(world.edc, world.actor("statistician"), entries_per_stratum=2, seed=3)
    dosed, randomized, broken = (_induction(world) for _ in range(3))
    _randomize(world, randomized, "control", date(2024, 3, 27))
    _randomize(world, broken, "control", D0 - timedelta(days=1))  # before the first dose: SCHED-001
    waiting = data.create_subject(world.edc, inv, "CN01").code
    wf.save_eligibility(world.edc, inv, waiting, eligible(D0))
    wf.enroll_subject(world.edc, inv, waiting, D0 + timedelta(days=2))
    elsewhere = data.create_subject(world.edc, world.actor("investigator.cn02"), "CN02").code
    as_of = date(2024, 6, 1)

    calendars = {c.subject: c for c in wf.list_subject_calendars(world.edc, inv, as_of)}

    assert set(calendars) == {dosed, randomized, broken, waiting} and elsewhere not in calendars
    for code in (dosed, randomized, waiting):
        assert calendars[code] == wf.get_subject_calendar(world.edc, inv, code, as_of)
    assert calendars[waiting].items == [] and calendars[dosed].items != calendars[randomized].items
    assert calendars[broken].items == []
    assert [(p["code"], p["field"]) for p in calendars[broken].problems] == [("SCHED-001", "randomized")]
