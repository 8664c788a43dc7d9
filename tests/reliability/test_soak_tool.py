"""The soak tool of ``benchmarks/soak/soak.py`` keeps working: a run of a few seconds with 3 clients on an empty
PostgreSQL database of the test server writes its interval table, summary and figure, has no error, finds every
acknowledged write in the database and a verified audit chain; and its verdict applies the stated criteria.

No timing assertion: the latencies and memory figures of a few-second run are checked for presence and
consistency only; the criteria are checked on literal inputs.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from edc_fixtures import FAST_HASH_ENV

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("oligotrial_soak_benchmark", SOAK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_short_soak_run_on_postgresql(soak, postgres_server, tmp_path, monkeypatch):
    for name, value in FAST_HASH_ENV.items():
        monkeypatch.setenv(name, value)
    url = postgres_server.new_database()
    out = tmp_path / "soak"
    args = ["--minutes", "0.1", "--clients", "3", "--interval", "2", "--think", "0.1"]
    args += ["--database", url, "--out", str(out)]
    result = soak.run(soak.parse_args(args))

    stored = json.loads((out / "soak.json").read_text())
    assert stored["verdict"] == result["verdict"]
    assert stored["config"]["backend"] == "postgresql"
    assert stored["config"]["clients"] == 3
    criteria = stored["criteria"]
    assert stored["first_errors"] == []
    assert criteria["zero_errors"] == {"errors": 0, "pass": True}
    assert criteria["acknowledged_writes_present"]["problems"] == 0
    assert criteria["acknowledged_writes_present"]["pass"] is True
    assert criteria["audit_chain_verifies"] == {"exit_code": 0, "pass": True}
    assert stored["audit_verify"]["report"]["entries"] == stored["checks"]["audit_rows"]
    assert stored["server"]["tracebacks_in_log"] == 0
    # every client logged in and enrolled its first subject (subject, eligibility form, enrollment) first
    checks = stored["checks"]
    assert checks["enrolled_subjects_checked"] >= 3
    assert checks["form_versions_checked"] >= 3  # at least the eligibility forms
    assert stored["totals"]["all"]["n"] == sum(r["requests"] for r in stored["intervals"]) > 0
    assert stored["verdict"] == ("PASS" if all(c["pass"] for c in criteria.values()) else "FAIL")

    with (out / "intervals.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(stored["intervals"]) >= 2
    assert {"t_s", "rss_mb", "load_1min", "db_mb", "p99_ms", "form_save_p99_ms", "login_n"} <= set(rows[0])
    assert all(float(r["rss_mb"]) > 0 for r in rows)
    assert all(float(r["db_mb"]) > 0 for r in rows)
    assert (out / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "server.log").exists()


def _row(soak, t_s: float, rss_mb: float) -> dict:
    return {"t_s": t_s, "minute": round(t_s / 60, 2), "rss_mb": rss_mb}


def _recorder(soak, latencies: list[tuple[float, float]]):
    rec = soak.Recorder(0.0)
    rec.requests = [(t, "form_read", seconds, True) for t, seconds in latencies]
    rec.ledger.enrolled.add("S01-0001")
    return rec


CLEAN = {"problems": []}
VERIFIED = {"exit_code": 0}


def test_verdict_applies_the_stated_bounds(soak):
    # 30 minutes: warm-up ends at minute 5; thirds at 600 s and 1200 s
    rows = [_row(soak, 0, 200.0), _row(soak, 300, 240.0), _row(soak, 900, 260.0), _row(soak, 1800, 289.5)]
    steady = _recorder(soak, [(10.0, 0.100), (500.0, 0.100), (1300.0, 0.140), (1700.0, 0.150)])
    verdict = soak.evaluate(rows, steady, 30, CLEAN, VERIFIED)
    assert verdict["criteria"]["rss_growth_bounded"]["growth_mb"] == 49.5
    assert verdict["criteria"]["rss_growth_bounded"]["rss_at_warmup_end_mb"] == 240.0
    assert verdict["criteria"]["p99_stable"]["first_third_p99_ms"] == 100.0
    assert verdict["criteria"]["p99_stable"]["ratio"] == 1.5
    assert verdict["verdict"] == "PASS"

    leaking = [*rows[:-1], _row(soak, 1800, 290.5)]
    verdict = soak.evaluate(leaking, steady, 30, CLEAN, VERIFIED)
    assert verdict["criteria"]["rss_growth_bounded"]["pass"] is False
    assert verdict["verdict"] == "FAIL"

    drifting = _recorder(soak, [(10.0, 0.100), (500.0, 0.100), (1300.0, 0.151), (1700.0, 0.151)])
    verdict = soak.evaluate(rows, drifting, 30, CLEAN, VERIFIED)
    assert verdict["criteria"]["p99_stable"] == {
        "first_third_p99_ms": 100.0,
        "last_third_p99_ms": 151.0,
        "ratio": 1.51,
        "limit": 1.5,
        "pass": False,
    }
    assert verdict["verdict"] == "FAIL"


def test_verdict_fails_on_an_error_a_missing_write_or_a_broken_chain(soak):
    rows = [_row(soak, 0, 200.0), _row(soak, 60, 200.0), _row(soak, 120, 200.0)]
    rec = _recorder(soak, [(10.0, 0.1), (100.0, 0.1)])
    assert soak.evaluate(rows, rec, 2, CLEAN, VERIFIED)["verdict"] == "PASS"
    rec.errors.append({"t": 50.0, "kind": "form_save", "error": "PUT ...: 503"})
    assert soak.evaluate(rows, rec, 2, CLEAN, VERIFIED)["criteria"]["zero_errors"] == {
        "errors": 1,
        "pass": False,
    }
    rec.errors.clear()
    missing = soak.evaluate(rows, rec, 2, {"problems": ["form 3 v2: acknowledged, not stored"]}, VERIFIED)
    assert missing["criteria"]["acknowledged_writes_present"]["pass"] is False
    broken = soak.evaluate(rows, rec, 2, CLEAN, {"exit_code": 1})
    assert broken["criteria"]["audit_chain_verifies"]["pass"] is False
    assert missing["verdict"] == broken["verdict"] == "FAIL"
