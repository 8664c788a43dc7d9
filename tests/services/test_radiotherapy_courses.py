"""Radiotherapy course entry: experimental arm only, each lesion checked by the plan check, the 8-week
windows and the maintenance restart window; corrections need a reason; refusals store nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from oligotrial.errors import ConflictError, InputError
from oligotrial.services import data
from oligotrial.services import radiotherapy as rt
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from oligotrial.services.audit_trail import verify_audit
from workflow_data import induction_dose, radiotherapy_course

HEADER = "position,arm,site,induction_response,metastatic_organs\n"
RANDOMIZED_AT = datetime(2025, 2, 20, 2, tzinfo=UTC)  # 10:00 at the site (Asia/Shanghai): before the courses


def randomized(world, arm):
    """An enrolled subject randomized to ``arm`` (a one-slot uploaded list per arm), or not randomized."""
    inv = world.actor("investigator.cn01")
    code = data.create_subject(world.edc, inv, "CN01").code
    data.update_subject_status(world.edc, inv, code, "enrolled", 1, "eligible")
    if arm is None:
        return code
    level, response, organs = ("CR/PR,1", "CR", 1) if arm == "control" else ("SD,2-3", "SD", 2)
    rnd.upload_randomization_list(world.edc, world.actor("statistician"), HEADER + f"1,{arm},CN01,{level}\n")
    rnd.randomize_subject(
        world.edc,
        inv,
        code,
        induction_response=response,
        metastatic_organ_count=organs,
        randomized_at=RANDOMIZED_AT,
    )
    return code


def test_experimental_arm_courses_are_checked_per_lesion_and_windows(world):
    code = randomized(world, "experimental")
    inv = world.actor("investigator.cn01")
    plan = rt.record_radiotherapy_course(
        world.edc, inv, code, radiotherapy_course(), chemo_immunotherapy_end=date(2025, 2, 1)
    )
    assert plan.verdict == "compliant" and plan.lesions[0]["bed10_gy"] == pytest.approx(72.0)
    assert [w["code"] for w in plan.windows] == ["RT-W02"]
    plan = rt.record_radiotherapy_course(world.edc, inv, code, radiotherapy_course("L2", fractions=3))
    assert plan.verdict == "advisory"  # 8 Gy x 3: allowed, BED10 43.2 below the 60 recommended
    plan = rt.record_radiotherapy_course(
        world.edc,
        inv,
        code,
        radiotherapy_course(
            "P",
            lesion_type="primary",
            organ="esophagus",
            technique="conventional",
            dose_per_fraction_gy=2,
            fractions=15,
            start_date="2025-03-20",
            end_date="2025-04-30",
        ),
    )
    assert plan.verdict == "deviation"  # 30 Gy to the primary, below 40 Gy
    with pytest.raises(InputError, match="EDC-010"):  # correction without a reason
        rt.record_radiotherapy_course(
            world.edc,
            inv,
            code,
            radiotherapy_course(
                "P",
                lesion_type="primary",
                organ="esophagus",
                technique="conventional",
                dose_per_fraction_gy=2,
                fractions=20,
                start_date="2025-03-20",
                end_date="2025-04-30",
            ),
        )
    plan = rt.record_radiotherapy_course(
        world.edc,
        inv,
        code,
        radiotherapy_course(
            "P",
            lesion_type="primary",
            organ="esophagus",
            technique="conventional",
            dose_per_fraction_gy=2,
            fractions=20,
            start_date="2025-03-20",
            end_date="2025-04-30",
        ),
        reason="dose transcribed wrongly",
    )
    assert plan.verdict == "advisory" and plan.courses[-1]["version"] == 2
    late = rt.record_maintenance_restart(world.edc, inv, code, date(2025, 7, 1))
    assert late.verdict == "deviation" and late.windows[-1]["code"] == "RT-W03"
    ok = rt.record_maintenance_restart(world.edc, inv, code, date(2025, 5, 20), reason="date corrected")
    assert ok.verdict == "advisory" and rt.get_radiotherapy_plan(world.edc, inv, code).version >= 2
    assert verify_audit(world.edc).is_intact


def test_control_arm_unrandomized_and_bad_courses_are_refused_and_store_nothing(world):
    inv = world.actor("investigator.cn01")
    control = randomized(world, "control")
    cases = [
        (control, radiotherapy_course(), ConflictError, "RT-020"),
        (randomized(world, None), radiotherapy_course(), ConflictError, "RT-021"),
    ]
    code = randomized(world, "experimental")
    cases += [
        (code, radiotherapy_course(organ="moon"), InputError, "RT-011"),
        (code, radiotherapy_course(fractions=0), InputError, "RT-010"),
        # the day before the randomization on 2025-02-20 at the site
        (code, radiotherapy_course(start_date="2025-02-19", end_date="2025-02-28"), InputError, "RT-025"),
        (
            code,
            radiotherapy_course(),
            InputError,
            "RT-022",
        ),  # first course: no end of chemo-immunotherapy, no dose
    ]
    for subject, values, kind, expected in cases:
        before = verify_audit(world.edc).entries
        with pytest.raises(kind) as excinfo:
            rt.record_radiotherapy_course(world.edc, inv, subject, values)
        assert excinfo.value.code == expected
        assert verify_audit(world.edc).entries == before
    with pytest.raises(ConflictError, match="RT-024"):
        rt.record_maintenance_restart(world.edc, inv, code, date(2025, 5, 1))


def test_the_end_of_chemo_immunotherapy_defaults_to_the_last_induction_dose(world):
    inv = world.actor("investigator.cn01")
    code = randomized(world, "experimental")
    for cycle, day in [(1, date(2025, 1, 6)), (2, date(2025, 1, 27))]:
        wf.record_dose(world.edc, inv, code, induction_dose(cycle, day))
    plan = rt.record_radiotherapy_course(world.edc, inv, code, radiotherapy_course())
    assert plan.chemo_immunotherapy_end == date(2025, 1, 27)
    (window,) = plan.windows
    assert (window["code"], window["verdict"]) == ("RT-W02", "compliant")
    assert "starts day 33 after the end of chemo-immunotherapy" in window["message"]
