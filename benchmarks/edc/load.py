"""Load run against the real EDC server: audited form saves and reads from concurrent clients.

Usage (from the repository root, as root so PostgreSQL can run as the postgres user)::

    .venv/bin/python benchmarks/edc/load.py [--backend sqlite|postgresql|both] [--clients 50] [--seconds 20]
                                            [--workers 1] [--rate 0] [--warm-up 2] [--postgres-log FILE]
                                            [--postgres-setting NAME=VALUE ...]

For each backend the script creates a fresh database with ``oligotrial init``, starts ``oligotrial serve`` as a
separate process on a free loopback port, creates a site, a coordinator and one subject per client through the
API, logs each client in (its own bearer token), then runs the clients for the warm-up (not counted: the
forms' first entries, the server's statement caches and connections) and the measured time: each loops over
a form save (PUT, audited; the first entry of a form, then changes with their base version and a reason)
followed by a read of the same form (GET). Closed loop (``--rate 0``, the default): each client sends its next
save as soon as its read is answered, so the run measures the most the server does and the latencies follow
from it (50 clients / throughput = one loop). Paced (``--rate R``): the clients offer R saves per second in
all, each client's saves due at a fixed interval (50 / R seconds), spread evenly over the clients; a save's
latency counts from when it was due, so a server that cannot keep up shows it (no coordinated omission).
Afterwards it checks that every save the server acknowledged is in the database (the form's version history),
and verifies the audit chain with ``oligotrial audit verify``. Request loops are bounded in time and target
127.0.0.1 only. The figures include the CPU used by the server process(es), by this client (they share the
machine's cores) and, on PostgreSQL, by the database server, per save+read pair; the load average when the
run started; and per second of the run the saves' count, p50 and p99 (``save_count_p50_p99_ms_by_second``: a
tail from a few stalled seconds looks different from one spread over the whole run); on SQLite, the largest
and the last size of the WAL file, sampled every half second (``sqlite_wal_largest_and_last_mb``: under
steady load it must not grow with the run's length).

PostgreSQL runs on a throwaway cluster with the server's default settings, so every commit waits for its WAL
flush (``synchronous_commit=on``); ``--postgres-setting synchronous_commit=off`` measures commits acknowledged before their
flush instead, the class of SQLite's ``synchronous=NORMAL`` (this project's SQLite setting): a crash of the
machine (and, on PostgreSQL, of the database server) can lose the last acknowledged commits, whole, never
part of one. The result names the settings it ran with.

The timed clients are deliberately lean, so that the client takes as little as possible of the CPU the server
needs: one keep-alive HTTP/1.1 connection each over asyncio streams on uvloop, requests pre-encoded (the body
formatted from a bytes template), responses read by ``Content-Length``; each client owns its form and so
knows its base version (the server's acknowledged version is still parsed from every save's answer and
checked to be the previous one plus one). Latencies are measured from sending a request to having read its
whole response. Set-up and the checks afterwards use httpx. ``LOAD_SERVER_COMMAND`` (environment) replaces
the ``oligotrial`` executable that is started with ``serve`` (e.g. a wrapper that profiles the server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop

BIN = Path(sys.executable).parent
ADMIN, ADMIN_PASSWORD = "admin", "load-test-manager-pw-1"
COORDINATOR, COORDINATOR_PASSWORD = "coordinator", "load-test-site-staff-pw-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


#: PostgreSQL's own account of a run (``--postgres-log``): every statement of 20 ms or more, every lock wait
#: of 10 ms or more, every autovacuum and every checkpoint.
POSTGRES_DIAGNOSTICS = (
    "-c log_min_duration_statement=20 -c log_lock_waits=on -c deadlock_timeout=10ms "
    "-c log_autovacuum_min_duration=0 -c log_checkpoints=on"
)


@contextmanager
def postgres_cluster(log: Path | None = None, settings: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """A throwaway PostgreSQL cluster with default durability settings unless ``settings`` (``NAME=VALUE``
    server settings, e.g. ``synchronous_commit=off``) say otherwise; yields a database URL and the server's
    process id (its backends are its children). With ``log``,
    the server logs :data:`POSTGRES_DIAGNOSTICS` and its log is copied there when it stops."""
    for setting in settings:
        if not re.fullmatch(r"[a-z_]+=[A-Za-z0-9_.]+", setting):
            raise ValueError(
                f"--postgres-setting {setting!r}: expected NAME=VALUE, e.g. synchronous_commit=off"
            )
    bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="oligotrial-load-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if log is not None:
        options += " " + POSTGRES_DIAGNOSTICS
    options += "".join(f" -c {setting}" for setting in settings)
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o", options, "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "trial"]
            ),
            check=True,
            capture_output=True,
        )
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/trial", postmaster
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        if log is not None:
            shutil.copyfile(base / "log", log)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def server(url: str, workers: int, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``oligotrial init`` then ``oligotrial serve``; yields the base URL and the server's process id."""
    password_file = Path(tempfile.mkstemp()[1])
    password_file.write_text(ADMIN_PASSWORD)
    subprocess.run(
        [
            str(BIN / "oligotrial"),
            "init",
            "--database",
            url,
            "--admin-user",
            ADMIN,
            "--admin-password-file",
            str(password_file),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    port = free_port()
    command = os.environ.get("LOAD_SERVER_COMMAND", str(BIN / "oligotrial")).split()
    process = subprocess.Popen(
        [
            *command,
            "serve",
            "--database",
            url,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a busy shared machine can take long to import and start
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start within 180 s")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        password_file.unlink(missing_ok=True)


def _login(base: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": username, "password": password}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def prepare(base: str, clients: int) -> list[str]:
    """A site, a coordinator at that site, and one subject per client; returns the subject codes."""
    admin = _login(base, ADMIN, ADMIN_PASSWORD)
    httpx.post(
        f"{base}/api/v1/sites", json={"code": "S01", "name": "Load site"}, headers=admin, timeout=30
    ).raise_for_status()
    user = {
        "username": COORDINATOR,
        "password": COORDINATOR_PASSWORD,
        "full_name": "Load Coordinator",
        "roles": [{"role": "research_coordinator", "site": "S01"}],
    }
    created = httpx.post(f"{base}/api/v1/users", json=user, headers=admin, timeout=30)
    if created.status_code != 201:
        raise RuntimeError(f"creating the coordinator failed: {created.status_code} {created.text}")
    coordinator = _login(base, COORDINATOR, COORDINATOR_PASSWORD)
    codes = []
    for _ in range(clients):
        response = httpx.post(
            f"{base}/api/v1/subjects", json={"site": "S01"}, headers=coordinator, timeout=30
        )
        response.raise_for_status()
        codes.append(response.json()["code"])
    return codes


@dataclass
class Tally:
    saves: list[float] = field(default_factory=list)
    save_starts: list[float] = field(default_factory=list)  # when each save was due (or sent), perf_counter
    reads: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    acknowledged: dict[int, int] = field(default_factory=dict)  # form id -> last acknowledged version
    saved: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: sends pre-encoded requests, reads responses.

    A lean client on purpose: it shares the machine's cores with the server, so it only writes the request
    bytes and reads the status line, the headers (for ``Content-Length`` and ``Connection``) and the body.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; returns the status and the body (the connection is reopened when needed)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length, close = None, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise RuntimeError(f"unexpected Transfer-Encoding {value.strip()!r}")
            if length is None:
                raise RuntimeError("response without Content-Length")
            body = await self.reader.readexactly(length)
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _request(method: str, path: str, authorization: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n"
    if method == "GET":
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def client_loop(
    base: str,
    subject: str,
    headers: dict[str, str],
    until: float,
    tally: Tally,
    schedule: tuple[float, float] | None = None,
    measured_from: float = 0.0,
) -> None:
    """Save (PUT) then read (GET) the client's own form until the time is up.

    The client owns its form, so it knows the base version of its next change: the version the server
    acknowledged last (taken from the save's answer and checked to be the previous one plus one).

    ``schedule`` (first start, period; ``time.perf_counter`` seconds) paces the client: its k-th save is due at
    ``first + k * period`` and is sent then, or at once when the client is behind; its latency is counted from
    when it was due, so a server that falls behind the offered rate shows it in the latencies (no coordinated
    omission). Without a schedule the client sends its next save as soon as the previous read is answered.
    The client stops at ``until``; only the saves due (or sent) and the reads sent from ``measured_from`` on are
    counted (``time.perf_counter`` seconds: before that, the warm-up).
    """
    host, port = base.removeprefix("http://").rsplit(":", 1)
    connection = Connection(host, int(port))
    authorization = headers["Authorization"]
    save_head = _request("PUT", f"/api/v1/subjects/{subject}/forms/LOAD/VITALS", authorization)
    save_head = save_head[: save_head.index(b"Content-Length: ") + len(b"Content-Length: ")]
    read_request = b""
    version: int | None = None
    n = 0
    try:
        while time.perf_counter() < until:
            n += 1
            due = None
            if schedule is not None:
                due = schedule[0] + (n - 1) * schedule[1]
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                if time.perf_counter() >= until:
                    break
            if version is None:
                body = b'{"values":{"WEIGHT":%d,"NOTE":"entry %d"}}' % (60 + n % 30, n)
            else:
                body = b'{"values":{"WEIGHT":%d,"NOTE":"entry %d"},"base_version":%d,"reason":"%s"}' % (
                    60 + n % 30,
                    n,
                    version,
                    b"load test correction",
                )
            start = time.perf_counter()
            try:
                status, answer = await connection.request(save_head + b"%d\r\n\r\n" % len(body) + body)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, RuntimeError) as exc:
                tally.errors.append(f"save: {exc!r}")
                continue
            began = start if due is None else min(start, due)
            measured = began >= measured_from
            if measured:
                tally.saves.append(time.perf_counter() - began)
                tally.save_starts.append(began)
            if status != 200:
                tally.errors.append(f"save {status}: {answer[:200]!r}")
                continue
            form = json.loads(answer)
            expected = 1 if version is None else version + 1
            if form["version"] != expected:
                tally.errors.append(f"save acknowledged version {form['version']}, expected {expected}")
            tally.saved += measured
            version = form["version"]
            tally.acknowledged[form["id"]] = version
            if not read_request:
                read_request = _request("GET", f"/api/v1/forms/{form['id']}", authorization)
            start = time.perf_counter()
            try:
                status, answer = await connection.request(read_request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, RuntimeError) as exc:
                tally.errors.append(f"read: {exc!r}")
                continue
            if start >= measured_from:
                tally.reads.append(time.perf_counter() - start)
            if status != 200:
                tally.errors.append(f"read {status}: {answer[:200]!r}")
    finally:
        await connection.close()


def check_acknowledged(base: str, tally: Tally) -> int:
    """Every acknowledged version is in the form's history; returns the number of versions checked."""
    headers = _login(base, COORDINATOR, COORDINATOR_PASSWORD)
    checked = 0
    for form_id, last in tally.acknowledged.items():
        history = httpx.get(f"{base}/api/v1/forms/{form_id}/history", headers=headers, timeout=60).json()
        versions = {entry["version"] for entry in history}
        missing = set(range(1, last + 1)) - versions
        assert not missing, f"form {form_id}: acknowledged versions {sorted(missing)} are missing"
        checked += last
    return checked


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def by_second(starts: list[float], latencies: list[float], origin: float) -> list[list[float]]:
    """Per second of the run (by when each save was due or sent): the number of saves, their p50 and their
    p99 in ms; shows whether a tail comes from a few stalls or from the whole run."""
    seconds: dict[int, list[float]] = {}
    for start, latency in zip(starts, latencies, strict=True):
        seconds.setdefault(int(start - origin), []).append(latency)
    return [
        [len(v), round(percentile(v, 50) * 1000, 1), round(percentile(v, 99) * 1000, 1)]
        for _, v in sorted(seconds.items())
    ]


def run(
    backend: str,
    url: str,
    clients: int,
    seconds: float,
    workers: int,
    rate: float,
    warm_up: float,
    database_pid: int | None = None,
    wal: Path | None = None,
) -> dict[str, object]:
    """One load run; ``database_pid``: a database server's process, whose CPU (its children's included) is
    reported beside the server processes' and the client's; ``wal``: a SQLite database's WAL file, whose size
    is sampled every half second of the run (warm-up included)."""
    env = {**os.environ, "OLIGOTRIAL_SECRET_KEY": secrets.token_urlsafe(48), "OLIGOTRIAL_ENV": "production"}
    with server(url, workers, env) as (base, pid):
        subjects = prepare(base, clients)
        tally = Tally()

        # Each client logs in first (argon2: deliberately slow), outside the measured period.
        logins = [_login(base, COORDINATOR, COORDINATOR_PASSWORD) for _ in subjects]

        marks: dict[str, float] = {}
        wal_sizes: list[int] = []

        async def watch_wal(until: float) -> None:
            while wal is not None and time.perf_counter() < until:
                wal_sizes.append(wal.stat().st_size if wal.exists() else 0)
                await asyncio.sleep(0.5)

        async def measure_from(moment: float) -> None:
            await asyncio.sleep(max(0.0, moment - time.perf_counter()))
            marks.update(
                at=time.perf_counter(),
                load=os.getloadavg()[0],
                server_cpu=tree_cpu_seconds(pid),
                database_cpu=tree_cpu_seconds(database_pid) if database_pid else 0.0,
                client_cpu=time.process_time(),
            )

        async def main() -> None:
            # Paced: the clients' saves due evenly spread, client i first at i / rate, then every clients / rate.
            first = time.perf_counter() + 0.05
            measured = first + warm_up  # the warm-up's saves and reads are made but not counted
            schedules = [(first + i / rate, clients / rate) if rate else None for i in range(clients)]
            await asyncio.gather(
                measure_from(measured),
                watch_wal(measured + seconds),
                *(
                    client_loop(base, s, h, measured + seconds, tally, schedule, measured)
                    for s, h, schedule in zip(subjects, logins, schedules, strict=True)
                ),
            )

        uvloop.run(main())
        ended = time.perf_counter()
        elapsed = ended - marks["at"]
        server_cpu = tree_cpu_seconds(pid) - marks["server_cpu"]
        database_cpu = (tree_cpu_seconds(database_pid) if database_pid else 0.0) - marks["database_cpu"]
        client_cpu = time.process_time() - marks["client_cpu"]
        load_before, load_after = marks["load"], os.getloadavg()[0]
        checked = check_acknowledged(base, tally)
        verify = subprocess.run(
            [str(BIN / "oligotrial"), "audit", "verify", "--database", url, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    return {
        "backend": backend,
        "clients": clients,
        "workers": workers,
        "seconds": round(elapsed, 1),
        "warm_up_seconds": warm_up,
        "offered_writes_per_s": rate or "closed loop",
        "saves": len(tally.saves),
        "reads": len(tally.reads),
        "errors": len(tally.errors),
        "first_errors": tally.errors[:3],
        "writes_per_s": round(tally.saved / elapsed, 1),
        "save_p50_ms": round(percentile(tally.saves, 50) * 1000, 1),
        "save_p99_ms": round(percentile(tally.saves, 99) * 1000, 1),
        "read_p50_ms": round(percentile(tally.reads, 50) * 1000, 1),
        "read_p99_ms": round(percentile(tally.reads, 99) * 1000, 1),
        "server_cpu_share": round(server_cpu / elapsed, 2),
        "server_cpu_ms_per_save_and_read": round(server_cpu / max(tally.saved, 1) * 1000, 2),
        "database_server_cpu_share": round(database_cpu / elapsed, 2) if database_pid else None,
        "database_server_cpu_ms_per_save_and_read": round(database_cpu / max(tally.saved, 1) * 1000, 2)
        if database_pid
        else None,
        "client_cpu_share": round(client_cpu / elapsed, 2),
        "client_cpu_ms_per_save_and_read": round(client_cpu / max(tally.saved, 1) * 1000, 2),
        "load_average_before_after": [round(load_before, 1), round(load_after, 1)],
        "save_count_p50_p99_ms_by_second": by_second(tally.save_starts, tally.saves, marks["at"]),
        "sqlite_wal_largest_and_last_mb": [round(max(wal_sizes) / 1e6, 1), round(wal_sizes[-1] / 1e6, 1)]
        if wal_sizes
        else None,
        "acknowledged_versions_checked": checked,
        "audit_verify_exit": verify.returncode,
        "audit_verify": json.loads(verify.stdout)
        if verify.stdout.strip().startswith("{")
        else verify.stdout[-300:],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured period")
    parser.add_argument(
        "--warm-up",
        type=float,
        default=2.0,
        help="seconds of the same load before the measured period, not counted (the first entries of the forms, "
        "the server's caches and connections)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered saves per second over all clients (each save followed by a read); 0: closed loop",
    )
    parser.add_argument(
        "--postgres-log",
        type=Path,
        default=None,
        help="write PostgreSQL's log of the run here, with its slow statements (>= 20 ms), lock waits "
        "(>= 10 ms), autovacuums and checkpoints",
    )
    parser.add_argument(
        "--postgres-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL server setting for the run's cluster (repeatable), e.g. synchronous_commit=off: "
        "commits acknowledged before their WAL flush, the durability of SQLite's synchronous=NORMAL",
    )
    args = parser.parse_args()
    results = []
    if args.backend in {"sqlite", "both"}:
        folder = Path(tempfile.mkdtemp(prefix="oligotrial-load-"))
        results.append(
            run(
                "sqlite",
                f"sqlite:///{folder / 'trial.db'}",
                args.clients,
                args.seconds,
                args.workers,
                args.rate,
                args.warm_up,
                wal=folder / "trial.db-wal",
            )
        )
        shutil.rmtree(folder, ignore_errors=True)
    if args.backend in {"postgresql", "both"}:
        with postgres_cluster(args.postgres_log, args.postgres_setting) as (url, postmaster):
            result = run(
                "postgresql",
                url,
                args.clients,
                args.seconds,
                args.workers,
                args.rate,
                args.warm_up,
                database_pid=postmaster,
            )
            results.append({**result, "postgres_settings": args.postgres_setting})
    print(json.dumps(results, indent=2))
    print(
        "| backend | clients | workers | offered | audited writes/s | save p50 / p99 ms | read p50 / p99 ms | errors "
        "| CPU server / client (cores) | CPU ms per save+read server / client | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['clients']} | {r['workers']} | {r['offered_writes_per_s']} | {r['writes_per_s']} | {r['save_p50_ms']} / "
            f"{r['save_p99_ms']} | {r['read_p50_ms']} / {r['read_p99_ms']} | {r['errors']} | "
            f"{r['server_cpu_share']} / {r['client_cpu_share']} | {r['server_cpu_ms_per_save_and_read']} / "
            f"{r['client_cpu_ms_per_save_and_read']} | "
            f"{r['load_average_before_after'][0]} |"
        )


if __name__ == "__main__":
    main()
