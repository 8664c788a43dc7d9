"""ODM 1.3.2: the export validates against CDISC's ODM 1.3.2 schema (shipped with odmlib); exported then
imported into an empty database it reproduces every form exactly, on SQLite and PostgreSQL; the dry run
writes nothing; foreign OIDs are mapped by a mapping file and unmappable items are located errors."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources

import pytest
import xmlschema
from sqlalchemy import select

from edc_fixtures import ADMIN, ADMIN_PASSWORD, edc_settings
from oligotrial.errors import InputError, NotFoundError
from oligotrial.exports.odm import (
    event_code_of,
    event_oid_of,
    export_odm,
    form_definitions,
    randomization_values,
)
from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, Role, init_database, open_edc, read_transaction
from oligotrial.services import admin as admin_services
from oligotrial.services import workflow as wf
from oligotrial.services.audit_trail import verify_audit
from oligotrial.services.data import create_subject, list_forms, list_subjects
from oligotrial.services.odm_import import import_odm
from oligotrial.services.radiotherapy import (
    get_radiotherapy_plan,
    record_maintenance_restart,
    record_radiotherapy_course,
)
from oligotrial.services.randomization import randomize_subject, upload_randomization_list
from oligotrial.store.engine import writer_gate
from oligotrial.store.tables import AuditEntry, RandomizationEntry, RandomizationRecord, Subject
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
    dose (version 2), an AE, follow-up and disposition, and at the second site a subject randomized after
    induction to the radiotherapy arm, with two SBRT courses (one corrected) and the maintenance restart."""
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
    for cycle in range(1, 5):
        wf.record_dose(edc, inv2, other, induction_dose(cycle, D0 + timedelta(days=7 + 21 * (cycle - 1))))
    wf.record_tumour_assessment(edc, inv2, other, assessment(D0 + timedelta(days=92), 20, 10))
    # the concealed list gives this stratum's first slot to the radiotherapy arm
    upload_randomization_list(
        edc,
        STAT,
        "position,arm,site,induction_response,metastatic_organs\n1,experimental,CN02,CR/PR,2-3\n"
        "2,control,CN02,CR/PR,2-3\n",
    )
    # dated the day after the post-induction assessment (D0 + 92), at 10:00 at the site, before its courses
    when = datetime.combine(D0 + timedelta(days=93), time(2), tzinfo=UTC)
    assert (
        randomize_subject(edc, inv2, other, request_id="rq-CN02-0001", randomized_at=when).arm
        == "experimental"
    )
    for lesion, organ, fractions in (("T1", "liver", 5), ("T2", "lung", 3)):
        course = {
            "lesion_id": lesion,
            "lesion_type": "metastasis",
            "organ": organ,
            "technique": "SBRT",
            "dose_per_fraction_gy": 8.0,
            "fractions": fractions,
            "start_date": (D0 + timedelta(days=100)).isoformat(),
            "end_date": (D0 + timedelta(days=109)).isoformat(),
        }
        record_radiotherapy_course(edc, inv2, other, course)
    corrected = dict(course, end_date=(D0 + timedelta(days=110)).isoformat())
    record_radiotherapy_course(edc, inv2, other, corrected, reason="treatment record checked")
    record_maintenance_restart(edc, inv2, other, D0 + timedelta(days=130))
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
    """Every subject's site, status and forms, its randomization (all stored columns but the row ids, who
    randomized and the request id) and its radiotherapy (plan, courses, check; without version counters)."""
    subjects, _ = list_subjects(edc, STAT, limit=1000)
    with read_transaction(edc) as session:
        randomized = {
            code: randomization_values(record, None)
            for record, code in session.execute(
                select(RandomizationRecord, Subject.code).join(
                    Subject, Subject.id == RandomizationRecord.subject_id
                )
            ).all()
        }
    found: dict[str, object] = {}
    for s in subjects:
        try:
            plan = get_radiotherapy_plan(edc, STAT, s.code).model_dump(exclude={"version"})
            plan["courses"] = [{k: v for k, v in c.items() if k != "version"} for c in plan["courses"]]
        except NotFoundError:
            plan = None
        rand = randomized.get(s.code)
        found[s.code] = (
            s.site,
            s.status,
            sorted(
                (f.event_code, f.event_date, f.form_code, f.values) for f in list_forms(edc, STAT, s.code)
            ),
            None
            if rand is None
            else {k: v for k, v in rand.items() if k not in ("randomized_by", "request_id")},
            plan,
        )
    return found


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
    arms = root.find(".//odm:CodeList[@OID='CL.RAND.arm']", NS)
    assert [e.get("CodedValue") for e in arms] == ["control", "experimental"]
    rand = root.find(
        ".//odm:SubjectData[@SubjectKey='CN02-0001']/odm:StudyEventData[@StudyEventOID='SE.RANDOMIZATION']/odm:FormData",
        NS,
    )
    items = {i.get("ItemOID"): i.get("Value") for i in rand.iter(f"{{{NS['odm']}}}ItemData")}
    assert items["IT.RAND.arm"] == "experimental" and items["IT.RAND.list_position"] == "1"
    assert items["IT.RAND.stratum"] == "site=CN02|induction_response=CR/PR|metastatic_organs=2-3"
    assert rand.find("odm:AuditRecord/odm:SourceID", NS).text.endswith("source 10.0.0.8")
    rt = root.find(".//odm:StudyEventData[@StudyEventOID='SE.RADIOTHERAPY']/odm:FormData", NS)
    courses = rt.findall("odm:ItemGroupData[@ItemGroupOID='IG.RT.courses']", NS)
    assert [c.find("odm:AuditRecord/odm:ReasonForChange", NS) is not None for c in courses] == [False, True]
    second = {i.get("ItemOID"): i.get("Value") for i in courses[1].findall("odm:ItemData", NS)}
    assert (second["IT.RT.courses.fractions"], second["IT.RT.courses.verdict"]) == ("3", "advisory")


def test_export_then_import_into_an_empty_database_reproduces_the_data(edc, exported, target_url):
    target = open_edc(edc_settings(target_url))
    try:
        dry = import_odm(target, IMPORTER, exported, is_dry_run=True)
        assert dry.problems == [] and not dry.is_written
        assert dry.counts()["create"] == 28 and dry.sites_created == ["CN01", "CN02"]
        trial = [(a.event_code, a.form_code, a.action) for a in dry.actions if a.form_code in ("RAND", "RT")]
        assert trial == [("RANDOMIZATION", "RAND", "create"), ("RADIOTHERAPY", "RT", "create")]
        assert list_subjects(target, STAT)[1] == 0  # the dry run wrote nothing
        report = import_odm(target, IMPORTER, exported)
        assert report.problems == [] and report.is_written
        assert report.subjects_created == {c: c for c in ("CN01-0001", "CN01-0002", "CN02-0001")}
        source, copy = snapshot(edc), snapshot(target)
        assert copy == source
        assert source["CN02-0001"][3]["arm"] == "experimental"  # the randomization and radiotherapy are in it
        assert [c["lesion_id"] for c in source["CN02-0001"][4]["courses"]] == ["T1", "T2"]
        again = import_odm(target, IMPORTER, exported, is_dry_run=True)
        assert again.counts() == {"create": 0, "change": 0, "unchanged": 28}
    finally:
        target.engine.dispose()


def test_an_import_is_one_writer_in_turn_with_the_others(edc, exported, target_url):
    """The import holds the process's writer gate for its whole transaction, as every write use case does: a
    write started meanwhile waits for it, then runs, and both are in one unbroken audit chain."""
    target = open_edc(edc_settings(target_url))
    held: list[bool] = []
    other: list[object] = []

    def write_meanwhile() -> None:
        try:
            other.append(admin_services.create_site(target, Actor.system("test"), "CN09", "Hospital CN09"))
        except Exception as error:  # reported below
            other.append(error)

    def progress(done: int, total: int) -> None:
        held.append(writer_gate(target.engine).is_held_here())
        if len(held) == 1:
            writer.start()

    writer = threading.Thread(target=write_meanwhile)
    try:
        report = import_odm(target, IMPORTER, exported, progress=progress)
        writer.join(timeout=60)
        assert report.is_written and held and all(held)
        assert len(other) == 1 and not isinstance(other[0], Exception), other
        report_after = verify_audit(target)
        assert report_after.is_intact
        with read_transaction(target) as session:
            actions = session.execute(
                select(AuditEntry.action, AuditEntry.table_name).order_by(AuditEntry.id)
            ).all()
        import_at = actions.index(("import", "odm"))
        site_at = max(n for n, (_, table) in enumerate(actions) if table == "sites")
        assert site_at > import_at  # the other writer's change came after the import, whole
    finally:
        target.engine.dispose()


def test_an_imported_randomization_is_stored_as_made_with_its_source_and_takes_no_slot(
    edc, exported, target_url
):
    target = open_edc(edc_settings(target_url))
    try:
        import_odm(target, IMPORTER, exported, reason="migration from site CN02")
        with read_transaction(target) as session:
            (record,) = session.execute(select(RandomizationRecord)).scalars()
            assert (record.arm, record.sequence, record.list_position) == ("experimental", 1, 1)
            assert (record.list_id, record.entry_id, record.request_id) == (None, None, None)
            assert session.execute(select(RandomizationEntry)).first() is None  # no list was touched
            ((action, record_id, reason, new_values),) = session.execute(
                select(
                    AuditEntry.action, AuditEntry.record_id, AuditEntry.reason, AuditEntry.new_values
                ).where(AuditEntry.table_name == "randomizations")
            ).all()
        assert (action, record_id, reason) == ("import", "CN02-0001", "migration from site CN02")
        source = json.loads(new_values)["imported_from"]
        assert source["request_id"] == "rq-CN02-0001" and source["location"].endswith(
            "FormData[@FormOID='F.RAND']"
        )
        assert source["audit_record"]["SourceID"].startswith("audit_log ")
        assert source["file"].startswith("ODM file ODM.ESO-OLIGO-RT.")
    finally:
        target.engine.dispose()


def test_an_import_never_re_randomizes_a_subject(edc, exported):
    """The source database itself holds CN02-0001's assignment: the same one is unchanged, another arm is
    refused with the item named, and nothing of the file is written."""
    same = import_odm(edc, IMPORTER, exported, is_dry_run=True)
    assert [a.action for a in same.actions if a.form_code == "RAND"] == ["unchanged"]
    text = exported.decode().replace(
        'ItemOID="IT.RAND.arm" Value="experimental"', 'ItemOID="IT.RAND.arm" Value="control"'
    )
    report = import_odm(edc, IMPORTER, text.encode())
    assert not report.is_written
    (problem,) = report.problems
    assert problem.code == "ODM-011" and problem.value == "control"
    assert problem.field.endswith("FormData[@FormOID='F.RAND']: IT.RAND.arm")
    assert "randomized once" in problem.message
    assert get_radiotherapy_plan(edc, STAT, "CN02-0001").courses[1]["version"] == 2


def test_an_inconsistent_randomization_is_refused_with_the_item(edc, exported, target_url):
    target = open_edc(edc_settings(target_url))
    try:
        text = exported.decode().replace(
            'ItemOID="IT.RAND.covariates.metastatic_organ_count" Value="2"',
            'ItemOID="IT.RAND.covariates.metastatic_organ_count" Value="1"',
        )
        report = import_odm(target, IMPORTER, text.encode())
        assert not report.is_written and list_subjects(target, STAT)[1] == 0
        (problem,) = report.problems
        assert (problem.code, problem.field.split(": ")[-1]) == ("ODM-013", "IT.RAND.strata")
        assert "metastatic_organs': '1'" in problem.message
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


def test_a_randomization_time_without_its_offset_is_refused(exported):
    from oligotrial.exports.odm import parse_odm_clinical_data

    text = exported.decode()
    start = text.index('ItemOID="IT.RAND.randomized_at" Value="') + len(
        'ItemOID="IT.RAND.randomized_at" Value="'
    )
    moment = text[start : text.index('"', start)]
    with pytest.raises(InputError) as caught:
        parse_odm_clinical_data(text.replace(moment, moment.removesuffix("Z")).encode())
    (problem,) = caught.value.problems
    assert (problem.code, problem.value) == ("ODM-005", moment.removesuffix("Z"))
    assert problem.field.endswith("ItemData[@ItemOID='IT.RAND.randomized_at']")
    assert "UTC offset" in problem.message
    records = parse_odm_clinical_data(exported)
    (rand,) = [r for r in records if r.form_code == "RAND"]
    assert rand.values["randomized_at"] == moment and rand.values["strata"]["metastatic_organs"] == "2-3"
    assert rand.audit is not None and rand.audit["user"] == "USR.inv.cn02"


def test_the_export_spells_its_namespace_the_same_after_other_libraries_changed_the_prefixes(
    edc, exported, monkeypatch
):
    """After WeasyPrint's import (the empty prefix given to the empty namespace) and odmlib's (ODM as ``odm``),
    the ODM export still writes ``<ODM xmlns=...>`` with unprefixed elements: a text search for
    ``<ItemData ItemOID=...`` finds what it found before (a test importing an edited export failed that way)."""
    monkeypatch.setattr(ET, "_namespace_map", dict(ET._namespace_map))  # the process-wide map, restored after
    ET.register_namespace("", "")
    ET.register_namespace("odm", "http://www.cdisc.org/ns/odm/v1.3")
    again = export_odm(edc, STAT)
    assert again.splitlines()[1].startswith(b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"')
    assert (
        again.count(b'<ItemData ItemOID="IT.AE.grade"')
        == exported.count(b'<ItemData ItemOID="IT.AE.grade"')
        > 0
    )
