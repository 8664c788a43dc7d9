"""``oligotrial simulate`` and ``oligotrial synth``: JSON output, exit codes, SDTM that ``adam`` reads."""

from __future__ import annotations

import pytest


def test_simulate_json(run_cli):
    result = run_cli("simulate", "--hr", "0.6", "--replicates", "2000", "--seed", "3", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["replicates"] == 2000 and document["seed"] == 3
    assert document["scenario_settings"]["analysis"]["events"] == 121  # Schoenfeld, HR 0.6, power 0.8
    assert document["rejection"]["estimate"] == pytest.approx(
        document["schoenfeld_power_fixed_design"], abs=0.05
    )
    assert document["executor"]["kind"] == "single process"
    again = run_cli("simulate", "--hr", "0.6", "--replicates", "2000", "--seed", "3", "--json").json()
    assert again["rejection"] == document["rejection"]


def test_simulate_scenario_file_with_error_is_exit_2(run_cli, tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "sample_size: {randomized: 100}\nanalysis: {events: 50}\ntransition: {}\n", encoding="utf-8"
    )
    result = run_cli("simulate", "--scenario", str(scenario), "--json")
    assert result.exit_code == 2
    codes = {p["code"] for p in result.json()["error"]["problems"]}
    assert codes == {"SIM-010", "SIM-011"}


def test_simulate_null_needs_events(run_cli):
    result = run_cli("simulate", "--hr", "1", "--json")
    assert result.exit_code == 2 and result.json()["error"]["problems"][0]["code"] == "SIM-010"


def test_synth_writes_sdtm_that_adam_reads(run_cli, tmp_path):
    out = tmp_path / "sdtm"
    result = run_cli("synth", "--subjects", "60", "--sites", "3", "--out", str(out), "--seed", "4", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["subjects"] == 60 and "dm.csv" in document["files"]
    adam = run_cli("adam", str(out), "--out", str(tmp_path / "adam"), "--json")
    assert adam.exit_code == 0, adam.stderr
    assert adam.json()["subjects"] == 60


def test_synth_takes_one_destination(run_cli, tmp_path):
    # loading through the EDC services (--database) is tested in tests/services/test_synthetic_load.py
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run_cli("synth", "--subjects", "5", "--database", url, "--out", tmp_path, "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["problems"][0]["code"] == "CLI-003"
