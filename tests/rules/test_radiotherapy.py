"""BED/EQD2 against literal values, and the plan check on the protocol's boundaries."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.rules.radiotherapy import (
    check_dose_inputs,
    check_radiotherapy_plan,
    compute_bed,
    compute_eqd2,
    parse_radiotherapy_plan,
)

PROTOCOL = load_protocol()


# Hand-computed from BED = n d (1 + d / (a/b)), EQD2 = BED / (1 + 2 / (a/b)); PROTOCOL.md section 8.
@pytest.mark.parametrize(
    ("d", "n", "ab", "bed", "eqd2"),
    [
        (8, 5, 10, 72.0, 60.0),
        (8, 3, 10, 43.2, 36.0),
        (8, 4, 10, 57.6, 48.0),
        (10, 3, 10, 60.0, 50.0),
        (2, 20, 10, 48.0, 40.0),
        (3, 10, 10, 39.0, 32.5),
        (7, 5, 10, 59.5, 49.583333333333336),
        (8, 5, 3, 146.66666666666669, 88.0),
        (2, 30, 3, 100.0, 60.0),
    ],
)
def test_bed_and_eqd2_literal_values(d, n, ab, bed, eqd2):
    assert compute_bed(float(d), float(n), ab) == pytest.approx(bed, rel=1e-12)
    assert compute_eqd2(float(d), float(n), ab) == pytest.approx(eqd2, rel=1e-12)


def test_bed_is_vectorised():
    d = np.array([8.0, 2.0, 10.0])
    n = np.array([5.0, 20.0, 3.0])
    np.testing.assert_allclose(compute_bed(d, n, 10.0), [72.0, 48.0, 60.0])


@given(st.floats(0.1, 30), st.integers(1, 40), st.floats(0.5, 20), st.floats(0.01, 5), st.floats(0.5, 20))
def test_bed_increases_with_dose_and_exceeds_physical_dose(d, n, ab, extra, ab2):
    assert compute_bed(d, float(n), ab) > d * n
    assert compute_bed(d + extra, float(n), ab) > compute_bed(d, float(n), ab)
    # EQD2 equals the physical dose exactly when d = 2 Gy, whatever alpha/beta
    assert compute_eqd2(2.0, float(n), ab2) == pytest.approx(2.0 * n)


@pytest.mark.parametrize(
    ("d", "n", "ab", "field"),
    [
        (-8, 5, 10, "dose_per_fraction"),
        (0, 5, 10, "dose_per_fraction"),
        (1.4e-253, 5, 10, "dose_per_fraction"),
        (8, 0, 10, "fractions"),
        (8, 5, 0, "alpha_beta"),
    ],
)
def test_bad_dose_inputs_name_the_field(d, n, ab, field):
    with pytest.raises(InputError) as info:
        check_dose_inputs(d, n, ab)
    assert info.value.problems[0].field == field


def _course(**overrides):
    course = {
        "lesion_id": "M1",
        "lesion_type": "metastasis",
        "organ": "liver",
        "technique": "SBRT",
        "dose_per_fraction_gy": 8,
        "fractions": 5,
        "start_date": "2026-05-01",
        "end_date": "2026-05-08",
    }
    course.update(overrides)
    return course


def _plan(*courses, chemo_end="2026-04-01", restart=None):
    data = {"chemo_immunotherapy_end": chemo_end, "courses": list(courses) or [_course()]}
    if restart:
        data["maintenance_restart"] = restart
    return data


def _check(data):
    return check_radiotherapy_plan(parse_radiotherapy_plan(data, PROTOCOL), PROTOCOL)


def _codes(lesion):
    return [(f.code, f.verdict) for f in lesion.findings]


def test_sbrt_8x5_is_compliant():
    (lesion,) = _check(_plan()).lesions
    assert lesion.verdict == "compliant"
    assert lesion.bed10_gy == pytest.approx(72.0) and lesion.eqd2_10_gy == pytest.approx(60.0)
    assert lesion.notes  # 8 Gy per fraction: the LQ caveat is attached


def test_sbrt_8x3_is_allowed_and_below_the_recommendation_both_reported():
    (lesion,) = _check(_plan(_course(fractions=3))).lesions
    assert lesion.verdict == "advisory"
    assert _codes(lesion) == [("RT-S01", "compliant"), ("RT-S02", "advisory")]
    assert "BED10 43.2 Gy is not above the 60.0 Gy" in lesion.findings[1].message


def test_sbrt_8x2_is_another_schedule_below_the_recommendation():
    (lesion,) = _check(_plan(_course(fractions=2))).lesions
    assert _codes(lesion) == [("RT-S03", "advisory")]


@pytest.mark.parametrize(
    ("d", "n", "bed10", "verdict"),
    [
        (10, 3, 60.0, "advisory"),
        (7, 5, 59.5, "advisory"),
        (12, 3, 79.2, "compliant"),
        (20, 1, 60.0, "advisory"),
    ],
)
def test_other_sbrt_schedules_need_bed10_above_60(d, n, bed10, verdict):
    # BED10 exactly 60 Gy is not "above 60": advisory (a recommendation, never a deviation)
    (lesion,) = _check(_plan(_course(dose_per_fraction_gy=d, fractions=n))).lesions
    assert lesion.bed10_gy == pytest.approx(bed10)
    assert lesion.verdict == verdict


@pytest.mark.parametrize(
    ("d", "n", "verdict"),
    [(3, 10, "deviation"), (3.06, 10, "compliant"), (2, 15, "deviation"), (1.8, 17, "compliant")],
)
def test_conventional_metastasis_needs_more_than_30_gy(d, n, verdict):
    (lesion,) = _check(_plan(_course(technique="conventional", dose_per_fraction_gy=d, fractions=n))).lesions
    assert lesion.verdict == verdict


@pytest.mark.parametrize(
    ("d", "n", "verdict"),
    [(2, 20, "compliant"), (1.8, 22, "deviation"), (2, 19, "deviation"), (1.8, 23, "compliant")],
)
def test_primary_needs_at_least_40_gy(d, n, verdict):
    course = _course(
        lesion_id="P",
        lesion_type="primary",
        organ="esophagus",
        technique="conventional",
        dose_per_fraction_gy=d,
        fractions=n,
    )
    (lesion,) = _check(_plan(course)).lesions
    assert lesion.verdict == verdict


def test_primary_by_sbrt_is_a_deviation():
    course = _course(
        lesion_id="P",
        lesion_type="primary",
        organ="esophagus",
        technique="SBRT",
        dose_per_fraction_gy=8,
        fractions=5,
    )
    (lesion,) = _check(_plan(course)).lesions
    assert ("RT-P01", "deviation") in _codes(lesion)
    assert lesion.verdict == "deviation"


@pytest.mark.parametrize(("start", "verdict"), [("2026-05-27", "compliant"), ("2026-05-28", "deviation")])
def test_radiotherapy_start_day_56_is_in_day_57_is_out(start, verdict):
    # chemo-immunotherapy ended 2026-04-01: 2026-05-27 is day 56, 2026-05-28 day 57
    result = _check(_plan(_course(start_date=start, end_date="2026-06-05")))
    (window,) = [f for f in result.windows if f.code == "RT-W02"]
    assert window.verdict == verdict
    assert result.verdict == verdict


def test_radiotherapy_before_the_end_of_chemo_immunotherapy_is_a_deviation():
    result = _check(_plan(_course(start_date="2026-03-30", end_date="2026-04-03")))
    assert [f.verdict for f in result.windows] == ["deviation"]


@pytest.mark.parametrize(
    ("restart", "verdict"),
    [("2026-07-03", "compliant"), ("2026-07-04", "deviation"), ("2026-05-08", "deviation")],
)
def test_maintenance_restart_within_56_days_after_all_radiotherapy(restart, verdict):
    # the last course ends 2026-05-08: 2026-07-03 is day 56 after it; a restart on the last RT day is too early
    result = _check(
        _plan(
            _course(),
            _course(lesion_id="M2", start_date="2026-04-20", end_date="2026-04-25"),
            restart=restart,
        )
    )
    (window,) = [f for f in result.windows if f.code == "RT-W03"]
    assert window.verdict == verdict


def test_no_course_is_a_deviation_of_the_minimum_lesions():
    plan = parse_radiotherapy_plan({"chemo_immunotherapy_end": "2026-04-01", "courses": []}, PROTOCOL)
    result = check_radiotherapy_plan(plan, PROTOCOL)
    assert result.verdict == "deviation" and result.windows[0].code == "RT-W01"


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        (_plan(_course(organ="moon")), "RT-011", "plan.courses[0].organ"),
        (_plan(_course(lesion_type="primary", organ="liver")), "RT-011", "plan.courses[0].organ"),
        (_plan(_course(dose_per_fraction_gy=-2)), "RT-010", "plan.courses[0].dose_per_fraction_gy"),
        (_plan(_course(dose_per_fraction_gy=1.4e-253)), "RT-010", "plan.courses[0].dose_per_fraction_gy"),
        (_plan(_course(dose_per_fraction_gy=0.09)), "RT-010", "plan.courses[0].dose_per_fraction_gy"),
        (_plan(_course(fractions=0)), "RT-010", "plan.courses[0].fractions"),
        (_plan(_course(end_date="2026-04-30")), "RT-010", "plan.courses[0]"),
        (_plan(_course(technique="brachy")), "RT-010", "plan.courses[0].technique"),
        (_plan(_course(), _course()), "RT-012", "plan.courses[1].lesion_id"),
        ({"courses": [_course()]}, "RT-010", "plan.chemo_immunotherapy_end"),
        ({**_plan(), "dose": 3}, "RT-010", "plan.dose"),
    ],
)
def test_bad_plans_name_field_value_and_rule(data, code, field):
    with pytest.raises(InputError) as info:
        parse_radiotherapy_plan(data, PROTOCOL)
    problem = info.value.problems[0]
    assert (problem.code, problem.field) == (code, field)


def test_cli_bed_json(run_cli):
    result = run_cli("rt", "bed", "--dose-per-fraction", "8", "--fractions", "5", "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert (doc["bed"], doc["eqd2"], doc["alpha_beta"]) == (72.0, 60.0, 10.0)
    late = run_cli(
        "rt", "bed", "--dose-per-fraction", "8", "--fractions", "5", "--alpha-beta", "3", "--json"
    ).json()
    assert late["eqd2"] == 88.0


def test_cli_bed_negative_dose_is_exit_2(run_cli):
    result = run_cli("rt", "bed", "--dose-per-fraction", "-8", "--fractions", "5")
    assert result.exit_code == 2
    assert (
        "RT-001 dose_per_fraction: expected a dose per fraction >= 0.1 and <= 50 Gy, got -8" in result.stderr
    )


def test_cli_check(run_cli, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(_plan(_course(fractions=3))), encoding="utf-8")
    result = run_cli("rt", "check", path, "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert doc["verdict"] == "advisory" and doc["lesions"][0]["bed10_gy"] == pytest.approx(43.2)
    assert "deviation" not in run_cli("rt", "check", path).stdout.lower().split("overall")[-1]


def test_cli_check_bad_plans_exit_2(run_cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_plan(_course(organ="moon"))), encoding="utf-8")
    result = run_cli("rt", "check", bad)
    assert (
        result.exit_code == 2
        and "RT-011 plan.courses[0].organ" in result.stderr
        and "'moon'" in result.stderr
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = run_cli("rt", "check", broken, "--json")
    assert result.exit_code == 2 and result.json()["error"]["problems"][0]["code"] == "FILE-002"
