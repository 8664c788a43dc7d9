"""Scenario files: defaults, and SIM-nnn errors located by key path and line (as the protocol loader's)."""

from __future__ import annotations

import math

import pytest

from oligotrial.errors import InputError
from oligotrial.simulation import load_scenario, parse_scenario

MINIMAL = """\
sample_size: {randomized: 120}
transitions:
  progression: {control: {median: 6}, hazard_ratio: 0.7}
analysis: {events: 90}
"""


def test_minimal_scenario_has_defaults():
    scenario = parse_scenario(MINIMAL)
    assert scenario.sample_size.randomized == 120
    assert scenario.accrual.is_random and scenario.randomization.method == "permuted_blocks"
    starts, rates = scenario.transitions.progression.control.pieces()
    assert starts == (0.0,) and rates[0] == pytest.approx(math.log(2) / 6)
    assert scenario.dropout.hazard == 0.0


def _codes(text: str) -> list[tuple[str, str, int | None]]:
    with pytest.raises(InputError) as caught:
        parse_scenario(text)
    return [(p.code, p.field, p.line) for p in caught.value.problems]


def test_unknown_key_is_located():
    text = MINIMAL + "accrual:\n  rate: 4\n  ramp_up: 3\n"
    assert _codes(text) == [("SIM-011", "accrual.ramp_up", 7)]


def test_missing_section_range_choice_and_contradiction():
    assert _codes("sample_size: {randomized: 120}\nanalysis: {events: 90}\n") == [
        ("SIM-010", "transitions", 1)
    ]
    assert _codes(MINIMAL.replace("0.7", "-1"))[0][:2] == ("SIM-012", "transitions.progression.hazard_ratio")
    assert _codes(MINIMAL + "randomization: {method: minimisation}\n")[0][:2] == (
        "SIM-014",
        "randomization.method",
    )
    assert _codes(MINIMAL.replace("{events: 90}", "{events: 90, calendar_months: 30}"))[0][:2] == (
        "SIM-015",
        "analysis",
    )
    assert _codes(MINIMAL.replace("{median: 6}", "{rates: [0.1, 0.2], breaks: []}"))[0][0] == "SIM-015"


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(InputError) as caught:
        load_scenario(tmp_path / "absent.yaml")
    assert caught.value.code == "SIM-001"
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(bad)
    assert caught.value.code == "SIM-002"
    with pytest.raises(InputError) as caught:
        parse_scenario("- 1\n")
    assert caught.value.code == "SIM-003"
