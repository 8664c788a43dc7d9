"""Use cases: reasons for changes, versions, locking, queries, signatures, edit checks, lockout, tokens,
site isolation in lists and counts, init, backup and restore."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from edc_fixtures import (
    ADMIN,
    ADMIN_PASSWORD,
    PASSWORD,
    backup_table,
    edc_settings,
    read_backup_lines,
    write_backup_lines,
)
from oligotrial.errors import (
    AuditChainError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
)
from oligotrial.protocol import load_protocol
from oligotrial.services import (
    auth,
    backup_database,
    data,
    init_database,
    open_edc,
    queries,
    reports,
    restore_database,
    signatures,
)
from oligotrial.services.audit_trail import read_audit, verify_audit
from oligotrial.settings import Settings, check_settings

INV, CRC, MON, DM = "investigator.cn01", "researchcoordinator.cn01", "monitor.cn01", "datamanager.cn01"


def _form(world, subject=None, values=None):
    inv = world.actor(INV)
    subject = subject or data.create_subject(world.edc, inv, "CN01").code
    return data.save_form(world.edc, inv, subject, "SCREENING", "DM", values or {"AGE": 64, "SEX": "M"})


def test_change_after_first_entry_needs_reason_and_current_version(world):
    inv = world.actor(INV)
    form = _form(world)
    assert form.version == 1
    with pytest.raises(InputError) as excinfo:
        data.save_form(
            world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 65, "SEX": "M"}, base_version=1
        )
    assert excinfo.value.code == "EDC-010"
    with pytest.raises(ConflictError):
        data.save_form(
            world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 65}, base_version=0, reason="x"
        )
    changed = data.save_form(
        world.edc,
        inv,
        form.subject,
        "SCREENING",
        "DM",
        {"AGE": 65, "SEX": "M"},
        base_version=1,
        reason="typo",
    )
    assert changed.version == 2
    history = data.get_form_history(world.edc, inv, form.id)
    assert [(h.version, h.reason, h.saved_by) for h in history] == [(1, None, INV), (2, "typo", INV)]
    entry = read_audit(world.edc, inv, table="forms", record_id=str(form.id)).entries[-1]
    assert entry.old == {"version": 1, "values": {"AGE": 64}} and entry.new == {
        "version": 2,
        "values": {"AGE": 65},
    }
    assert entry.reason == "typo" and entry.actor == INV
    # identical values store nothing and audit nothing
    n = verify_audit(world.edc).entries
    same = data.save_form(
        world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 65, "SEX": "M"}, base_version=2
    )
    assert same.version == 2 and verify_audit(world.edc).entries == n


def test_locking_by_data_manager(world):
    form = _form(world)
    dm, inv = world.actor(DM), world.actor(INV)
    with pytest.raises(PermissionDeniedError):
        data.lock_form(world.edc, inv, form.id)
    assert data.lock_form(world.edc, dm, form.id).is_locked
    with pytest.raises(ConflictError) as excinfo:
        data.save_form(
            world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 1}, base_version=1, reason="x"
        )
    assert excinfo.value.code == "EDC-025"
    with pytest.raises(InputError):
        data.unlock_form(world.edc, dm, form.id, "")
    assert not data.unlock_form(world.edc, dm, form.id, "correction requested").is_locked


def test_a_casebook_is_locked_whole_once_its_queries_are_closed(world):
    """The data manager locks every form of a subject at once: refused while a query is open or answered
    (nothing locked), then each form locked and audited on its own; unlocking needs a reason, recorded on
    each form's entry; site staff may not, another site's data manager does not see the subject."""
    dm, inv = world.actor(DM), world.actor(INV)
    first = _form(world)
    code = first.subject
    second = data.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 60}, event_date=date(2024, 3, 1))
    query = queries.raise_query(world.edc, world.actor(MON), first.id, "AGE", "Please confirm")
    queries.answer_query(world.edc, world.actor(CRC), query.id, "Confirmed")
    entries = verify_audit(world.edc).entries
    with pytest.raises(ConflictError) as pending:
        data.lock_casebook(world.edc, dm, code)
    (problem,) = pending.value.problems
    assert (problem.code, problem.field, problem.value) == ("EDC-027", "queries", 1)
    assert not any(f.is_locked for f in data.list_forms(world.edc, dm, code))
    assert verify_audit(world.edc).entries == entries
    queries.close_query(world.edc, world.actor(MON), query.id, "Thanks")
    with pytest.raises(PermissionDeniedError):
        data.lock_casebook(world.edc, inv, code)
    with pytest.raises(NotFoundError):
        data.lock_casebook(world.edc, world.actor("datamanager.cn02"), code)

    locked = data.lock_casebook(world.edc, dm, code)

    # in the order of the trial: the undated screening form, then by date
    assert [(f.id, f.is_locked) for f in locked] == [(first.id, True), (second.id, True)]
    trail = read_audit(world.edc, dm, subject=code, before=0, limit=2).entries
    assert {(e.record_id, e.action, e.new["is_locked"]) for e in trail} == {
        (str(first.id), "update", True),
        (str(second.id), "update", True),
    }
    with pytest.raises(ConflictError) as refused:
        data.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 61}, base_version=1, reason="x")
    assert refused.value.code == "EDC-025"
    entries = verify_audit(world.edc).entries
    data.lock_casebook(world.edc, dm, code)  # already locked: nothing to audit
    assert verify_audit(world.edc).entries == entries
    with pytest.raises(InputError) as no_reason:
        data.unlock_casebook(world.edc, dm, code, " ")
    assert no_reason.value.problems[0].field == "reason"
    data.unlock_form(world.edc, dm, second.id, "one form first")
    unlocked = data.unlock_casebook(world.edc, dm, code, "late laboratory results")
    assert not any(f.is_locked for f in unlocked)
    last = read_audit(world.edc, dm, subject=code, before=0, limit=1).entries[0]
    assert (last.record_id, last.new, last.reason) == (
        str(first.id),
        {"is_locked": False},
        "late laboratory results",
    )
    assert verify_audit(world.edc).is_intact


def test_query_lifecycle_history_and_counts(world):
    form = _form(world)
    mon, inv, crc = world.actor(MON), world.actor(INV), world.actor(CRC)
    query = queries.raise_query(world.edc, mon, form.id, "AGE", "Please confirm age against source")
    assert query.state == "open"
    with pytest.raises(PermissionDeniedError):
        queries.raise_query(world.edc, crc, form.id, "AGE", "x")
    with pytest.raises(PermissionDeniedError):
        queries.close_query(world.edc, inv, query.id, "x")
    answered = queries.answer_query(world.edc, crc, query.id, "Confirmed: 64")
    assert answered.state == "answered"
    with pytest.raises(ConflictError):
        queries.answer_query(world.edc, inv, query.id, "again")
    closed = queries.close_query(world.edc, mon, query.id, "Thanks")
    assert [m.action for m in closed.messages] == ["raise", "answer", "close"]
    assert queries.reopen_query(world.edc, mon, query.id, "Source differs").state == "open"
    counts = {c.site: (c.open, c.answered, c.closed) for c in queries.count_queries(world.edc, mon)}
    assert counts == {"CN01": (1, 0, 0)}
    other = {c.site: c for c in queries.count_queries(world.edc, world.actor("monitor.cn02"))}
    assert set(other) == {"CN02"} and other["CN02"].open == 0
    assert queries.list_queries(world.edc, world.actor("monitor.cn02"))[1] == 0
    with pytest.raises(NotFoundError):
        queries.get_query(world.edc, world.actor("monitor.cn02"), query.id)


def test_edit_checks_open_and_close_their_queries(world):
    def age_check(event_code, form_code, values):
        age = values.get("AGE")
        return [] if age is None or 18 <= age <= 120 else [Problem("CHK-AGE", "AGE", "age must be 18-120")]

    world.edc.edit_checks = {"DM": age_check}
    inv = world.actor(INV)
    form = _form(world, values={"AGE": 12})
    found = queries.list_queries(world.edc, inv)[0]
    assert [(q.item, q.origin, q.check_code, q.state) for q in found] == [
        ("AGE", "edit_check", "CHK-AGE", "open")
    ]
    data.save_form(world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 13}, base_version=1, reason="fix")
    assert queries.list_queries(world.edc, inv, state="open")[1] == 1  # still one, not a duplicate
    data.save_form(world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 64}, base_version=2, reason="fix")
    assert queries.list_queries(world.edc, inv, state="open")[1] == 0
    assert queries.list_queries(world.edc, inv, state="closed")[1] == 1


def test_signature_binds_versions_and_is_invalidated_by_a_change(world):
    inv, crc = world.actor(INV), world.actor(CRC)
    form = _form(world)
    with pytest.raises(AuthenticationError):
        signatures.sign(world.edc, inv, form.subject, "wrong password!!", "approval")
    with pytest.raises(PermissionDeniedError):
        signatures.sign(world.edc, crc, form.subject, PASSWORD, "approval")
    with pytest.raises(InputError):
        signatures.sign(world.edc, inv, form.subject, PASSWORD, "because")
    casebook = signatures.sign(world.edc, inv, form.subject, PASSWORD, "approval")
    on_form = signatures.sign(world.edc, inv, form.subject, PASSWORD, "review", form_id=form.id)
    assert casebook.status == on_form.status == "valid"
    assert {(r.record, r.version) for r in casebook.records} == {("subject", 1), ("form", 1)}
    assert casebook.signer_name == "investigator CN01" and casebook.meaning_text.startswith("I approve")
    data.save_form(world.edc, inv, form.subject, "FOLLOWUP", "VS", {"WEIGHT": 70})
    listed = {s.id: s for s in signatures.list_signatures(world.edc, inv, form.subject)}
    assert listed[casebook.id].status == "invalidated" and listed[on_form.id].status == "valid"
    data.save_form(
        world.edc, inv, form.subject, "SCREENING", "DM", {"AGE": 65}, base_version=1, reason="typo"
    )
    listed = {s.id: s for s in signatures.list_signatures(world.edc, inv, form.subject)}
    assert listed[on_form.id].status == "invalidated" and listed[on_form.id].changed_records == [
        f"form {form.id}"
    ]


def test_site_isolation_in_lists_counts_and_reads(world):
    inv1, inv2 = world.actor(INV), world.actor("investigator.cn02")
    mine = data.create_subject(world.edc, inv1, "CN01")
    data.create_subject(world.edc, inv2, "CN02")
    items, total = data.list_subjects(world.edc, inv1)
    assert total == 1 and [s.code for s in items] == [mine.code]
    with pytest.raises(NotFoundError):
        data.get_subject(world.edc, inv2, mine.code)
    with pytest.raises(NotFoundError):
        data.create_subject(world.edc, inv2, "CN01")
    assert data.list_subjects(world.edc, inv1, site_code="CN02")[1] == 0
    assert [r.site for r in reports.enrollment_report(world.edc, inv1)] == ["CN01"]
    dsmb = world.actor("dsmbmember")
    assert {r.site: r.total for r in reports.enrollment_report(world.edc, dsmb)} == {"CN01": 1, "CN02": 1}
    with pytest.raises(PermissionDeniedError):
        data.list_subjects(world.edc, dsmb)
    audit = read_audit(world.edc, inv1, limit=1000).entries
    assert audit and all(e.site == "CN01" for e in audit)


def test_lockout_after_repeated_failures_and_token_checks(edc):
    edc.settings = edc.settings.model_copy(update={"lockout_threshold": 3})
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            auth.login(edc, ADMIN, "wrong password 123", "test")
    with pytest.raises(AuthenticationError):
        auth.login(edc, ADMIN, ADMIN_PASSWORD, "test")  # locked now, same answer
    actions = [e.action for e in read_audit(edc, _system(), table="users").entries]
    assert actions.count("login_failed") == 3 and "account_locked" in actions


class _HasherWith:
    """The EDC's password hasher with ``verify`` wrapped (argon2's hasher has slots: no attribute patching)."""

    def __init__(self, inner, verify):
        self._inner, self._verify = inner, verify

    def verify(self, stored_hash, password):
        return self._verify(self._inner.verify, stored_hash, password)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_login_checks_the_password_outside_the_write_transaction(edc, monkeypatch):
    """A burst of logins must not hold every other write behind argon2: while one login's password is being
    checked, another use case writes (with a short lock wait, so a held lock would refuse it with DB-001)."""
    from oligotrial.services import admin

    edc.settings = edc.settings.model_copy(update={"db_busy_timeout_seconds": 2.0})
    checking, release = threading.Event(), threading.Event()

    def held_verify(real, stored_hash, password):
        checking.set()
        assert release.wait(60)
        return real(stored_hash, password)

    monkeypatch.setattr(edc, "hasher", _HasherWith(edc.hasher, held_verify))
    issued = []
    login = threading.Thread(target=lambda: issued.append(auth.login(edc, ADMIN, ADMIN_PASSWORD, "test")))
    login.start()
    try:
        assert checking.wait(60)
        site = admin.create_site(edc, _system(), "CN77", "Written while a login checks its password")
    finally:
        release.set()
        login.join(60)
    assert site.code == "CN77"
    assert auth.authenticate(edc, issued[0].access_token, "test").username == ADMIN


def test_login_refuses_when_the_password_changed_while_it_was_checked(edc, monkeypatch):
    from sqlalchemy import text

    def verify_then_change(real, stored_hash, password):
        ok = real(stored_hash, password)
        with edc.engine.begin() as connection:  # another process changes the password meanwhile
            connection.execute(
                text("UPDATE users SET password_hash = 'changed' WHERE username = :u"), {"u": ADMIN}
            )
        return ok

    monkeypatch.setattr(edc, "hasher", _HasherWith(edc.hasher, verify_then_change))
    with pytest.raises(AuthenticationError):
        auth.login(edc, ADMIN, ADMIN_PASSWORD, "test")


def _system():
    from oligotrial.services import Actor

    return Actor.system("test")


def test_tokens_expire_and_are_revoked(edc):
    issued = auth.login(edc, ADMIN, ADMIN_PASSWORD, "test")
    actor = auth.authenticate(edc, issued.access_token, "test")
    assert actor.username == ADMIN
    auth.logout(edc, issued.access_token, actor)
    with pytest.raises(AuthenticationError):
        auth.authenticate(edc, issued.access_token, "test")
    from sqlalchemy import text

    issued = auth.login(edc, ADMIN, ADMIN_PASSWORD, "test")
    with edc.engine.begin() as connection:
        connection.execute(text("UPDATE tokens SET expires_at = created_at"))
    with pytest.raises(AuthenticationError):
        auth.authenticate(edc, issued.access_token, "test")


def test_password_policy(edc):
    from oligotrial.services import admin

    with pytest.raises(InputError) as excinfo:
        admin.create_user(edc, _system(), "jdoe", "short", "J Doe")
    assert excinfo.value.code == "AUTH-020" and "short" not in str(excinfo.value)
    with pytest.raises(InputError):
        admin.create_user(edc, _system(), "jdoe", "jdoe-is-my-password", "J Doe")


def test_settings_refuse_default_secrets_outside_development():
    with pytest.raises(ConfigurationError) as excinfo:
        check_settings(Settings(env="production", secret_key="changeme"))
    assert excinfo.value.problems[0].field == "OLIGOTRIAL_SECRET_KEY"
    with pytest.raises(ConfigurationError):
        check_settings(Settings(env="production"))
    assert check_settings(Settings(env="development")).secret_key
    assert check_settings(Settings(env="production", secret_key="k" * 40)).secret_key == "k" * 40


def test_init_is_idempotent_and_refuses_another_protocol(empty_database_url):
    settings = edc_settings(empty_database_url)
    protocol = load_protocol()
    first = init_database(settings, protocol, ADMIN, ADMIN_PASSWORD)
    assert first["admin_created"] and first["schema_before"] is None
    again = init_database(settings, protocol, ADMIN, ADMIN_PASSWORD)
    assert not again["admin_created"] and again["schema_before"] == again["schema"]
    other = protocol.model_copy(
        update={"protocol": protocol.protocol.model_copy(update={"id": "OTHER-TRIAL"})}
    )
    with pytest.raises(ConfigurationError) as excinfo:
        init_database(settings, other, ADMIN, ADMIN_PASSWORD)
    assert excinfo.value.code == "CONF-010"


def test_backup_restore_round_trip_and_tampered_backup_refused(world, tmp_path, request, backend):
    form = _form(world)
    signatures.sign(world.edc, world.actor(INV), form.subject, PASSWORD, "approval")
    path = tmp_path / "backup.json.gz"
    result = backup_database(world.edc, path)
    assert result["audit_entries"] == verify_audit(world.edc).entries
    target = request.getfixturevalue("empty_database_url")
    restored = restore_database(edc_settings(target), path)
    assert restored["audit_entries_verified"] == result["audit_entries"]
    edc2 = open_edc(edc_settings(target))
    assert verify_audit(edc2).is_intact
    assert data.get_form(edc2, world.actor(INV), form.id).values == {"AGE": 64, "SEX": "M"}
    new = data.create_subject(edc2, world.actor(INV), "CN01")  # sequences continue after restore
    assert new.code == "CN01-0002"
    with pytest.raises(ConflictError):
        restore_database(edc_settings(target), path)
    edc2.engine.dispose()
    lines = read_backup_lines(path)
    entries, columns = backup_table(lines, "audit_log")
    entries[3][columns.index("reason")] = "rewritten"
    bad = tmp_path / "bad.json.gz"
    write_backup_lines(bad, lines)
    if backend == "sqlite":
        target2 = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        target2 = request.getfixturevalue("postgres_server").new_database()
    with pytest.raises(AuditChainError) as excinfo:
        restore_database(edc_settings(target2), bad)
    assert excinfo.value.problems[0].field == "audit_log[4]"


def test_subject_status_change_and_item_validation(world):
    inv = world.actor(INV)
    subject = data.create_subject(world.edc, inv, "CN01")
    with pytest.raises(InputError):
        data.update_subject_status(world.edc, inv, subject.code, "enrolled", 1, None)
    updated = data.update_subject_status(
        world.edc, inv, subject.code, "enrolled", 1, "consented and eligible"
    )
    assert (updated.status, updated.version) == ("enrolled", 2)
    with pytest.raises(InputError) as excinfo:
        data.save_form(world.edc, inv, subject.code, "SCREENING", "DM", {"1bad": 1, "X": float("nan")})
    assert {p.field for p in excinfo.value.problems} == {"values.1bad", "values.X"}
    form = data.save_form(
        world.edc, inv, subject.code, "SCREENING", "DM", {"A": 1}, event_date=date(2024, 2, 29)
    )
    assert form.event_date == date(2024, 2, 29)


def test_a_change_of_the_event_date_alone_is_a_new_version_with_the_event_audited(world):
    """The form change's plain statements (no ORM unit of work) store the event's new date, audit it with
    its reason, and give the saved form and a later read the same view."""
    inv = world.actor("investigator.cn01")
    code = data.create_subject(world.edc, inv, "CN01").code
    first = data.save_form(world.edc, inv, code, "V1", "VITALS", {"W": 60}, event_date=date(2024, 3, 1))
    with pytest.raises(InputError) as refused:
        data.save_form(
            world.edc, inv, code, "V1", "VITALS", {"W": 60}, event_date=date(2024, 3, 2), base_version=1
        )
    assert refused.value.code == "EDC-010"  # a change needs a reason, the date's too
    moved = data.save_form(
        world.edc,
        inv,
        code,
        "V1",
        "VITALS",
        {"W": 60},
        event_date=date(2024, 3, 2),
        base_version=1,
        reason="visit date mistyped",
    )
    assert (moved.version, moved.event_date, moved.values) == (2, date(2024, 3, 2), {"W": 60})
    assert data.get_form(world.edc, inv, first.id) == moved
    event_entry = read_audit(world.edc, inv, table="events").entries[-1]
    assert (event_entry.action, event_entry.old, event_entry.new, event_entry.reason) == (
        "update",
        {"event_date": "2024-03-01"},
        {"event_date": "2024-03-02"},
        "visit date mistyped",
    )
    form_entry = read_audit(world.edc, inv, table="forms", record_id=str(first.id)).entries[-1]
    assert form_entry.old == {"version": 1, "values": {}} and form_entry.new == {"version": 2, "values": {}}
    # the same values and date again: nothing stored, nothing audited
    again = data.save_form(
        world.edc, inv, code, "V1", "VITALS", {"W": 60}, event_date=date(2024, 3, 2), base_version=2
    )
    assert again == moved
    assert read_audit(world.edc, inv, table="events").entries[-1] == event_entry
    assert verify_audit(world.edc).is_intact


def test_a_subjects_forms_are_listed_in_the_order_of_the_trial(world):
    """Undated events first (screening), then by event date whatever the event codes' alphabetical order."""
    inv = world.actor(INV)
    code = _form(world).subject
    for event, day in (("V2", date(2024, 2, 1)), ("A1", date(2024, 3, 1)), ("C1", date(2024, 1, 15))):
        data.save_form(world.edc, inv, code, event, "VITALS", {"W": 60}, event_date=day)
    listed = [(f.event_code, f.event_date) for f in data.list_forms(world.edc, inv, code)]
    assert listed == [
        ("SCREENING", None),
        ("C1", date(2024, 1, 15)),
        ("V2", date(2024, 2, 1)),
        ("A1", date(2024, 3, 1)),
    ]


def test_casebook_progress_counts_each_subjects_review(world):
    """Per subject: forms, those verified at their current version (a change since does not count), those
    locked, and the queries open or answered (closed ones do not count); a subject with no form counts
    zeros; a site user sees only their site's subjects."""
    inv, mon, dm = world.actor(INV), world.actor(MON), world.actor(DM)
    first = _form(world)
    code = first.subject
    second = data.save_form(world.edc, inv, code, "C1D1", "VITALS", {"W": 60}, event_date=date(2024, 3, 1))
    third = data.save_form(world.edc, inv, code, "C1D1", "LABS", {"ANC": 2}, event_date=date(2024, 3, 1))
    for form in (first, second, third):
        data.verify_form(world.edc, mon, form.id, 1)
    data.save_form(world.edc, inv, code, "C1D1", "LABS", {"ANC": 3}, base_version=1, reason="typo")
    data.lock_form(world.edc, dm, second.id)
    for item in ("AGE", "SEX", "W"):
        query = queries.raise_query(world.edc, mon, first.id, item, "Please confirm")
    queries.close_query(world.edc, mon, query.id, "Resolved")
    empty = data.create_subject(world.edc, inv, "CN01").code
    data.create_subject(world.edc, world.actor("investigator.cn02"), "CN02")

    progress = {p.subject: p for p in data.list_casebook_progress(world.edc, mon)}

    assert set(progress) == {code, empty}
    assert (progress[code].forms, progress[code].verified, progress[code].locked) == (3, 2, 1)
    assert progress[code].pending_queries == 2 and progress[code].site == "CN01"
    assert (progress[empty].forms, progress[empty].verified, progress[empty].pending_queries) == (0, 0, 0)
    assert data.list_casebook_progress(world.edc, mon, site_code="CN02") == []
