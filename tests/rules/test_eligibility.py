"""Eligibility verdicts on the protocol's boundaries, criterion by criterion."""

import json

import pytest

from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.rules.eligibility import evaluate_eligibility, parse_candidate

PROTOCOL = load_protocol()


def candidate(**overrides):
    record = {
        "subject_id": "S-001",
        "screening_date": "2026-03-02",
        "birth_date": "1960-05-17",
        "diagnosis": "esophageal cancer",
        "histology": "squamous cell carcinoma",
        "disease_setting": "metastatic",
        "metastatic_lesions": [{"organ": "liver"}, {"organ": "lung"}],
        "measurable_disease": True,
        "ecog": 1,
        "labs": {
            "anc": 2.1,
            "platelets": 180,
            "haemoglobin": 118,
            "creatinine_clearance": 75,
            "bilirubin": {"value": 12, "uln": 21},
            "ast": {"value": 30, "uln": 40},
            "alt": {"value": 28, "uln": 40},
        },
        "prior_systemic_therapy": False,
        "consent_date": "2026-02-27",
        "first_procedure_date": "2026-03-02",
    }
    record.update(overrides)
    return record


def evaluate(record):
    return evaluate_eligibility(parse_candidate(record, PROTOCOL), PROTOCOL)


def status_of(result, criterion_id):
    return next(c for c in result.criteria if c.id == criterion_id)


def test_a_typical_candidate_is_eligible_with_every_criterion_met():
    result = evaluate(candidate())
    assert result.verdict == "eligible"
    assert {c.status for c in result.criteria} == {"met"}
    assert len(result.criteria) == len(PROTOCOL.population.criteria)
    assert status_of(result, "INC-07").value == 65  # age derived from birth and screening dates


def lesions(*organs):
    return [{"organ": organ} for organ in organs]


@pytest.mark.parametrize(
    ("organs", "organ_status", "lesion_status"),
    [
        (("liver", "lung", "bone"), "met", "met"),  # exactly 3 organs
        (("liver", "lung", "bone", "brain"), "not met", "met"),  # 4 organs
        (("liver", "liver", "lung", "lung", "bone"), "met", "met"),  # exactly 5 lesions in 3 organs
        (("liver", "liver", "liver", "lung", "lung", "bone"), "met", "not met"),  # 6 lesions
        (
            ("distant lymph node", "distant lymph node", "distant lymph node"),
            "met",
            "met",
        ),  # nodes: one organ
    ],
)
def test_oligometastatic_boundaries(organs, organ_status, lesion_status):
    result = evaluate(candidate(metastatic_lesions=lesions(*organs)))
    assert status_of(result, "INC-04").status == organ_status
    assert status_of(result, "INC-05").status == lesion_status
    assert status_of(result, "INC-04").value == len(set(organs))
    assert status_of(result, "INC-05").value == len(organs)
    assert result.verdict == ("eligible" if organ_status == lesion_status == "met" else "ineligible")


def test_six_lesions_reason_names_value_and_limit():
    result = evaluate(
        candidate(metastatic_lesions=lesions("liver", "liver", "liver", "lung", "lung", "bone"))
    )
    assert status_of(result, "INC-05").reason == "6 is above the maximum 5"


@pytest.mark.parametrize(
    ("labs", "criterion", "status"),
    [
        ({"anc": 1.5}, "INC-09", "met"),
        ({"anc": 1.49}, "INC-09", "not met"),
        ({"platelets": 100}, "INC-10", "met"),
        ({"haemoglobin": 89.9}, "INC-11", "not met"),
        ({"bilirubin": {"value": 31.5, "uln": 21}}, "INC-12", "met"),  # exactly 1.5 x ULN
        ({"bilirubin": {"value": 31.6, "uln": 21}}, "INC-12", "not met"),
        ({"ast": {"value": 100, "uln": 40}}, "INC-13", "met"),  # exactly 2.5 x ULN
        ({"alt": {"value": 101, "uln": 40}}, "INC-14", "not met"),
        ({"creatinine_clearance": 59}, "INC-15", "not met"),
    ],
)
def test_laboratory_thresholds(labs, criterion, status):
    record = candidate()
    record["labs"] = {**record["labs"], **labs}
    assert status_of(evaluate(record), criterion).status == status


@pytest.mark.parametrize(
    ("overrides", "criterion", "status"),
    [
        ({"birth_date": "2008-03-02"}, "INC-07", "met"),  # 18th birthday on the screening day
        ({"birth_date": "2008-03-03"}, "INC-07", "not met"),
        ({"ecog": 2}, "INC-08", "not met"),
        ({"histology": "Adenocarcinoma"}, "INC-02", "met"),
        ({"histology": "small cell carcinoma"}, "INC-02", "not met"),
        ({"disease_setting": "locally advanced"}, "INC-03", "not met"),
        ({"measurable_disease": False}, "INC-06", "not met"),
        ({"prior_systemic_therapy": True}, "EXC-01", "not met"),
        ({"consent_date": "2026-03-02"}, "INC-16", "met"),  # consent the day of the first procedure
        ({"consent_date": "2026-03-03"}, "INC-16", "not met"),
        ({"metastatic_lesions": []}, "INC-04", "not met"),
    ],
)
def test_criteria_boundaries(overrides, criterion, status):
    assert status_of(evaluate(candidate(**overrides)), criterion).status == status


def test_missing_items_make_the_candidate_incomplete_not_eligible():
    record = candidate(ecog=None)
    del record["labs"]["anc"]
    result = evaluate(record)
    assert result.verdict == "incomplete"
    assert [c.id for c in result.missing] == ["INC-08", "INC-09"]


def test_not_met_wins_over_missing():
    result = evaluate(candidate(ecog=None, measurable_disease=False))
    assert result.verdict == "ineligible"
    assert [c.id for c in result.not_met] == ["INC-06"]


def test_given_age_is_used_without_birth_date():
    record = candidate(age=17)
    del record["birth_date"]
    assert status_of(evaluate(record), "INC-07").status == "not met"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"metastatic_lesions": [{"organ": "moon"}]}, "ELIG-002", "candidate.metastatic_lesions[0].organ"),
        ({"ecog": 7}, "ELIG-001", "candidate.ecog"),
        ({"ecog": "one"}, "ELIG-001", "candidate.ecog"),
        ({"birth_date": "2027-01-01"}, "ELIG-001", "candidate"),
        ({"age": 40}, "ELIG-001", "candidate"),  # disagrees with the birth date
        ({"consent_date": "2026-02-30"}, "ELIG-001", "candidate.consent_date"),
        ({"favourite_colour": "blue"}, "ELIG-001", "candidate.favourite_colour"),
        ({"labs": {"bilirubin": {"value": 10, "uln": 0}}}, "ELIG-001", "candidate.labs.bilirubin.uln"),
        ({"labs": {"anc": -1}}, "ELIG-001", "candidate.labs.anc"),
    ],
)
def test_malformed_candidates_name_field_and_rule(overrides, code, field):
    with pytest.raises(InputError) as info:
        parse_candidate(candidate(**overrides), PROTOCOL)
    problem = info.value.problems[0]
    assert (problem.code, problem.field) == (code, field)


def test_cli_check(run_cli, tmp_path):
    path = tmp_path / "candidate.json"
    path.write_text(
        json.dumps(candidate(metastatic_lesions=lesions("liver", "lung", "bone", "brain"))), encoding="utf-8"
    )
    result = run_cli("eligibility", "check", path, "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert doc["verdict"] == "ineligible"
    organs = next(c for c in doc["criteria"] if c["id"] == "INC-04")
    assert (organs["status"], organs["value"]) == ("not met", 4)
    assert "ineligible" in run_cli("eligibility", "check", path).stdout


def test_cli_bad_candidate_exit_2(run_cli, tmp_path):
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(candidate(metastatic_lesions=[{"organ": "moon"}])), encoding="utf-8")
    result = run_cli("eligibility", "check", path)
    assert result.exit_code == 2
    assert "ELIG-002 candidate.metastatic_lesions[0].organ: unknown organ 'moon'" in result.stderr
    missing = run_cli("eligibility", "check", tmp_path / "absent.json")
    assert missing.exit_code == 2 and "FILE-001" in missing.stderr
