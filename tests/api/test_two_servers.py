"""Two uvicorn server processes on one PostgreSQL database: a token from one works on the other; writes
through both are all stored, audited once each, in one unbroken chain."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from edc_fixtures import ADMIN, ADMIN_PASSWORD, FAST_HASH_ENV, build_world, edc_settings, free_port
from oligotrial.services import open_edc
from oligotrial.services.audit_trail import read_audit, verify_audit


def _start(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "OLIGOTRIAL_ENV": "development", **FAST_HASH_ENV}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oligotrial.cli",
            "serve",
            "--database",
            url,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120  # generous: a loaded CI machine imports slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.stdout.read().decode()}")
        try:
            if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail(f"server at {base} did not start")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_servers_share_one_postgres_database(database_url):
    edc = open_edc(edc_settings(database_url))
    build_world(edc)
    ports = [free_port(), free_port()]
    servers = [_start(database_url, p) for p in ports]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, process in zip(bases, servers, strict=True):
            _wait(base, process)
        token = httpx.post(
            bases[0] + "/api/v1/auth/token",
            data={"username": "investigator.cn01", "password": "site user pass phrase"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.get(bases[1] + "/api/v1/auth/me", headers=headers).json()["username"] == "investigator.cn01"
        )
        before = verify_audit(edc).entries

        def create(i: int) -> str:
            with httpx.Client(base_url=bases[i % 2], headers=headers, timeout=30) as client:
                r = client.post("/api/v1/subjects", json={"site": "CN01"})
                assert r.status_code == 201, r.text
                code = r.json()["code"]
                r = client.put(f"/api/v1/subjects/{code}/forms/SCREENING/DM", json={"values": {"AGE": i}})
                assert r.status_code == 200, r.text
                return code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(create, range(40)))
        assert len(set(codes)) == 40
        listed = httpx.get(bases[1] + "/api/v1/subjects?limit=1000", headers=headers).json()
        assert {s["code"] for s in listed["items"]} == set(codes)
        report = verify_audit(edc)
        assert report.is_intact
        # per subject: subject created, event created, form created
        assert report.entries == before + 40 * 3
        admin_token = httpx.post(
            bases[1] + "/api/v1/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD}
        )
        assert admin_token.status_code == 200
        from oligotrial.services import Actor

        entries = read_audit(edc, Actor.system("test"), table="subjects", limit=1000).entries
        created = [e.record_id for e in entries if e.action == "create"]
        assert sorted(created) == sorted(codes)
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=10)
        edc.engine.dispose()
