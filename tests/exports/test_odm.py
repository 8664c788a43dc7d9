"""ODM 1.3.2: the export validates against CDISC's ODM 1.3.2 schema (shipped with odmlib); exported then
imported into an empty database it reproduces every form exactly, on SQLite and PostgreSQL; the dry run
writes nothing; foreign OIDs are mapped by a mapping file and unmappable items are located errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from importlib import resources

import pytest
import xmlschema

from edc_fixtures import ADMIN, ADMIN_PASSWORD, edc_settings
from oligotrial.errors import InputError
from oligotrial.exports.odm import event_code_of, event_oid_of, export_odm, form_definitions
from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, Role, init_database, open_edc, read_transaction
from oligotrial.services import admin as admin_services
from oligotrial.services import workflow as wf
from oligotrial.services.data import create_subject, list_forms, list_subjects
from oligotrial.services.odm_import import import_odm
from workflow_data import adverse_event, assessment, eligible, induction_dose

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
D0 = date(2025, 3, 3)
STAT = Actor(None, "stat", "Statistician", frozenset({(Role.STATISTICIAN, None)}), "test")
IMPORTER = Actor(
    None, "importer", "ODM import", frozenset({(Role.ADMINISTRATOR, None), (Role.INVESTIGATOR, None)}), "test"
)


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(resources.files("odmlib") / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"))


def populate(edc) -> None:
    """Three subjects at two sites: a screen failure, a subject through induction to death with a changed
    dose (version 2), an AE, follow-up and disposition, and an enrolled subject at the second site."""
    system = Actor.system("test")
    for code in ("CN01", "CN02"):
        admin_services.create_site(edc, system, code, f"Hospital {code}")
    admin_services.create_user(
        edc, system, "inv.cn01", "site user pass phrase", "Dr Li", roles=[(Role.INVESTIGATOR, "CN01")]
    )
    with read_transaction(edc) as session:
        site_ids = {c: admin_services.get_site_id(session, c) for c in ("CN01", "CN02")}
    inv = Actor(None, "inv.cn01", "Dr Li", frozenset({(Role.INVESTIGATOR, site_ids["CN01"])}), "10.0.0.7")
    inv2 = Actor(None, "inv.cn02", "Dr Wu", frozenset({(Role.INVESTIGATOR, site_ids["CN02"])}), "10.0.0.8")
    failed = create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, failed, eligible(D0 - timedelta(days=14), ecog=2))
    wf.record_screen_failure(edc, inv, failed, D0 - timedelta(days=13))
    code = create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=14)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=7))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=10), 30, 20))
    for cycle in range(1, 5):
        wf.record_dose(edc, inv, code, induction_dose(cycle, D0 + timedelta(days=21 * (cycle - 1))))
    changed = induction_dose(
        2,
        D0 + timedelta(days=22),
        agents=[
            {
                "agent": "paclitaxel",
                "dose": 250,
                "unit": "mg",
                "planned_dose": 300,
                "reduction_reason": "neuropathy",
            },
            {"agent": "cisplatin", "dose": 130, "unit": "mg", "planned_dose": 130},
            {"agent": "camrelizumab", "dose": 200, "unit": "mg", "planned_dose": 200},
        ],
    )
    view = wf.record_dose(
        edc, inv, code, changed, event_code="C2D1", base_version=1, reason="transcription error"
    )
    assert view.form.version == 2
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=84), 28, 19, new=True))
    wf.record_adverse_event(
        edc,
        inv,
        code,
        adverse_event(
            D0 + timedelta(days=30),
            term="Pneumonitis",
            grade=3,
            serious=True,
            seriousness_criteria=["hospitalization"],
            relation={"camrelizumab": "possibly related"},
            action_taken="drug interrupted",
            outcome="recovering/resolving",
        ),
    )
    wf.record_adverse_event(edc, inv, code, adverse_event(D0 + timedelta(days=5)))
    wf.record_end_of_treatment(
        edc,
        inv,
        code,
        {
            "date": (D0 + timedelta(days=85)).isoformat(),
            "last_dose_date": (D0 + timedelta(days=63)).isoformat(),
            "reason": "progression",
        },
    )
    wf.record_new_therapy(
        edc, inv, code, {"therapy": "docetaxel", "start_date": (D0 + timedelta(days=90)).isoformat()}
    )
    wf.record_follow_up(
        edc,
        inv,
        code,
        {"date": (D0 + timedelta(days=120)).isoformat(), "status": "alive", "method": "telephone"},
    )
    wf.record_death(
        edc, inv, code, {"date": (D0 + timedelta(days=150)).isoformat(), "cause": "disease progression"}
    )
    wf.record_disposition(edc, inv, code, {"date": (D0 + timedelta(days=150)).isoformat(), "reason": "DEATH"})
    other = create_subject(edc, inv2, "CN02").code
    wf.save_eligibility(edc, inv2, other, eligible(D0, sex="F", age=55, ecog=0))
    wf.enroll_subject(edc, inv2, other, D0 + timedelta(days=3))
    wf.record_tumour_assessment(edc, inv2, other, assessment(D0 + timedelta(days=1), 40, 25))
    wf.record_dose(edc, inv2, other, induction_dose(1, D0 + timedelta(days=7)))
    wf.record_deviation(
        edc,
        inv2,
        other,
        {
            "date": (D0 + timedelta(days=7)).isoformat(),
            "category": "visit window",
            "description": "CT one day late",
        },
    )


def snapshot(edc) -> dict[str, object]:
    subjects, _ = list_subjects(edc, STAT, limit=1000)
    return {
        s.code: (
            s.site,
            s.status,
            sorted(
                (f.event_code, f.event_date, f.form_code, f.values) for f in list_forms(edc, STAT, s.code)
            ),
        )
        for s in subjects
    }


@pytest.fixture
def target_url(backend, request, tmp_path) -> str:
    """A second, empty initialized database on the same backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'target.db'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database()
    init_database(edc_settings(url), load_protocol(), ADMIN, ADMIN_PASSWORD, source="test")
    return url


@pytest.fixture
def exported(edc):
    populate(edc)
    return export_odm(edc, STAT)


def test_export_validates_and_carries_audit_records(schema, exported):
    assert list(schema.iter_errors(exported.decode())) == []
    root = ET.fromstring(exported)
    assert root.get("ODMVersion") == "1.3.2"
    assert {e.get("OID") for e in root.findall(".//odm:FormDef", NS)} >= {
        "F.ELIG",
        "F.DOSE",
        "F.AE",
        "F.ENROLL",
    }
    dose = root.find(
        ".//odm:SubjectData[@SubjectKey='CN01-0002']/odm:StudyEventData[@StudyEventOID='SE.C2D1']/odm:FormData",
        NS,
    )
    record = dose.find("odm:AuditRecord", NS)
    assert record.find("odm:UserRef", NS).get("UserOID") == "USR.inv.cn01"
    assert record.find("odm:LocationRef", NS).get("LocationOID") == "LOC.CN01"
    assert record.find("odm:ReasonForChange", NS).text == "transcription error"
    assert record.find("odm:DateTimeStamp", NS).text.endswith("Z")
    assert (
        "version 2" in record.find("odm:SourceID", NS).text
        and "10.0.0.7" in record.find("odm:SourceID", NS).text
    )
    agents = dose.findall("odm:ItemGroupData[@ItemGroupOID='IG.DOSE.agents']", NS)
    assert [g.get("ItemGroupRepeatKey") for g in agents] == ["1", "2", "3"]
    reduced = {i.get("ItemOID"): i.get("Value") for i in agents[0]}
    assert reduced["IT.DOSE.agents.dose"] == "250.0"
    assert reduced["IT.DOSE.agents.reduction_reason"] == "neuropathy"
    ae = root.find(".//odm:StudyEventData[@StudyEventOID='SE.AE'][@StudyEventRepeatKey='001']", NS)
    assert ae is not None
    code_list = root.find(".//odm:CodeList[@OID='CL.AE.outcome']", NS)
    assert "fatal" in [e.get("CodedValue") for e in code_list]


def test_export_then_import_into_an_empty_database_reproduces_the_data(edc, exported, target_url):
    target = open_edc(edc_settings(target_url))
    try:
        dry = import_odm(target, IMPORTER, exported, is_dry_run=True)
        assert dry.problems == [] and not dry.is_written
        assert dry.counts()["create"] == 22 and dry.sites_created == ["CN01", "CN02"]
        assert list_subjects(target, STAT)[1] == 0  # the dry run wrote nothing
        report = import_odm(target, IMPORTER, exported)
        assert report.problems == [] and report.is_written
        assert report.subjects_created == {c: c for c in ("CN01-0001", "CN01-0002", "CN02-0001")}
        assert snapshot(target) == snapshot(edc)
        again = import_odm(target, IMPORTER, exported, is_dry_run=True)
        assert again.counts() == {"create": 0, "change": 0, "unchanged": 22}
    finally:
        target.engine.dispose()


def test_a_changed_value_is_a_new_version_with_the_reason(edc, exported):
    text = exported.decode().replace(
        'ItemOID="IT.FOLLOWUP.method" Value="telephone"', 'ItemOID="IT.FOLLOWUP.method" Value="visit"'
    )
    report = import_odm(edc, IMPORTER, text.encode(), reason="source document review")
    (change,) = [a for a in report.actions if a.action == "change"]
    assert (change.event_code, change.version, change.changed_items) == ("FU.001", 2, ("method",))
    (follow_up,) = [f for f in list_forms(edc, STAT, "CN01-0002") if f.form_code == "FOLLOWUP"]
    assert follow_up.values["method"] == "visit"


def test_a_refused_form_is_located_and_nothing_is_written(edc, exported, target_url):
    text = exported.decode().replace('ItemOID="IT.AE.grade" Value="3"', 'ItemOID="IT.AE.grade" Value="7"')
    target = open_edc(edc_settings(target_url))
    try:
        report = import_odm(target, IMPORTER, text.encode())
        assert not report.is_written
        assert [(p.code, p.field.split(": ")[-1]) for p in report.problems] == [("AE-103", "values.grade")]
        assert "SubjectData[@SubjectKey='CN01-0002']" in report.problems[0].field
        assert list_subjects(target, STAT)[1] == 0
    finally:
        target.engine.dispose()


FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Snapshot" FileOID="redcap" CreationDateTime="2025-05-01T10:00:00"
     ODMVersion="1.3.2">
  <ClinicalData StudyOID="Project.OLIGO" MetaDataVersionOID="Metadata.OLIGO_2025">
    <SubjectData SubjectKey="101">
      <StudyEventData StudyEventOID="Event.adverse_events_arm_1" StudyEventRepeatKey="1">
        <FormData FormOID="Form.adverse_event">
          <ItemGroupData ItemGroupOID="adverse_event.ae_term">
            <ItemData ItemOID="ae_term" Value="Nausea"/>
            <ItemData ItemOID="ae_grade" Value="2"/>
            <ItemData ItemOID="ae_colour" Value="blue"/>
          </ItemGroupData>
        </FormData>
      </StudyEventData>
      <StudyEventData StudyEventOID="Event.mystery_arm_1">
        <FormData FormOID="Form.x"/>
      </StudyEventData>
    </SubjectData>
  </ClinicalData>
</ODM>
"""


def test_foreign_oids_are_mapped_and_unmappable_items_are_located(edc):
    mapping = {
        "study_events": {"Event.adverse_events_arm_1": "SE.AE"},
        "forms": {"Form.adverse_event": "F.AE"},
        "item_groups": {"adverse_event.ae_term": "IG.AE"},
        "items": {"ae_term": "IT.AE.term", "ae_grade": "IT.AE.grade"},
        "default_site": "CN01",
    }
    with pytest.raises(InputError) as caught:
        import_odm(edc, IMPORTER, FOREIGN.encode(), mapping=mapping, is_dry_run=True)
    problems = [(p.code, p.field, p.value) for p in caught.value.problems]
    assert problems == [
        (
            "ODM-004",
            "ClinicalData/SubjectData[@SubjectKey='101']/StudyEventData[@StudyEventOID='Event.adverse_events_arm_1']"
            "[@StudyEventRepeatKey='1']/FormData[@FormOID='Form.adverse_event']/ItemGroupData"
            "[@ItemGroupOID='adverse_event.ae_term']/ItemData[@ItemOID='ae_colour']",
            "ae_colour",
        ),
        (
            "ODM-002",
            "ClinicalData/SubjectData[@SubjectKey='101']/StudyEventData[@StudyEventOID='Event.mystery_arm_1']",
            "Event.mystery_arm_1",
        ),
    ]


def test_event_codes_round_trip():
    for code in ("SCREENING", "C3D1", "M07", "AE.012", "TUMOUR.2025-01-02", "FU.001", "EOT", "DEV.002"):
        assert event_code_of(*event_oid_of(code)) == code
    items = form_definitions()["ELIG"].items
    assert items["IT.ELIG.labs.bilirubin.uln"].data_type == "float"
    assert items["IT.ELIG.sex"].codes == ("F", "M", "U")


def test_an_odm_file_with_entity_declarations_is_refused():
    from oligotrial.errors import InputError
    from oligotrial.exports.odm import parse_odm_clinical_data

    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><ClinicalData>&b;</ClinicalData></ODM>'
    )
    with pytest.raises(InputError) as caught:
        parse_odm_clinical_data(bomb)
    assert caught.value.code == "ODM-001"
