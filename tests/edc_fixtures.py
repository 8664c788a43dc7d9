"""Shared fixtures of the EDC tests: every database test runs on SQLite and on a real PostgreSQL server that
the session starts itself (Debian's initdb/pg_ctl into a temporary directory, on a free port).

If PostgreSQL cannot be found or started the PostgreSQL tests fail with the reason; nothing is skipped.
"""

from __future__ import annotations

import glob
import gzip
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import text

from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, Edc, Role, init_database, open_edc
from oligotrial.services import admin as admin_services
from oligotrial.services.auth import login
from oligotrial.settings import Settings
from oligotrial.store.audit import audit_entry, chain_entries
from oligotrial.store.engine import WriterGate

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")

ADMIN = "admin"
ADMIN_PASSWORD = "correct horse battery staple"
PASSWORD = "site user pass phrase"
FAST_HASH = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}
FAST_HASH_ENV = {
    "OLIGOTRIAL_ARGON2_TIME_COST": "1",
    "OLIGOTRIAL_ARGON2_MEMORY_KIB": "64",
    "OLIGOTRIAL_ARGON2_PARALLELISM": "1",
}
BACKENDS = ["sqlite", "postgresql"]


def site_today() -> date:
    """Today at the test sites, which are in the default site time zone (``Asia/Shanghai``): the day the
    server dates a randomization made now (from 16:00 UTC it is already tomorrow in UTC terms)."""
    zone = Settings.model_fields["default_site_time_zone"].default
    return datetime.now(ZoneInfo(zone)).date()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def edc_settings(url: str, **overrides: object) -> Settings:
    return Settings(env="development", database_url=url, **{**FAST_HASH, **overrides})  # type: ignore[arg-type]


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    bin_dir: Path
    names: itertools.count = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        engine = sa_create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()

    def new_database(self, template: str | None = None) -> str:
        name = f"t{next(self.names)}"
        suffix = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        self.execute(f"CREATE DATABASE {name}{suffix}")
        return self.url(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> PostgresServer:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run `make system-deps` "
            "or `apt-get install postgresql`",
            pytrace=False,
        )
    bin_dir = Path(candidates[-1]).parent
    # Not under pytest's temporary directory: pytest tightens its permissions to 0700, which would lock the
    # postgres user out of its own data directory.
    base = Path(tempfile.mkdtemp(prefix="oligotrial-pg-"))
    data_dir, sock_dir = base / "data", base / "sock"
    sock_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock_dir, "postgres")
    port = free_port()
    log = base / "server.log"
    commands = [
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {sock_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                "start",
            ]
        ),
    ]
    for cmd in commands:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            details = log.read_text() if log.exists() else ""
            pytest.fail(
                f"could not start PostgreSQL: {' '.join(cmd)}\n{result.stdout}\n{result.stderr}\n{details}",
                pytrace=False,
            )
    server = PostgresServer(data_dir, port, bin_dir)
    yield server
    subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"]),
        capture_output=True,
        check=False,
    )
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def _templates(tmp_path_factory, request):
    """Per backend, a database initialized once (schema + administrator), copied for every test."""
    return {}


def _template_url(backend: str, request, tmp_path_factory, templates: dict) -> str:
    if backend not in templates:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
            url = f"sqlite:///{path}"
        else:
            server = request.getfixturevalue("postgres_server")
            server.execute("CREATE DATABASE edc_template")
            url = server.url("edc_template")
        init_database(edc_settings(url), load_protocol(), ADMIN, ADMIN_PASSWORD, source="test")
        if backend == "sqlite":
            engine = sa_create_engine(url)
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
        templates[backend] = url
    return templates[backend]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path, tmp_path_factory, _templates) -> str:
    """A fresh, initialized database (schema current, administrator ``admin``) on the backend."""
    template = _template_url(backend, request, tmp_path_factory, _templates)
    if backend == "sqlite":
        target = tmp_path / "trial.db"
        shutil.copyfile(template.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    return request.getfixturevalue("postgres_server").new_database(template="edc_template")


@pytest.fixture
def empty_database_url(backend, request, tmp_path) -> str:
    """A database with no table at all, on the backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def edc(database_url) -> Edc:
    context = open_edc(edc_settings(database_url))
    yield context
    context.engine.dispose()


SITE_ROLES = [Role.INVESTIGATOR, Role.RESEARCH_COORDINATOR, Role.MONITOR, Role.DATA_MANAGER]
STUDY_ROLES = [Role.ADMINISTRATOR, Role.STATISTICIAN, Role.DSMB_MEMBER]


@dataclass
class World:
    """Two sites (CN01, CN02), a user per site role at each site, study-wide users, and their actors."""

    edc: Edc
    actors: dict[str, Actor]
    tokens: dict[str, str]

    def actor(self, name: str) -> Actor:
        return self.actors[name]


def build_world(edc: Edc) -> World:
    system = Actor.system("test")
    for code in ("CN01", "CN02"):
        admin_services.create_site(edc, system, code, f"Site {code}")
    names = []
    for site in ("CN01", "CN02"):
        for role in SITE_ROLES:
            name = f"{role.value.replace('_', '')}.{site.lower()}"
            admin_services.create_user(
                edc, system, name, PASSWORD, f"{role.value} {site}", roles=[(role, site)]
            )
            names.append(name)
    for role in STUDY_ROLES[1:]:
        name = role.value.replace("_", "")
        admin_services.create_user(edc, system, name, PASSWORD, role.value, roles=[(role, None)])
        names.append(name)
    tokens = {name: login(edc, name, PASSWORD, "test").access_token for name in names}
    tokens[ADMIN] = login(edc, ADMIN, ADMIN_PASSWORD, "test").access_token
    from oligotrial.services.auth import authenticate

    actors = {name: authenticate(edc, token, "test") for name, token in tokens.items()}
    return World(edc, actors, tokens)


@pytest.fixture
def world(edc) -> World:
    return build_world(edc)


def read_backup_lines(path: Path) -> list[object]:
    """Every line of a backup file (``oligotrial-backup/2``, gzip JSON Lines), parsed with the json module."""
    text_lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    return [json.loads(line) for line in text_lines]


def backup_table(lines: list[object], table: str) -> tuple[list[list[object]], list[str]]:
    """The row lines of ``table`` in ``lines`` (the same lists: change them in place) and its columns."""
    for place, line in enumerate(lines):
        if isinstance(line, dict) and line.get("table") == table:
            rows = list(itertools.takewhile(lambda row: isinstance(row, list), lines[place + 1 :]))
            return rows, line["columns"]
    raise KeyError(table)


def write_backup_lines(path: Path, lines: list[object]) -> None:
    """Write ``lines`` as a backup file (each one JSON value on its own line, gzip-compressed)."""
    path.write_bytes(gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")))


def append_form_changes(url: str, count: int) -> None:
    """``count`` chained audit entries of the size a form change writes (twelve items, old and new)."""
    edc = open_edc(edc_settings(url))
    values = {f"ITEM{i:02d}": f"value {i} of a form item" for i in range(12)}
    try:
        with edc.engine.begin() as connection:
            for start in range(0, count, 5000):
                chain_entries(
                    connection,
                    [
                        audit_entry(
                            actor_id=None,
                            actor_username="coordinator",
                            action="update",
                            table_name="forms",
                            record_id=n,
                            site_id=None,
                            old=values,
                            new={**values, "ITEM00": f"changed {n}"},
                            reason="transcription error corrected",
                            source="127.0.0.1",
                        )
                        for n in range(start, min(start + 5000, count))
                    ],
                )
    finally:
        edc.engine.dispose()


_PEAK_MEMORY = """
import atexit, runpy, sys
def peak(path):  # the high-water mark of this process's own memory (not of the process that started it)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    open(path, "w").write(status["VmHWM"].split()[0])
atexit.register(peak, sys.argv[1])
sys.argv = ["oligotrial", *sys.argv[2:]]
runpy.run_module("oligotrial.cli", run_name="__main__")
"""


def peak_megabytes(work: Path, *args: object) -> float:
    """Run ``oligotrial ARGS`` in a process of its own; its peak resident memory (``VmHWM``) in MB.

    The kernel's ``ru_maxrss`` of a child started from this (large) test process would include this process's
    own peak, which it carries over into the child at ``exec``.
    """
    peak = work / "peak.txt"
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, str(peak), *map(str, args)],
        env={**os.environ, "OLIGOTRIAL_ENV": "development", **FAST_HASH_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return int(peak.read_text()) / 1024


@contextmanager
def held_elsewhere(gate: WriterGate) -> Iterator[None]:
    """The writer gate held by another thread (a write transaction in progress) for the ``with`` block."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.held(timeout=10):
            held.set()
            done.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join(30)
