"""Crash safety: the server process is killed (SIGKILL) in the middle of a write load, restarted, killed
again; on SQLite and on PostgreSQL. Every write acknowledged to a client is in the database, whole (its
version row, its audit entry), the audit chain verifies, the randomization sequence and list slots have no
gap or duplicate, and a randomization retried after a lost answer returns the stored assignment.

Few, short cycles (the kill comes once enough writes were acknowledged, or after a bounded wait); loops are
bounded in count and time; loopback only; no timing assertion.
"""

from __future__ import annotations

from reliability._servers import Ledger, Server, check_database, prepare_writers, run_writers, wait_for

CYCLES = 3
WRITERS = 4
ACKNOWLEDGED_PER_CYCLE = 24  # kill once this many more writes were acknowledged (or after KILL_SECONDS)
KILL_SECONDS = 20.0
REQUESTS_PER_WRITER = 400  # per cycle, an upper bound
OK = {200, 201, 503}  # 503: a write waited too long for the lock while the others ran; retried by clients


def test_sigkill_during_write_load_loses_no_acknowledged_write(world, database_url):
    writers = prepare_writers(world, WRITERS)
    ledger = Ledger()
    server = Server(database_url)
    try:
        for _ in range(CYCLES):
            server.start()
            target = ledger.acknowledged + ACKNOWLEDGED_PER_CYCLE
            stop, threads = run_writers(server.base, writers, ledger, OK, REQUESTS_PER_WRITER)
            wait_for(lambda target=target: ledger.acknowledged >= target, KILL_SECONDS)
            server.kill()  # mid-load: the writers have requests in flight
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(t.is_alive() for t in threads), "a writer hung after the kill"
        server.start()  # recovers from the last kill by itself
        stop, threads = run_writers(server.base, writers, ledger, OK, 6)
        for thread in threads:
            thread.join(timeout=120)
        server.stop()
    finally:
        server.kill()
    print(f"acknowledged {ledger.acknowledged}, answers {dict(ledger.statuses)}, lost {len(ledger.lost)}")
    assert ledger.unexpected == [], ledger.unexpected[:10]
    assert ledger.randomized and ledger.subjects and ledger.forms, ledger.statuses
    assert check_database(world.edc, ledger) == []
