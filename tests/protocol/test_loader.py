"""The protocol file: the shipped one loads; every malformed one is refused with a coded, located error."""

from pathlib import Path

import pytest
import yaml

from oligotrial.errors import ProtocolError
from oligotrial.protocol import documents, load_protocol, parse_protocol
from oligotrial.protocol.loader import DEFAULT_PROTOCOL

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "oligotrial" / "protocol" / DEFAULT_PROTOCOL
TEXT = SHIPPED.read_text(encoding="utf-8")


def _line_of(fragment: str) -> int:
    """1-based line of the first occurrence of ``fragment`` in the shipped file."""
    return TEXT[: TEXT.index(fragment)].count("\n") + 1


def _error(old: str, new: str) -> ProtocolError:
    assert old in TEXT, old
    with pytest.raises(ProtocolError) as info:
        parse_protocol(TEXT.replace(old, new, 1))
    return info.value


def test_shipped_protocol_encodes_the_registry_record():
    p = load_protocol()
    assert p.induction.cycles == 4 and p.induction.cycle_length_days == 21
    assert p.induction.immunotherapy.dose_mg == 200
    assert p.randomization.ratio == {"control": 1, "experimental": 1}
    assert [s.id for s in p.randomization.strata] == ["site", "induction_response", "metastatic_organs"]
    rt = p.radiotherapy
    assert (rt.sbrt.dose_per_fraction_gy, rt.sbrt.fractions.min, rt.sbrt.fractions.max) == (8, 3, 5)
    assert rt.sbrt.other_schedule_bed10_recommended_above_gy == 60
    assert rt.conventional.total_dose_above_gy == 30
    assert rt.primary.total_dose_at_least_gy == 40
    assert rt.start_within_days_after_chemo_end == 56 == rt.maintenance_restart_within_days_after_rt_end
    assert (p.maintenance.dose_mg, p.maintenance.interval_days, p.maintenance.max_duration_months) == (
        200,
        21,
        24,
    )
    assert p.response.confirmation_min_days == 28 and p.response.sd_min_days == 42
    assert [e.paramcd for e in p.endpoints][:2] == ["PFS", "OS"]
    assert p.adverse_events.reporting_days_after_last_treatment == 30
    assert p.adverse_events.severe_follow_up_days_after_last_treatment == 90
    assert p.adverse_events.sae_report_within_hours == 24
    assert p.protocol.planned_enrollment == 132
    criteria = {c.id: c for c in p.population.criteria}
    assert criteria["INC-04"].max == 3 and criteria["INC-05"].max == 5


def test_models_are_frozen():
    p = load_protocol()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its ValidationError for frozen models
        p.induction.cycles = 5  # type: ignore[misc]


def test_out_of_range_value_names_path_line_and_range():
    error = _error("fractions: {min: 3, max: 5}", "fractions: {min: 0, max: 5}")
    assert str(error) == (
        f"PROTO-012 radiotherapy.sbrt.fractions.min (line {_line_of('fractions: {min: 3')}): "
        "expected an integer 1..10, got 0"
    )


def test_unknown_key_is_an_error_listing_the_allowed_keys():
    error = _error("  alpha_beta_late_gy: 3\n", "  alpha_beta_late_gy: 3\n  alpha_beta_lat: 3\n")
    (problem,) = error.problems
    assert problem.code == "PROTO-011"
    assert problem.field == "radiotherapy.alpha_beta_lat"
    assert problem.line == _line_of("  alpha_beta_late_gy: 3") + 1
    assert "alpha_beta_late_gy" in problem.message


def test_unknown_key_inside_a_list_item():
    error = _error("field: ecog, min: 0, max: 1,", "field: ecog, min: 0, max: 1, maxx: 3,")
    (problem,) = error.problems
    assert (problem.code, problem.field) == ("PROTO-011", "population.criteria[7].maxx")
    assert problem.line == _line_of("field: ecog")


def test_missing_key():
    error = _error("  sae_report_within_hours: 24\n", "")
    (problem,) = error.problems
    assert (problem.code, problem.field) == ("PROTO-010", "adverse_events.sae_report_within_hours")


def test_wrong_type():
    error = _error("  cycles: 4\n", "  cycles: four\n")
    (problem,) = error.problems
    assert (problem.code, problem.field, problem.value) == ("PROTO-013", "induction.cycles", "four")
    assert problem.line == _line_of("  cycles: 4")


def test_value_not_among_choices():
    error = _error("method: permuted_blocks", "method: urn")
    (problem,) = error.problems
    assert (problem.code, problem.field, problem.value) == ("PROTO-014", "randomization.method", "urn")
    assert "'permuted_blocks' or 'minimization'" in problem.message


def test_inconsistent_settings():
    error = _error("block_sizes: [2, 4, 6]", "block_sizes: [3, 4]")
    (problem,) = error.problems
    assert (problem.code, problem.field) == ("PROTO-015", "randomization")
    assert problem.message == "block sizes [3] are not multiples of the ratio total 2"


def test_criterion_on_unknown_candidate_field():
    error = _error("rule: range, field: age,", "rule: range, field: agee,")
    (problem,) = error.problems
    assert (problem.code, problem.field) == ("PROTO-015", "population.criteria[6]")
    assert "unknown candidate field 'agee'" in problem.message


def test_criterion_rule_that_does_not_fit_the_field():
    error = _error("rule: range, field: age,", "rule: range, field: histology,")
    assert "holds a text, which the rule cannot compare" in error.problems[0].message


def test_regimen_with_unknown_agent():
    error = _error("agents: [paclitaxel, cisplatin]}", "agents: [paclitaxel, cisplatinum]}")
    assert error.problems[0].code == "PROTO-015"
    assert "unknown agents ['cisplatinum']" in error.problems[0].message


def test_duplicate_key_is_refused_not_silently_overridden():
    error = _error("  cycles: 4\n", "  cycles: 4\n  cycles: 5\n")
    (problem,) = error.problems
    assert (problem.code, problem.field, problem.line) == (
        "PROTO-016",
        "induction.cycles",
        _line_of("  cycles: 4") + 1,
    )


def test_yaml_syntax_error_has_a_line():
    error = _error("induction:\n", "induction: [\n")
    (problem,) = error.problems
    assert problem.code == "PROTO-002" and problem.line is not None


def test_libyaml_parses_when_pyyaml_has_it():
    assert documents._FAST_LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


@pytest.mark.parametrize(
    "text",
    [
        TEXT,
        TEXT.replace(
            "  cycles: 4\n", "  cycles: four\n", 1
        ),  # a model error: the same line from both parsers
        "induction: [\n",
        "a: b: c\n",
        "a:\n\t- x\n",  # a tab: PyYAML names it, libyaml does not
        "a: *nope\n",  # an undefined alias: PyYAML names it, libyaml does not
        "a: &x [*x]\n",
        "--- a\n--- b\n",
        "",
    ],
)
def test_libyaml_and_pyyaml_give_the_same_result(text, monkeypatch):
    """The fast parser changes no outcome: the same protocol, or the same problems (codes, lines, messages;
    a syntax error is reported in the words of PyYAML's own parser)."""

    def outcome():
        try:
            return parse_protocol(text)
        except ProtocolError as error:
            return [(p.code, p.field, p.line, p.message) for p in error.problems]

    fast = outcome()
    monkeypatch.setattr(documents, "_FAST_LOADER", yaml.SafeLoader)
    assert outcome() == fast


def test_document_that_is_not_a_mapping():
    with pytest.raises(ProtocolError) as info:
        parse_protocol("- just\n- a list\n")
    assert info.value.code == "PROTO-003"


def test_several_problems_are_all_reported():
    text = TEXT.replace("  cycles: 4\n", "  cycles: 0\n").replace("method: permuted_blocks", "method: urn")
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text)
    assert sorted(p.code for p in info.value.problems) == ["PROTO-012", "PROTO-014"]


def test_unreadable_file(tmp_path):
    with pytest.raises(ProtocolError) as info:
        load_protocol(tmp_path / "absent.yaml")
    assert info.value.code == "PROTO-001"


def test_cli_validate_and_show(run_cli, tmp_path):
    ok = run_cli("protocol", "validate", SHIPPED, "--json")
    assert ok.exit_code == 0 and ok.json() == {"valid": True, "id": "ESO-OLIGO-RT", "version": "1.0.0"}
    shown = run_cli("protocol", "show", "--json")
    assert shown.exit_code == 0 and shown.json()["radiotherapy"]["sbrt"]["fractions"] == {"min": 3, "max": 5}
    assert "Eligibility criteria" in run_cli("protocol", "show").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        TEXT.replace("fractions: {min: 3, max: 5}", "fractions: {min: 0, max: 5}"), encoding="utf-8"
    )
    refused = run_cli("protocol", "validate", bad)
    assert refused.exit_code == 2
    assert "PROTO-012 radiotherapy.sbrt.fractions.min" in refused.stderr and "got 0" in refused.stderr
    as_json = run_cli("protocol", "validate", bad, "--json")
    assert as_json.exit_code == 2
    assert as_json.json()["error"]["problems"][0]["code"] == "PROTO-012"
