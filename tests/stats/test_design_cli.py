"""``oligotrial design events|power|sample-size|boundaries``: JSON output and exit code 2 on bad input.

Expected numbers are the literals of test_design.py (rpact 3.3.4, tests/data/design/make_reference.R).
"""

from __future__ import annotations

import pytest


def test_events_json_schoenfeld_reference(run_cli):
    result = run_cli("design", "events", "--hr", "0.7", "--alpha", "0.05", "--power", "0.8", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["events"] == pytest.approx(246.787104547358, rel=1e-12)
    assert document["events_rounded"] == 247
    assert document["method"] == "schoenfeld"


def test_events_json_freedman_and_one_sided(run_cli):
    freedman = run_cli("design", "events", "--hr", "0.7", "--method", "freedman", "--json").json()
    assert (round(freedman["events"], 2), freedman["events_rounded"]) == (252.04, 253)
    one_sided = run_cli(
        "design", "events", "--hr", "0.7", "--alpha", "0.025", "--power", "0.9", "--sided", "1", "--json"
    ).json()
    assert (round(one_sided["events"], 2), one_sided["events_rounded"]) == (330.38, 331)


def test_events_allocation_2_to_1(run_cli):
    document = run_cli("design", "events", "--hr", "0.7", "--allocation", "2", "--json").json()
    assert document["events"] == pytest.approx(277.635492615778, rel=1e-12)
    assert document["allocation"] == 2.0


def test_events_table_without_json(run_cli):
    result = run_cli("design", "events", "--hr", "0.7")
    assert result.exit_code == 0
    assert "246.787" in result.stdout and "events_rounded" in result.stdout


def test_power_json(run_cli):
    result = run_cli("design", "power", "--events", "247", "--hr", "0.7", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["power"] == pytest.approx(0.800339021383919, rel=1e-9)


def test_sample_size_json(run_cli):
    result = run_cli(
        "design",
        "sample-size",
        "--hr", "0.7",
        "--allocation", "2",
        "--control-median", "12",
        "--accrual-duration", "24",
        "--follow-up", "12",
        "--dropout-rate", "0.1",
        "--dropout-time", "12",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["events"] == pytest.approx(277.635492615778, rel=1e-9)
    assert document["subjects"] == pytest.approx(467.401196043985, rel=1e-6)
    assert document["subjects_rounded"] == 468
    assert document["study_duration"] == 36.0


def test_sample_size_with_accrual_rate_solves_the_accrual(run_cli):
    document = run_cli(
        "design", "sample-size", "--hr", "0.7", "--alpha", "0.025", "--sided", "1", "--control-median", "12",
        "--accrual-rate", "20", "--follow-up", "12", "--dropout-rate", "0.05", "--json",
    ).json()  # fmt: skip
    assert document["subjects"] == pytest.approx(400.381729841232, rel=1e-6)
    assert document["study_duration"] == pytest.approx(32.019096194844, rel=1e-6)


def test_boundaries_json_with_futility(run_cli):
    result = run_cli("design", "boundaries", "--k", "3", "--futility", "obf", "--beta", "0.2", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    looks = document["looks"]
    assert [look["look"] for look in looks] == [1, 2, 3]
    assert [look["efficacy_z"] for look in looks] == pytest.approx(
        [3.7103028732625, 2.51142748445272, 1.9930474832654], abs=1e-6
    )
    assert [look["futility_z"] for look in looks] == pytest.approx(
        [-0.236144609880091, 1.17037203116342, 1.9930474832654], abs=1e-6
    )
    assert looks[-1]["alpha_spent"] == pytest.approx(0.025, abs=1e-9)
    assert looks[0]["efficacy_p"] == pytest.approx(0.000103505718147101, rel=1e-6)
    assert document["inflation_factor"] == pytest.approx(1.10433402287428, rel=1e-6)


def test_boundaries_information_rates_two_sided_pocock(run_cli):
    document = run_cli(
        "design", "boundaries", "--information-rates", "0.25,0.5,0.75,1", "--alpha", "0.05", "--sided", "2",
        "--spending", "pocock", "--json",
    ).json()  # fmt: skip
    assert [look["efficacy_z"] for look in document["looks"]] == pytest.approx(
        [2.36832770352391, 2.36752428859472, 2.35816774517298, 2.3500295355916], abs=1e-6
    )
    assert all(look["futility_z"] is None for look in document["looks"])
    assert document["drift"] is None


def test_boundaries_table_without_json(run_cli):
    result = run_cli("design", "boundaries", "--k", "2")
    assert result.exit_code == 0
    assert "2.9626" in result.stdout and "1.9686" in result.stdout


@pytest.mark.parametrize(
    ("args", "option", "code"),
    [
        (["events", "--hr", "0"], "--hr", "DESIGN-001"),
        (["events", "--hr", "-0.7"], "--hr", "DESIGN-001"),
        (["events", "--hr", "1"], "--hr", "DESIGN-001"),
        (["events", "--hr", "0.7", "--alpha", "1.5"], "--alpha", "DESIGN-002"),
        (["events", "--hr", "0.7", "--alpha", "0"], "--alpha", "DESIGN-002"),
        (["events", "--hr", "0.7", "--power", "0.04"], "--power", "DESIGN-003"),
        (["events", "--hr", "0.7", "--sided", "3"], "--sided", "DESIGN-004"),
        (["events", "--hr", "0.7", "--allocation", "0"], "--allocation", "DESIGN-005"),
        (["events", "--hr", "0.7", "--method", "lakatos"], "--method", "DESIGN-006"),
        (["power", "--events", "-5", "--hr", "0.7"], "--events", "DESIGN-007"),
        (
            [
                "sample-size",
                "--hr",
                "0.7",
                "--control-median",
                "12",
                "--accrual-duration",
                "-24",
                "--follow-up",
                "12",
            ],
            "--accrual-duration",
            "DESIGN-010",
        ),
        (
            [
                "sample-size",
                "--hr",
                "0.7",
                "--control-median",
                "12",
                "--accrual-duration",
                "24",
                "--follow-up",
                "-1",
            ],
            "--follow-up",
            "DESIGN-011",
        ),
        (
            ["sample-size", "--hr", "0.7", "--accrual-duration", "24", "--follow-up", "12"],
            "--control-median",
            "DESIGN-014",
        ),
        (["boundaries", "--information-rates", "0.5,0.9"], "--information-rates", "DESIGN-020"),
        (["boundaries", "--information-rates", "0.6,0.3,1"], "--information-rates", "DESIGN-020"),
        (["boundaries", "--information-rates", "half,1"], "--information-rates", "DESIGN-020"),
        (["boundaries"], "--k", "DESIGN-021"),
        (["boundaries", "--k", "3", "--spending", "haybittle"], "--spending", "DESIGN-022"),
        (["boundaries", "--k", "3", "--futility", "obf"], "--beta", "DESIGN-023"),
    ],
)
def test_bad_input_exits_2_naming_option_value_and_rule(run_cli, args, option, code):
    result = run_cli("design", *args)
    assert result.exit_code == 2
    assert f"{code} {option}:" in result.stderr
    assert "expected" in result.stderr or "give" in result.stderr
    assert result.stdout == ""


def test_bad_input_with_json_prints_the_error_document(run_cli):
    result = run_cli("design", "events", "--hr", "1", "--json")
    assert result.exit_code == 2
    problem = result.json()["error"]["problems"][0]
    assert (problem["code"], problem["field"], problem["value"]) == ("DESIGN-001", "--hr", 1.0)
    assert "got 1.0" in problem["message"]
