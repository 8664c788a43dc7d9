"""FHIR R5: the Bundle built from SDTM validates with the fhir.resources R5 models and our value sets, links
every resource inside one collection Bundle, carries radiotherapy doses in cGy and the CTCAE grade."""

from __future__ import annotations

from pathlib import Path

import pytest

from exports.test_odm import STAT, populate
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.errors import InputError
from oligotrial.exports.datasets import read_datasets
from oligotrial.exports.fhir import CTCAE_GRADE_EXTENSION, check_fhir_bundle, derive_fhir_bundle
from oligotrial.exports.sdtm import derive_sdtm
from oligotrial.protocol import load_protocol

PROTOCOL = load_protocol()
WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_bundle_from_the_edc_validates_and_links_every_resource(edc):
    populate(edc)
    tables, _ = derive_sdtm(edc, STAT, protocol=PROTOCOL)
    bundle = derive_fhir_bundle(tables, PROTOCOL)
    check_fhir_bundle(bundle)
    assert bundle["type"] == "collection"
    urls = {e["fullUrl"] for e in bundle["entry"]}
    references = []

    def walk(node):
        if isinstance(node, dict):
            if "reference" in node:
                references.append(node["reference"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bundle["entry"])
    assert references and set(references) <= urls
    (study,) = resources(bundle, "ResearchStudy")
    assert [g["linkId"] for g in study["comparisonGroup"]] == [a.armcd for a in PROTOCOL.arms]
    assert len(resources(bundle, "Patient")) == 3
    subjects = {s["identifier"][0]["value"][-9:]: s for s in resources(bundle, "ResearchSubject")}
    states = [p.get("subjectState", p.get("milestone")) for p in subjects["CN01-0001"]["progress"]]
    assert [s.get("text") or s["coding"][0]["code"] for s in states] == [
        "informed consent obtained",
        "ineligible",
    ]
    secondary = [
        c["bodySite"][0]["text"]
        for c in resources(bundle, "Condition")
        if c["code"]["coding"][0]["code"] == "128462008"
    ]
    assert sorted(secondary) == ["distant lymph node", "distant lymph node", "liver", "liver", "lung", "lung"]
    liver, lung = resources(bundle, "Procedure")  # CN02-0001's SBRT courses: 8 Gy x 5 and 8 Gy x 3
    dose = next(e for e in liver["extension"] if e["url"].endswith("dose-delivered-to-volume"))["extension"]
    assert dose[0]["valueQuantity"] == {
        "value": 4000.0,
        "unit": "cGy",
        "system": "http://unitsofmeasure.org",
        "code": "cGy",
    }
    assert dose[1] == {"url": "fractionsDelivered", "valueUnsignedInt": 5}
    assert liver["bodySite"][0]["coding"][0]["code"] == "10200004"
    assert liver["note"] == [{"text": "dose per fraction 800 cGy"}]
    dose = next(e for e in lung["extension"] if e["url"].endswith("dose-delivered-to-volume"))["extension"]
    assert (dose[0]["valueQuantity"]["value"], dose[1]["valueUnsignedInt"]) == (2400.0, 3)
    milestones = [p["milestone"] for p in subjects["CN02-0001"]["progress"] if "milestone" in p]
    assert [m.get("text") or m["coding"][0]["code"] for m in milestones] == [
        "informed consent obtained",
        "Randomized",
    ]
    assert subjects["CN02-0001"]["assignedComparisonGroup"] == "RT"
    grades = sorted(
        e["valueCodeableConcept"]["text"]
        for ae in resources(bundle, "AdverseEvent")
        for e in ae.get("extension", [])
        if e["url"] == CTCAE_GRADE_EXTENSION
    )
    assert grades == ["3", "3"]
    serious = [ae["seriousness"]["coding"][0]["code"] for ae in resources(bundle, "AdverseEvent")]
    assert sorted(serious) == ["non-serious", "serious"]
    status = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "97509-4"]
    assert [o["valueCodeableConcept"]["text"] for o in status] == ["PD (RECIST 1.1)", "PR (RECIST 1.1)"]
    sizes = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "21889-1"]
    assert len(sizes) == 8 and sizes[0]["component"][0]["valueQuantity"]["unit"] == "mm"
    doses = resources(bundle, "MedicationAdministration")
    assert len(doses) == 24 and {d["dosage"]["dose"]["code"] for d in doses} == {"mg"}


def test_bundle_from_sdtm_files_of_another_edc():
    bundle = derive_fhir_bundle(read_datasets(WORKED, DOMAINS), PROTOCOL)
    check_fhir_bundle(bundle)
    assert len(resources(bundle, "Patient")) > 0


def test_codes_outside_our_value_sets_and_broken_resources_are_refused():
    bundle = derive_fhir_bundle(read_datasets(WORKED, DOMAINS), PROTOCOL)
    condition = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition")
    bundle["entry"][condition]["resource"]["code"]["coding"][0]["code"] = "999999"
    bundle["entry"][0]["resource"]["status"] = 42
    with pytest.raises(InputError) as caught:
        check_fhir_bundle(bundle)
    codes = {(p.code, p.field) for p in caught.value.problems}
    assert ("FHIR-002", f"bundle.entry[{condition}].resource.code.coding[0]") in codes
    assert any(code == "FHIR-001" for code, _ in codes)
