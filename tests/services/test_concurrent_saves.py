"""Form saves under concurrency (the writer gate and the chain append of issue 6's load goal), on SQLite and
PostgreSQL: every acknowledged save stored and audited once, the chain unbroken, fair bounded waiting, and
token checks that still see revocations and role changes at once."""

from __future__ import annotations

import threading

import pytest

from edc_fixtures import held_elsewhere
from oligotrial.errors import AuthenticationError, ConflictError, NotFoundError, ServiceUnavailableError
from oligotrial.services import Actor, Role, admin, auth, data, open_edc, queries, read_transaction
from oligotrial.services.audit_trail import read_audit, verify_audit
from oligotrial.store.engine import writer_gate

CRC = "researchcoordinator.cn01"
THREADS, SAVES = 6, 8


def test_concurrent_saves_are_all_stored_and_audited_once_in_an_unbroken_chain(world):
    crc = world.actor(CRC)
    codes = [data.create_subject(world.edc, crc, "CN01").code for _ in range(THREADS)]
    before = verify_audit(world.edc).head_seq
    errors: list[BaseException] = []
    last: dict[str, int] = {}

    def client(code: str) -> None:
        try:
            version = None
            for n in range(SAVES):
                view = data.save_form(
                    world.edc,
                    crc,
                    code,
                    "BASELINE",
                    "VITALS",
                    {"WEIGHT": 60 + n, "NOTE": f"entry {n}"},
                    base_version=version,
                    reason=None if version is None else "correction",
                )
                version = view.version
            last[code] = version
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert last == dict.fromkeys(codes, 8)
    for code in codes:
        (form,) = data.list_forms(world.edc, crc, code)
        history = data.get_form_history(world.edc, crc, form.id)
        assert [v.version for v in history] == [1, 2, 3, 4, 5, 6, 7, 8]
        assert [v.values["WEIGHT"] for v in history] == [60, 61, 62, 63, 64, 65, 66, 67]
    report = verify_audit(world.edc)
    assert report.is_intact, report.to_dict()
    # one "create events" entry per subject, and one entry per form save
    assert report.head_seq - before == THREADS * (1 + SAVES)
    system = Actor.system("test")
    entries = read_audit(world.edc, system, table="forms", after=before, limit=1000).entries
    assert len(entries) == THREADS * SAVES
    assert sorted(e.action for e in entries).count("create") == THREADS


def test_the_saved_view_is_the_stored_form(world):
    crc = world.actor(CRC)
    code = data.create_subject(world.edc, crc, "CN01").code
    first = data.save_form(world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": 70})
    assert first.model_dump() == data.get_form(world.edc, crc, first.id).model_dump()
    second = data.save_form(
        world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": 71}, base_version=1, reason="typo"
    )
    assert second.version == 2
    assert second.model_dump() == data.get_form(world.edc, crc, first.id).model_dump()
    same = data.save_form(
        world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": 71}, base_version=2, reason="again"
    )
    assert same.model_dump() == second.model_dump()  # nothing changed: nothing stored


def test_a_form_of_another_site_reads_as_not_found(world):
    form = data.save_form(
        world.edc,
        world.actor(CRC),
        data.create_subject(world.edc, world.actor(CRC), "CN01").code,
        "BASELINE",
        "VITALS",
        {"WEIGHT": 70},
    )
    with pytest.raises(NotFoundError) as caught:
        data.get_form(world.edc, world.actor("researchcoordinator.cn02"), form.id)
    assert caught.value.problems[0].code == "EDC-020"
    assert caught.value.problems[0].field == "form_id"


def test_a_writer_waiting_beyond_the_busy_timeout_gets_db_001(world):
    crc = world.actor(CRC)
    code = data.create_subject(world.edc, crc, "CN01").code
    world.edc.settings = world.edc.settings.model_copy(update={"db_busy_timeout_seconds": 0.05})
    with held_elsewhere(writer_gate(world.edc.engine)), pytest.raises(ServiceUnavailableError) as caught:
        data.save_form(world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": 70})
    assert caught.value.problems[0].code == "DB-001"
    assert data.list_forms(world.edc, crc, code) == []  # nothing half-written
    view = data.save_form(world.edc, crc, code, "BASELINE", "VITALS", {"WEIGHT": 70})
    assert view.version == 1


def test_token_checks_see_role_changes_and_disabling_at_once(world):
    system = Actor.system("test")
    token = world.tokens[CRC]
    actor = auth.authenticate(world.edc, token, "test")
    assert actor.assignments == frozenset({(Role.RESEARCH_COORDINATOR, actor_site(world, "CN01"))})
    admin.assign_role(world.edc, system, CRC, Role.MONITOR, "CN02")
    actor = auth.authenticate(world.edc, token, "test")
    assert actor.assignments == frozenset(
        {
            (Role.RESEARCH_COORDINATOR, actor_site(world, "CN01")),
            (Role.MONITOR, actor_site(world, "CN02")),
        }
    )
    admin.disable_user(world.edc, system, CRC, "left the study")
    with pytest.raises(AuthenticationError) as caught:
        auth.authenticate(world.edc, token, "test")
    assert caught.value.problems[0].code == "AUTH-002"


def test_a_user_without_roles_authenticates_with_none(world):
    system = Actor.system("test")
    admin.create_user(world.edc, system, "noroles", "site user pass phrase", "No Roles")
    token = auth.login(world.edc, "noroles", "site user pass phrase", "test").access_token
    actor = auth.authenticate(world.edc, token, "http:127.0.0.1")
    assert (actor.username, actor.full_name, actor.assignments, actor.source) == (
        "noroles",
        "No Roles",
        frozenset(),
        "http:127.0.0.1",
    )


def actor_site(world, code: str) -> int:
    with read_transaction(world.edc) as session:
        return admin.get_site_id(session, code)


def test_a_casebook_lock_waits_for_a_query_being_raised_and_then_refuses(world, monkeypatch):
    """A query raised on a subject while its casebook is being locked by another server process (an EDC of
    its own on the same database: its own writer gate): the lock waits for the query's transaction (the
    subject row it shares) and then refuses with EDC-027, rather than count the queries before the new one
    commits and lock a casebook with an open question."""
    inv = world.actor("investigator.cn01")
    code = data.create_subject(world.edc, inv, "CN01").code
    form = data.save_form(world.edc, inv, code, "SCREENING", "DM", {"AGE": 60})
    inside, release = threading.Event(), threading.Event()
    real_write_audit = queries.write_audit

    def paused_write_audit(*args, **kwargs):  # the query's transaction holds the subject row here
        inside.set()
        release.wait(30)
        return real_write_audit(*args, **kwargs)

    monkeypatch.setattr(queries, "write_audit", paused_write_audit)
    outcome: dict[str, object] = {}

    other_server = open_edc(world.edc.settings)

    def lock() -> None:
        try:
            outcome["locked"] = data.lock_casebook(other_server, world.actor("datamanager.cn01"), code)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    raising = threading.Thread(
        target=queries.raise_query, args=(world.edc, world.actor("monitor.cn01"), form.id, "AGE", "Check")
    )
    raising.start()
    assert inside.wait(30)
    locking = threading.Thread(target=lock)
    locking.start()
    locking.join(1.0)  # without the shared row the lock would be done by now, the query not yet counted
    release.set()
    raising.join(30)
    locking.join(30)
    other_server.engine.dispose()
    error = outcome.get("error")
    assert isinstance(error, ConflictError) and error.code == "EDC-027", outcome
    assert not any(f.is_locked for f in data.list_forms(world.edc, inv, code))
