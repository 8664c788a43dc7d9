"""Database outage: PostgreSQL is stopped (immediate shutdown, as in a crash) in the middle of a write load and
started again, while the EDC server keeps running. Meanwhile every answer is a 2xx or a 503 with
Retry-After (never a 500, never a hang: each request gets an answer); the server recovers by itself once the
database is back, and no acknowledged write is lost.

The test runs its own PostgreSQL cluster (so that stopping it disturbs no other test), with the default
commit durability (``synchronous_commit=on``): an acknowledged commit survives the database's crash.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from edc_fixtures import (
    ADMIN,
    ADMIN_PASSWORD,
    PostgresServer,
    _as_postgres,
    build_world,
    edc_settings,
    free_port,
)
from oligotrial.protocol import load_protocol
from oligotrial.services import init_database, open_edc
from reliability._servers import Ledger, Server, check_database, prepare_writers, run_writers, wait_for

OUTAGE_ANSWERS = 12  # answers received while the database is down, before it is started again
OUTAGE_SECONDS = 30.0  # upper bound of the wait for them
RECOVERY_SECONDS = 60.0
REQUESTS_PER_WRITER = 1500  # an upper bound; the load is stopped once the checks are done
ALLOWED = {200, 201, 503}


class Cluster:
    """A PostgreSQL cluster of this test: started, stopped (immediate) and started again on one port."""

    def __init__(self, base: Path) -> None:
        self.bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.base, self.data, self.sock, self.log = base, base / "data", base / "sock", base / "server.log"
        self.server = PostgresServer(self.data, free_port(), self.bin_dir)

    def _ctl(self, *args: str) -> None:
        command = _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args])
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise AssertionError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}\n{log}")

    def init(self) -> None:
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        subprocess.run(_as_postgres([*initdb, "-E", "UTF8", "--no-sync"]), capture_output=True, check=True)

    def start(self) -> None:
        options = f"-p {self.server.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-l", str(self.log), "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "immediate") -> None:
        self._ctl("-m", mode, "-w", "stop")


@contextmanager
def own_postgres() -> Iterator[Cluster]:
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.fail("PostgreSQL is not installed; run `make system-deps`", pytrace=False)
    # Not under pytest's temporary directory (0700): the postgres user must reach its data directory.
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="oligotrial-outage-")))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            _as_postgres(
                [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(cluster.base, ignore_errors=True)


def test_postgres_outage_answers_503_and_recovers_without_losing_writes():
    with own_postgres() as cluster:
        url = cluster.server.new_database()
        init_database(edc_settings(url), load_protocol(), ADMIN, ADMIN_PASSWORD, source="test")
        edc = open_edc(edc_settings(url))
        try:
            world = build_world(edc)
            writers = prepare_writers(world)
            edc.engine.dispose()
            ledger = Ledger()
            server = Server(url)
            try:
                server.start()
                stop, threads = run_writers(server.base, writers, ledger, ALLOWED, REQUESTS_PER_WRITER)
                try:
                    assert wait_for(lambda: ledger.acknowledged >= 20, 60), ledger.statuses
                    cluster.stop()  # immediate: connections are cut, as in a crash of the database
                    outage = _probe_outage(server, ledger)
                    cluster.start()
                    recovered_at = sum(ledger.statuses.values())
                    assert wait_for(lambda: _healthy(server), RECOVERY_SECONDS), "no recovery"
                    before = ledger.acknowledged
                    assert wait_for(lambda: ledger.acknowledged >= before + 12, RECOVERY_SECONDS), (
                        f"writes did not resume: {dict(ledger.statuses)}"
                    )
                finally:
                    stop.set()
                    for thread in threads:
                        thread.join(timeout=60)
                assert not any(t.is_alive() for t in threads), "a writer hung"
                assert server.process is not None and server.process.poll() is None, "the server died"
            finally:
                server.stop()
            print(
                f"acknowledged {ledger.acknowledged}, answers {dict(ledger.statuses)}, outage {outage}, "
                f"answers before recovery {recovered_at}"
            )
            assert outage["health"] == {503}, outage
            assert outage["retry_after"], outage
            assert ledger.statuses[503] > 0, ledger.statuses
            assert ledger.unexpected == [], ledger.unexpected[:10]
            assert ledger.lost == [], ledger.lost[:10]  # every request got an answer: no hang, no reset
            assert check_database(edc, ledger) == []
        finally:
            edc.engine.dispose()


def _healthy(server: Server) -> bool:
    try:
        return httpx.get(server.base + "/api/v1/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def _probe_outage(server: Server, ledger: Ledger) -> dict:
    """While the database is down: the health check and the writers' answers (bounded in count and time)."""
    health: set[int] = set()
    retry_after: set[str] = set()
    start = sum(ledger.statuses.values())
    deadline = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < deadline:
        response = httpx.get(server.base + "/api/v1/health", timeout=20)
        health.add(response.status_code)
        if response.status_code == 503:
            retry_after.add(response.headers.get("retry-after", ""))
        if sum(ledger.statuses.values()) - start >= OUTAGE_ANSWERS and len(health) >= 1:
            break
        time.sleep(0.05)
    return {
        "health": health,
        "retry_after": retry_after - {""},
        "answers": sum(ledger.statuses.values()) - start,
    }
