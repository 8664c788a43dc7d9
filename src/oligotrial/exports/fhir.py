"""FHIR R5 from SDTM: the study and each subject's care as one ``collection`` Bundle, for hospital systems.

:func:`derive_fhir_bundle` reads SDTM-shaped tables (:func:`oligotrial.exports.sdtm.derive_sdtm` output, or
the SDTM files of any EDC; absent domains and columns are skipped), so it works for any source, and writes:

* ``ResearchStudy`` with one ``comparisonGroup`` per protocol arm (``linkId`` = ARMCD);
* per subject (DM): ``Patient``; ``ResearchSubject`` with ``progress`` from DS (consent, enrollment,
  randomization, screen failure, end of study) and the assigned/actual comparison group from ARMCD/ACTARMCD;
  the primary cancer ``Condition`` (mCODE PrimaryCancerCondition shape) and one secondary cancer
  ``Condition`` per metastatic organ of the baseline lesions (TU ``TULOC``/``TULOCDTL``, mCODE
  SecondaryCancerCondition shape); a ``MedicationAdministration`` per EX record; a radiotherapy ``Procedure``
  per PR record in the mCODE RadiotherapyCourseSummary shape (total dose delivered and dose per fraction in
  **cGy**: SDTM's Gy x 100; fractions delivered); a disease status ``Observation`` per RS overall response
  (mCODE CancerDiseaseStatus: LOINC 97509-4, value from the mCODE condition status trend value set, the
  RECIST response kept as text); a tumour size ``Observation`` per measured TR record (LOINC 21889-1 with
  the maximum dimension in mm); an ``AdverseEvent`` per AE record.

CTCAE grade: FHIR R5 ``AdverseEvent`` has no ``severity`` element (R4's mild/moderate/severe was removed, and
a 3-level severity could not carry a 5-grade scale anyway), so the grade is an extension
(:data:`CTCAE_GRADE_EXTENSION`) whose ``valueCodeableConcept`` holds the NCI Thesaurus code of the CTCAE grade
with the grade number as its display text; seriousness goes to ``seriousness``.

Every resource is referenced by ``urn:uuid:`` full URLs inside the Bundle (deterministic UUIDs from the study
and the record keys, so the same data give the same Bundle). :func:`check_fhir_bundle` validates the Bundle
with the ``fhir.resources`` R5 models and checks every coding emitted against this module's value sets
(:data:`VALUE_SETS`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl
from fhir.resources.bundle import Bundle
from pydantic import ValidationError

from oligotrial.errors import InputError, Problem
from oligotrial.protocol import Protocol

__all__ = [
    "CTCAE_GRADE_EXTENSION",
    "VALUE_SETS",
    "check_fhir_bundle",
    "derive_fhir_bundle",
]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# The three ResearchSubject.progress code systems are HL7 Terminology (THO) code systems in FHIR R5 (the
# R5 value set pages research-subject-state, -milestone and -state-type, 5.0.0, list their codes under
# http://terminology.hl7.org/CodeSystem/...; the HL7 AE clinical research IG example
# HL7/fhir-ae-research-ig input/fsh/exampleCancerClinicalTrial.fsh uses the same systems).
SUBJECT_STATE = "http://terminology.hl7.org/CodeSystem/research-subject-state"
SUBJECT_MILESTONE = "http://terminology.hl7.org/CodeSystem/research-subject-milestone"
SUBJECT_STATE_TYPE = "http://terminology.hl7.org/CodeSystem/research-subject-state-type"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CTCAE_GRADE_EXTENSION = "https://oligotrial.org/fhir/StructureDefinition/ctcae-grade"
"""The extension carrying the CTCAE grade of an ``AdverseEvent`` (FHIR R5 has no severity element)."""
ARM_SYSTEM = "https://oligotrial.org/fhir/CodeSystem/arm"

# SNOMED CT body structures, as coded in mCODE's TG263 -> SNOMED CT concept map (HL7/fhir-mCODE-ig
# input/fsh/CM_TG263.fsh: Esophagus 32849002, Glnd_Adrenal 23451007, Lung 39607008, Brain 12738006, Bone
# 272673000, Liver 10200004, LN 59441001) and its radiotherapy examples; displays are the SNOMED CT
# preferred terms without the "(body structure)" tag.
_BODY_SITES = {
    "LIVER": ("10200004", "Liver structure"),
    "LUNG": ("39607008", "Lung structure"),
    "BONE": ("272673000", "Bone structure"),
    "BRAIN": ("12738006", "Brain structure"),
    "ADRENAL GLAND": ("23451007", "Adrenal structure"),
    "LYMPH NODE": ("59441001", "Structure of lymph node"),
    "DISTANT LYMPH NODE": ("59441001", "Structure of lymph node"),
    "ESOPHAGUS": ("32849002", "Esophageal structure"),
}
# mCODE CancerDiseaseStatus value (LOINC 97509-4 "Cancer disease progression"), from mCODE's
# ConditionStatusTrendVS (HL7/fhir-mCODE-ig, STU3: 268910001 improved, 359746009 stable, 271299001 worsened,
# 709137006 undetermined, 550991000124107 "Malignant neoplasm in full remission (disorder)"; later versions keep
# 550991000124107 in ConditionStatusTrendMaxVS, the binding's maximum value set).
_STATUS_TREND = {
    "CR": ("550991000124107", "Malignant neoplasm in full remission"),
    "PR": ("268910001", "Patient's condition improved"),
    "SD": ("359746009", "Patient's condition stable"),
    "NON-CR/NON-PD": ("359746009", "Patient's condition stable"),
    "PD": ("271299001", "Patient's condition worsened"),
    "NE": ("709137006", "Patient condition undetermined"),
}
# NCI Thesaurus concepts of the CTCAE grades, codes and displays exactly as in HL7 Terminology's value set
# "Adverse Event Clinical Research Grades" (http://terminology.hl7.org/ValueSet/adverse-event-clinical-research-
# grades, OID 2.16.840.1.113883.11.21027, THO 2023-07-28); the HL7 AE clinical research IG's examples code grade 1
# as NCIt C41338 "Grade 1 Mild Adverse Event" and grade 5 as C48275. System URI: FHIR's registered URI for the NCI
# Thesaurus (terminology.hl7.org, used by mCODE's NCIT alias).
_CTCAE_GRADES = {
    1: ("C41338", "Grade 1 Mild Adverse Event"),
    2: ("C41339", "Grade 2 Moderate Adverse Event"),
    3: ("C41340", "Grade 3 Severe Adverse Event"),
    4: ("C41337", "Grade 4 Life Threatening or Disabling Adverse Event"),
    5: ("C48275", "Grade 5 Death Related to Adverse Event"),
}
# UCUM case-sensitive codes: milligram, per square metre, per kilogram, millimetre and centigray (prefix c,
# unit Gy) are all valid UCUM expressions; mCODE's TumorSizeUnitsVS codes UCUM#mm.
_UNITS = {"mg": "mg", "mg/m2": "mg/m2", "mg/kg": "mg/kg", "mm": "mm", "cGy": "cGy"}
# HL7 THO code system adverse-event-outcome (codes and displays of its 4.3.0/R4B page).
_OUTCOMES = {
    "RECOVERED/RESOLVED": ("resolved", "Resolved"),
    "RECOVERING/RESOLVING": ("recovering", "Recovering"),
    "NOT RECOVERED/NOT RESOLVED": ("ongoing", "Ongoing"),
    "RECOVERED/RESOLVED WITH SEQUELAE": ("resolvedWithSequelae", "Resolved with Sequelae"),
    "FATAL": ("fatal", "Fatal"),
    "UNKNOWN": ("unknown", "Unknown"),
}
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"

# Other codes: SNOMED CT 363402007 "Malignant tumor of esophagus" (disorder); 128462008 "Secondary malignant
# neoplastic disease" (mCODE SecondaryCancerCondition code; recent SNOMED CT releases name it "Metastatic malignant
# neoplasm"); 1217123003 "Radiotherapy course of treatment" and category 108290001 "Radiation oncology AND/OR
# radiotherapy" (mCODE RadiotherapyCourseSummary, HL7/fhir-mCODE-ig input/fsh/SD_Radiotherapy.fsh); LOINC
# 21889-1 "Size Tumor" with component 33728-7 "Size.maximum dimension in Tumor" (mCODE TumorSize).
VALUE_SETS: Mapping[str, frozenset[str]] = {
    SNOMED: frozenset(
        {c for c, _ in _BODY_SITES.values()}
        | {c for c, _ in _STATUS_TREND.values()}
        | {"363402007", "128462008", "1217123003", "108290001"}
    ),
    LOINC: frozenset({"97509-4", "21889-1", "33728-7"}),
    NCIT: frozenset(c for c, _ in _CTCAE_GRADES.values()),
    OBSERVATION_CATEGORY: frozenset({"laboratory", "imaging", "exam", "survey"}),
    SUBJECT_STATE: frozenset(
        {"screening", "on-study", "ineligible", "off-study", "withdrawn", "follow-up", "eligible"}
    ),
    SUBJECT_MILESTONE: frozenset({"Randomized"}),
    SUBJECT_STATE_TYPE: frozenset({"Enrollment", "Milestone"}),
    AE_SERIOUSNESS: frozenset({"serious", "non-serious"}),
    AE_OUTCOME: frozenset(code for code, _ in _OUTCOMES.values()),
    CONDITION_CLINICAL: frozenset({"active"}),
    UCUM: frozenset(_UNITS.values()),
}
"""System -> the codes this module emits in it; :func:`check_fhir_bundle` refuses any other."""


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    found = {"system": system, "code": code}
    return found | ({"display": display} if display else {})


def _concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_coding(system, code, display)]}
    return concept | ({"text": text} if text else {})


def _rows(tables: Mapping[str, pl.DataFrame], name: str) -> list[dict[str, Any]]:
    frame = tables.get(name)
    return [] if frame is None else list(frame.iter_rows(named=True))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _body_site(organ: str) -> dict[str, Any]:
    found = _BODY_SITES.get(organ.upper())
    if found is None:
        return {"text": organ.lower()}
    return _concept(SNOMED, found[0], found[1], organ.lower())


def derive_fhir_bundle(
    sdtm: Mapping[str, pl.DataFrame],
    protocol: Protocol,
    *,
    created: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The FHIR R5 ``collection`` Bundle (as JSON-ready dict) of the study and every subject of ``sdtm``.

    Notes
    -----
    Doses: EX ``EXDOSE`` with its unit (UCUM when the unit is one, else text only, e.g. AUC); PR ``PRDOSTOT``
    and ``PRDOSE`` (Gy) become cGy (x 100). Dates are the SDTM ISO 8601 texts. ``progress(done, total)`` is
    called after each subject.
    """
    studyid = protocol.protocol.id
    created = created or datetime.now(UTC)

    def urn(*key: object) -> str:
        return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join([studyid, *map(str, key)])))

    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any], *key: object) -> str:
        url = urn(resource["resourceType"], *key)
        resource["id"] = url.removeprefix("urn:uuid:")
        entries.append({"fullUrl": url, "resource": resource})
        return url

    study_url = add(
        {
            "resourceType": "ResearchStudy",
            "identifier": [{"system": "https://oligotrial.org/study", "value": studyid}],
            "version": protocol.protocol.version,
            "title": " ".join(protocol.protocol.title.split()),
            "status": "active",
            "phase": {"text": f"phase {protocol.protocol.phase}"},
            "condition": [_concept(SNOMED, "363402007", "Malignant tumor of esophagus", "esophageal cancer")],
            "comparisonGroup": [
                {
                    "linkId": arm.armcd,
                    "name": arm.name,
                    "type": _concept(ARM_SYSTEM, arm.id),
                    "description": "with radiotherapy" if arm.radiotherapy else "without radiotherapy",
                }
                for arm in protocol.arms
            ],
        },
        "study",
    )
    by_subject: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in ("DS", "EX", "PR", "AE", "TU", "TR", "RS"):
        for row in _rows(sdtm, name):
            by_subject.setdefault(str(row["USUBJID"]), {}).setdefault(name, []).append(row)
    subjects = _rows(sdtm, "DM")
    for done, dm in enumerate(subjects, 1):
        usubjid = str(dm["USUBJID"])
        records = by_subject.get(usubjid, {})
        gender = {"M": "male", "F": "female", "U": "unknown"}.get(str(dm.get("SEX") or ""))
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "meta": {"profile": [MCODE + "mcode-cancer-patient"]},
            "identifier": [{"system": f"https://oligotrial.org/{studyid}/usubjid", "value": usubjid}],
        }
        if gender:
            patient["gender"] = gender
        if dm.get("DTHDTC"):
            patient["deceasedDateTime"] = str(dm["DTHDTC"])
        patient_url = add(patient, usubjid)
        subject_ref = {"reference": patient_url}
        add(_research_subject(dm, records.get("DS", []), study_url, subject_ref), usubjid)
        add(
            {
                "resourceType": "Condition",
                "meta": {"profile": [MCODE + "mcode-primary-cancer-condition"]},
                "clinicalStatus": _concept(CONDITION_CLINICAL, "active"),
                "code": _concept(SNOMED, "363402007", "Malignant tumor of esophagus"),
                "bodySite": [_body_site("esophagus")],
                "subject": subject_ref,
            },
            usubjid,
            "primary",
        )
        organs: dict[str, str | None] = {}
        for tu in records.get("TU", []):
            if str(tu.get("TUORRES") or "").upper() in ("TARGET", "NON-TARGET"):
                organ = _text(tu.get("TULOCDTL")) or _text(tu.get("TULOC"))
                if organ and organ.upper() not in ("ESOPHAGUS", "GASTROESOPHAGEAL JUNCTION", "ANASTOMOSIS"):
                    organs.setdefault(organ.upper(), _text(tu.get("TUDTC")))
        for organ, day in organs.items():
            condition: dict[str, Any] = {
                "resourceType": "Condition",
                "meta": {"profile": [MCODE + "mcode-secondary-cancer-condition"]},
                "clinicalStatus": _concept(CONDITION_CLINICAL, "active"),
                "code": _concept(SNOMED, "128462008", "Secondary malignant neoplastic disease"),
                "bodySite": [_body_site(organ)],
                "subject": subject_ref,
            }
            if day:
                condition["recordedDate"] = day
            add(condition, usubjid, "secondary", organ)
        for n, ex in enumerate(records.get("EX", []), 1):
            add(_administration(ex, subject_ref), usubjid, "EX", ex.get("EXSEQ") or n)
        for n, pr in enumerate(records.get("PR", []), 1):
            add(_radiotherapy(pr, subject_ref), usubjid, "PR", pr.get("PRSEQ") or n)
        for n, rs in enumerate(records.get("RS", []), 1):
            if str(rs.get("RSTESTCD")) != "OVRLRESP":
                continue
            observation = _disease_status(rs, subject_ref)
            if observation is not None:
                add(observation, usubjid, "RS", rs.get("RSSEQ") or n)
        for n, tr in enumerate(records.get("TR", []), 1):
            observation = _tumour_size(tr, subject_ref)
            if observation is not None:
                add(observation, usubjid, "TR", tr.get("TRSEQ") or n)
        for n, ae in enumerate(records.get("AE", []), 1):
            add(_adverse_event(ae, subject_ref, study_url), usubjid, "AE", ae.get("AESEQ") or n)
        if progress is not None:
            progress(done, len(subjects))
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{studyid}/bundle")),
        "type": "collection",
        "timestamp": created.astimezone(UTC).isoformat(timespec="seconds"),
        "entry": entries,
    }


def _research_subject(
    dm: Mapping[str, Any], ds_rows: list[dict[str, Any]], study_url: str, subject_ref: dict[str, Any]
) -> dict[str, Any]:
    progress: list[dict[str, Any]] = []
    state_type = _concept(SUBJECT_STATE_TYPE, "Enrollment")
    milestone_type = _concept(SUBJECT_STATE_TYPE, "Milestone")
    for ds in ds_rows:
        term = str(ds.get("DSDECOD") or ds.get("DSTERM") or "").upper()
        day = _text(ds.get("DSSTDTC"))
        entry: dict[str, Any]
        if term == "INFORMED CONSENT OBTAINED":
            # No R5 milestone code means consent: "SignedUp" is an interest expressed *before* any assessment
            # or consent process (its definition in research-subject-milestone), so the milestone is text.
            entry = {"type": milestone_type, "milestone": {"text": "informed consent obtained"}}
        elif term == "ENROLLED":
            entry = {"type": state_type, "subjectState": _concept(SUBJECT_STATE, "on-study")}
        elif term == "RANDOMIZED":
            entry = {"type": milestone_type, "milestone": _concept(SUBJECT_MILESTONE, "Randomized")}
        elif term == "SCREEN FAILURE":
            entry = {"type": state_type, "subjectState": _concept(SUBJECT_STATE, "ineligible")}
        elif str(ds.get("DSCAT") or "").upper() == "DISPOSITION EVENT" and term:
            state = "off-study" if term in ("COMPLETED", "DEATH") else "withdrawn"
            entry = {
                "type": state_type,
                "subjectState": _concept(SUBJECT_STATE, state),
                "reason": {"text": term.lower()},
            }
        else:
            continue
        if day:
            entry["startDate"] = day
        progress.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "ResearchSubject",
        "identifier": [{"value": str(dm["USUBJID"])}],
        "status": "active",
        "study": {"reference": study_url},
        "subject": subject_ref,
    }
    if progress:
        resource["progress"] = progress
    if dm.get("ARMCD"):
        resource["assignedComparisonGroup"] = str(dm["ARMCD"])
    if dm.get("ACTARMCD"):
        resource["actualComparisonGroup"] = str(dm["ACTARMCD"])
    return resource


def _quantity(value: float, unit: str) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value, "unit": unit}
    if unit in _UNITS:
        quantity |= {"system": UCUM, "code": _UNITS[unit]}
    return quantity


def _administration(ex: Mapping[str, Any], subject_ref: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "medication": {"concept": {"text": str(ex.get("EXTRT") or "").lower()}},
        "subject": subject_ref,
        "occurenceDateTime": str(ex.get("EXSTDTC")),
    }
    dose = _number(ex.get("EXDOSE"))
    if dose is not None:
        resource["dosage"] = {
            "dose": _quantity(dose, str(ex.get("EXDOSU") or "")),
            **({"route": {"text": str(ex["EXROUTE"]).lower()}} if ex.get("EXROUTE") else {}),
        }
        if ex.get("EXADJ"):
            resource["dosage"]["text"] = f"dose adjusted: {ex['EXADJ']}"
    return resource


def _radiotherapy(pr: Mapping[str, Any], subject_ref: dict[str, Any]) -> dict[str, Any]:
    per_fraction, total = _number(pr.get("PRDOSE")), _number(pr.get("PRDOSTOT"))
    fractions = _number(pr.get("PRFRACN"))
    unit = str(pr.get("PRDOSU") or "Gy")
    factor = 100.0 if unit.lower() == "gy" else 1.0
    dose: list[dict[str, Any]] = []
    if total is not None:
        dose.append(
            {"url": "totalDoseDelivered", "valueQuantity": _quantity(round(total * factor, 6), "cGy")}
        )
    if fractions is not None:
        dose.append({"url": "fractionsDelivered", "valueUnsignedInt": int(fractions)})
    extensions: list[dict[str, Any]] = []
    if pr.get("PRDECOD"):
        extensions.append(
            {
                "url": MCODE + "mcode-radiotherapy-modality-and-technique",
                "extension": [{"url": "technique", "valueCodeableConcept": {"text": str(pr["PRDECOD"])}}],
            }
        )
    if fractions is not None:
        extensions.append({"url": MCODE + "mcode-radiotherapy-sessions", "valueUnsignedInt": int(fractions)})
    if dose:
        extensions.append({"url": MCODE + "mcode-radiotherapy-dose-delivered-to-volume", "extension": dose})
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "meta": {"profile": [MCODE + "mcode-radiotherapy-course-summary"]},
        "status": "completed",
        "category": [_concept(SNOMED, "108290001", "Radiation oncology AND/OR radiotherapy")],
        "code": _concept(SNOMED, "1217123003", "Radiotherapy course of treatment"),
        "subject": subject_ref,
    }
    if extensions:
        resource["extension"] = extensions
    start, end = _text(pr.get("PRSTDTC")), _text(pr.get("PRENDTC"))
    if start or end:
        resource["occurrencePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    if pr.get("PRLOC"):
        resource["bodySite"] = [_body_site(str(pr["PRLOC"]))]
    if per_fraction is not None:
        resource["note"] = [{"text": f"dose per fraction {round(per_fraction * factor, 6):g} cGy"}]
    return resource


def _disease_status(rs: Mapping[str, Any], subject_ref: dict[str, Any]) -> dict[str, Any] | None:
    response = str(rs.get("RSSTRESC") or rs.get("RSORRES") or "").upper()
    found = _STATUS_TREND.get(response)
    if found is None or not rs.get("RSDTC"):
        return None
    return {
        "resourceType": "Observation",
        "meta": {"profile": [MCODE + "mcode-cancer-disease-status"]},
        "status": "final",
        "category": [_concept(OBSERVATION_CATEGORY, "imaging")],
        "code": _concept(LOINC, "97509-4", "Cancer disease progression"),
        "subject": subject_ref,
        "effectiveDateTime": str(rs["RSDTC"]),
        "valueCodeableConcept": _concept(SNOMED, found[0], found[1], f"{response} (RECIST 1.1)"),
    }


def _tumour_size(tr: Mapping[str, Any], subject_ref: dict[str, Any]) -> dict[str, Any] | None:
    size = _number(tr.get("TRSTRESN"))
    if size is None or str(tr.get("TRTESTCD")) not in ("LDIAM", "LPERP") or not tr.get("TRDTC"):
        return None
    return {
        "resourceType": "Observation",
        "meta": {"profile": [MCODE + "mcode-tumor-size"]},
        "status": "final",
        "category": [_concept(OBSERVATION_CATEGORY, "imaging")],
        "code": _concept(LOINC, "21889-1", "Size Tumor"),
        "subject": subject_ref,
        "effectiveDateTime": str(tr["TRDTC"]),
        "identifier": [{"value": f"lesion {tr.get('TRLNKID')}"}],
        "component": [
            {
                "code": _concept(LOINC, "33728-7", "Size.maximum dimension in Tumor"),
                "valueQuantity": _quantity(size, "mm"),
            }
        ],
    }


def _adverse_event(ae: Mapping[str, Any], subject_ref: dict[str, Any], study_url: str) -> dict[str, Any]:
    term = str(ae.get("AEDECOD") or ae.get("AETERM") or "")
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "status": "completed" if ae.get("AEENDTC") else "in-progress",
        "actuality": "actual",
        "code": {"text": term},
        "subject": subject_ref,
        "study": [{"reference": study_url}],
    }
    start, end = _text(ae.get("AESTDTC")), _text(ae.get("AEENDTC"))
    if start and end:
        resource["occurrencePeriod"] = {"start": start, "end": end}
    elif start:
        resource["occurrenceDateTime"] = start
    grade = _number(ae.get("AETOXGR"))
    if grade is not None and int(grade) in _CTCAE_GRADES:
        code, display = _CTCAE_GRADES[int(grade)]
        resource["extension"] = [
            {
                "url": CTCAE_GRADE_EXTENSION,
                "valueCodeableConcept": _concept(NCIT, code, display, str(int(grade))),
            }
        ]
    serious = str(ae.get("AESER") or "").upper()
    if serious in ("Y", "N"):
        code = "serious" if serious == "Y" else "non-serious"
        resource["seriousness"] = _concept(AE_SERIOUSNESS, code, code.capitalize())
    outcome = _OUTCOMES.get(str(ae.get("AEOUT") or "").upper())
    if outcome is not None:
        resource["outcome"] = [_concept(AE_OUTCOME, outcome[0], outcome[1])]
    return resource


def _codings(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            yield path, node
        for key, value in node.items():
            yield from _codings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _codings(value, f"{path}[{i}]")


def check_fhir_bundle(bundle: Mapping[str, Any]) -> Bundle:
    """Validate the Bundle with the ``fhir.resources`` R5 models and check every coding and UCUM quantity
    against :data:`VALUE_SETS`; returns the validated model.

    Raises
    ------
    InputError
        ``FHIR-001`` the Bundle breaks the FHIR R5 models; ``FHIR-002`` a code outside our value sets; both
        located by the path in the Bundle (``entry[3].resource.code.coding[0]``).
    """
    problems: list[Problem] = []
    for path, coding in _codings(bundle, "bundle"):
        allowed = VALUE_SETS.get(str(coding["system"]))
        if allowed is not None and str(coding["code"]) not in allowed:
            problems.append(
                Problem("FHIR-002", path, f"code outside the value set of {coding['system']}", coding["code"])
            )
        elif allowed is None and not str(coding["system"]).startswith("https://oligotrial.org/"):
            problems.append(Problem("FHIR-002", path, "code system without a value set", coding["system"]))
    try:
        model = Bundle.model_validate(dict(bundle))
    except ValidationError as exc:
        problems += InputError.from_validation(exc, "FHIR-001", prefix="bundle").problems
        raise InputError(problems) from None
    if problems:
        raise InputError(problems)
    return model
