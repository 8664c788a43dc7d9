"""Payloads of the workflow forms shared by the service, API and end-to-end tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def eligible(screening: date, **changes: Any) -> dict[str, Any]:
    """An eligibility form that meets every criterion of the shipped protocol."""
    values: dict[str, Any] = {
        "screening_date": screening.isoformat(),
        "sex": "M",
        "age": 61,
        "diagnosis": "esophageal cancer",
        "histology": "squamous cell carcinoma",
        "disease_setting": "metastatic",
        "primary_site": "esophagus",
        "metastatic_lesions": [{"organ": "liver", "lesion_id": "T1"}, {"organ": "lung", "lesion_id": "T2"}],
        "measurable_disease": True,
        "ecog": 1,
        "labs": {
            "anc": 3.2,
            "platelets": 210,
            "haemoglobin": 128,
            "creatinine_clearance": 85,
            "bilirubin": {"value": 12, "uln": 21},
            "ast": {"value": 30, "uln": 40},
            "alt": {"value": 28, "uln": 40},
        },
        "prior_systemic_therapy": False,
        "consent_date": (screening - timedelta(days=2)).isoformat(),
        "first_procedure_date": screening.isoformat(),
    }
    values.update(changes)
    return values


def induction_dose(cycle: int, day: date, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "phase": "induction",
        "cycle": cycle,
        "date": day.isoformat(),
        "regimen": "TP-CIS",
        "agents": [
            {"agent": "paclitaxel", "dose": 300, "unit": "mg", "planned_dose": 300},
            {"agent": "cisplatin", "dose": 130, "unit": "mg", "planned_dose": 130},
            {"agent": "camrelizumab", "dose": 200, "unit": "mg", "planned_dose": 200},
        ],
    }
    values.update(changes)
    return values


def maintenance_dose(number: int, day: date) -> dict[str, Any]:
    return {
        "phase": "maintenance",
        "cycle": number,
        "date": day.isoformat(),
        "agents": [{"agent": "camrelizumab", "dose": 200, "unit": "mg", "planned_dose": 200}],
    }


def assessment(
    day: date, liver: float, lung: float, node_state: str = "present", new: bool = False
) -> dict[str, Any]:
    """Two targets (liver 'T1', lung 'T2'), a non-target node 'N1', optionally a new bone lesion 'NEW1'."""
    lesions: list[dict[str, Any]] = [
        {"lesion_id": "T1", "role": "target", "organ": "liver", "diameter_mm": liver},
        {"lesion_id": "T2", "role": "target", "organ": "lung", "diameter_mm": lung},
        {
            "lesion_id": "N1",
            "role": "non-target",
            "organ": "distant lymph node",
            "is_node": True,
            "state": node_state,
        },
    ]
    if new:
        lesions.append({"lesion_id": "NEW1", "role": "new", "organ": "bone", "state": "present"})
    return {"date": day.isoformat(), "method": "CT", "lesions": lesions}


def adverse_event(start: date, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "term": "Neutrophil count decreased",
        "grade": 3,
        "start_date": start.isoformat(),
        "serious": False,
        "relation": {"paclitaxel": "related", "cisplatin": "possibly related", "camrelizumab": "not related"},
        "action_taken": "dose reduced",
        "outcome": "recovered/resolved",
    }
    values.update(changes)
    return values


def radiotherapy_course(lesion: str = "L1", **changes: Any) -> dict[str, Any]:
    base = {
        "lesion_id": lesion,
        "lesion_type": "metastasis",
        "organ": "lung",
        "technique": "SBRT",
        "dose_per_fraction_gy": 8,
        "fractions": 5,
        "start_date": "2025-03-01",
        "end_date": "2025-03-10",
    }
    return {**base, **changes}
