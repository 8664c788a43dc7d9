"""Reading the audit trail: one subject's entries across its records, newest first with paging, and the
same site isolation as every other read."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from edc_fixtures import PASSWORD
from oligotrial.errors import NotFoundError
from oligotrial.services import data, queries, signatures
from oligotrial.services import radiotherapy as rt
from oligotrial.services import randomization as rnd
from oligotrial.services.audit_trail import read_audit
from workflow_data import radiotherapy_course

INV, MON = "investigator.cn01", "monitor.cn01"
LIST = "position,arm,site,induction_response,metastatic_organs\n1,experimental,CN01,SD,2-3\n"


def _subject_with_every_kind_of_record(world) -> str:
    """A CN01 subject with a status change, a form and its correction, a query, a signature, a
    randomization, a radiotherapy course and maintenance restart: an audit entry on each table that
    carries a subject."""
    inv = world.actor(INV)
    code = data.create_subject(world.edc, inv, "CN01").code
    data.update_subject_status(world.edc, inv, code, "enrolled", 1, "eligible")
    form = data.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 64, "SEX": "M"})
    data.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 65}, base_version=1, reason="typo")
    queries.raise_query(world.edc, world.actor(MON), form.id, "SEX", "Please confirm against source")
    signatures.sign(world.edc, inv, code, PASSWORD, "approval")
    rnd.upload_randomization_list(world.edc, world.actor("statistician"), LIST)
    rnd.randomize_subject(
        world.edc,
        inv,
        code,
        induction_response="SD",
        metastatic_organ_count=2,
        randomized_at=datetime(2025, 2, 20, 2, tzinfo=UTC),
    )
    rt.record_radiotherapy_course(
        world.edc, inv, code, radiotherapy_course(), chemo_immunotherapy_end=date(2025, 2, 1)
    )
    rt.record_maintenance_restart(world.edc, inv, code, date(2025, 3, 31))
    return code


def test_a_subjects_trail_holds_the_entries_of_all_its_records_and_no_others(world):
    code = _subject_with_every_kind_of_record(world)
    other = data.create_subject(world.edc, world.actor(INV), "CN01").code
    data.save_form(world.edc, world.actor(INV), other, "SCREENING", "DM", {"AGE": 50})
    everything = read_audit(world.edc, world.actor(MON), limit=1000).entries

    trail = read_audit(world.edc, world.actor(MON), subject=code, limit=1000).entries

    assert sorted({e.table for e in trail}) == [
        "data_queries",
        "events",
        "forms",
        "radiotherapy_courses",
        "radiotherapy_plans",
        "randomizations",
        "signatures",
        "subjects",
    ]
    # every entry about the subject (its code in the record or the values), none about the other one
    about = [e for e in everything if code in (e.record_id, (e.new or {}).get("subject"))]
    assert {e.id for e in about} <= {e.id for e in trail}
    assert not any(other in (e.record_id, (e.new or {}).get("subject")) for e in trail)
    forms = {e.record_id for e in trail if e.table == "forms"}
    assert len(forms) == 1 and [e.action for e in trail if e.table == "forms"] == ["create", "update"]
    # chain order unless asked otherwise, as before
    assert [e.id for e in trail] == sorted(e.id for e in trail)


def test_newest_first_pages_back_through_the_trail(world):
    code = _subject_with_every_kind_of_record(world)
    mon = world.actor(MON)
    trail = read_audit(world.edc, mon, subject=code, limit=1000).entries

    pages, before = [], 0
    while before is not None:
        page = read_audit(world.edc, mon, subject=code, before=before, limit=3)
        assert page.next_after is None and len(page.entries) <= 3
        pages.append([e.id for e in page.entries])
        before = page.next_before

    assert [i for ids in pages for i in ids] == [e.id for e in reversed(trail)]
    assert len(pages) == -(-len(trail) // 3)
    newest = read_audit(world.edc, mon, before=0, limit=1).entries[0]
    assert newest.id == max(e.id for e in read_audit(world.edc, mon, limit=1000).entries)


def test_a_subject_the_reader_may_not_see_is_not_found(world):
    code = data.create_subject(world.edc, world.actor(INV), "CN01").code
    with pytest.raises(NotFoundError) as other_site:
        read_audit(world.edc, world.actor("monitor.cn02"), subject=code)
    with pytest.raises(NotFoundError) as unknown:
        read_audit(world.edc, world.actor(MON), subject="CN01-999")
    for error, value in ((other_site, code), (unknown, "CN01-999")):
        (problem,) = error.value.problems
        assert (problem.field, problem.value, problem.message) == ("subject", value, "no such subject")
