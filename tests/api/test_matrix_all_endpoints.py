"""Role x endpoint x site for EVERY route of the API (issue 12 item 5, completing issue 6's matrix).

``test_every_api_route_has_a_matrix_entry`` enumerates the application's OpenAPI operations and fails for
any operation that no matrix covers: the entries below, plus ``test_matrix.ENDPOINTS`` and
``test_randomization_matrix.ENDPOINTS`` (run by their own tests), so a new endpoint cannot be forgotten.

For every entry here, every role, a record of the user's own site and one of another site:

- an allowed call succeeds (2xx);
- a denied call is a 403 or 404, writes nothing (the audit trail, where every write lands, is unchanged)
  and, where the user may not read the other site, is identical (status, codes, fields, messages) to the
  answer for a record that does not exist;
- no answer to a site user, allowed or denied, names another site's codes, names or values (the other
  site's identifiers, marked ``CN02``, never appear once the identifiers the request itself sent are
  removed).

Scopes: ``site`` routes name a record (subject, user, site) of the own or the other site; ``list`` routes
are called unfiltered and filtered to the other site; ``self`` routes act on the caller's own account (run
on a fresh account with the caller's roles, as they revoke or change it); ``public`` routes need no token.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.test_matrix import ENDPOINTS as PLATFORM_ENDPOINTS
from api.test_randomization_matrix import ENDPOINTS as RANDOMIZATION_ENDPOINTS
from edc_fixtures import ADMIN, PASSWORD
from oligotrial.api import create_app
from oligotrial.services import Role, data
from oligotrial.services import admin as admin_services
from oligotrial.services import workflow as wf
from oligotrial.services.auth import login
from oligotrial.store.tables import AuditEntry
from workflow_data import adverse_event, assessment, eligible, induction_dose

INV, CRC, MON, DM = "investigator.cn01", "researchcoordinator.cn01", "monitor.cn01", "datamanager.cn01"
STAT, DSMB = "statistician", "dsmbmember"
USERS = [INV, CRC, MON, DM, STAT, DSMB, ADMIN]
READ = {INV, CRC, MON, DM, STAT}
ENTER = {INV, CRC}
STUDY_WIDE = {STAT, DSMB, ADMIN}
EVERYONE = set(USERS)
AUDIT_READERS = {INV, MON, DM, ADMIN}
OWN, OTHER = "CN01", "CN02"
D0 = date(2024, 1, 8)

# Workflow resources: values of a new record, values of its correction (PUT with base_version 1 + reason).
EOT = {"date": "2024-02-01", "last_dose_date": "2024-01-08", "reason": "intolerable toxicity"}
_changed_dose = induction_dose(1, D0)
_changed_dose["agents"][0] |= {"dose": 290, "reduction_reason": "neutropenia"}
WORKFLOW = {
    "doses": (induction_dose(1, D0), _changed_dose),
    "tumour-assessments": (
        assessment(D0 - timedelta(days=10), 30, 20),
        assessment(D0 - timedelta(days=10), 31, 20),
    ),
    "adverse-events": (
        adverse_event(D0 + timedelta(days=20)),
        adverse_event(D0 + timedelta(days=20), grade=2),
    ),
    "end-of-treatment": (EOT, {**EOT, "date": "2024-02-02"}),
    "follow-up": ({"date": "2024-04-25", "status": "alive"}, {"date": "2024-04-26", "status": "alive"}),
    "death": (
        {"date": "2024-06-01", "cause": "disease progression"},
        {"date": "2024-06-02", "cause": "disease progression"},
    ),
    "new-therapies": (
        {"therapy": "nivolumab", "start_date": "2024-03-01"},
        {"therapy": "nivolumab", "start_date": "2024-03-02"},
    ),
    "disposition": (
        {"date": "2024-06-01", "reason": "COMPLETED"},
        {"date": "2024-06-02", "reason": "COMPLETED"},
    ),
    "deviations": (
        {"date": "2024-01-04", "category": "consent", "description": "late consent"},
        {"date": "2024-01-04", "category": "consent", "description": "late consent, corrected"},
    ),
}
NEW_ONLY = {"tumour-assessments", "deviations"}  # their POST is in test_matrix.ENDPOINTS
BEFORE_DOSING = {"doses", "tumour-assessments"}  # recorded on an enrolled subject; the others after a dose


@dataclass(frozen=True)
class Entry:
    """One operation: how to call it and who may."""

    method: str
    path: str  # OpenAPI path; {placeholders} are filled from the record
    allowed: set[str]
    scope: str  # site | list | self | public
    record: str = "none"  # which record of a site the call needs (see Records)
    body: Any = None
    query: str = ""
    form: dict[str, str] | None = None


def _entries() -> dict[tuple[str, str], Entry]:
    v1 = "/api/v1"
    out = [
        # public and self
        Entry(
            "POST",
            f"{v1}/auth/token",
            EVERYONE,
            "public",
            form={"username": "{username}", "password": "{password}"},
        ),
        Entry("GET", f"{v1}/health", EVERYONE, "public"),
        Entry("POST", f"{v1}/auth/logout", EVERYONE, "self"),
        Entry("GET", f"{v1}/auth/me", EVERYONE, "self"),
        Entry(
            "POST",
            f"{v1}/auth/password",
            EVERYONE,
            "self",
            body={"current_password": PASSWORD, "new_password": "another long pass phrase"},
        ),
        Entry("PUT", f"{v1}/auth/me/language", EVERYONE, "self", body={"language": "zh_Hans"}),
        # lists: every role's view is limited to its sites
        Entry("GET", f"{v1}/sites", EVERYONE, "list"),
        Entry("GET", f"{v1}/users", {ADMIN}, "list"),
        Entry("GET", f"{v1}/subjects", READ, "list", query="site={site}"),
        Entry("GET", f"{v1}/queries", READ, "list", query="site={site}"),
        Entry("GET", f"{v1}/queries/counts", READ, "list"),
        Entry("GET", f"{v1}/verification", {MON}, "list", query="site={site}"),
        Entry("GET", f"{v1}/casebooks", READ, "list", query="site={site}"),
        Entry("GET", f"{v1}/audit", AUDIT_READERS, "list", query="limit=1000"),
        Entry("GET", f"{v1}/reports/enrollment", EVERYONE, "list"),
        Entry("GET", f"{v1}/randomizations", READ, "list", query="site={site}"),
        Entry("GET", f"{v1}/calendar/exceptions", READ, "list", query="as_of=2024-09-01&site={site}"),
        Entry("GET", f"{v1}/ctcae/socs", EVERYONE, "list"),
        Entry("GET", f"{v1}/ctcae/expected", EVERYONE, "list"),
        Entry("GET", f"{v1}/ctcae/status", EVERYONE, "list"),
        # administration (study-wide: the other site is allowed to the administrator)
        Entry("POST", f"{v1}/sites", {ADMIN}, "list", body={"code": "{new_site}", "name": "New site"}),
        Entry(
            "PUT",
            f"{v1}/sites/{{code}}/time-zone",
            {ADMIN},
            "site",
            "site",
            body={"time_zone": "Asia/Shanghai"},
        ),
        Entry(
            "POST",
            f"{v1}/users",
            {ADMIN},
            "site",
            "site",
            body={
                "username": "{new_user}",
                "password": PASSWORD,
                "full_name": "New user",
                "roles": [{"role": "monitor", "site": "{code}"}],
            },
        ),
        Entry("GET", f"{v1}/users/{{username}}", {ADMIN}, "site", "user"),
        Entry("POST", f"{v1}/users/{{username}}/disable", {ADMIN}, "site", "user", body={"reason": "left"}),
        Entry(
            "POST",
            f"{v1}/users/{{username}}/roles",
            {ADMIN},
            "site",
            "user",
            body={"role": "data_manager", "site": "{site}"},
        ),
        Entry(
            "POST",
            f"{v1}/users/{{username}}/roles/{{assignment_id}}/revoke",
            {ADMIN},
            "site",
            "user",
            body={"reason": "moved"},
        ),
        # subjects
        Entry("GET", f"{v1}/subjects/{{code}}/eligibility", READ, "site", "screened"),
        Entry(
            "POST",
            f"{v1}/subjects/{{code}}/enroll",
            ENTER,
            "site",
            "screened",
            body={"enrollment_date": (D0 - timedelta(days=3)).isoformat()},
        ),
        # randomization list upload (statistician; its strata name a fresh site)
        Entry(
            "POST",
            f"{v1}/randomization/lists/upload",
            {STAT},
            "list",
            "upload",
            body={
                "csv": "position,arm,site,induction_response,metastatic_organs\n1,control,{upload_site},SD,1\n"
            },
        ),
    ]
    for resource, (new, changed) in WORKFLOW.items():
        if resource not in NEW_ONLY:
            out.append(
                Entry(
                    "POST",
                    f"{v1}/subjects/{{code}}/{resource}",
                    ENTER,
                    "site",
                    "enrolled" if resource in BEFORE_DOSING else "dosed",
                    body={"values": new},
                )
            )
        out.append(
            Entry(
                "PUT",
                f"{v1}/subjects/{{code}}/{resource}/{{event_code}}",
                ENTER,
                "site",
                f"with:{resource}",
                body={"values": changed, "base_version": 1, "reason": "correction"},
            )
        )
    return {(e.method, e.path): e for e in out}


ENTRIES = _entries()


def _pattern(openapi_path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(openapi_path)) + "$")


def test_every_api_route_has_a_matrix_entry(world):
    """Every OpenAPI operation is covered by a matrix entry; every entry names an operation that exists."""
    app = create_app(world.edc.settings, world.edc)
    operations = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method != "parameters"
    }
    covered = set(ENTRIES)
    for method, template, *_ in [*PLATFORM_ENDPOINTS.values(), *RANDOMIZATION_ENDPOINTS.values()]:
        concrete = "/api/v1" + template.split("?")[0]
        matches = {(m, p) for m, p in operations if m == method and _pattern(p).match(concrete)}
        assert matches, f"stale entry in another matrix: {method} {template}"
        covered |= {min(matches, key=lambda op: op[1].count("{"))}
    assert sorted(operations - covered) == [], "API operations without a matrix entry (add them to ENTRIES)"
    assert sorted(set(ENTRIES) - operations) == [], "matrix entries for operations that do not exist"


# -- records --------------------------------------------------------------------------------------------------
_counter = itertools.count(1)


def _screened(world, site: str) -> str:
    actor = world.actor(f"investigator.{site.lower()}")
    code = data.create_subject(world.edc, actor, site).code
    wf.save_eligibility(world.edc, actor, code, eligible(D0 - timedelta(days=7)))
    return code


def _enrolled(world, site: str) -> str:
    code = _screened(world, site)
    wf.enroll_subject(world.edc, world.actor(f"investigator.{site.lower()}"), code, D0 - timedelta(days=3))
    return code


def _dosed(world, site: str) -> str:
    code = _enrolled(world, site)
    wf.record_dose(world.edc, world.actor(f"investigator.{site.lower()}"), code, induction_dose(1, D0))
    return code


_RECORDERS = {
    "doses": wf.record_dose,
    "tumour-assessments": wf.record_tumour_assessment,
    "adverse-events": wf.record_adverse_event,
    "end-of-treatment": wf.record_end_of_treatment,
    "follow-up": wf.record_follow_up,
    "death": wf.record_death,
    "new-therapies": wf.record_new_therapy,
    "disposition": wf.record_disposition,
    "deviations": wf.record_deviation,
}


def _record(world, site: str, kind: str) -> dict[str, str]:
    """The identifiers a call on ``kind`` needs at ``site`` (fresh records, as a call may change them)."""
    n = next(_counter)
    values = {"site": site, "code": site, "new_site": f"N{n:03d}", "new_user": f"new.user{n}"}
    actor = world.actor(f"investigator.{site.lower()}")
    if kind == "user":
        name = f"target{n}.{site.lower()}"
        user = admin_services.create_user(
            world.edc, world.actor(ADMIN), name, PASSWORD, f"Target {site}", roles=[(Role.MONITOR, site)]
        )
        values |= {"username": name, "assignment_id": str(user.roles[0].id)}
    elif kind == "upload":
        values["upload_site"] = f"U{n:03d}"
        admin_services.create_site(world.edc, world.actor(ADMIN), values["upload_site"], "Upload site")
    elif kind == "screened":
        values["code"] = _screened(world, site)
    elif kind == "enrolled":
        values["code"] = _enrolled(world, site)
    elif kind == "dosed":
        values["code"] = _dosed(world, site)
    elif kind.startswith("with:"):
        resource = kind.removeprefix("with:")
        code = _enrolled(world, site) if resource in BEFORE_DOSING else _dosed(world, site)
        new = WORKFLOW[resource][0]
        if resource == "deviations":
            new = {**new, "description": f"late consent {site}-marker"}
        view = _RECORDERS[resource](world.edc, actor, code, copy.deepcopy(new))
        values |= {"code": code, "event_code": view.form.event_code}
    return values


# "Missing" identifiers: a record that does not exist, the answer a denial must equal.
GHOST = {
    "site": "ZZ99",
    "code": "ZZ99",
    "username": "nobody.zz99",
    "assignment_id": "999999",
    "event_code": "AE.999",
    "new_site": "ZZ98",
    "new_user": "nobody.new",
}
GHOST_SUBJECT = "CN02-9999"


def _ghost(entry: Entry, real: dict[str, str]) -> dict[str, str]:
    ghost = {**real, **GHOST}
    if entry.record in {"screened", "enrolled", "dosed"} or entry.record.startswith("with:"):
        ghost["code"] = GHOST_SUBJECT
        ghost["event_code"] = real.get("event_code", "X")
    return ghost


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template


def _essence(response) -> tuple[int, list[tuple[str, str, str]]]:
    problems = response.json()["error"]["problems"]
    return response.status_code, [(p["code"], p["field"], p["message"]) for p in problems]


def _leaks(body: str, sent: dict[str, str]) -> str | None:
    """What in ``body`` names the other site beyond the identifiers the request itself sent: a subject code,
    user name or marker value of CN02 not sent, or the other site's name."""
    text = body.lower()
    if f"site {OTHER.lower()}" in text:
        return f"Site {OTHER}"
    echoed = {value.lower() for value in sent.values()}
    for match in re.finditer(rf"[\w.@-]*{OTHER.lower()}[\w.@-]*", text):
        word = match.group(0).strip(".-@")
        if word not in echoed:
            return word
    return None


@dataclass
class Caller:
    client: TestClient
    world: Any
    clones: dict[str, str] = field(default_factory=dict)

    def audit_rows(self) -> int:
        with self.world.edc.engine.connect() as db:
            return int(db.scalar(select(func.count()).select_from(AuditEntry)))

    def clone_token(self, user: str) -> str:
        """A token of a fresh account with ``user``'s roles (the self routes revoke or change it)."""
        name = f"clone{next(_counter)}.{user.replace('.', '_')}"[:60]
        roles = _roles(self.world, user)
        admin_services.create_user(self.world.edc, self.world.actor(ADMIN), name, PASSWORD, name, roles=roles)
        self.clones[name] = user
        return login(self.world.edc, name, PASSWORD, "test").access_token

    def call(self, entry: Entry, values: dict[str, str], token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = _fill(entry.path, values) + (f"?{_fill(entry.query, values)}" if entry.query else "")
        if entry.form is not None:
            return self.client.post(url, data=_fill(entry.form, values), headers=headers)
        body = _fill(entry.body, values)
        return self.client.request(entry.method, url, json=body, headers=headers)


def _roles(world, user: str) -> list[tuple[Role, str | None]]:
    view = admin_services.get_user(world.edc, world.actor(ADMIN), world.actor(user).username)
    return [(Role(r.role), r.site) for r in view.roles]


@pytest.fixture
def caller(world):
    with TestClient(create_app(world.edc.settings, world.edc), raise_server_exceptions=False) as client:
        yield Caller(client, world)


def _check(caller: Caller, entry: Entry, user: str, where: str, failures: list[str]) -> None:
    world = caller.world
    site = OWN if where == "own" else OTHER
    is_list = entry.scope == "list"
    may = user in entry.allowed and (is_list or where == "own" or user in STUDY_WIDE)
    values = _record(world, site, entry.record)
    token = world.tokens[user]
    before = caller.audit_rows()
    r = caller.call(entry, values, token)
    case = f"{entry.method} {entry.path} {user} {where}: {r.status_code} {r.text[:300]}"
    leaked = _leaks(r.text, values) if user not in STUDY_WIDE else None
    if leaked:
        failures.append(f"{case} -- names the other site: {leaked}")
    if may:
        if r.status_code not in (200, 201, 204):
            failures.append(case)
        return
    if r.status_code not in (403, 404):
        failures.append(case)
        return
    if caller.audit_rows() != before:
        failures.append(f"{case} -- a denied call wrote")
        return
    can_read_other = user in READ and user in STUDY_WIDE
    if where == "other" and entry.scope == "site" and not can_read_other:
        ghost = caller.call(entry, _ghost(entry, values), token)
        if _essence(r) != _essence(ghost):
            failures.append(f"{case} -- differs from a missing record: {ghost.text[:300]}")


def test_role_endpoint_site_matrix_of_every_other_endpoint(caller, world):
    failures: list[str] = []
    for entry in ENTRIES.values():
        if entry.scope in {"public", "self"}:
            continue
        for user in USERS:
            for where in ("own", "other"):
                _check(caller, entry, user, where, failures)
    assert failures == [], "\n".join(failures)


def test_self_and_public_routes(caller, world):
    """Every role may read and change its own account only; the public routes need no token."""
    failures = []
    for entry in ENTRIES.values():
        if entry.scope not in {"public", "self"}:
            continue
        for user in USERS:
            if entry.scope == "public":
                values = {
                    "username": user,
                    "password": PASSWORD if user != ADMIN else "correct horse battery staple",
                }
                r = caller.call(entry, values, None)
            else:
                token = caller.clone_token(user)
                r = caller.call(entry, {}, token)
                if r.status_code < 300 and entry.path.endswith(("/auth/me", "/language")):
                    me = caller.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
                    if me.json()["username"] not in caller.clones:
                        failures.append(f"{entry.path} {user}: acted on {me.json()['username']}")
            case = f"{entry.method} {entry.path} {user}: {r.status_code} {r.text[:300]}"
            if r.status_code not in (200, 201, 204):
                failures.append(case)
            if user not in STUDY_WIDE and OTHER.lower() in r.text.lower():
                failures.append(f"{case} -- names the other site")
        unauthenticated = caller.call(entry, {"username": "x", "password": "y"}, None)
        if entry.scope == "self" and unauthenticated.status_code != 401:
            failures.append(f"{entry.path} without a token: {unauthenticated.status_code}")
    assert failures == [], "\n".join(failures)


def test_every_protected_route_refuses_a_missing_or_unknown_token(caller, world):
    """Every operation but the public ones answers 401 without a token and with an unknown one, and writes
    nothing."""
    app = caller.client.app
    before = caller.audit_rows()
    failures = []
    for path, item in app.openapi()["paths"].items():
        for method in item:
            entry = ENTRIES.get((method.upper(), path))
            if entry is not None and entry.scope == "public":
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}):
                r = caller.client.request(method.upper(), url, json={}, headers=headers)
                if r.status_code != 401 or r.json()["error"]["problems"][0]["code"] != "AUTH-002":
                    failures.append(f"{method.upper()} {path} {headers}: {r.status_code} {r.text[:200]}")
    assert failures == [], "\n".join(failures)
    assert caller.audit_rows() == before
