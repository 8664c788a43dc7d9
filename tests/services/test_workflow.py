"""The workflow use cases on SQLite and PostgreSQL: screening and enrollment, dosing windows, tumour
assessments with the RECIST engine and its baseline queries, adverse events, follow-up, calendar."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, NotFoundError
from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, ctcae, data, queries
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from oligotrial.services.audit_trail import verify_audit
from oligotrial.services.workflow.assessments import RULE as RECIST_RULE
from oligotrial.services.workflow.forms import FORM_MODELS, WORKFLOW_FORMS, AdverseEventForm
from oligotrial.store.tables import AuditEntry
from workflow_data import adverse_event, assessment, eligible, induction_dose, maintenance_dose

CTCAE_WORKBOOK = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ctcae" / "CTCAE_v5.0_2017-11-27.xlsx"
)

D0 = date(2024, 1, 8)
INV = "investigator.cn01"


def _enrolled(world, site="CN01"):
    actor = world.actor(f"investigator.{site.lower()}")
    subject = data.create_subject(world.edc, actor, site)
    wf.save_eligibility(world.edc, actor, subject.code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(world.edc, actor, subject.code, D0 - timedelta(days=3))
    return subject.code


def test_eligibility_is_evaluated_live_and_enrollment_needs_eligible(world):
    edc, inv = world.edc, world.actor(INV)
    subject = data.create_subject(edc, inv, "CN01")
    assert subject.code == "CN01-0001"
    view = wf.save_eligibility(edc, inv, subject.code, eligible(D0, ecog=2, consent_date=None))
    assert view.derived["verdict"] == "ineligible"
    by_id = {c["id"]: c for c in view.derived["criteria"]}
    assert by_id["INC-08"]["status"] == "not met" and by_id["INC-08"]["value"] == 2
    assert by_id["INC-16"]["status"] == "missing"
    assert by_id["INC-12"]["value"] == {"value": 12.0, "uln": 21.0, "multiple": 0.5714}
    with pytest.raises(ConflictError) as refused:
        wf.enroll_subject(edc, inv, subject.code, D0)
    assert {p.field for p in refused.value.problems} == {"ELIG.ecog", "ELIG.consent_date"}
    assert data.get_subject(edc, inv, subject.code).status == "screening"
    fixed = wf.save_eligibility(
        edc, inv, subject.code, eligible(D0), base_version=1, reason="ECOG re-assessed"
    )
    assert fixed.derived["verdict"] == "eligible" and fixed.form.version == 2
    with pytest.raises(ConflictError, match="ENROLL-002"):
        wf.enroll_subject(edc, inv, subject.code, D0 - timedelta(days=5))
    enrolled = wf.enroll_subject(edc, inv, subject.code, D0)
    assert enrolled.form.form_code == "ENROLL" and enrolled.form.values["enrollment_date"] == D0.isoformat()
    assert data.get_subject(edc, inv, subject.code).status == "enrolled"
    with pytest.raises(ConflictError, match="WF-001"):
        wf.enroll_subject(edc, inv, subject.code, D0)
    assert verify_audit(edc).entries > 0


def test_screen_failure_records_the_failed_criteria(world):
    edc, inv = world.edc, world.actor(INV)
    code = data.create_subject(edc, inv, "CN01").code
    lesions = [{"organ": o} for o in ("liver", "lung", "bone", "brain")]
    wf.save_eligibility(edc, inv, code, eligible(D0, metastatic_lesions=lesions))
    failed = wf.record_screen_failure(edc, inv, code, D0)
    assert failed.form.values["criteria_not_met"] == ["INC-04"]
    assert data.get_subject(edc, inv, code).status == "screen_failed"
    other = data.create_subject(edc, inv, "CN01").code
    with pytest.raises(InputError, match="SCRFAIL-101"):
        wf.record_screen_failure(edc, inv, other, D0)
    assert wf.record_screen_failure(edc, inv, other, D0, "consent withdrawn").form.values["reason"]


def test_bad_eligibility_items_name_the_path_and_store_nothing(world):
    edc, inv = world.edc, world.actor(INV)
    code = data.create_subject(edc, inv, "CN01").code
    with pytest.raises(InputError) as bad:
        wf.save_eligibility(edc, inv, code, eligible(D0, ecog=9, metastatic_lesions=[{"organ": "moon"}]))
    assert {(p.code, p.field) for p in bad.value.problems} == {("ELIG-101", "values.ecog")}
    with pytest.raises(InputError) as organ:
        wf.save_eligibility(edc, inv, code, eligible(D0, metastatic_lesions=[{"organ": "moon"}]))
    assert organ.value.problems[0].field == "values.metastatic_lesions[0].organ"
    assert data.list_forms(edc, inv, code) == []


def test_induction_dosing_against_the_windows(world):
    edc, inv = world.edc, world.actor(INV)
    code = _enrolled(world)
    first = wf.record_dose(edc, inv, code, induction_dose(1, D0))
    assert first.form.event_code == "C1D1" and first.derived["window"] is None
    with pytest.raises(ConflictError, match="DOSE-104"):
        wf.record_dose(edc, inv, code, induction_dose(1, D0))
    on_time = wf.record_dose(edc, inv, code, induction_dose(2, D0 + timedelta(days=23)))
    assert on_time.derived["window"]["status"] == "on time" and on_time.open_queries == []
    late = wf.record_dose(edc, inv, code, induction_dose(3, D0 + timedelta(days=49)))
    assert late.derived["window"] == {
        "target": "2024-02-19",
        "earliest": "2024-02-16",
        "latest": "2024-02-22",
        "status": "late",
        "days_outside": 4,
    }
    assert [q["check_code"] for q in late.open_queries] == ["DOSE-201"]
    explained = wf.record_dose(
        edc,
        inv,
        code,
        induction_dose(3, D0 + timedelta(days=49), delayed=True, delay_reason="neutropenia grade 3"),
        event_code="C3D1",
        base_version=1,
        reason="delay documented",
    )
    assert explained.open_queries == []
    with pytest.raises(InputError) as reduced:
        wf.record_dose(
            edc,
            inv,
            code,
            induction_dose(
                4, D0 + timedelta(days=70), agents=[{"agent": "paclitaxel", "dose": 200, "planned_dose": 300}]
            ),
        )
    assert reduced.value.problems[0].field == "values.agents[0]"
    with pytest.raises(InputError) as wrong:
        wf.record_dose(edc, inv, code, induction_dose(4, D0 + timedelta(days=70), regimen="FOLFOX"))
    assert (wrong.value.problems[0].code, wrong.value.problems[0].field) == ("DOSE-102", "values.regimen")


def test_recist_on_save_and_baseline_edit_checks(world):
    edc, inv, mon = world.edc, world.actor(INV), world.actor("monitor.cn01")
    code = _enrolled(world)
    baseline = assessment(D0 - timedelta(days=10), liver=30, lung=20)
    baseline["lesions"].append({"lesion_id": "T3", "role": "target", "organ": "liver", "diameter_mm": 8})
    baseline["lesions"].append({"lesion_id": "T4", "role": "target", "organ": "liver", "diameter_mm": 14})
    saved = wf.record_tumour_assessment(edc, inv, code, baseline)
    assert saved.derived["response"] is None
    assert {(q["check_code"], q["item"]) for q in saved.open_queries} >= {("RECIST-010", "lesions.T4")}
    listed = queries.list_queries(edc, mon, subject_code=code, state="open")[0]
    assert {q.check_code for q in listed} >= {"RECIST-010"}
    corrected = assessment(D0 - timedelta(days=10), liver=30, lung=20)
    fixed = wf.record_tumour_assessment(
        edc,
        inv,
        code,
        corrected,
        event_code=saved.form.event_code,
        base_version=1,
        reason="T3, T4 not targets",
    )
    assert fixed.open_queries == [] and fixed.derived == {
        "baseline": True,
        "SOD": 50.0,
        "rule": fixed.derived["rule"],
    }
    week6 = wf.record_tumour_assessment(
        edc, inv, code, assessment(D0 + timedelta(days=42), liver=18, lung=15)
    )
    assert {k: week6.derived[k] for k in ("SOD", "BLSOD", "NADIR", "TRGRESP", "NTRGRESP", "OVRLRESP")} == {
        "SOD": 33.0,
        "BLSOD": 50.0,
        "NADIR": 50.0,
        "TRGRESP": "PR",
        "NTRGRESP": "NON-CR/NON-PD",
        "OVRLRESP": "PR",
    }
    assert week6.derived["PCHGBL"] == pytest.approx(-34.0)
    week12 = wf.record_tumour_assessment(
        edc, inv, code, assessment(D0 + timedelta(days=84), 18, 15, new=True)
    )
    assert week12.derived["OVRLRESP"] == "PD" and week12.derived["NEWLIND"] == "Y"
    listed_views = wf.list_tumour_assessments(edc, inv, code)
    assert [v.derived.get("OVRLRESP") for v in listed_views] == [None, "PR", "PD"]
    with pytest.raises(InputError, match="TUMOUR-103"):
        bad = assessment(D0 + timedelta(days=126), 18, 15)
        bad["lesions"][0]["organ"] = "lung"
        wf.record_tumour_assessment(edc, inv, code, bad)


def test_adverse_events_terms_grades_and_reporting(world):
    edc, inv = world.edc, world.actor(INV)
    code = _enrolled(world)
    before = verify_audit(edc).entries
    for values, rule in [
        (adverse_event(D0, grade=6), "AE-103"),
        (adverse_event(D0, term="Feeling blue"), "AE-104"),
        (adverse_event(D0, serious=True), "AE-101"),
        (adverse_event(D0, relation={"aspirin": "related"}), "AE-102"),
    ]:
        with pytest.raises(InputError) as bad:
            wf.record_adverse_event(edc, inv, code, values)
        assert bad.value.problems[0].code == rule
    assert verify_audit(edc).entries == before
    sae = wf.record_adverse_event(
        edc,
        inv,
        code,
        adverse_event(
            D0 + timedelta(days=30),
            term="Pneumonitis",
            serious=True,
            seriousness_criteria=["hospitalization"],
            relation={"camrelizumab": "related", "radiotherapy": "possibly related"},
            site_aware_at=(D0 + timedelta(days=31)).isoformat(),
        ),
    )
    assert sae.form.event_code == "AE.001"
    assert sae.derived["expedited_report_due"] == "2024-02-09T00:00:00+00:00"
    assert sae.derived["expected"] is True
    second = wf.record_adverse_event(edc, inv, code, adverse_event(D0 + timedelta(days=40)))
    assert second.form.event_code == "AE.002" and second.derived["expedited_report_due"] is None


def test_end_of_treatment_follow_up_death_disposition(world):
    edc, inv = world.edc, world.actor(INV)
    code = _enrolled(world)
    wf.record_dose(edc, inv, code, induction_dose(1, D0))
    with pytest.raises(InputError, match="EOT-102"):
        wf.record_end_of_treatment(
            edc, inv, code, {"date": "2024-02-01", "last_dose_date": "2024-01-08", "reason": "boredom"}
        )
    eot = wf.record_end_of_treatment(
        edc,
        inv,
        code,
        {"date": "2024-02-01", "last_dose_date": "2024-01-08", "reason": "intolerable toxicity"},
    )
    assert eot.form.event_code == "EOT"
    with pytest.raises(ConflictError, match="DOSE-103"):
        wf.record_dose(edc, inv, code, induction_dose(2, D0 + timedelta(days=28)))
    ae = wf.record_adverse_event(edc, inv, code, adverse_event(D0 + timedelta(days=20)))
    assert ae.derived["follow_up_until"] == "2024-04-07"  # grade 3: 90 days after the last dose
    assert (
        wf.record_new_therapy(
            edc, inv, code, {"therapy": "nivolumab", "start_date": "2024-03-01"}
        ).form.event_code
        == "NT.001"
    )
    assert (
        wf.record_follow_up(edc, inv, code, {"date": "2024-04-25", "status": "alive"}).form.event_code
        == "FU.001"
    )
    wf.record_death(edc, inv, code, {"date": "2024-06-01", "cause": "disease progression"})
    with pytest.raises(ConflictError, match="DEATH-105"):
        wf.record_death(edc, inv, code, {"date": "2024-06-02", "cause": "other"})
    done = wf.record_disposition(edc, inv, code, {"date": "2024-06-01", "reason": "DEATH"})
    assert done.derived == {"subject_status": "died"}
    assert data.get_subject(edc, inv, code).status == "died"


def test_calendar_and_schedule_exceptions(world):
    edc, inv = world.edc, world.actor(INV)
    code = _enrolled(world)
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=10), 30, 20))
    wf.record_dose(edc, inv, code, induction_dose(1, D0))
    wf.record_dose(edc, inv, code, induction_dose(2, D0 + timedelta(days=27)))
    calendar = wf.get_subject_calendar(edc, inv, code, as_of=D0 + timedelta(days=60))
    status = {item.id: (item.status, item.days_outside) for item in calendar.items}
    assert status["BASELINE"] == ("on time", 0)
    assert status["C2D1"] == ("late", 3)
    assert status["ASMT01"] == ("missed", 11)
    assert status["C3D1"] == ("missed", 15)
    exceptions = wf.list_schedule_exceptions(edc, inv, D0 + timedelta(days=60))
    assert [(e["subject"], e["id"], e["status"]) for e in exceptions] == [
        (code, "C2D1", "late"),
        (code, "ASMT01", "missed"),
        (code, "C3D1", "missed"),
    ]
    other_site = world.actor("investigator.cn02")
    assert wf.list_schedule_exceptions(edc, other_site, D0 + timedelta(days=60)) == []
    with pytest.raises(NotFoundError):
        wf.get_subject_calendar(edc, other_site, code, as_of=D0)
    deviation = wf.record_deviation(
        edc,
        inv,
        code,
        {
            "date": "2024-02-04",
            "category": "visit window",
            "description": "C2D1 3 days late",
            "calendar_event": "C2D1",
        },
    )
    assert deviation.form.event_code == "DEV.001"
    assert [d.form.values["category"] for d in wf.list_deviations(edc, inv, code)] == ["visit window"]


def test_roles_and_sites_apply(world):
    edc = world.edc
    code = _enrolled(world)
    for name in ("monitor.cn01", "datamanager.cn01", "statistician"):
        with pytest.raises(Exception) as denied:
            wf.record_dose(edc, world.actor(name), code, induction_dose(1, D0))
        assert type(denied.value).__name__ == "PermissionDeniedError"
    with pytest.raises(NotFoundError):
        wf.record_dose(edc, world.actor("investigator.cn02"), code, induction_dose(1, D0))
    assert maintenance_dose(1, D0)["phase"] == "maintenance"


def test_a_refusal_comes_before_the_values_are_checked(world):
    """A user who may not enter the subject's data learns nothing from the values they send: the same 403 (or,
    for another site's subject, 404) for bad values as for good ones."""
    edc = world.edc
    code = _enrolled(world)
    bad_dose = {**induction_dose(1, D0), "date": "not a date"}
    bad_eligibility = eligible(D0, ecog=9)
    screening = data.create_subject(edc, world.actor(INV), "CN01").code
    for name in ("monitor.cn01", "datamanager.cn01", "statistician"):
        actor = world.actor(name)
        for use_case, subject, values in (
            (wf.record_dose, code, bad_dose),
            (wf.save_eligibility, screening, bad_eligibility),
        ):
            with pytest.raises(Exception) as denied:
                use_case(edc, actor, subject, values)
            assert type(denied.value).__name__ == "PermissionDeniedError", name
    other_site = world.actor("investigator.cn02")
    with pytest.raises(NotFoundError):
        wf.record_dose(edc, other_site, code, bad_dose)
    with pytest.raises(NotFoundError):
        wf.save_eligibility(edc, other_site, screening, bad_eligibility)
    with pytest.raises(InputError):  # the same values from a user who may enter them
        wf.record_dose(edc, world.actor(INV), code, bad_dose)


def test_adverse_event_terms_and_grades_follow_the_imported_ctcae_workbook(world):
    edc, inv = world.edc, world.actor(INV)
    code = _enrolled(world)
    with pytest.raises(InputError) as refused:  # without a workbook: only the expected toxicities
        wf.record_adverse_event(edc, inv, code, adverse_event(D0, term="Headache", grade=2))
    assert [(p.code, p.field) for p in refused.value.problems] == [("AE-104", "values.term")]
    ctcae.import_ctcae_workbook(edc, Actor.system("test"), CTCAE_WORKBOOK)
    headache = wf.record_adverse_event(edc, inv, code, adverse_event(D0, term="Headache", grade=2))
    assert headache.derived["soc"] == "Nervous system disorders" and not headache.derived["expected"]
    nausea = wf.record_adverse_event(edc, inv, code, adverse_event(D0, term="Nausea", grade=3))
    assert nausea.derived["expected"] and nausea.form.event_code == "AE.002"
    before = verify_audit(edc).entries
    fatal = {"outcome": "fatal", "serious": True, "seriousness_criteria": ["death"]}
    for values, rule, field in [
        (adverse_event(D0, term="Headache-ish", grade=2), "AE-104", "values.term"),
        (adverse_event(D0, term="Headache", grade=5, **fatal), "AE-105", "values.grade"),  # grade 5 is "-"
        (adverse_event(D0, term="Nausea", grade=4), "AE-105", "values.grade"),  # expected, grade 4 is "-"
    ]:
        with pytest.raises(InputError) as bad:
            wf.record_adverse_event(edc, inv, code, values)
        assert [(p.code, p.field) for p in bad.value.problems] == [(rule, field)], values
    assert verify_audit(edc).entries == before  # nothing stored
    # an expected toxicity is accepted even when the loaded workbook lacks it (any grade 1..5)
    protocol = load_protocol()
    extra = protocol.adverse_events.expected_toxicities[0].model_copy(update={"term": "RCCEP"})
    settings = protocol.adverse_events.model_copy(
        update={"expected_toxicities": (*protocol.adverse_events.expected_toxicities, extra)}
    )
    custom = protocol.model_copy(update={"adverse_events": settings})
    with Session(edc.engine) as session:
        form = AdverseEventForm.model_validate(adverse_event(D0, term="RCCEP", grade=4))
        assert wf.check_ae_term(session, form, custom) is None
        with pytest.raises(InputError, match="AE-104"):
            wf.check_ae_term(session, form, protocol)


def test_randomization_reads_the_post_induction_response_and_the_organs_from_the_records(world):
    edc, inv = world.edc, world.actor(INV)
    rnd.generate_randomization_list(edc, world.actor("statistician"), entries_per_stratum=2, seed=5)
    code = data.create_subject(edc, inv, "CN01").code
    one_organ = [{"organ": "liver", "lesion_id": "T1"}, {"organ": "liver", "lesion_id": "T3"}]
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7), metastatic_lesions=one_organ))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=4), 30, 20))
    for cycle in (1, 2, 3):
        wf.record_dose(edc, inv, code, induction_dose(cycle, D0 + timedelta(days=21 * (cycle - 1))))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=42), 18, 15))
    for missing in [
        "induction cycle 4",
        "no tumour assessment on or after the end of induction (2024-04-01)",
    ]:
        before = verify_audit(edc).entries
        with pytest.raises(ConflictError) as refused:
            rnd.randomize_subject(edc, inv, code)
        assert refused.value.code == "RAND-002" and missing in refused.value.problems[0].message
        assert verify_audit(edc).entries == before
        if missing == "induction cycle 4":
            wf.record_dose(edc, inv, code, induction_dose(4, D0 + timedelta(days=63)))
    # the last assessment on or after the end of induction decides: PR, then SD a week later
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=84), 18, 15))
    sd = wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=91), 22, 14))
    assert sd.derived["OVRLRESP"] == "SD"
    view = rnd.randomize_subject(edc, inv, code)
    assert view.strata == {"site": "CN01", "induction_response": "SD", "metastatic_organs": "1"}
    assert view.covariates == {"site": "CN01", "induction_response": "SD", "metastatic_organ_count": 1}
    with Session(edc.engine) as session:
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.table_name == "randomizations")
        ).scalar_one()
    assert json.loads(entry.new_values)["sources"] == {
        "induction_response": f"TUMOUR.2024-04-08 OVRLRESP ({RECIST_RULE})",
        "metastatic_organ_count": "SCREENING ELIG version 1 metastatic_lesions",
    }


def test_workflow_forms_cannot_be_written_through_the_generic_form_save(world):
    edc, inv = world.edc, world.actor(INV)
    code = _enrolled(world)
    assert set(WORKFLOW_FORMS) == {*FORM_MODELS, "ENROLL"}
    before = verify_audit(edc).entries
    for form_code, (use_case, endpoint) in WORKFLOW_FORMS.items():
        for event in ("SCREENING", "X"):
            with pytest.raises(ConflictError) as refused:
                data.save_form(edc, inv, code, event, form_code, {"A": 1}, base_version=1, reason="x")
            (problem,) = refused.value.problems
            assert (problem.code, problem.field) == ("EDC-026", "form_code")
            assert endpoint in problem.message and use_case in problem.message and hasattr(wf, use_case)
    assert verify_audit(edc).entries == before
    assert data.get_form(edc, inv, wf.get_eligibility(edc, inv, code).form.id).version == 1
