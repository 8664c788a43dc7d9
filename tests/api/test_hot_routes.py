"""The form save and read answered by :mod:`oligotrial.api._hot_routes` are the answers of the FastAPI routes:
the same requests sent to the application with and without it get the same status, body and headers, and
change the same records with the same audit entries; anything out of the ordinary is left to FastAPI."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from oligotrial.api import _routes as fastapi_routes
from oligotrial.api import create_app
from oligotrial.api._hot_routes import HotRoutes
from oligotrial.services import data
from oligotrial.services.audit_trail import read_audit, verify_audit

SAVE = "/api/v1/subjects/{code}/forms/{event}/VITALS"


def _clients(world):
    fast = create_app(world.edc.settings, world.edc)
    plain = create_app(world.edc.settings, world.edc)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not HotRoutes]
    assert len(plain.user_middleware) == len(fast.user_middleware) - 1
    return (
        TestClient(fast, raise_server_exceptions=False),
        TestClient(plain, raise_server_exceptions=False),
    )


@pytest.fixture
def clients(world):
    fast, plain = _clients(world)
    with fast, plain:
        yield fast, plain


@pytest.fixture
def route_calls(monkeypatch):
    """How many requests reached the FastAPI routes' use cases (the hot routes call the use case directly)."""
    calls: list[str] = []
    original = fastapi_routes.in_thread

    async def counting(function, *args, **kwargs):
        calls.append(function.__name__)
        return await original(function, *args, **kwargs)

    monkeypatch.setattr(fastapi_routes, "in_thread", counting)
    return calls


@pytest.fixture
def subjects(world):
    investigator = world.actor("investigator.cn01")
    own = data.create_subject(world.edc, investigator, "CN01").code
    other = data.create_subject(world.edc, world.actor("investigator.cn02"), "CN02").code
    first = data.save_form(world.edc, investigator, own, "VISIT1", "VITALS", {"WEIGHT": 61})
    theirs = data.save_form(world.edc, world.actor("investigator.cn02"), other, "VISIT1", "VITALS", {"A": 1})
    return own, other, first.id, theirs.id


def _auth(world, name="researchcoordinator.cn01"):
    return f"Bearer {world.tokens[name]}"


def _answer(response):
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status_code, response.content, headers


def _refusals(world, own, other, form_id, theirs):
    """Requests that store nothing, all refused but one read: (method, path, headers, body)."""
    good = _auth(world)
    json_type = "application/json"
    change = json.dumps({"values": {"WEIGHT": 62}, "base_version": 1, "reason": "scale"}).encode()
    no_reason = b'{"values": {"WEIGHT": 63}, "base_version": 1}'
    save = SAVE.format(code=own, event="VISIT1")
    return [
        # tokens: unknown, revoked-looking, absent, another scheme, odd spacing, lower-case scheme, two headers
        ("PUT", save, [("authorization", "Bearer forged"), ("content-type", json_type)], change),
        ("PUT", save, [("content-type", json_type)], change),
        ("PUT", save, [("authorization", "Basic abc"), ("content-type", json_type)], change),
        ("PUT", save, [("authorization", good.replace(" ", "  ")), ("content-type", json_type)], no_reason),
        ("PUT", save, [("authorization", good.lower()), ("content-type", json_type)], b"{}"),
        (
            "PUT",
            save,
            [("authorization", good), ("authorization", "Bearer x"), ("content-type", json_type)],
            b"{",
        ),
        ("GET", f"/api/v1/forms/{form_id}", [("authorization", "Bearer forged")], b""),
        ("GET", f"/api/v1/forms/{form_id}", [], b""),
        # bodies: not JSON, not an object, unknown and missing fields, wrong types, too long, NaN, empty
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b"{not json"),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b"[1, 2]"),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b'{"vals": {}}'),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b'{"values": {"A": [1]}}'),
        (
            "PUT",
            save,
            [("authorization", good), ("content-type", json_type)],
            b'{"values": {}, "status": "x"}',
        ),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b'{"values": {"A": NaN}}'),
        (
            "PUT",
            save,
            [("authorization", good), ("content-type", json_type)],
            b'{"values": {}, "event_date": "2025-02-30"}',
        ),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b""),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], b"x" * 2_000_000),
        # content types FastAPI reads as JSON or not
        ("PUT", save, [("authorization", good), ("content-type", "application/json; charset=utf-8")], b"{"),
        ("PUT", save, [("authorization", good), ("content-type", "text/plain")], change),
        ("PUT", save, [("authorization", good)], b"{}"),
        # the use case's refusals: stale base version, no reason, a bad code, a workflow form, other sites
        (
            "PUT",
            save,
            [("authorization", good), ("content-type", json_type)],
            change.replace(b'"base_version": 1', b'"base_version": 7'),
        ),
        ("PUT", save, [("authorization", good), ("content-type", json_type)], no_reason),
        (
            "PUT",
            SAVE.format(code=own, event="bad code!"),
            [("authorization", good), ("content-type", json_type)],
            change,
        ),
        (
            "PUT",
            save.replace("VITALS", "ELIG"),
            [("authorization", good), ("content-type", json_type)],
            change,
        ),
        (
            "PUT",
            SAVE.format(code=other, event="VISIT1"),
            [("authorization", good), ("content-type", json_type)],
            change,
        ),
        (
            "PUT",
            SAVE.format(code="NOPE-999", event="VISIT1"),
            [("authorization", good), ("content-type", json_type)],
            change,
        ),
        ("PUT", save, [("authorization", _auth(world, "monitor.cn01")), ("content-type", json_type)], change),
        ("GET", f"/api/v1/forms/{theirs}", [("authorization", good)], b""),
        ("GET", "/api/v1/forms/987654", [("authorization", good)], b""),
        ("GET", "/api/v1/forms/0", [("authorization", good)], b""),
        ("GET", "/api/v1/forms/01", [("authorization", good)], b""),  # FastAPI reads form 1
        ("GET", "/api/v1/forms/2147483648", [("authorization", good)], b""),
        ("GET", "/api/v1/forms/not-a-number", [("authorization", good)], b""),
        ("GET", f"/api/v1/forms/{form_id}", [("authorization", _auth(world, "dsmbmember"))], b""),
        # the same paths with another method
        ("POST", save, [("authorization", good), ("content-type", json_type)], change),
        ("DELETE", f"/api/v1/forms/{form_id}", [("authorization", good)], b""),
    ]


def test_every_refusal_is_the_fastapi_route_s_own_answer_and_stores_nothing(world, clients, subjects):
    fast, plain = clients
    own, other, form_id, theirs = subjects
    before = verify_audit(world.edc).entries
    cases = _refusals(world, own, other, form_id, theirs)
    for method, path, headers, body in cases:
        answers = [
            _answer(client.request(method, path, headers=headers, content=body)) for client in (fast, plain)
        ]
        assert answers[0] == answers[1], (method, path, headers, body[:40])
        assert answers[0][0] >= 400 or (method, path) == ("GET", "/api/v1/forms/01"), answers[0]
    assert verify_audit(world.edc).entries == before
    investigator = world.actor("investigator.cn01")
    assert data.get_form(world.edc, investigator, form_id).version == 1


def test_saves_and_reads_either_way_change_and_audit_the_same(world, clients, subjects, route_calls):
    """Alternately through the hot routes and the FastAPI routes: every answer is the form as stored, and the
    audit trail records each change the same way (who, what, why, from where)."""
    fast, plain = clients
    own, _, form_id, _ = subjects
    headers = {"Authorization": _auth(world), "Content-Type": "application/json"}
    save = SAVE.format(code=own, event="VISIT1")
    steps = [
        (fast, {"values": {"WEIGHT": 62, "NOTE": "né"}, "base_version": 1, "reason": "scale"}),
        (plain, {"values": {"WEIGHT": 63, "NOTE": "né"}, "base_version": 2, "reason": "recheck"}),
        (fast, {"values": {"WEIGHT": 63, "NOTE": "né"}, "base_version": 3, "reason": "same values"}),
        (plain, {"values": {"WEIGHT": 63, "NOTE": "né"}, "base_version": 3, "reason": "same values"}),
        (fast, {"values": {"WEIGHT": 64}, "base_version": 3, "reason": "x", "status": "incomplete"}),
        (plain, {"values": {"WEIGHT": 65}, "base_version": 4, "reason": "y", "event_date": "2026-01-05"}),
        (
            fast,
            {
                "values": {"WEIGHT": 66.5, "OK": True, "NONE": None},
                "base_version": 5,
                "reason": "z",
                "event_date": "2026-01-06",
            },
        ),
    ]
    investigator = world.actor("investigator.cn01")
    for client, body in steps:
        saved = client.put(save, content=json.dumps(body).encode(), headers=headers)
        assert saved.status_code == 200, saved.text
        view = data.get_form(world.edc, investigator, form_id)
        assert saved.json() == view.model_dump(mode="json")
        for reader in (fast, plain):
            read = reader.get(f"/api/v1/forms/{form_id}?ignored=1", headers={"Authorization": _auth(world)})
            assert (read.status_code, read.json()) == (200, saved.json())
            assert read.headers["x-content-type-options"] == "nosniff"
            assert read.headers["content-security-policy"].startswith("default-src 'none'")
    expected_calls = []
    for client, _ in steps:
        expected_calls += ["save_form", "get_form"] if client is plain else ["get_form"]
    assert route_calls == expected_calls
    assert data.get_form(world.edc, investigator, form_id).version == 6
    entries = read_audit(world.edc, investigator, table="forms", record_id=str(form_id)).entries
    assert [(e.actor, e.action, e.reason, e.source) for e in entries] == [
        ("investigator.cn01", "create", None, "test"),
        *[
            ("researchcoordinator.cn01", "update", reason, "http:testclient")
            for reason in ("scale", "recheck", "x", "y", "z")
        ],
    ]
    assert entries[1].new == {"version": 2, "values": {"WEIGHT": 62, "NOTE": "né"}}
    assert verify_audit(world.edc).is_intact


def test_a_first_entry_through_the_hot_route_creates_the_form(world, clients, route_calls):
    fast, _ = clients
    code = data.create_subject(world.edc, world.actor("investigator.cn01"), "CN01").code
    r = fast.put(
        SAVE.format(code=code, event="VISIT2"),
        content=b'{"values": {"A": 1}}',
        headers={"Authorization": _auth(world), "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["values"], r.json()["event_code"]) == (1, {"A": 1}, "VISIT2")
    assert route_calls == []


def test_a_client_gone_before_its_body_arrives_stores_nothing(world, subjects):
    own, _, form_id, _ = subjects
    app = create_app(world.edc.settings, world.edc)
    before = verify_audit(world.edc).entries
    sent: list[dict] = []
    messages = [
        {"type": "http.request", "body": b'{"values": {"WEIGHT"', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": SAVE.format(code=own, event="VISIT1"),
        "raw_path": b"",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", _auth(world).encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    with ThreadPoolExecutor(1) as loop_thread:  # a loop of its own: the browser tests' Playwright keeps one
        loop_thread.submit(asyncio.run, app(scope, receive, send)).result()
    assert sent == []
    assert verify_audit(world.edc).entries == before
    assert data.get_form(world.edc, world.actor("investigator.cn01"), form_id).version == 1
