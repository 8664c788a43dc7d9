"""The codes the FHIR export writes, as literal values checked against sources nobody here wrote.

Sources (read 2026-11-25; each code below names its own):

* CTCAE grades: HL7 Terminology (THO) value set "Adverse Event Clinical Research Grades"
  (``http://terminology.hl7.org/ValueSet/adverse-event-clinical-research-grades``, OID
  2.16.840.1.113883.11.21027): NCIt C41338 "Grade 1 Mild Adverse Event", C41339 "Grade 2 Moderate Adverse
  Event", C41340 "Grade 3 Severe Adverse Event", C41337 "Grade 4 Life Threatening or Disabling Adverse Event",
  C48275 "Grade 5 Death Related to Adverse Event"; the HL7 AE clinical research IG examples use C41338 and C48275
  with the system ``http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl``.
* ResearchSubject progress: FHIR R5 (5.0.0) value sets research-subject-state, research-subject-milestone and
  research-subject-state-type, whose codes are in ``http://terminology.hl7.org/CodeSystem/...`` (the export used
  ``http://hl7.org/fhir/...`` before this check: corrected; and it coded informed consent as the milestone
  ``SignedUp``, defined as interest expressed before any consent process: now text).
* mCODE (HL7/fhir-mCODE-ig): CancerDiseaseStatus LOINC 97509-4 with ConditionStatusTrendVS; TumorSize LOINC
  21889-1 and component 33728-7; RadiotherapyCourseSummary SNOMED CT 1217123003 in category 108290001; the
  TG263 concept map for the body structures.
"""

from __future__ import annotations

import pytest

from oligotrial.errors import InputError
from oligotrial.exports import fhir
from oligotrial.exports.fhir import VALUE_SETS, check_fhir_bundle, derive_fhir_bundle
from oligotrial.protocol import load_protocol

NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"


def test_ctcae_grade_codes_are_those_of_the_hl7_value_set():
    assert fhir._CTCAE_GRADES == {
        1: ("C41338", "Grade 1 Mild Adverse Event"),
        2: ("C41339", "Grade 2 Moderate Adverse Event"),
        3: ("C41340", "Grade 3 Severe Adverse Event"),
        4: ("C41337", "Grade 4 Life Threatening or Disabling Adverse Event"),
        5: ("C48275", "Grade 5 Death Related to Adverse Event"),
    }
    assert fhir.NCIT == NCIT
    assert VALUE_SETS[NCIT] == {"C41338", "C41339", "C41340", "C41337", "C48275"}


def test_research_subject_code_systems_are_the_r5_terminology_systems():
    assert fhir.SUBJECT_STATE == "http://terminology.hl7.org/CodeSystem/research-subject-state"
    assert fhir.SUBJECT_MILESTONE == "http://terminology.hl7.org/CodeSystem/research-subject-milestone"
    assert fhir.SUBJECT_STATE_TYPE == "http://terminology.hl7.org/CodeSystem/research-subject-state-type"
    # consent has no milestone code ("SignedUp" precedes any consent process): only "Randomized" is coded
    assert VALUE_SETS[fhir.SUBJECT_MILESTONE] == {"Randomized"}
    assert fhir.AE_SERIOUSNESS == "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
    assert fhir.AE_OUTCOME == "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"


def test_mcode_snomed_loinc_and_ucum_codes():
    assert fhir._STATUS_TREND == {
        "CR": ("550991000124107", "Malignant neoplasm in full remission"),
        "PR": ("268910001", "Patient's condition improved"),
        "SD": ("359746009", "Patient's condition stable"),
        "NON-CR/NON-PD": ("359746009", "Patient's condition stable"),
        "PD": ("271299001", "Patient's condition worsened"),
        "NE": ("709137006", "Patient condition undetermined"),
    }
    assert fhir._BODY_SITES == {
        "LIVER": ("10200004", "Liver structure"),
        "LUNG": ("39607008", "Lung structure"),
        "BONE": ("272673000", "Bone structure"),
        "BRAIN": ("12738006", "Brain structure"),
        "ADRENAL GLAND": ("23451007", "Adrenal structure"),
        "LYMPH NODE": ("59441001", "Structure of lymph node"),
        "DISTANT LYMPH NODE": ("59441001", "Structure of lymph node"),
        "ESOPHAGUS": ("32849002", "Esophageal structure"),
    }
    assert VALUE_SETS[fhir.LOINC] == {"97509-4", "21889-1", "33728-7"}
    assert VALUE_SETS[fhir.UCUM] == {"mg", "mg/m2", "mg/kg", "mm", "cGy"}
    assert {"363402007", "128462008", "1217123003", "108290001"} <= VALUE_SETS[fhir.SNOMED]


def _bundle_with_one_subject():
    import polars as pl

    protocol = load_protocol()
    usubjid = f"{protocol.protocol.id}-CN01-0001"
    tables = {
        "DM": pl.DataFrame([{"USUBJID": usubjid, "SEX": "F", "ARMCD": "RT", "ACTARMCD": "RT"}]),
        "DS": pl.DataFrame(
            [
                {"USUBJID": usubjid, "DSDECOD": "ENROLLED", "DSCAT": "PROTOCOL MILESTONE", "DSSTDTC": "2025-01-02"},
                {"USUBJID": usubjid, "DSDECOD": "RANDOMIZED", "DSCAT": "PROTOCOL MILESTONE", "DSSTDTC": "2025-03-02"},
            ]
        ),
        "AE": pl.DataFrame(
            [
                {"USUBJID": usubjid, "AESEQ": 1, "AEDECOD": "Pneumonitis", "AETOXGR": 4, "AESER": "Y",
                 "AEOUT": "FATAL", "AESTDTC": "2025-04-01"},
            ]
        ),
    }  # fmt: skip
    return derive_fhir_bundle(tables, protocol)


def test_the_exported_adverse_event_and_progress_carry_the_checked_codes():
    bundle = _bundle_with_one_subject()
    check_fhir_bundle(bundle)
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    (grade,) = by_type["AdverseEvent"]["extension"]
    assert grade["valueCodeableConcept"] == {
        "coding": [
            {
                "system": NCIT,
                "code": "C41337",
                "display": "Grade 4 Life Threatening or Disabling Adverse Event",
            }
        ],
        "text": "4",
    }
    progress = by_type["ResearchSubject"]["progress"]
    assert progress[0]["subjectState"]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/research-subject-state", "code": "on-study"}
    ]
    assert progress[1]["milestone"]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/research-subject-milestone", "code": "Randomized"}
    ]


def test_a_coding_in_the_former_pre_r5_system_is_refused():
    bundle = _bundle_with_one_subject()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "ResearchSubject":
            entry["resource"]["progress"][0]["subjectState"]["coding"][0]["system"] = (
                "http://hl7.org/fhir/research-subject-state"
            )
    with pytest.raises(InputError) as caught:
        check_fhir_bundle(bundle)
    (problem,) = caught.value.problems
    assert (problem.code, problem.value) == ("FHIR-002", "http://hl7.org/fhir/research-subject-state")
    assert problem.field.endswith("progress[0].subjectState.coding[0]")
