"""Schemathesis over the OpenAPI schema: every operation, authenticated as each role, positive and negative
generated requests, in-process through the ASGI transport. Zero 5xx and zero schema violations (undocumented
status code or content type, a body or header that does not match its documented schema, invalid input that
is accepted), and at least 5,000 requests on SQLite; a shorter run on PostgreSQL for its own failure modes
(NUL characters, integer ranges).

Path parameters are generated, and half of the positive cases get real ones (subjects, forms, queries,
users, events of both sites) so that the requests reach the services rather than stopping at "not found".
The run is deterministic (a fixed seed per operation), and makes no assertion on time. For a deeper run,
multiply the number of generated cases: ``OLIGOTRIAL_FUZZ_SCALE=10 pytest tests/reliability/test_api_fuzz.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from edc_fixtures import ADMIN, ADMIN_PASSWORD, PASSWORD
from oligotrial.api import create_app
from oligotrial.services import data, queries
from oligotrial.services.audit_trail import verify_audit
from oligotrial.services.auth import login
from oligotrial.services.workflow import save_eligibility
from workflow_data import eligible

INV, CRC, MON, DM = "investigator.cn01", "researchcoordinator.cn01", "monitor.cn01", "datamanager.cn01"
STAT, DSMB = "statistician", "dsmbmember"
USERS = [INV, CRC, MON, DM, STAT, DSMB, ADMIN]
POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [*POSITIVE_CHECKS, negative_data_rejection]
MIN_REQUESTS = 5000
SCALE = int(os.environ.get("OLIGOTRIAL_FUZZ_SCALE", "1"))
EXPECTED_401 = {"POST /api/v1/auth/token", "POST /api/v1/auth/password"}  # wrong user name or password


@dataclass
class Run:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def fail(self, user: str, label: str, kind: str, detail: str) -> None:
        self.failures.setdefault((user, label, kind), detail[:1500])


def _known_records(world) -> dict[str, list[Any]]:
    """Real values for each path parameter name, from both sites."""
    edc = world.edc
    known: dict[str, list[Any]] = {
        "code": [],
        "form_id": [],
        "query_id": [],
        "event_code": ["SCREENING"],
        "form_code": ["DM", "VITALS"],
        # never a fuzzing identity: the administrator may disable the user or revoke its roles
        "username": ["investigator.cn02", "monitor.cn02"],
        "assignment_id": [1, 2, 3, 9],
        "term": ["Nausea", "Anemia", "Fatigue"],
    }
    for site in ("CN01", "CN02"):
        inv, mon = world.actor(f"investigator.{site.lower()}"), world.actor(f"monitor.{site.lower()}")
        screened = data.create_subject(edc, inv, site)
        save_eligibility(edc, inv, screened.code, eligible(date(2024, 1, 2)))
        subject = data.create_subject(edc, inv, site)
        form = data.save_form(edc, inv, subject.code, "SCREENING", "DM", {"AGE": 64})
        query = queries.raise_query(edc, mon, form.id, "AGE", "check")
        answered = queries.raise_query(edc, mon, form.id, "SEX", "missing")
        queries.answer_query(edc, inv, answered.id, "male")
        known["code"] += [screened.code, subject.code]
        known["form_id"].append(form.id)
        known["query_id"] += [query.id, answered.id]
    return known


def _with_real_path(case, known: dict[str, list[Any]], choice: int, use: bool):
    if use and case.path_parameters:
        for name in case.path_parameters:
            values = known.get(name)
            if values:
                case.path_parameters[name] = values[choice % len(values)]
    return case


def _strategy(operation, mode: GenerationMode, known: dict[str, list[Any]]):
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.NEGATIVE:
        return strategy
    return st.builds(_with_real_path, strategy, st.just(known), st.integers(0, 1000), st.booleans())


def _is_negatable(operation) -> bool:
    """Negative generation needs something to break: a body or a query parameter (a string in the path
    is always valid)."""
    definition = operation.definition.raw
    return "requestBody" in definition or any(
        p.get("in") == "query" for p in definition.get("parameters", [])
    )


def _fuzz(app, world, examples: int) -> Run:
    known = _known_records(world)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 70, "the schema lost operations"
    run = Run()
    with asgi.get_client(app) as client:
        for operation in operations:
            modes = [GenerationMode.POSITIVE]
            if _is_negatable(operation):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                _run_operation(run, client, world, operation, mode, known, examples)
    return run


def _run_operation(run, client, world, operation, mode, known, examples) -> None:
    """``examples`` generated cases of one operation, each sent as every role in turn."""
    label = operation.label
    checks = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else POSITIVE_CHECKS
    key = int.from_bytes(hashlib.sha256(f"{label} {mode.value}".encode()).digest()[:8], "big")

    @seed(key)
    @settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, known))
    def one(case) -> None:
        for user in USERS:
            _send(run, client, world, user, case, checks, mode)

    with contextlib.suppress(
        Unsatisfiable
    ):  # nothing to generate in this mode (no invalid form of the input)
        one()


def _send(run, client, world, user, case, checks, mode) -> None:
    label = case.operation.label
    # Logging out revokes the token it is sent with: give it a token of its own.
    token = _fresh_token(world, user) if label == "POST /api/v1/auth/logout" else world.tokens[user]
    headers = {"Authorization": f"Bearer {token}"}
    run.requests += 1
    try:
        response = case.call(session=client, headers=headers)
    except Exception as exc:  # the application raised: the client would have had a 500
        run.statuses[500] += 1
        run.fail(user, label, f"5xx {type(exc).__name__}", f"{exc!r}\n{case.as_curl_command()}")
        return
    run.statuses[response.status_code] += 1
    if response.status_code == 401 and label not in EXPECTED_401:
        run.fail(user, label, "401", f"the role's token stopped working: {response.text[:300]}")
    try:
        case.validate_response(response, checks=checks, headers=headers)
    except BaseException as exc:  # schemathesis raises a FailureGroup (a BaseExceptionGroup)
        if not isinstance(exc, Exception | BaseExceptionGroup):
            raise
        run.fail(user, label, f"{mode.value} {response.status_code}", str(exc))


def _fresh_token(world, user: str) -> str:
    password = PASSWORD if user != ADMIN else ADMIN_PASSWORD
    return login(world.edc, user, password, "fuzz").access_token


def _report(run: Run) -> str:
    lines = [f"{len(run.failures)} failure(s) in {run.requests} requests; statuses {dict(run.statuses)}"]
    for (user, label, kind), detail in sorted(run.failures.items()):
        lines.append(f"--- {user} {label} [{kind}]\n{detail}")
    return "\n".join(lines)


@pytest.fixture
def fuzz_app(world):
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="schemathesis")
    return create_app(world.edc.settings, world.edc)


@pytest.mark.parametrize(
    ("backend", "examples", "minimum"),
    [("sqlite", 7, MIN_REQUESTS), ("postgresql", 2, 1000)],
    indirect=["backend"],
)
def test_schemathesis_every_endpoint_every_role(fuzz_app, world, examples, minimum):
    run = _fuzz(fuzz_app, world, examples * SCALE)
    print(_report(run))
    assert not run.failures, _report(run)
    assert run.requests >= minimum, _report(run)
    assert not [s for s in run.statuses if s >= 500], _report(run)
    assert verify_audit(world.edc).is_intact
