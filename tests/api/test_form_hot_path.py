"""The form save and read routes, which check the bearer token inside the use case's own transaction and
send the use case's view without validating it a second time (issue 6 load work): the same answers, the
same refusals and the same audit trail as every other route."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from oligotrial.api import create_app
from oligotrial.api.deps import in_thread
from oligotrial.errors import AuthenticationError, InputError, NotFoundError, Problem
from oligotrial.services import Actor, admin, data
from oligotrial.services.audit_trail import read_audit, verify_audit
from oligotrial.services.auth import BearerToken, actor_in
from oligotrial.services.views import FormView

SAVE = "/api/v1/subjects/{code}/forms/VISIT1/VITALS"


@pytest.fixture
def client(world):
    app = create_app(world.edc.settings, world.edc)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(world, name):
    return {"Authorization": f"Bearer {world.tokens[name]}"}


@pytest.fixture
def subject(client, world):
    created = client.post(
        "/api/v1/subjects", json={"site": "CN01"}, headers=bearer(world, "investigator.cn01")
    )
    assert created.status_code == 201, created.text
    return created.json()["code"]


def test_save_and_read_answer_the_use_case_views_exactly(client, world, subject):
    headers = bearer(world, "researchcoordinator.cn01")
    first = client.put(
        SAVE.format(code=subject), json={"values": {"WEIGHT": 61, "NOTE": "né"}}, headers=headers
    )
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-content-type-options"] == "nosniff"  # the security headers stay
    saved = FormView.model_validate_json(first.content)
    assert (saved.version, saved.values, saved.subject, saved.site) == (
        1,
        {"WEIGHT": 61, "NOTE": "né"},
        subject,
        "CN01",
    )
    changed = client.put(
        SAVE.format(code=subject),
        json={"values": {"WEIGHT": 62, "NOTE": "né"}, "base_version": 1, "reason": "scale recalibrated"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    read = client.get(f"/api/v1/forms/{saved.id}", headers=headers)
    assert read.status_code == 200
    expected = data.get_form(world.edc, world.actor("researchcoordinator.cn01"), saved.id)
    assert FormView.model_validate_json(read.content) == expected
    assert read.json() == changed.json() == expected.model_dump(mode="json")
    assert expected.version == 2 and expected.values == {"WEIGHT": 62, "NOTE": "né"}


def test_openapi_still_documents_the_form_view_and_the_bearer_scheme(client):
    paths = client.get("/openapi.json").json()["paths"]
    routes = [
        ("/api/v1/subjects/{code}/forms/{event_code}/{form_code}", "put"),
        ("/api/v1/forms/{form_id}", "get"),
    ]
    for path, method in routes:
        operation = paths[path][method]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/FormView"
        }
        assert operation["security"] == [{"OAuth2PasswordBearer": []}]


def test_the_busiest_routes_come_first_and_the_documentation_keeps_its_order_of_tags(client):
    """A request's route is found by trying the routes in order: the form save and read are tried first.
    The documentation lists its tags in their declared order (auth first), every tag used declared."""
    spec = client.get("/openapi.json").json()  # its paths in the order of the application's routes
    assert [(path, sorted(spec["paths"][path])) for path in list(spec["paths"])[:2]] == [
        ("/api/v1/subjects/{code}/forms/{event_code}/{form_code}", ["put"]),
        ("/api/v1/forms/{form_id}", ["get"]),
    ]
    declared = [tag["name"] for tag in spec["tags"]]
    assert declared[:6] == ["auth", "operations", "sites", "users", "subjects", "forms"]
    used = {tag for operations in spec["paths"].values() for op in operations.values() for tag in op["tags"]}
    assert used == set(declared)


@pytest.mark.parametrize("token", ["forged", None, "revoked"])
def test_a_bad_token_is_401_before_any_input_check_and_stores_nothing(client, world, subject, token):
    if token == "revoked":
        assert (
            client.post("/api/v1/auth/logout", headers=bearer(world, "investigator.cn01")).status_code == 204
        )
        headers = bearer(world, "investigator.cn01")
    else:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    before = verify_audit(world.edc).entries
    # an event code the use case refuses (EDC input check): the token is checked first, so 401 and no 422
    r = client.put(
        SAVE.format(code=subject).replace("VISIT1", "bad code!"), json={"values": {"A": 1}}, headers=headers
    )
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert [p["code"] for p in r.json()["error"]["problems"]] == ["AUTH-002"]
    r = client.put(SAVE.format(code=subject), json={"values": {"A": 1}}, headers=headers)
    assert r.status_code == 401
    assert client.get("/api/v1/forms/1", headers=headers).status_code == 401
    # a request FastAPI itself refuses (body or path invalid): still 401 first, as on every other route
    assert client.put(SAVE.format(code=subject), json={"vals": {}}, headers=headers).status_code == 401
    assert client.get("/api/v1/forms/not-a-number", headers=headers).status_code == 401
    assert verify_audit(world.edc).entries == before
    coordinator = world.actor("researchcoordinator.cn01")
    assert data.list_forms(world.edc, coordinator, subject) == []


def test_an_invalid_request_with_a_good_token_is_still_422_with_field_paths(client, world, subject):
    headers = bearer(world, "investigator.cn01")
    r = client.put(SAVE.format(code=subject), json={"vals": {}}, headers=headers)
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["error"]["problems"]} == {"body.values", "body.vals"}
    r = client.get("/api/v1/forms/not-a-number", headers=headers)
    assert r.status_code == 422
    assert [p["field"] for p in r.json()["error"]["problems"]] == ["path.form_id"]


def test_a_disabled_account_or_a_withdrawn_site_takes_effect_on_the_next_request(client, world, subject):
    headers = bearer(world, "researchcoordinator.cn01")
    saved = client.put(SAVE.format(code=subject), json={"values": {"A": 1}}, headers=headers)
    assert saved.status_code == 200
    form_id = saved.json()["id"]
    admin.disable_user(world.edc, Actor.system("test"), "researchcoordinator.cn01", "left the study")
    assert client.get(f"/api/v1/forms/{form_id}", headers=headers).status_code == 401
    change = {"values": {"A": 2}, "base_version": 1, "reason": "typo"}
    assert client.put(SAVE.format(code=subject), json=change, headers=headers).status_code == 401
    # another site's user: the form does not exist for them, and they cannot write it
    other = bearer(world, "researchcoordinator.cn02")
    assert client.get(f"/api/v1/forms/{form_id}", headers=other).status_code == 404
    assert client.put(SAVE.format(code=subject), json=change, headers=other).status_code == 404
    # a monitor reads but does not enter data
    monitor = bearer(world, "monitor.cn01")
    assert client.get(f"/api/v1/forms/{form_id}", headers=monitor).status_code == 200
    assert client.put(SAVE.format(code=subject), json=change, headers=monitor).status_code == 403
    assert data.get_form(world.edc, world.actor("investigator.cn01"), form_id).version == 1


def test_a_save_through_a_bearer_token_is_audited_as_its_user_from_its_source(world):
    edc = world.edc
    investigator = world.actor("investigator.cn01")
    code = data.create_subject(edc, investigator, "CN01").code
    who = BearerToken(world.tokens["researchcoordinator.cn01"], "http:10.1.2.3")
    assert "researchcoordinator" not in repr(who) and world.tokens["researchcoordinator.cn01"] not in repr(
        who
    )
    view = data.save_form(edc, who, code, "VISIT1", "VITALS", {"A": 1})
    view = data.save_form(edc, who, code, "VISIT1", "VITALS", {"A": 2}, base_version=1, reason="typo")
    assert data.get_form(edc, who, view.id) == view
    entries = read_audit(edc, Actor.system("test"), table="forms", record_id=str(view.id)).entries
    assert [(e.actor, e.action, e.source, e.reason) for e in entries] == [
        ("researchcoordinator.cn01", "create", "http:10.1.2.3", None),
        ("researchcoordinator.cn01", "update", "http:10.1.2.3", "typo"),
    ]
    assert entries[1].old == {"version": 1, "values": {"A": 1}}
    assert entries[1].new == {"version": 2, "values": {"A": 2}}
    assert verify_audit(edc).is_intact


def test_actor_in_passes_an_actor_through_and_refuses_a_forged_token(world):
    from oligotrial.services._context import read_transaction

    actor = world.actor("monitor.cn01")
    with read_transaction(world.edc) as session:
        connection = session.connection()
        assert actor_in(connection, actor) == (actor, None)
        checked, read = actor_in(connection, BearerToken(world.tokens["monitor.cn01"], "http:127.0.0.1"))
        assert read is None
        assert (checked.username, checked.source, checked.assignments) == (
            "monitor.cn01",
            "http:127.0.0.1",
            actor.assignments,
        )
        with pytest.raises(AuthenticationError) as refused:
            actor_in(connection, BearerToken("forged", "http:127.0.0.1"))
    assert [p.code for p in refused.value.problems] == ["AUTH-002"]


def test_input_checks_still_apply_after_the_token_check(world):
    who = BearerToken(world.tokens["investigator.cn01"], "test")
    code = data.create_subject(world.edc, world.actor("investigator.cn01"), "CN01").code
    with pytest.raises(InputError) as refused:
        data.save_form(world.edc, who, code, "VISIT1", "VITALS", {"A": 1}, status="final")
    assert [(p.code, p.field, p.value) for p in refused.value.problems] == [("EDC-024", "status", "final")]
    assert data.list_forms(world.edc, world.actor("investigator.cn01"), code) == []


def test_a_server_process_works_on_as_many_requests_at_once_as_its_settings_say(world):
    """FastAPI's thread pool (which runs the use cases of every route but the form save and read, see the
    next test) has ``request_threads`` threads."""
    import anyio.to_thread

    app = create_app(world.edc.settings.model_copy(update={"request_threads": 3}), world.edc)

    @app.get("/test-only/threads")
    async def threads() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    with TestClient(app) as client:
        assert client.get("/test-only/threads").json() == 3


def test_the_busiest_routes_use_cases_run_in_request_threads_with_the_request_s_context(world):
    """``in_thread``: a pool of ``request_threads`` threads per process (three use cases at once here, never
    more), the caller's context variables seen by the use case, its error raised to the caller."""
    edc = dataclasses.replace(
        world.edc, settings=world.edc.settings.model_copy(update={"request_threads": 3})
    )
    request_id: ContextVar[str] = ContextVar("request_id")
    together = threading.Barrier(3, timeout=30)
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def use_case(edc_seen, n):
        assert edc_seen is edc
        with lock:
            running[0] += 1
            running[1] = max(running)
        together.wait()
        with lock:
            running[0] -= 1
        return threading.current_thread().name, request_id.get(), n

    def failing(edc_seen):
        raise NotFoundError(Problem("EDC-020", "form_id", "no such form", value=0))

    async def requests():
        request_id.set("request 7")
        results = await asyncio.gather(*(in_thread(use_case, edc, n) for n in range(9)))
        with pytest.raises(NotFoundError):
            await in_thread(failing, edc)
        return results

    with ThreadPoolExecutor(
        1
    ) as loop_thread:  # a loop of its own: the browser tests' Playwright keeps one running
        results = loop_thread.submit(asyncio.run, requests()).result()
    assert [n for _, _, n in results] == list(range(9))
    assert {seen for _, seen, _ in results} == {"request 7"}
    assert len({name for name, _, _ in results}) == 3 and running[1] == 3
    assert all(name.startswith("oligotrial-request") for name, _, _ in results)


def _statements_of(edc, use_case):
    """The SQL statements ``use_case()`` sends to the database, in order (transaction control left out)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            sent.append(statement)

    event.listen(edc.engine, "before_cursor_execute", record)
    try:
        use_case()
    finally:
        event.remove(edc.engine, "before_cursor_execute", record)
    return sent


def test_a_request_s_token_is_checked_in_the_round_trip_that_reads_its_subject_or_form(world):
    """One statement fewer per save and per read: the token check and the first read go together, with the
    same answers as the two statements (the token's actor; the subject or form, or none)."""
    investigator = world.actor("investigator.cn01")
    code = data.create_subject(world.edc, investigator, "CN01").code
    who = BearerToken(world.tokens["investigator.cn01"], "http:10.0.0.7")
    with_token = _statements_of(
        world.edc, lambda: data.save_form(world.edc, who, code, "VISIT1", "VITALS", {"A": 1})
    )
    with_actor = _statements_of(
        world.edc,
        lambda: data.save_form(
            world.edc, investigator, code, "VISIT1", "VITALS", {"A": 2}, base_version=1, reason="typo"
        ),
    )
    token_reads = [s for s in with_token if "tokens" in s]
    assert len(token_reads) == 1 and "subjects" in token_reads[0]
    assert not any("tokens" in s for s in with_actor)
    form_id = data.list_forms(world.edc, investigator, code)[0].id
    read = _statements_of(world.edc, lambda: data.get_form(world.edc, who, form_id))
    assert len(read) == 1 and "tokens" in read[0] and "forms" in read[0]
    view = data.get_form(world.edc, who, form_id)
    assert (view.version, view.values, view.subject, view.site) == (2, {"A": 2}, code, "CN01")
    sources = [(e.action, e.source) for e in read_audit(world.edc, investigator, table="forms").entries]
    assert sources == [("create", "http:10.0.0.7"), ("update", "test")]


def test_a_change_stores_the_form_and_its_version_in_one_statement_on_postgresql(world):
    """The form's update and its version's insert: one statement (a data-modifying WITH) on PostgreSQL, two on
    SQLite; the stored form, its history and its audit entry are the same."""
    investigator = world.actor("investigator.cn01")
    code = data.create_subject(world.edc, investigator, "CN01").code
    data.save_form(world.edc, investigator, code, "VISIT1", "VITALS", {"A": 1, "B": "x"})
    sent = _statements_of(
        world.edc,
        lambda: data.save_form(
            world.edc,
            investigator,
            code,
            "VISIT1",
            "VITALS",
            {"A": 2, "B": "x"},
            base_version=1,
            reason="typo",
        ),
    )
    writes = [
        s.split(" (", 1)[0].replace("\n", " ") for s in sent if " form" in s and not s.startswith("SELECT")
    ]
    if world.edc.dialect == "postgresql":
        assert len(writes) == 1 and writes[0].startswith("WITH changed_form AS")
        (both,) = (s for s in sent if s.startswith("WITH changed_form"))
        assert "UPDATE forms SET" in both and "INSERT INTO form_versions" in both
    else:
        assert writes == ["UPDATE forms SET version=?, item_values=?, content_hash=?, status=?, updated_at=? "
                          "WHERE forms.id = ?", "INSERT INTO form_versions"]  # fmt: skip
    form = data.list_forms(world.edc, investigator, code)[0]
    assert (form.version, form.values) == (2, {"A": 2, "B": "x"})
    history = data.get_form_history(world.edc, investigator, form.id)
    assert [(v.version, v.values, v.reason) for v in history] == [
        (1, {"A": 1, "B": "x"}, None),
        (2, {"A": 2, "B": "x"}, "typo"),
    ]
    change = read_audit(world.edc, investigator, table="forms").entries[-1]
    assert (change.action, change.reason, change.old, change.new) == (
        "update",
        "typo",
        {"version": 1, "values": {"A": 1}},
        {"version": 2, "values": {"A": 2}},
    )
    assert verify_audit(world.edc).is_intact


@pytest.mark.parametrize("which", ["subject", "form"])
def test_the_joined_read_finds_one_record_whatever_the_user_s_roles_and_hides_other_sites(world, which):
    """A user with roles at two sites gets the record once (the token check has a row per role); a record
    of a site the user does not read is not found (404), and a record that does not exist neither."""
    system = Actor.system("test")
    admin.create_site(world.edc, system, "CN03", "Site CN03")
    admin.assign_role(world.edc, system, "researchcoordinator.cn01", "research_coordinator", "CN03")
    admin.assign_role(world.edc, system, "researchcoordinator.cn01", "monitor", None)
    admin.assign_role(world.edc, system, "investigator.cn02", "investigator", "CN03")
    who = BearerToken(world.tokens["researchcoordinator.cn01"], "test")
    codes = {
        site: data.create_subject(world.edc, world.actor(f"investigator.{site.lower()}"), site).code
        for site in ("CN01", "CN02")
    }
    for site, code in codes.items():
        data.save_form(world.edc, world.actor(f"investigator.{site.lower()}"), code, "V1", "F1", {"A": site})
    forms = {
        site: data.list_forms(world.edc, world.actor("statistician"), code)[0].id
        for site, code in codes.items()
    }
    other_sites = BearerToken(world.tokens["investigator.cn02"], "test")  # reads CN02 and CN03, not CN01
    if which == "subject":
        saved = data.save_form(world.edc, who, codes["CN01"], "V2", "F1", {"A": 3})
        assert (saved.subject, saved.site, saved.version) == (codes["CN01"], "CN01", 1)
        for code in (codes["CN01"], "NOSUCH-01"):
            with pytest.raises(NotFoundError) as missing:
                data.save_form(world.edc, other_sites, code, "V2", "F1", {"A": 4})
            assert [(p.code, p.field, p.value) for p in missing.value.problems] == [
                ("EDC-020", "subject", code)
            ]
    else:
        view = data.get_form(world.edc, who, forms["CN01"])
        assert (view.subject, view.values) == (codes["CN01"], {"A": "CN01"})
        for form_id in (forms["CN01"], 10**9):
            with pytest.raises(NotFoundError) as missing:
                data.get_form(world.edc, other_sites, form_id)
            assert [(p.code, p.field, p.value) for p in missing.value.problems] == [
                ("EDC-020", "form_id", form_id)
            ]
