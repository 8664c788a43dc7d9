"""Real ``oligotrial serve`` processes on loopback for the reliability tests, and the write load they run:
subjects created, a form saved over and over, subjects randomized, with a ledger of every write the server
acknowledged, and the checks that the database holds each of them, whole and audited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from edc_fixtures import FAST_HASH_ENV, free_port
from oligotrial.services import Edc
from oligotrial.services.audit_trail import verify_audit
from oligotrial.store.tables import (
    AuditEntry,
    Form,
    FormVersion,
    RandomizationEntry,
    RandomizationRecord,
    Subject,
)

START_SECONDS = 120.0  # generous: a loaded 2-core machine imports slowly
REQUEST_SECONDS = 20.0


@dataclass
class Server:
    """One ``oligotrial serve`` process; ``base`` is its URL on 127.0.0.1."""

    url: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log: Any = None  # the server's stderr: a file, not a pipe (a pipe nobody reads fills up and hangs it)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> Server:
        environment = {
            **os.environ,
            "OLIGOTRIAL_ENV": "development",
            "OLIGOTRIAL_DB_BUSY_TIMEOUT_SECONDS": "5",
            **FAST_HASH_ENV,
            **env,
        }
        command = [sys.executable, "-m", "oligotrial.cli", "serve", "--database", self.url]
        command += ["--port", str(self.port), "--log-level", "warning"]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the server; closed by wait()
        self.process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=self.log)
        self.wait_healthy()
        return self

    def wait_healthy(self, seconds: float = START_SECONDS) -> None:
        assert self.process is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log_tail()}")
            try:
                if httpx.get(self.base + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server at {self.base} did not become healthy in {seconds} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions die with the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
        self.wait()

    def wait(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_tail(self, characters: int = 3000) -> str:
        """The end of what the server wrote to its standard error so far."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-characters:]


@dataclass
class Ledger:
    """What the server acknowledged (2xx), and every answer it gave."""

    subjects: set[str] = field(default_factory=set)
    forms: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)  # id -> version -> values
    randomized: dict[str, tuple[str, int]] = field(default_factory=dict)  # subject -> (arm, sequence)
    statuses: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # requests without an answer (refused, reset, timed out)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def acknowledged(self) -> int:
        with self.lock:
            return len(self.subjects) + sum(len(v) for v in self.forms.values()) + len(self.randomized)


@dataclass
class Writer:
    """One client: its token, its form (subject + form code) and its queue of enrolled subjects to randomize.

    The state survives server restarts: a randomization whose answer was lost is retried with the same
    idempotency key; a form whose version is unknown is re-read before the next change.
    """

    name: str
    token: str
    subject: str
    to_randomize: list[str]
    form_id: int | None = None
    version: int | None = None
    n: int = 0

    def run(self, base: str, ledger: Ledger, stop: threading.Event, allowed: set[int], limit: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_SECONDS) as client:
            for _ in range(limit):
                if stop.is_set():
                    return
                self.n += 1
                try:
                    self._one(client, ledger, allowed)
                except httpx.TransportError as exc:
                    self.version = None  # the answer was lost: re-read before the next change
                    with ledger.lock:
                        ledger.lost.append(repr(exc))
                    if stop.is_set():
                        return
                    time.sleep(0.05)

    def _record(self, ledger: Ledger, response: httpx.Response, allowed: set[int], what: str) -> bool:
        with ledger.lock:
            ledger.statuses[response.status_code] += 1
            if response.status_code not in allowed:
                ledger.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")
        if response.status_code == 503:
            time.sleep(0.05)  # a client backs off before retrying
        return response.status_code in (200, 201)

    def _one(self, client: httpx.Client, ledger: Ledger, allowed: set[int]) -> None:
        kind = self.n % 3
        if kind == 0:
            response = client.post("/api/v1/subjects", json={"site": "CN01"})
            if self._record(ledger, response, allowed, "create subject"):
                with ledger.lock:
                    ledger.subjects.add(response.json()["code"])
        elif kind == 1:
            self._save_form(client, ledger, allowed)
        elif self.to_randomize:
            code = self.to_randomize[0]
            response = client.post(
                f"/api/v1/subjects/{code}/randomization",
                json={"induction_response": "SD", "metastatic_organ_count": 2},
                headers={"Idempotency-Key": f"reliability-{code}"},
            )
            if self._record(ledger, response, allowed, f"randomize {code}"):
                body = response.json()
                with ledger.lock:
                    ledger.randomized[code] = (body["arm"], body["sequence"])
                self.to_randomize.pop(0)

    def _save_form(self, client: httpx.Client, ledger: Ledger, allowed: set[int]) -> None:
        if self.form_id is not None and self.version is None:
            current = client.get(f"/api/v1/forms/{self.form_id}")
            if not self._record(ledger, current, allowed, "read form"):
                return
            self.version = current.json()["version"]
        values = {"WEIGHT": 50 + self.n % 40, "NOTE": f"{self.name} write {self.n}"}
        body: dict[str, Any] = {"values": values}
        if self.version is not None:
            body |= {"base_version": self.version, "reason": "reliability test change"}
        response = client.put(f"/api/v1/subjects/{self.subject}/forms/FOLLOWUP/VITALS", json=body)
        if response.status_code == 409:
            self.version = None  # someone (our own lost answer) changed it: re-read
        if self._record(ledger, response, allowed | {409}, "save form"):
            form = response.json()
            self.form_id, self.version = form["id"], form["version"]
            with ledger.lock:
                ledger.forms.setdefault(form["id"], {})[form["version"]] = values


def prepare_writers(world, count: int = 4, queue: int = 12) -> list[Writer]:
    """A randomization list, and per writer a subject for its form and ``queue`` enrolled subjects."""
    from oligotrial.services import data
    from oligotrial.services import randomization as rnd

    edc = world.edc
    rnd.generate_randomization_list(edc, world.actor("statistician"), entries_per_stratum=80, seed=12)
    writers = []
    for i in range(count):
        name = "investigator.cn01" if i % 2 == 0 else "researchcoordinator.cn01"
        actor = world.actor(name)
        subject = data.create_subject(edc, actor, "CN01").code
        enrolled = []
        for _ in range(queue):
            code = data.create_subject(edc, actor, "CN01").code
            data.update_subject_status(edc, actor, code, "enrolled", 1, "eligible")
            enrolled.append(code)
        writers.append(Writer(f"w{i}", world.tokens[name], subject, enrolled))
    return writers


def run_writers(
    base: str, writers: list[Writer], ledger: Ledger, allowed: set[int], limit: int
) -> tuple[threading.Event, list[threading.Thread]]:
    """Start the writers on ``base``; set the returned event and join the threads to end the load."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run, args=(base, ledger, stop, allowed, limit), daemon=True)
        for w in writers
    ]
    for thread in threads:
        thread.start()
    return stop, threads


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def check_database(edc: Edc, ledger: Ledger) -> list[str]:
    """Every acknowledged write is present, whole (its version row and its audit entry), the audit chain
    verifies, the randomization sequence and list slots have no gap or duplicate. Returns the problems."""
    problems: list[str] = []
    report = verify_audit(edc)
    if not report.is_intact:
        problems.append(f"audit chain broken: {[p.render() for p in report.problems][:5]}")
    with edc.engine.connect() as db:
        codes = set(db.scalars(select(Subject.code)))
        problems += [f"acknowledged subject {c} is missing" for c in sorted(ledger.subjects - codes)]
        audited_subjects = Counter(
            db.scalars(
                select(AuditEntry.record_id).where(
                    AuditEntry.table_name == "subjects", AuditEntry.action == "create"
                )
            )
        )
        problems += [
            f"subject {c}: {audited_subjects[c]} create entries" for c in codes if audited_subjects[c] != 1
        ]

        versions: dict[int, dict[int, dict[str, Any]]] = {}
        for form_id, version, values in db.execute(
            select(FormVersion.form_id, FormVersion.version, FormVersion.item_values)
        ):
            versions.setdefault(form_id, {})[version] = values
        for form_id, acknowledged in ledger.forms.items():
            for version, values in acknowledged.items():
                stored = versions.get(form_id, {}).get(version)
                if stored != values:
                    problems.append(f"form {form_id} v{version}: acknowledged {values}, stored {stored}")
        audited_forms = Counter(
            db.scalars(select(AuditEntry.record_id).where(AuditEntry.table_name == "forms"))
        )
        for form_id, version, values in db.execute(select(Form.id, Form.version, Form.item_values)):
            history = versions.get(form_id, {})
            if sorted(history) != list(range(1, version + 1)):
                problems.append(f"form {form_id} at v{version} has versions {sorted(history)}")
            elif history[version] != values:
                problems.append(f"form {form_id}: current values differ from its last version")
            if audited_forms[str(form_id)] != len(history):
                problems.append(
                    f"form {form_id}: {len(history)} versions, {audited_forms[str(form_id)]} audited"
                )

        records = db.execute(
            select(
                Subject.code,
                RandomizationRecord.arm,
                RandomizationRecord.sequence,
                RandomizationRecord.entry_id,
                RandomizationRecord.subject_id,
            ).join(Subject, Subject.id == RandomizationRecord.subject_id)
        ).all()
        sequences = sorted(r.sequence for r in records)
        if sequences != list(range(1, len(records) + 1)):
            problems.append(f"randomization sequence has a gap or duplicate: {sequences}")
        stored = {r.code: (r.arm, r.sequence) for r in records}
        for code, assignment in ledger.randomized.items():
            if stored.get(code) != assignment:
                problems.append(
                    f"randomization of {code}: acknowledged {assignment}, stored {stored.get(code)}"
                )
        used = db.execute(
            select(
                RandomizationEntry.id,
                RandomizationEntry.subject_id,
                RandomizationEntry.stratum,
                RandomizationEntry.position,
            ).where(RandomizationEntry.subject_id.is_not(None))
        ).all()
        by_entry = {r.entry_id: r.subject_id for r in records}
        if {u.id: u.subject_id for u in used} != by_entry:
            problems.append("used list slots and randomization records do not match one to one")
        positions: dict[str, list[int]] = {}
        for u in used:
            positions.setdefault(u.stratum, []).append(u.position)
        for stratum, taken in positions.items():
            if sorted(taken) != list(range(1, len(taken) + 1)):
                problems.append(f"list slots of stratum {stratum} used with a gap: {sorted(taken)}")
        audited = Counter(
            db.scalars(select(AuditEntry.record_id).where(AuditEntry.table_name == "randomizations"))
        )
        problems += [
            f"randomization of {r.code}: {audited[r.code]} audit entries"
            for r in records
            if audited[r.code] != 1
        ]
        count = db.scalar(select(func.count()).select_from(AuditEntry))
        if count != report.entries:
            problems.append(f"audit rows {count} != verified entries {report.entries}")
    return problems
