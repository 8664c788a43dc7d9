"""Randomization use cases on SQLite and PostgreSQL: allocation from the concealed list, minimization,
idempotent retries, refusals that store nothing, who sees the list, and the audit of every allocation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.api import create_app
from oligotrial.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from oligotrial.exports.sdtm import derive_sdtm
from oligotrial.protocol import load_protocol
from oligotrial.randomization import compute_running_imbalance, parse_stratum_key
from oligotrial.services import data
from oligotrial.services import randomization as rnd
from oligotrial.services import workflow as wf
from oligotrial.services.audit_trail import verify_audit
from oligotrial.store.tables import AuditEntry, RandomizationRecord
from workflow_data import assessment, eligible, induction_dose

INV1, INV2, STAT, MON1 = "investigator.cn01", "investigator.cn02", "statistician", "monitor.cn01"


def enrolled(world, site="CN01"):
    inv = world.actor(f"investigator.{site.lower()}")
    subject = data.create_subject(world.edc, inv, site)
    data.update_subject_status(world.edc, inv, subject.code, "enrolled", 1, "eligible")
    return subject.code


def minimization_protocol():
    base = load_protocol()
    config = base.randomization.model_copy(update={"method": "minimization"})
    return base.model_copy(update={"randomization": config})


def _audit_count(world):
    return verify_audit(world.edc).entries


def test_allocation_takes_the_first_unused_slot_of_the_stratum_and_is_audited(world):
    listing = rnd.generate_randomization_list(
        world.edc, world.actor(STAT), entries_per_stratum=8, seed=20240101
    )
    assert listing.kind == "generated" and listing.seed == 20240101 and listing.entries >= 8 * 8
    code = enrolled(world)
    view = rnd.randomize_subject(
        world.edc, world.actor(INV1), code, induction_response="PR", metastatic_organ_count=2
    )
    assert view.strata == {"site": "CN01", "induction_response": "CR/PR", "metastatic_organs": "2-3"}
    assert view.list_position == 1 and view.sequence == 1 and view.arm in {"control", "experimental"}
    entries, _ = rnd.list_randomization_entries(world.edc, world.actor(STAT), stratum=view.stratum)
    assert entries[0].arm == view.arm and entries[0].subject == code
    assert all(e.subject is None for e in entries[1:])
    with world.edc.engine.connect() as connection:
        entry = connection.execute(select(AuditEntry).where(AuditEntry.table_name == "randomizations")).one()
    new = json.loads(entry.new_values)
    assert new["list_position"] == 1 and new["strata"] == view.strata and new["arm"] == view.arm
    # dated in real time: the allocation's time is the entry's, and nothing says otherwise
    assert new["dating"] == "real time" and entry.reason is None
    assert datetime.fromisoformat(new["randomized_at"]) == view.randomized_at
    assert verify_audit(world.edc).is_intact
    # open label: anyone who may read the subject sees the arm
    assert rnd.get_randomization(world.edc, world.actor(MON1), code).arm == view.arm


def test_generation_is_reproducible_from_the_seed_and_audits_only_the_seed_hash(world):
    a = rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=4, seed=7)
    b = rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=4, seed=7)
    first, _ = rnd.list_randomization_entries(world.edc, world.actor(STAT), limit=10_000)
    by_list = {}
    for e in first:
        by_list.setdefault(e.list_id, []).append((e.stratum, e.arm, e.block_size))
    assert by_list[a.id] == by_list[b.id]  # same seed, same sequence (b extends the strata after a)
    assert b.parameters["first_positions"]  # extended after the first list's last positions
    with world.edc.engine.connect() as connection:
        texts = connection.execute(
            select(AuditEntry.new_values).where(AuditEntry.table_name == "randomization_lists")
        ).scalars()
        assert all('"seed":' not in t and "seed_sha256" in t for t in texts)


def test_retry_returns_the_same_assignment_and_a_second_request_is_refused(world):
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=4, seed=1)
    code = enrolled(world)
    inv = world.actor(INV1)
    first = rnd.randomize_subject(
        world.edc, inv, code, induction_response="SD", metastatic_organ_count=1, request_id="r-1"
    )
    again = rnd.randomize_subject(
        world.edc, inv, code, induction_response="SD", metastatic_organ_count=1, request_id="r-1"
    )
    assert again.is_replay and again.arm == first.arm and again.sequence == first.sequence
    before = _audit_count(world)
    with pytest.raises(ConflictError) as excinfo:
        rnd.randomize_subject(world.edc, inv, code, induction_response="SD", metastatic_organ_count=1)
    assert excinfo.value.code == "RAND-004"
    other = enrolled(world)
    before = _audit_count(world)
    with pytest.raises(ConflictError) as excinfo:
        rnd.randomize_subject(
            world.edc, inv, other, induction_response="SD", metastatic_organ_count=1, request_id="r-1"
        )
    assert excinfo.value.code == "RAND-007" and _audit_count(world) == before


@pytest.mark.parametrize(
    ("response", "organs", "kind", "code"),
    [
        ("PD", 1, ConflictError, "RAND-003"),
        ("NE", 1, ConflictError, "RAND-003"),
        (None, 1, ConflictError, "RAND-002"),
        ("XX", 1, InputError, "RAND-006"),
        ("CR", 4, InputError, "RAND-005"),
        ("CR", None, InputError, "RAND-005"),
    ],
)
def test_ineligible_requests_name_the_rule_and_store_nothing(world, response, organs, kind, code):
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=2, seed=3)
    subject = enrolled(world)
    before = _audit_count(world)
    with pytest.raises(kind) as excinfo:
        rnd.randomize_subject(
            world.edc,
            world.actor(INV1),
            subject,
            induction_response=response,
            metastatic_organ_count=organs,
        )
    assert excinfo.value.code == code
    assert _audit_count(world) == before
    with pytest.raises(NotFoundError):
        rnd.get_randomization(world.edc, world.actor(INV1), subject)


def test_not_enrolled_other_site_and_wrong_role_are_refused(world):
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=2, seed=3)
    screening = data.create_subject(world.edc, world.actor(INV1), "CN01").code
    kwargs = {"induction_response": "CR", "metastatic_organ_count": 1}
    with pytest.raises(ConflictError, match="RAND-001"):
        rnd.randomize_subject(world.edc, world.actor(INV1), screening, **kwargs)
    code = enrolled(world)
    before = _audit_count(world)
    with pytest.raises(NotFoundError) as excinfo:  # another site's subject: as if it did not exist
        rnd.randomize_subject(world.edc, world.actor(INV2), code, **kwargs)
    assert excinfo.value.code == "EDC-020"
    with pytest.raises(PermissionDeniedError):
        rnd.randomize_subject(world.edc, world.actor(MON1), code, **kwargs)
    assert _audit_count(world) == before


def test_exhausted_stratum_and_missing_list(world):
    code = enrolled(world)
    kwargs = {"induction_response": "CR", "metastatic_organ_count": 1}
    with pytest.raises(ConflictError, match="RAND-008"):
        rnd.randomize_subject(world.edc, world.actor(INV1), code, **kwargs)


def test_only_the_statistician_sees_or_changes_the_list(world):
    for user in [INV1, MON1, "datamanager.cn01", "dsmbmember", "admin"]:
        actor = world.actor(user)
        for call in (
            lambda a=actor: rnd.generate_randomization_list(world.edc, a, entries_per_stratum=2),
            lambda a=actor: rnd.list_randomization_entries(world.edc, a),
            lambda a=actor: rnd.list_randomization_lists(world.edc, a),
            lambda a=actor: rnd.upload_randomization_list(world.edc, a, "position,arm\n"),
        ):
            with pytest.raises(PermissionDeniedError) as excinfo:
                call()
            assert excinfo.value.code == "AUTH-110"


def test_upload_validates_arms_strata_and_positions(world):
    stat = world.actor(STAT)
    header = "position,arm,site,induction_response,metastatic_organs\n"
    good = header + "".join(
        f"{i},{arm},CN01,SD,1\n" for i, arm in enumerate(["control", "experimental"] * 2, start=1)
    )
    view = rnd.upload_randomization_list(world.edc, stat, good, file_name="list.csv")
    assert view.kind == "uploaded" and view.entries == 4
    cases = {
        "RAND-021": header + "1,placebo,CN02,SD,1\n",
        "RAND-025": header + "1,control,CN02,PD,1\n",
        "RAND-023": header + "2,control,CN02,SD,1\n",
        "RAND-022": header + "1,control,CN02,SD,1\n1,control,CN02,SD,1\n",
        "RAND-026": header + "x,control,CN02,SD,1\n",
        "RAND-024": "position,arm\n1,control\n",
        "RAND-028": header + "1,control,ZZ99,SD,1\n",
    }
    for code, text in cases.items():
        before = _audit_count(world)
        with pytest.raises(InputError) as excinfo:
            rnd.upload_randomization_list(world.edc, stat, text)
        assert code in {p.code for p in excinfo.value.problems}, (code, excinfo.value)
        assert _audit_count(world) == before
    with pytest.raises(ConflictError, match="RAND-027"):
        rnd.upload_randomization_list(world.edc, stat, good)
    code = enrolled(world)
    got = rnd.randomize_subject(
        world.edc, world.actor(INV1), code, induction_response="SD", metastatic_organ_count=1
    )
    assert got.arm == "control" and got.list_position == 1


def test_minimization_is_reproducible_from_the_stored_stream(world):
    protocol = minimization_protocol()
    stat, inv = world.actor(STAT), world.actor(INV1)
    kwargs = {"induction_response": "CR", "metastatic_organ_count": 1, "protocol": protocol}
    with pytest.raises(ConflictError, match="RAND-009"):
        rnd.randomize_subject(world.edc, inv, enrolled(world), **kwargs)
    stream = rnd.generate_randomization_list(world.edc, stat, seed=99, protocol=protocol)
    assert stream.kind == "minimization" and stream.entries == 0
    with pytest.raises(InputError, match="RAND-030"):
        rnd.upload_randomization_list(world.edc, stat, "position,arm\n", protocol=protocol)
    views = [rnd.randomize_subject(world.edc, inv, enrolled(world), **kwargs) for _ in range(6)]
    arms = [v.arm for v in views]
    assert max(compute_running_imbalance(arms, {"control": 1, "experimental": 1})) <= 2
    with Session(world.edc.engine) as session:
        rows = (
            session.execute(select(RandomizationRecord).order_by(RandomizationRecord.sequence))
            .scalars()
            .all()
        )
    from oligotrial.randomization import (
        add_to_marginals,
        choose_minimization_arm,
        draw_minimization_uniform,
    )

    marginals: dict = {}
    for row in rows:
        if row.method != "minimization":
            continue
        u = draw_minimization_uniform(99, row.list_position)
        assert row.draw == pytest.approx(u)
        decision = choose_minimization_arm(
            marginals,
            row.strata,
            {"control": 1, "experimental": 1},
            probability=0.8,
            imbalance="range",
            u=u,
        )
        assert decision.arm == row.arm
        add_to_marginals(marginals, row.strata, row.arm)


def test_stratum_key_round_trip():
    key = "site=CN01|induction_response=CR/PR|metastatic_organs=2-3"
    assert parse_stratum_key(key)["induction_response"] == "CR/PR"


# -- retrospective dating (randomized_at) --------------------------------------------------------------------

D0 = date(2024, 1, 8)  # first induction dose; enrolled 2024-01-05; post-induction assessment 2024-04-01


def enrolled_with_records(world, site="CN01"):
    """Screened 2024-01-01, enrolled 2024-01-05, baseline 2024-01-04, cycles 1-4 from 2024-01-08 (the last
    2024-03-11, so induction ends 2024-04-01), post-induction assessment 2024-04-01: PR (50 -> 33 mm)."""
    inv = world.actor(f"investigator.{site.lower()}")
    code = data.create_subject(world.edc, inv, site).code
    wf.save_eligibility(world.edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(world.edc, inv, code, D0 - timedelta(days=3))
    wf.record_tumour_assessment(world.edc, inv, code, assessment(D0 - timedelta(days=4), 30, 20))
    for cycle in range(4):
        wf.record_dose(world.edc, inv, code, induction_dose(cycle + 1, D0 + timedelta(days=21 * cycle)))
    wf.record_tumour_assessment(world.edc, inv, code, assessment(D0 + timedelta(days=84), 18, 15))
    return code


def test_a_past_allocation_keeps_its_date_and_the_audit_marks_it_retrospective(world):
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=4, seed=11)
    code = enrolled_with_records(world)
    when = datetime(2024, 4, 1, 9, 30, tzinfo=UTC)  # the day of the post-induction assessment: allowed
    entered_after = datetime.now(UTC)
    view = rnd.randomize_subject(world.edc, world.actor(INV1), code, randomized_at=when)
    assert view.randomized_at == datetime(2024, 4, 1, 9, 30, tzinfo=UTC)
    assert view.strata == {"site": "CN01", "induction_response": "CR/PR", "metastatic_organs": "2-3"}
    stored = rnd.get_randomization(world.edc, world.actor(MON1), code)
    assert stored.randomized_at == datetime(2024, 4, 1, 9, 30, tzinfo=UTC) and stored.arm == view.arm
    (slot,) = [
        e
        for e in rnd.list_randomization_entries(world.edc, world.actor(STAT), stratum=view.stratum)[0]
        if e.subject
    ]
    assert slot.used_at == datetime(2024, 4, 1, 9, 30, tzinfo=UTC)
    with world.edc.engine.connect() as connection:
        entry = connection.execute(select(AuditEntry).where(AuditEntry.table_name == "randomizations")).one()
    new = json.loads(entry.new_values)
    assert new["randomized_at"] == "2024-04-01T09:30:00+00:00" and new["dating"] == "retrospective"
    assert new["sources"]["induction_response"].startswith("TUMOUR.2024-04-01 OVRLRESP")
    assert entry.reason == (
        "retrospective dating: the allocation was decided at 2024-04-01T09:30:00+00:00 and entered now"
    )
    assert entry.at >= entered_after  # the entry itself keeps the real time it was made
    assert verify_audit(world.edc).is_intact


@pytest.mark.parametrize(
    ("randomized_at", "response", "kind", "code", "value"),
    [
        (datetime(2024, 4, 3, 12), "PR", InputError, "RAND-012", "2024-04-03T12:00:00"),
        (
            datetime(2024, 4, 3, 20, tzinfo=timezone(timedelta(hours=8))),
            "PR",
            InputError,
            "RAND-012",
            "2024-04-03T20:00:00+08:00",
        ),
        (date(2024, 4, 3), "PR", InputError, "RAND-012", "datetime.date(2024, 4, 3)"),
        (datetime(2999, 1, 1, tzinfo=UTC), "PR", InputError, "RAND-013", "2999-01-01T00:00:00+00:00"),
        # before the enrollment (2024-01-05), even with the response given: 23:59 on 01-04 at the site
        # (Asia/Shanghai, UTC+8)
        (
            datetime(2024, 1, 4, 15, 59, tzinfo=UTC),
            "PR",
            ConflictError,
            "RAND-014",
            "2024-01-04T15:59:00+00:00",
        ),
        # before the post-induction assessment (2024-04-01) its response is read from
        (
            datetime(2024, 3, 31, 15, 59, tzinfo=UTC),
            None,
            ConflictError,
            "RAND-015",
            "2024-03-31T15:59:00+00:00",
        ),
    ],
)
def test_a_bad_randomization_date_names_the_rule_and_stores_nothing(
    world, randomized_at, response, kind, code, value
):
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=2, seed=5)
    subject = enrolled_with_records(world)
    before = _audit_count(world)
    with pytest.raises(kind) as excinfo:
        rnd.randomize_subject(
            world.edc, world.actor(INV1), subject, induction_response=response, randomized_at=randomized_at
        )
    (problem,) = excinfo.value.problems
    assert (problem.code, problem.field, problem.value) == (code, "randomized_at", value)
    assert _audit_count(world) == before
    with pytest.raises(NotFoundError):
        rnd.get_randomization(world.edc, world.actor(INV1), subject)


def test_the_randomization_date_is_the_site_s_day(world):
    """07:30 on 2024-04-01 at a site in Asia/Shanghai is 23:30 on 03-31 in UTC: the subject was randomized on
    04-01, the day of its post-induction assessment, in the checks, the calendar, the assignment as read and
    the SDTM export alike."""
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=2, seed=5)
    code = enrolled_with_records(world)
    when = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    view = rnd.randomize_subject(world.edc, world.actor(INV1), code, randomized_at=when)  # not RAND-015
    assert (view.randomized_at, view.randomized_on) == (when, date(2024, 4, 1))
    read = rnd.get_randomization(world.edc, world.actor(INV1), code)
    (listed,) = [v for v in rnd.list_randomizations(world.edc, world.actor(STAT)) if v.subject == code]
    assert read.randomized_on == listed.randomized_on == date(2024, 4, 1)
    calendar = wf.get_subject_calendar(world.edc, world.actor(INV1), code, as_of=date(2024, 4, 2))
    (rand,) = [item for item in calendar.items if item.id == "RAND"]
    assert rand.actual == date(2024, 4, 1)
    tables, _ = derive_sdtm(world.edc, world.actor(STAT))
    ds = tables["DS"].filter(pl.col("DSDECOD") == "RANDOMIZED")
    assert ds["DSSTDTC"].to_list() == ["2024-04-01"]


def test_the_http_api_does_not_take_a_randomization_date(world):
    """Only in-process callers date an allocation in the past: the API schema has no such field and a body
    that sends one is refused (422) with nothing stored."""
    rnd.generate_randomization_list(world.edc, world.actor(STAT), entries_per_stratum=2, seed=5)
    code = enrolled_with_records(world)
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as client:
        schema = client.get("/openapi.json").json()["components"]["schemas"]["RandomizeSubject"]
        assert sorted(schema["properties"]) == ["induction_response", "metastatic_organ_count", "request_id"]
        before = _audit_count(world)
        refused = client.post(
            f"/api/v1/subjects/{code}/randomization",
            json={"randomized_at": "2024-04-02T12:00:00Z"},
            headers={"Authorization": f"Bearer {world.tokens[INV1]}"},
        )
        assert refused.status_code == 422, refused.text
        assert "randomized_at" in refused.text
    assert _audit_count(world) == before
    with pytest.raises(NotFoundError):
        rnd.get_randomization(world.edc, world.actor(INV1), code)
