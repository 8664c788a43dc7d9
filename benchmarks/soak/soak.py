"""Soak run: mixed load from concurrent clients against the real server for a long time (issue 12, item 7).

Usage (from the repository root, as root so that PostgreSQL can run as the postgres user)::

    mkdir -p build/soak && nohup .venv/bin/python benchmarks/soak/soak.py --minutes 30 --clients 50 \\
        --interval 30 > build/soak/run.log 2>&1 &
    .venv/bin/python benchmarks/soak/soak.py --minutes 2          # a short run while developing

What it does: starts a throwaway PostgreSQL cluster with default durability settings (the one of
``benchmarks/edc/load.py``; ``--backend sqlite`` uses a SQLite file, ``--database URL`` an existing empty
database), runs ``oligotrial init``, starts ``oligotrial serve`` as a separate process on a free loopback port,
and creates through the API five sites with an investigator, a research coordinator and a monitor each.
Clients are spread over the sites. Before the measured load, two at a time, each client logs in as a site
staff member and as its site's monitor (argon2 password checks with the configured parameters, the production
ones unless the environment says otherwise) and enrolls its first subject. Then, until the time is up, each
repeats: wait a think time (exponential, mean ``--think`` seconds, default 2), pick one action at random with
the weights of ``MIX`` and send it. A client owns the subjects it enrolls (subject, eligibility form,
enrollment: the ``enrollment`` requests) and moves to a new subject after ``ASSESSMENTS_PER_SUBJECT`` tumour
assessments, so the database grows the way a trial's does while no casebook grows without bound. A bearer
token is renewed by a new login (``login``) at a random point between half and four fifths of its lifetime
(30 minutes by default), as a real session would be; in a 30-minute run every session logs in again once.

The actions (``MIX``, in percent of the picks):

==================  ===  ===============================================================================
form_save           25   PUT a visit form: the first entry, then changes with base version and reason
                         (five changes, then the next visit's form)
form_read           22   GET the client's current form
subject_list        12   GET the subjects of the site (first 50, with the total)
query               12   one step of a data query on the current form: the monitor raises it, the site
                         answers, the monitor closes it (``query_raise``/``query_answer``/``query_close``)
audit_read           9   the monitor reads the audit trail of the current form
tumour_assessment    8   POST a tumour assessment (workflow API; RECIST derived by the server)
tumour_list          6   GET the subject's tumour assessments with their RECIST values
adverse_event        6   POST an adverse event (``ae_enter``), or change the open one's outcome to resolved
                         with a reason (``ae_change``)
==================  ===  ===============================================================================

Every ``--interval`` seconds the script records the server's resident memory (the process and its children,
psutil), its CPU use, the machine's load average, the database size, and per action kind the request count
and the p50/p99 latency over the interval, and the errors. An error is any answer that is not the 2xx the
action expects, or no answer (refused, reset, timed out after 60 s).

At the end the server is stopped and the script checks, directly in the database, that every write the
server acknowledged is there: each acknowledged form version (generic and workflow forms) with the
acknowledged content hash (and values, for generic forms) and exactly one audit entry per version, each
query in its last acknowledged state with its messages, each enrolled subject enrolled. Then
``oligotrial audit verify`` must pass. It writes under ``--out`` (default ``build/soak/``): ``intervals.csv``,
``soak.json`` (configuration, machine, intervals, totals, checks, criteria and verdict), ``soak.png`` (memory,
p99 latency, request rate and load average over time) and ``server.log`` (the server's stderr).

Pass criteria (all must hold; the verdict is printed and stored in ``soak.json``; exit 0 on PASS, 1 on FAIL):

1. Zero errors, every acknowledged write present, and the audit chain verifies.
2. Bounded memory: the server's RSS at the end is at most ``RSS_GROWTH_LIMIT_MB`` (50 MB) above its RSS at
   the end of the warm-up (the first ``WARMUP_MINUTES`` = 5 minutes; a third of the run for runs shorter than
   15 minutes). Why 50 MB: the server keeps no per-request state by design (the data lives in the database;
   its caches, SQLAlchemy's compiled statements and the loaded protocol, are bounded and full after the
   warm-up), so its memory should be flat; 50 MB allows for allocator fragmentation and arena growth from
   the occasional concurrent argon2 hashes of logins (64 MiB each with the production parameters), and is
   small enough to catch a leak: about 32,000 requests follow the warm-up of a 30-minute run at the default
   think time (measured: 38,121 in 30 minutes), so a leak of 1.6 kB per request would exceed it.
3. Stable latency: the p99 over all requests of the last third of the run is at most ``P99_RATIO_LIMIT``
   (1.5) times the p99 of the first third.

Only 127.0.0.1 is contacted; every loop is bounded by the deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import json
import math
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

MIX: dict[str, int] = {
    "form_save": 25,
    "form_read": 22,
    "subject_list": 12,
    "query": 12,
    "audit_read": 9,
    "tumour_assessment": 8,
    "tumour_list": 6,
    "adverse_event": 6,
}
"""Weights of the actions a client picks (percent)."""

KINDS = (
    "form_save",
    "form_read",
    "subject_list",
    "query_raise",
    "query_answer",
    "query_close",
    "audit_read",
    "tumour_assessment",
    "tumour_list",
    "ae_enter",
    "ae_change",
    "enrollment",
    "login",
)
"""Request kinds recorded separately (an ``enrollment`` is three requests: subject, eligibility, enroll)."""

RSS_GROWTH_LIMIT_MB = 50.0
P99_RATIO_LIMIT = 1.5
WARMUP_MINUTES = 5.0
SITES = 5
ASSESSMENTS_PER_SUBJECT = 8
CHANGES_PER_FORM = 5
REQUEST_TIMEOUT = 60.0
ADMIN, ADMIN_PASSWORD = "admin", "soak-run-manager-pw-1"
STAFF_PASSWORD = "soak-run-site-staff-pw-1"
SCREENING = date(2024, 1, 8)
ENROLLMENT = date(2024, 1, 15)
AE_TERMS = ("Neutrophil count decreased", "Anemia", "Platelet count decreased", "Nausea", "Vomiting")


# -- servers --------------------------------------------------------------------------------------------------
def _load_edc_benchmark() -> Any:
    """``benchmarks/edc/load.py`` as a module (its throwaway PostgreSQL cluster is reused here)."""
    path = ROOT / "benchmarks" / "edc" / "load.py"
    spec = importlib.util.spec_from_file_location("oligotrial_edc_load_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(backend: str, url: str | None) -> Iterator[str]:
    """The database URL to run on: ``url`` as given, a new SQLite file, or a throwaway PostgreSQL cluster."""
    if url is not None:
        yield url
    elif backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="oligotrial-soak-"))
        try:
            yield f"sqlite:///{folder / 'trial.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        with _load_edc_benchmark().postgres_cluster() as (cluster_url, _postmaster):
            yield cluster_url


@dataclass
class Server:
    """``oligotrial serve`` on a free loopback port, stderr to ``log``."""

    url: str
    env: dict[str, str]
    log: Path
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> None:
        handle, name = tempfile.mkstemp()
        os.close(handle)
        password_file = Path(name)
        password_file.write_text(ADMIN_PASSWORD)
        try:
            command = [str(BIN / "oligotrial"), "init", "--database", self.url, "--admin-user", ADMIN]
            command += ["--admin-password-file", str(password_file)]
            done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        finally:
            password_file.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"oligotrial init failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        command = [str(BIN / "oligotrial"), "serve", "--database", self.url, "--port", str(self.port)]
        command += ["--workers", str(self.workers), "--log-level", "warning"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become healthy within 120 s; see {self.log}")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode


def tree_rss_and_cpu(process: psutil.Process) -> tuple[float, float]:
    """Resident memory (bytes) and CPU seconds of a process and its children."""
    rss, cpu = 0.0, 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            rss += p.memory_info().rss
            times = p.cpu_times()
            cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return rss, cpu


def database_bytes(url: str, engine: Any) -> int:
    """Size of the database: the SQLite file with its WAL, or ``pg_database_size``."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    from sqlalchemy import text

    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


# -- what the clients did -------------------------------------------------------------------------------------
@dataclass
class Ledger:
    """Every write the server acknowledged (2xx), to be found in the database at the end."""

    form_versions: dict[int, dict[int, str]] = field(default_factory=dict)  # form id -> version -> hash
    form_values: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # generic forms
    queries: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (state, messages)
    enrolled: set[str] = field(default_factory=set)

    def form(self, view: dict[str, Any], values: dict[str, Any] | None = None) -> None:
        self.form_versions.setdefault(view["id"], {})[view["version"]] = view["content_hash"]
        if values is not None:
            self.form_values[(view["id"], view["version"])] = values

    @property
    def writes(self) -> int:
        return sum(len(v) for v in self.form_versions.values()) + len(self.queries) + len(self.enrolled)


@dataclass
class Recorder:
    """Every request (end time since the start, kind, seconds, ok), the errors, and the ledger."""

    start: float
    requests: list[tuple[float, str, float, bool]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)

    async def call(
        self,
        client: httpx.AsyncClient,
        kind: str,
        method: str,
        path: str,
        expect: int,
        **kwargs: Any,
    ) -> dict[str, Any] | list[Any] | None:
        """Send one request; returns the JSON body of the expected answer, ``None`` on an error."""
        began = time.perf_counter()
        message = None
        try:
            response = await client.request(method, path, **kwargs)
            if response.status_code != expect:
                message = f"{method} {path}: {response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            message = f"{method} {path}: no answer ({exc!r})"
        ended = time.perf_counter()
        self.requests.append((ended - self.start, kind, ended - began, message is None))
        if message is not None:
            self.errors.append({"t": round(ended - self.start, 1), "kind": kind, "error": message})
            return None
        return response.json() if response.content else {}


@dataclass
class Session:
    """A user's bearer token, renewed by a new login between half and four fifths of its lifetime."""

    username: str
    password: str
    rng: random.Random
    token: str | None = None
    renew_at: float = 0.0

    async def headers(self, client: httpx.AsyncClient, recorder: Recorder) -> dict[str, str] | None:
        if self.token is None or time.monotonic() >= self.renew_at:
            body = await recorder.call(
                client,
                "login",
                "POST",
                "/api/v1/auth/token",
                200,
                data={"username": self.username, "password": self.password},
            )
            if not isinstance(body, dict):
                return None
            self.token = body["access_token"]
            self.renew_at = time.monotonic() + body["expires_in"] * self.rng.uniform(0.5, 0.8)
        return {"Authorization": f"Bearer {self.token}"}


def _eligibility() -> dict[str, Any]:
    return {
        "screening_date": SCREENING.isoformat(),
        "sex": "F",
        "age": 58,
        "diagnosis": "esophageal cancer",
        "histology": "squamous cell carcinoma",
        "disease_setting": "metastatic",
        "primary_site": "esophagus",
        "metastatic_lesions": [{"organ": "liver", "lesion_id": "T1"}, {"organ": "lung", "lesion_id": "T2"}],
        "measurable_disease": True,
        "ecog": 1,
        "labs": {
            "anc": 3.4,
            "platelets": 190,
            "haemoglobin": 124,
            "creatinine_clearance": 80,
            "bilirubin": {"value": 11, "uln": 21},
            "ast": {"value": 29, "uln": 40},
            "alt": {"value": 25, "uln": 40},
        },
        "prior_systemic_therapy": False,
        "consent_date": (SCREENING - timedelta(days=2)).isoformat(),
        "first_procedure_date": SCREENING.isoformat(),
    }


def _assessment(number: int) -> dict[str, Any]:
    """The ``number``-th assessment (0: baseline, then every 6 weeks), the targets shrinking slowly."""
    day = SCREENING + timedelta(days=2 + 42 * number)
    return {
        "date": day.isoformat(),
        "method": "CT",
        "lesions": [
            {"lesion_id": "T1", "role": "target", "organ": "liver", "diameter_mm": 32 - number},
            {"lesion_id": "T2", "role": "target", "organ": "lung", "diameter_mm": 21 - number / 2},
            {
                "lesion_id": "N1",
                "role": "non-target",
                "organ": "distant lymph node",
                "is_node": True,
                "state": "present",
            },
        ],
    }


def _adverse_event(number: int, resolved: bool) -> dict[str, Any]:
    start = ENROLLMENT + timedelta(days=5 + 9 * number)
    values: dict[str, Any] = {
        "term": AE_TERMS[number % len(AE_TERMS)],
        "grade": 1 + number % 3,
        "start_date": start.isoformat(),
        "serious": False,
        "relation": {"paclitaxel": "possibly related", "cisplatin": "related", "camrelizumab": "not related"},
        "action_taken": "dose not changed",
        "outcome": "recovering/resolving",
    }
    if resolved:
        values |= {"outcome": "recovered/resolved", "end_date": (start + timedelta(days=6)).isoformat()}
    return values


@dataclass
class Client:
    """One simulated user at a site: its staff and monitor sessions and the records it works on."""

    number: int
    site: str
    staff: Session
    monitor: Session
    rng: random.Random
    subject: str | None = None
    assessments: int = 0
    adverse_events: int = 0
    open_ae: tuple[str, int, int] | None = None  # event code, version, number
    visit: int = 0
    form_id: int | None = None
    form_version: int | None = None
    open_query: tuple[int, str] | None = None  # id, state
    saves: int = 0

    async def run(self, client: httpx.AsyncClient, rec: Recorder, deadline: float, think: float) -> None:
        actions, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            await asyncio.sleep(min(self.rng.expovariate(1 / think) if think > 0 else 0, 10 * think))
            if time.monotonic() >= deadline:
                return
            staff = await self.staff.headers(client, rec)
            monitor = await self.monitor.headers(client, rec)
            if staff is None or monitor is None:
                await asyncio.sleep(1)
                continue
            if self.subject is None or self.assessments >= ASSESSMENTS_PER_SUBJECT:
                await self.enroll(client, rec, staff)
                continue
            action = self.rng.choices(actions, weights)[0]
            if self.form_id is None and action in {"form_read", "query", "audit_read"}:
                action = "form_save"
            await getattr(self, action)(client, rec, staff, monitor)

    async def enroll(self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str]) -> None:
        created = await rec.call(
            client, "enrollment", "POST", "/api/v1/subjects", 201, json={"site": self.site}, headers=staff
        )
        if not isinstance(created, dict):
            return
        code = created["code"]
        eligibility = await rec.call(
            client,
            "enrollment",
            "PUT",
            f"/api/v1/subjects/{code}/eligibility",
            200,
            json={"values": _eligibility()},
            headers=staff,
        )
        if not isinstance(eligibility, dict):
            return
        rec.ledger.form(eligibility["form"])
        enrolled = await rec.call(
            client,
            "enrollment",
            "POST",
            f"/api/v1/subjects/{code}/enroll",
            200,
            json={"enrollment_date": ENROLLMENT.isoformat()},
            headers=staff,
        )
        if not isinstance(enrolled, dict):
            return
        rec.ledger.enrolled.add(code)
        self.subject, self.assessments, self.adverse_events, self.open_ae = code, 0, 0, None
        self.visit, self.form_id, self.form_version, self.open_query = self.visit + 1, None, None, None

    async def form_save(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], _m: Any
    ) -> None:
        if self.form_id is not None and self.form_version is None:  # the last answer was lost: re-read
            current = await rec.call(
                client, "form_read", "GET", f"/api/v1/forms/{self.form_id}", 200, headers=staff
            )
            if not isinstance(current, dict):
                return
            self.form_version = current["version"]
        if self.form_version is not None and self.form_version > CHANGES_PER_FORM:
            self.visit, self.form_id, self.form_version, self.open_query = self.visit + 1, None, None, None
        self.saves += 1
        values = {
            "WEIGHT": 55 + self.saves % 30,
            "SYSBP": 105 + self.saves % 40,
            "NOTE": f"client {self.number} save {self.saves}",
        }
        body: dict[str, Any] = {"values": values}
        if self.form_version is not None:
            body |= {"base_version": self.form_version, "reason": "transcription error corrected"}
        saved = await rec.call(
            client,
            "form_save",
            "PUT",
            f"/api/v1/subjects/{self.subject}/forms/V{self.visit:03d}/VITALS",
            200,
            json=body,
            headers=staff,
        )
        if not isinstance(saved, dict):
            self.form_version = None
            return
        rec.ledger.form(saved, values)
        self.form_id, self.form_version = saved["id"], saved["version"]

    async def form_read(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], _m: Any
    ) -> None:
        await rec.call(client, "form_read", "GET", f"/api/v1/forms/{self.form_id}", 200, headers=staff)

    async def subject_list(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], _m: Any
    ) -> None:
        await rec.call(
            client,
            "subject_list",
            "GET",
            "/api/v1/subjects",
            200,
            params={"site": self.site, "limit": 50},
            headers=staff,
        )

    async def audit_read(
        self, client: httpx.AsyncClient, rec: Recorder, _s: Any, monitor: dict[str, str]
    ) -> None:
        params = {"table": "forms", "record_id": str(self.form_id)}
        await rec.call(client, "audit_read", "GET", "/api/v1/audit", 200, params=params, headers=monitor)

    async def query(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], monitor: dict[str, str]
    ) -> None:
        if self.open_query is None or self.open_query[1] == "closed":
            kind, path = "query_raise", f"/api/v1/forms/{self.form_id}/queries"
            body, headers, expect = (
                {"item": "WEIGHT", "text": "Please check the weight against the source."},
                monitor,
                201,
            )
        elif self.open_query[1] == "open":
            kind, path = "query_answer", f"/api/v1/queries/{self.open_query[0]}/answer"
            body, headers, expect = {"text": "Checked: the value matches the source document."}, staff, 200
        else:
            kind, path = "query_close", f"/api/v1/queries/{self.open_query[0]}/close"
            body, headers, expect = {"text": "Answer accepted."}, monitor, 200
        view = await rec.call(client, kind, "POST", path, expect, json=body, headers=headers)
        if isinstance(view, dict):
            self.open_query = (view["id"], view["state"])
            rec.ledger.queries[view["id"]] = (view["state"], len(view["messages"]))

    async def tumour_assessment(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], _m: Any
    ) -> None:
        view = await rec.call(
            client,
            "tumour_assessment",
            "POST",
            f"/api/v1/subjects/{self.subject}/tumour-assessments",
            201,
            json={"values": _assessment(self.assessments)},
            headers=staff,
        )
        # On an error the subject is given up (the assessment may or may not be stored): enroll another.
        self.assessments = self.assessments + 1 if isinstance(view, dict) else ASSESSMENTS_PER_SUBJECT
        if isinstance(view, dict):
            rec.ledger.form(view["form"])

    async def tumour_list(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], _m: Any
    ) -> None:
        path = f"/api/v1/subjects/{self.subject}/tumour-assessments"
        await rec.call(client, "tumour_list", "GET", path, 200, headers=staff)

    async def adverse_event(
        self, client: httpx.AsyncClient, rec: Recorder, staff: dict[str, str], _m: Any
    ) -> None:
        base = f"/api/v1/subjects/{self.subject}/adverse-events"
        if self.open_ae is None:
            view = await rec.call(
                client,
                "ae_enter",
                "POST",
                base,
                201,
                json={"values": _adverse_event(self.adverse_events, resolved=False)},
                headers=staff,
            )
            if isinstance(view, dict):
                self.open_ae = (view["form"]["event_code"], view["form"]["version"], self.adverse_events)
                self.adverse_events += 1
        else:
            event_code, version, number = self.open_ae
            body = {
                "values": _adverse_event(number, resolved=True),
                "base_version": version,
                "reason": "outcome updated at the follow-up visit",
            }
            view = await rec.call(
                client, "ae_change", "PUT", f"{base}/{event_code}", 200, json=body, headers=staff
            )
            self.open_ae = None  # resolved, or given up after an error
        if isinstance(view, dict):
            rec.ledger.form(view["form"])


# -- set-up, sampling, checks ----------------------------------------------------------------------------------
def prepare(base: str, clients: int, seed: int) -> list[Client]:
    """Sites, their staff and monitors (through the API), and the clients with their sessions."""
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as http:
        token = http.post("/api/v1/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD})
        token.raise_for_status()
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        sites = [f"S{i + 1:02d}" for i in range(min(SITES, clients))]
        for site in sites:
            http.post(
                "/api/v1/sites", json={"code": site, "name": f"Soak site {site}"}, headers=admin
            ).raise_for_status()
            for role in ("investigator", "research_coordinator", "monitor"):
                user = {
                    "username": f"{role}.{site.lower()}",
                    "password": STAFF_PASSWORD,
                    "full_name": f"Soak {role.replace('_', ' ')} {site}",
                    "roles": [{"role": role, "site": site}],
                }
                created = http.post("/api/v1/users", json=user, headers=admin)
                if created.status_code != 201:
                    raise RuntimeError(
                        f"creating {user['username']} failed: {created.status_code} {created.text}"
                    )
    result = []
    for i in range(clients):
        site = sites[i % len(sites)]
        staff_role = "investigator" if (i // len(sites)) % 2 == 0 else "research_coordinator"
        rng = random.Random(seed * 1000 + i)
        result.append(
            Client(
                i,
                site,
                Session(f"{staff_role}.{site.lower()}", STAFF_PASSWORD, rng),
                Session(f"monitor.{site.lower()}", STAFF_PASSWORD, rng),
                rng,
            )
        )
    return result


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


@dataclass
class Sampler:
    """Every ``interval`` seconds: the server's memory and CPU, load, database size, and the interval's
    requests per kind with p50/p99 latency and errors."""

    rec: Recorder
    process: psutil.Process
    url: str
    engine: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    _seen: int = 0
    _errors: int = 0
    _last_t: float = 0.0
    _last_cpu: float | None = None

    def sample(self) -> dict[str, Any]:
        now = time.perf_counter() - self.rec.start
        batch = self.rec.requests[self._seen :]
        self._seen += len(batch)
        errors = len(self.rec.errors) - self._errors
        self._errors = len(self.rec.errors)
        rss, cpu = tree_rss_and_cpu(self.process)
        seconds = max(now - self._last_t, 1e-9)
        row: dict[str, Any] = {
            "t_s": round(now, 1),
            "minute": round(now / 60, 2),
            "requests": len(batch),
            "requests_per_s": round(len(batch) / seconds, 1),
            "errors": errors,
            "rss_mb": round(rss / 2**20, 1),
            "server_cpu_pct": None
            if self._last_cpu is None
            else round(100 * (cpu - self._last_cpu) / seconds, 1),
            "load_1min": round(os.getloadavg()[0], 2),
            "db_mb": round(database_bytes(self.url, self.engine) / 2**20, 1),
            "p50_ms": _ms([r[2] for r in batch], 50),
            "p99_ms": _ms([r[2] for r in batch], 99),
        }
        for kind in KINDS:
            latencies = [r[2] for r in batch if r[1] == kind]
            row |= {
                f"{kind}_n": len(latencies),
                f"{kind}_p50_ms": _ms(latencies, 50),
                f"{kind}_p99_ms": _ms(latencies, 99),
            }
        self._last_t, self._last_cpu = now, cpu
        self.rows.append(row)
        return row


def check_database(url: str, ledger: Ledger) -> dict[str, Any]:
    """Every acknowledged write in the database: form versions (hash, values), one audit entry per form
    version, queries (state, messages), enrolled subjects. Returns the counts checked and the problems."""
    from sqlalchemy import create_engine, func, select

    from oligotrial.store.tables import AuditEntry, DataQuery, FormVersion, QueryMessage, Subject

    problems: list[str] = []
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            stored = {
                (r.form_id, r.version): (r.content_hash, r.item_values)
                for r in db.execute(
                    select(
                        FormVersion.form_id,
                        FormVersion.version,
                        FormVersion.content_hash,
                        FormVersion.item_values,
                    )
                )
            }
            audited = Counter(
                db.scalars(select(AuditEntry.record_id).where(AuditEntry.table_name == "forms"))
            )
            versions = Counter(form_id for form_id, _ in stored)
            for form_id, acknowledged in ledger.form_versions.items():
                for version, content_hash in acknowledged.items():
                    row = stored.get((form_id, version))
                    if row is None:
                        problems.append(f"form {form_id} v{version}: acknowledged, not stored")
                    elif row[0] != content_hash:
                        problems.append(
                            f"form {form_id} v{version}: content hash {row[0]} != acknowledged {content_hash}"
                        )
                    elif (form_id, version) in ledger.form_values and row[1] != ledger.form_values[
                        (form_id, version)
                    ]:
                        problems.append(f"form {form_id} v{version}: values {row[1]} != acknowledged")
                if audited[str(form_id)] != versions[form_id]:
                    problems.append(
                        f"form {form_id}: {versions[form_id]} versions, {audited[str(form_id)]} audit entries"
                    )
            states = {r.id: r.state for r in db.execute(select(DataQuery.id, DataQuery.state))}
            messages = Counter(db.scalars(select(QueryMessage.query_id)))
            for query_id, (state, count) in ledger.queries.items():
                if states.get(query_id) != state or messages[query_id] != count:
                    problems.append(
                        f"query {query_id}: acknowledged {state} with {count} messages, stored "
                        f"{states.get(query_id)} with {messages[query_id]}"
                    )
            statuses = {r.code: r.status for r in db.execute(select(Subject.code, Subject.status))}
            problems += [
                f"subject {code}: acknowledged enrolled, stored {statuses.get(code)}"
                for code in sorted(ledger.enrolled)
                if statuses.get(code) != "enrolled"
            ]
            audit_rows = db.scalar(select(func.count()).select_from(AuditEntry))
    finally:
        engine.dispose()
    return {
        "form_versions_checked": sum(len(v) for v in ledger.form_versions.values()),
        "forms_checked": len(ledger.form_versions),
        "queries_checked": len(ledger.queries),
        "enrolled_subjects_checked": len(ledger.enrolled),
        "audit_rows": audit_rows,
        "problems": problems,
    }


def verify_audit_chain(url: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "oligotrial"), "audit", "verify", "--database", url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    report = (
        json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"output": done.stdout[-500:]}
    )
    return {"exit_code": done.returncode, "report": report, "stderr": done.stderr[-500:]}


def evaluate(
    rows: list[dict[str, Any]], rec: Recorder, minutes: float, checks: dict[str, Any], audit: dict[str, Any]
) -> dict[str, Any]:
    """The pass criteria of the module docstring, each with its measured value."""
    duration = minutes * 60
    warmup_s = min(WARMUP_MINUTES * 60, duration / 3)
    after = [r for r in rows if r["t_s"] >= warmup_s - 1e-6]
    warm, last = (after[0], rows[-1]) if after else (rows[-1], rows[-1])
    growth = last["rss_mb"] - warm["rss_mb"]
    third = duration / 3
    first = [r[2] for r in rec.requests if r[0] < third]
    final = [r[2] for r in rec.requests if r[0] >= 2 * third]
    p99_first, p99_last = _ms(first, 99), _ms(final, 99)
    ratio = round(p99_last / p99_first, 2) if p99_first and p99_last is not None else None
    criteria = {
        "zero_errors": {"errors": len(rec.errors), "pass": not rec.errors},
        "acknowledged_writes_present": {
            "writes": rec.ledger.writes,
            "problems": len(checks["problems"]),
            "pass": rec.ledger.writes > 0 and not checks["problems"],
        },
        "audit_chain_verifies": {"exit_code": audit["exit_code"], "pass": audit["exit_code"] == 0},
        "rss_growth_bounded": {
            "warmup_end_min": warm["minute"],
            "rss_at_warmup_end_mb": warm["rss_mb"],
            "rss_at_end_mb": last["rss_mb"],
            "rss_peak_after_warmup_mb": max(r["rss_mb"] for r in (after or rows)),
            "growth_mb": round(growth, 1),
            "limit_mb": RSS_GROWTH_LIMIT_MB,
            "pass": growth <= RSS_GROWTH_LIMIT_MB,
        },
        "p99_stable": {
            "first_third_p99_ms": p99_first,
            "last_third_p99_ms": p99_last,
            "ratio": ratio,
            "limit": P99_RATIO_LIMIT,
            "pass": ratio is not None and ratio <= P99_RATIO_LIMIT,
        },
    }
    return {"criteria": criteria, "verdict": "PASS" if all(c["pass"] for c in criteria.values()) else "FAIL"}


def totals(rec: Recorder) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind in KINDS:
        latencies = [r[2] for r in rec.requests if r[1] == kind]
        if latencies:
            result[kind] = {"n": len(latencies), "p50_ms": _ms(latencies, 50), "p99_ms": _ms(latencies, 99)}
    every = [r[2] for r in rec.requests]
    result["all"] = {"n": len(every), "p50_ms": _ms(every, 50), "p99_ms": _ms(every, 99)}
    return result


def write_figure(rows: list[dict[str, Any]], evaluation: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["minute"] for r in rows]
    figure, (memory, latency, rate) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    rss = evaluation["criteria"]["rss_growth_bounded"]
    memory.plot(minutes, [r["rss_mb"] for r in rows], marker=".", label="server RSS")
    memory.axvline(rss["warmup_end_min"], color="grey", linestyle=":", label="end of warm-up")
    memory.axhline(
        rss["rss_at_warmup_end_mb"] + RSS_GROWTH_LIMIT_MB, color="red", linestyle="--", label="bound"
    )
    memory.set_ylabel("MB")
    memory.legend(loc="lower right")
    latency.plot(minutes, [r["p99_ms"] for r in rows], marker=".", color="black", label="p99, all requests")
    for kind in ("form_save", "form_read", "tumour_assessment", "audit_read"):
        latency.plot(minutes, [r[f"{kind}_p99_ms"] for r in rows], linewidth=0.8, label=f"p99 {kind}")
    latency.set_ylabel("ms")
    latency.set_yscale("log")
    latency.legend(loc="upper left", fontsize="small")
    rate.plot(minutes, [r["requests_per_s"] for r in rows], marker=".", label="requests/s")
    rate.set_ylabel("requests/s")
    rate.set_xlabel("minutes")
    load = rate.twinx()
    load.plot(
        minutes,
        [r["load_1min"] for r in rows],
        color="tab:orange",
        linewidth=0.8,
        label="load average (1 min)",
    )
    load.set_ylabel("load average")
    rate.legend(loc="upper left")
    load.legend(loc="upper right")
    figure.suptitle(f"{title}: {evaluation['verdict']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


async def start_clients(http: httpx.AsyncClient, rec: Recorder, clients: list[Client]) -> None:
    """Before the measured load, two at a time: each client's logins and its first subject's enrollment.

    A burst of concurrent logins is left out on purpose: each password check is an argon2 hash (64 MiB with
    the production parameters). The writes acknowledged here are kept in the ledger and checked at the end;
    the requests are not part of the measurements, whose clock restarts afterwards.
    """
    gate = asyncio.Semaphore(2)

    async def start(client: Client) -> None:
        async with gate:
            staff = await client.staff.headers(http, rec)
            if await client.monitor.headers(http, rec) is not None and staff is not None:
                await client.enroll(http, rec, staff)

    await asyncio.gather(*(start(c) for c in clients))
    if rec.errors or any(c.subject is None for c in clients):
        raise RuntimeError(f"starting the clients failed: {rec.errors[:5]}")
    rec.requests.clear()
    rec.start = time.perf_counter()


def _progress(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "server.log"
    log.write_bytes(b"")
    env = {
        **os.environ,
        "OLIGOTRIAL_SECRET_KEY": secrets.token_urlsafe(48),
        "OLIGOTRIAL_ENV": "production",
        "OLIGOTRIAL_DB_POOL_SIZE": str(args.pool_size),
    }
    started_at = datetime.now(UTC)
    machine = {"cpus": os.cpu_count(), "load_at_start": [round(v, 2) for v in os.getloadavg()]}
    with database(args.backend, args.database) as url:
        server = Server(url, env, log, args.workers)
        phase = time.perf_counter()
        server.init()
        _progress(f"oligotrial init: {time.perf_counter() - phase:.1f} s")
        phase = time.perf_counter()
        server.start()
        _progress(f"oligotrial serve healthy on {server.base}: {time.perf_counter() - phase:.1f} s")
        from sqlalchemy import create_engine

        size_engine = create_engine(url, pool_size=1) if url.startswith("postgresql") else None
        try:
            phase = time.perf_counter()
            clients = prepare(server.base, args.clients, args.seed)
            _progress(f"sites and users: {time.perf_counter() - phase:.1f} s")
            assert server.process is not None
            process = psutil.Process(server.process.pid)
            rec = Recorder(time.perf_counter())

            async def load() -> Sampler:
                # Idle connections are dropped by the client after 2 s, before uvicorn closes them (after 5 s):
                # with httpx's default of 5 s a request could be sent on a connection the server was closing
                # and get no answer (seen once in the first 30-minute run: a ReadError on a GET).
                limits = httpx.Limits(max_connections=args.clients * 2, keepalive_expiry=2.0)
                async with httpx.AsyncClient(
                    base_url=server.base, timeout=REQUEST_TIMEOUT, limits=limits
                ) as http:
                    phase = time.perf_counter()
                    await start_clients(http, rec, clients)
                    _progress(
                        f"clients logged in, first subjects enrolled: {time.perf_counter() - phase:.1f} s"
                    )
                    sampler = Sampler(rec, process, url, size_engine)
                    sampler.sample()  # t = 0: memory before the load
                    _progress(f"{len(clients)} clients, {args.minutes} min")
                    deadline = time.monotonic() + args.minutes * 60
                    tasks = [asyncio.create_task(c.run(http, rec, deadline, args.think)) for c in clients]
                    next_at = time.monotonic() + args.interval
                    while next_at < deadline - 1e-3:
                        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                        next_at += args.interval
                        row = sampler.sample()
                        _progress(
                            f"t={row['minute']:.2f} min rss={row['rss_mb']} MB req/s={row['requests_per_s']} "
                            f"p99={row['p99_ms']} ms errors={row['errors']} load={row['load_1min']}"
                        )
                    await asyncio.gather(*tasks)
                    sampler.sample()  # the last interval, up to the end of the last requests
                    return sampler

            sampler = asyncio.run(load())
            elapsed = time.perf_counter() - rec.start
            machine["load_at_end"] = [round(v, 2) for v in os.getloadavg()]
        finally:
            exit_code = server.stop()
            if size_engine is not None:
                size_engine.dispose()
        checks = check_database(url, rec.ledger)
        audit = verify_audit_chain(url, env)
    server_log = log.read_text(errors="replace")
    evaluation = evaluate(sampler.rows, rec, args.minutes, checks, audit)
    result = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started_at": started_at.isoformat(timespec="seconds"),
        "config": {
            "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
            "minutes": args.minutes,
            "clients": args.clients,
            "interval_s": args.interval,
            "think_mean_s": args.think,
            "server_workers": args.workers,
            "db_pool_size": args.pool_size,
            "seed": args.seed,
            "mix_percent": MIX,
        },
        "machine": machine,
        "elapsed_s": round(elapsed, 1),
        "totals": totals(rec),
        "first_errors": rec.errors[:20],
        "checks": {**checks, "problems": checks["problems"][:50]},
        "audit_verify": audit,
        "server": {"exit_code": exit_code, "tracebacks_in_log": server_log.count("Traceback")},
        **evaluation,
        "intervals": sampler.rows,
    }
    (out / "soak.json").write_text(json.dumps(result, indent=2, default=str))
    with (out / "intervals.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(sampler.rows[0]))
        writer.writeheader()
        writer.writerows(sampler.rows)
    write_figure(
        sampler.rows,
        evaluation,
        out / "soak.png",
        f"soak, {args.clients} clients, {result['config']['backend']}",
    )
    return result


def summary(result: dict[str, Any]) -> str:
    """The interval table (markdown) and the verdict with each criterion."""
    lines = [
        "| minute | requests/s | errors | server RSS MB | server CPU % | load 1 min | DB MB | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["intervals"]:
        lines.append(
            f"| {r['minute']} | {r['requests_per_s']} | {r['errors']} | {r['rss_mb']} | {r['server_cpu_pct']} | "
            f"{r['load_1min']} | {r['db_mb']} | {r['p50_ms']} | {r['p99_ms']} |"
        )
    lines.append("")
    lines.append("| kind | requests | p50 ms | p99 ms |")
    lines.append("|---|---|---|---|")
    lines += [f"| {k} | {v['n']} | {v['p50_ms']} | {v['p99_ms']} |" for k, v in result["totals"].items()]
    lines.append("")
    for name, criterion in result["criteria"].items():
        details = ", ".join(f"{k}={v}" for k, v in criterion.items() if k != "pass")
        lines.append(f"- {name}: {'pass' if criterion['pass'] else 'FAIL'} ({details})")
    lines.append(f"\nVerdict: {result['verdict']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the load (default 30)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--think", type=float, default=2.0, help="mean think time of a client, s (default 2)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--database", default=None, help="an existing empty database URL instead")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--pool-size", type=int, default=10, help="database connections per server process")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument(
        "--out", default=str(ROOT / "build" / "soak"), help="output folder (default build/soak)"
    )
    args = parser.parse_args(argv)
    for name in ("minutes", "interval"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            parser.error(f"--{name} must be a positive number of {name}, got {value}")
    if args.clients < 1:
        parser.error(f"--clients must be at least 1, got {args.clients}")
    if not (math.isfinite(args.think) and args.think >= 0):
        parser.error(f"--think must be a non-negative number of seconds, got {args.think}")
    return args


def main(argv: list[str] | None = None) -> int:
    result = run(parse_args(argv))
    print(summary(result))
    return 0 if result["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
