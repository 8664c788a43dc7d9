"""CTCAE terminology: parsing NCI's v5.0 workbook (shared test data, not copied into the repository), import,
search by term and system organ class, grade texts, the term/grade check used by the AE form, and the
protocol's expected toxicities without a workbook."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from oligotrial.errors import InputError, NotFoundError, PermissionDeniedError
from oligotrial.protocol import load_protocol
from oligotrial.rules.ctcae import check_ctcae_grade, normalize_header, parse_ctcae_rows, term_key
from oligotrial.services import Actor, ctcae
from oligotrial.services.audit_trail import verify_audit

WORKBOOK = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ctcae" / "CTCAE_v5.0_2017-11-27.xlsx"
)
SHA256 = "e0b04ae9e88a47d7ae27f43d3a7e38632830a61dd349521e0627fb91e1b001a3"  # PROVENANCE.md


@pytest.fixture(scope="module")
def workbook_terms():
    terms, sha = ctcae.read_ctcae_workbook(WORKBOOK)
    assert sha == SHA256
    return terms


def test_the_v5_workbook_has_837_terms_in_26_socs(workbook_terms):
    assert len(workbook_terms) == 837
    assert len({t.soc for t in workbook_terms}) == 26
    anemia = next(t for t in workbook_terms if t.term == "Anemia")
    assert anemia.soc == "Blood and lymphatic system disorders" and anemia.meddra_code == 10002272
    assert anemia.grades[4] == "Death" and anemia.applicable_grades == (1, 2, 3, 4, 5)
    nausea = next(t for t in workbook_terms if t.term == "Nausea")
    assert nausea.applicable_grades == (1, 2, 3)  # "-" in grades 4 and 5
    other = next(
        t for t in workbook_terms if t.term.startswith("Skin and subcutaneous tissue disorders - Other")
    )
    assert other.definition is None  # " -" in the definition column


def test_header_with_non_breaking_spaces_and_bad_rows():
    assert normalize_header("Grade 1 \xa0\xa0") == "grade 1"
    header = ["MedDRA Code", "MedDRA SOC", "CTCAE Term"] + [f"Grade {g}\xa0" for g in range(1, 6)]
    with pytest.raises(InputError, match="CTCAE-010"):
        parse_ctcae_rows([header[:4]])
    rows = [
        header,
        [1, "SOC", "Term", "a", "-", "-", "-", "-"],
        [2, "SOC", "term ", "a", "b", "-", "-", "-"],
        ["x", None, "Lonely", "-", "-", "-", "-", "-"],
    ]
    with pytest.raises(InputError) as excinfo:
        parse_ctcae_rows(rows)
    assert [(p.code, p.line) for p in excinfo.value.problems] == [
        ("CTCAE-011", 3),
        ("CTCAE-013", 4),
        ("CTCAE-012", 4),
    ]


def test_grade_checks_name_the_rule(workbook_terms):
    nausea = next(t for t in workbook_terms if t.term == "Nausea")
    assert check_ctcae_grade("Nausea", 3, nausea) is nausea
    for grade, code in [
        (6, "CTCAE-002"),
        (0, "CTCAE-002"),
        ("3", "CTCAE-002"),
        (True, "CTCAE-002"),
        (4, "CTCAE-003"),
    ]:
        with pytest.raises(InputError) as excinfo:
            check_ctcae_grade("Nausea", grade, nausea)
        assert excinfo.value.code == code and excinfo.value.problems[0].field == "grade"
    with pytest.raises(InputError) as excinfo:
        check_ctcae_grade("Headache-ish", 6, None)
    assert [p.code for p in excinfo.value.problems] == ["CTCAE-001", "CTCAE-002"]
    assert term_key("Skin and subcutaneous tissue disorders \u2013 Other,  specify") == term_key(
        "Skin and subcutaneous tissue disorders - Other, specify"
    )


def test_expected_toxicities_are_ctcae_terms(workbook_terms):
    keys = {term_key(t.term): t for t in workbook_terms}
    for toxicity in load_protocol().adverse_events.expected_toxicities:
        assert term_key(toxicity.term) in keys, toxicity.term
        assert keys[term_key(toxicity.term)].soc == toxicity.soc, toxicity.term


def test_without_a_workbook_the_protocol_toxicities_are_available(world):
    reader = world.actor("investigator.cn01")
    views, total = ctcae.search_ctcae_terms(world.edc, reader, query="neutrophil")
    assert total == 1 and views[0].source == "protocol" and views[0].is_expected
    assert len(ctcae.list_expected_toxicities(world.edc, reader)) == 18
    with Session(world.edc.engine) as session:
        assert ctcae.check_ctcae_term_grade(session, "nausea", 3).term == "Nausea"
        with pytest.raises(InputError) as excinfo:
            ctcae.check_ctcae_term_grade(session, "Headache", 2)
        assert excinfo.value.code == "CTCAE-001" and "ctcae import" in excinfo.value.problems[0].message
    assert ctcae.get_ctcae_status(world.edc, reader).terms == 0


def test_import_search_show_and_check(world):
    with pytest.raises(PermissionDeniedError, match="AUTH-111"):
        ctcae.import_ctcae_workbook(world.edc, world.actor("investigator.cn01"), WORKBOOK)
    before = verify_audit(world.edc).entries
    status = ctcae.import_ctcae_workbook(world.edc, Actor.system("test"), WORKBOOK)
    assert (status.terms, status.socs, status.sha256, status.version) == (837, 26, SHA256, "5.0")
    assert verify_audit(world.edc).entries == before + 1
    again = (
        ctcae.import_ctcae_workbook(world.edc, world.actor("datamanager"), WORKBOOK)
        if "datamanager" in world.actors
        else status
    )
    assert again.terms == 837
    reader = world.actor("monitor.cn02")
    views, total = ctcae.search_ctcae_terms(world.edc, reader, query="pneumonitis")
    assert [v.term for v in views] == ["Pneumonitis"] and total == 1 and views[0].is_expected
    views, total = ctcae.search_ctcae_terms(world.edc, reader, soc="endocrine", limit=5)
    assert total > 5 and len(views) == 5 and all(v.soc == "Endocrine disorders" for v in views)
    views, total = ctcae.search_ctcae_terms(world.edc, reader, query="%")
    assert total == 0  # wildcards are matched literally
    shown = ctcae.show_ctcae_term(world.edc, reader, "nausea")
    assert shown.grades[3].startswith("Inadequate oral caloric or fluid intake")
    assert shown.grades[4] is None and shown.applicable_grades == [1, 2, 3]
    with pytest.raises(NotFoundError):
        ctcae.show_ctcae_term(world.edc, reader, "Headache-ish")
    assert {s["soc"] for s in ctcae.list_ctcae_socs(world.edc, reader)}.__len__() == 26
    with Session(world.edc.engine) as session:
        for term, grade, code in [
            ("Nausea", 6, "CTCAE-002"),
            ("Nausea", 5, "CTCAE-003"),
            ("Headache-ish", 1, "CTCAE-001"),
        ]:
            with pytest.raises(InputError) as excinfo:
                ctcae.check_ctcae_term_grade(session, term, grade)
            assert excinfo.value.code == code
        assert ctcae.check_ctcae_term_grade(session, "Headache", 2).source == "workbook"
        assert ctcae.get_ctcae_term(session, "Not a term") is None


def test_cli_import_and_search(run_cli, database_url):
    result = run_cli("ctcae", "import", WORKBOOK, "--database", database_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["terms"] == 837
    found = run_cli("ctcae", "search", "esophagitis", "--database", database_url, "--json")
    assert found.exit_code == 0 and found.json()["items"][0]["term"] == "Esophagitis"
    bad = run_cli("ctcae", "import", Path(__file__), "--database", database_url)
    assert bad.exit_code == 2 and "CTCAE-014" in bad.stderr
