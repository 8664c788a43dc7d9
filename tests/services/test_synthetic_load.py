"""Synthetic subjects loaded through the EDC services (SQLite and PostgreSQL), exported as SDTM by the command
line, derived to ADaM by the command line: the counts and every time-to-event value match the generator's
own SDTM -> ADaM path, subject by subject, and the calendar is the generated one with its data cut-off on the
day of the load (randomizations on their generated days, nothing in the future)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, timedelta

import numpy as np
import polars as pl
import pytest
from sqlalchemy import select

from edc_fixtures import FAST_HASH_ENV
from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.errors import ConflictError
from oligotrial.exports.datasets import read_datasets
from oligotrial.protocol import load_protocol
from oligotrial.services import data, queries, synthetic, workflow
from oligotrial.services.admin import site_date
from oligotrial.services.auth import authenticate, login
from oligotrial.services.randomization import list_randomizations
from oligotrial.services.synthetic import load_synthetic_subjects
from oligotrial.simulation import derive_sdtm_tables, generate_subjects, parse_scenario
from oligotrial.store.tables import AuditEntry

PROTOCOL = load_protocol()
SCENARIO = parse_scenario(
    """\
sample_size: {enrolled: 10}
accrual: {rate: 8}
induction: {progression_probability: 0.25}
transitions:
  progression: {control: {median: 6}, hazard_ratio: 0.6}
  death_before_progression: {control: {median: 30}, hazard_ratio: 0.6}
  death_after_progression: {control: {median: 6}}
analysis: {events: 6}
"""
)


def _records(subjects=10, sites=3, seed=7):
    return generate_subjects(PROTOCOL, SCENARIO, subjects, sites, np.random.default_rng(seed))


def _tte(adam, mapping=None):
    return {
        (mapping.get(r["USUBJID"], r["USUBJID"]) if mapping else r["USUBJID"], r["PARAMCD"]): (
            r["AVAL"],
            r["CNSR"],
        )
        for r in adam.adtte.iter_rows(named=True)
    }


def test_synthetic_subjects_go_through_the_services_and_back_to_the_same_adam(
    edc, database_url, run_cli, tmp_path
):
    records = _records()
    truth = [r.truth for r in records]
    randomized = sum(t["randomization"] is not None for t in truth)
    # the seed covers every path: induction progression, both arms, radiotherapy, deaths
    assert 0 < randomized < len(records)
    assert {t["arm"] for t in truth} == {None, "control", "experimental"}
    assert any(r.rows.get("PR") for r in records) and any(t["death"] is not None for t in truth)
    done = []
    summary = load_synthetic_subjects(
        edc, records, protocol=PROTOCOL, progress=lambda i, n, u: done.append((i, n, u))
    )
    assert summary.refusals == [] and summary.refused_subjects == 0
    assert done[-1][:2] == (len(records), len(records))
    assert (summary.subjects, summary.enrolled, summary.randomized) == (
        len(records),
        len(records),
        randomized,
    )
    assert summary.arms == Counter(t["arm"] for t in truth if t["arm"] is not None)
    assert summary.sites == ["CN01", "CN02", "CN03"]
    roles = sorted((login.role, login.site) for login in summary.logins)
    assert roles.count(("research_coordinator", "CN01")) == 1 and ("dsmb_member", None) in roles
    assert {"statistician", "monitor", "datamanager", "dsmb"} <= {x.username for x in summary.logins}
    # the records are the coordinators' (audited as theirs), at the subjects' sites
    coordinator = next(x for x in summary.logins if x.username == "coordinator.cn01")
    actor = authenticate(edc, login(edc, coordinator.username, coordinator.password, "t").access_token, "t")
    assert {s.site for s in data.list_subjects(edc, actor)[0]} == {"CN01"}
    # a second load into the same database is refused
    with pytest.raises(ConflictError, match="SIM-041"):
        load_synthetic_subjects(edc, records[:1], protocol=PROTOCOL)

    sdtm, adam_dir = tmp_path / "sdtm", tmp_path / "adam"
    exported = run_cli("export", "sdtm", "--out", sdtm, "--database", database_url, "--json")
    assert exported.exit_code == 0, exported.stderr
    assert exported.json()["problems"] == [] and exported.json()["records"]["DM"] == len(records)
    derived = run_cli("adam", sdtm, "--out", adam_dir, "--json")
    assert derived.exit_code == 0, derived.stderr
    counts = derived.json()
    expected = derive_adam(derive_sdtm_tables(records), PROTOCOL)
    events = {p["PARAMCD"]: p["events"] for p in counts["time_to_event"]}
    assert (counts["enrolled"], counts["randomized"]) == (len(records), randomized)
    assert events["PFS"] == expected.adtte.filter((pl.col("PARAMCD") == "PFS") & (pl.col("CNSR") == 0)).height
    assert events["OS"] == sum(t["death"] is not None for t in truth if t["randomization"] is not None)
    # subject by subject: every endpoint value is the generator's (the intervals are kept)
    from_edc = derive_adam(read_datasets(sdtm, DOMAINS), PROTOCOL)
    usubjid = {f"{PROTOCOL.protocol.id}-{code}": u for u, code in summary.subject_codes.items()}
    assert _tte(from_edc, usubjid) == _tte(expected)
    arms = {usubjid[r["USUBJID"]]: r["ARMCD"] for r in from_edc.adsl.iter_rows(named=True)}
    assert arms == {r["USUBJID"]: r["ARMCD"] for r in expected.adsl.iter_rows(named=True)}

    # the calendar: the generated one (time 0 on 2026-01-01), its data cut-off placed on the day of the load
    load_day = date.fromisoformat(summary.load_date)
    shift = load_day - (date(2026, 1, 1) + timedelta(days=truth[0]["cutoff"]))
    generated = {
        (r.usubjid, row["DSDECOD"]): date.fromisoformat(row["DSSTDTC"])
        for r in records
        for row in r.rows["DS"]
        if row["DSCAT"] == "PROTOCOL MILESTONE"
    }
    exported_ds = read_datasets(sdtm, ["DS"])["DS"].filter(pl.col("DSCAT") == "PROTOCOL MILESTONE")
    moved = {
        (usubjid[r["USUBJID"]], r["DSDECOD"]): date.fromisoformat(r["DSSTDTC"])
        for r in exported_ds.iter_rows(named=True)
        if r["DSDECOD"] in ("ENROLLED", "RANDOMIZED")
    }
    expected_days = {key: day + shift for key, day in generated.items()}
    assert moved == expected_days
    # enrollment spread over the accrual period, not over a few weeks before a common randomization day
    enrollments = sorted(day for (_, what), day in moved.items() if what == "ENROLLED")
    assert (enrollments[-1] - enrollments[0]).days == max(t["first_dose"] for t in truth) - min(
        t["first_dose"] for t in truth
    )
    # the allocations are stored on their generated days, and audited as dated retrospectively
    monitor = next(x for x in summary.logins if x.username == "monitor")
    reader = authenticate(edc, login(edc, monitor.username, monitor.password, "t").access_token, "t")
    allocations = list_randomizations(edc, reader, protocol=PROTOCOL)
    stored = {usubjid[f"{PROTOCOL.protocol.id}-{v.subject}"]: v.randomized_at.date() for v in allocations}
    assert stored == {u: day for (u, what), day in expected_days.items() if what == "RANDOMIZED"}
    # ADSL's strata (from the exported SDTM, SUPPDM included) are those the allocations were made in
    names = [stratum.id for stratum in PROTOCOL.randomization.strata]
    derived = {
        row["USUBJID"]: {name: row[f"STRAT{n}V"] for n, name in enumerate(names, 1)}
        for row in from_edc.adsl.filter(pl.col("ITTFL") == "Y").iter_rows(named=True)
    }
    assert derived == {f"{PROTOCOL.protocol.id}-{v.subject}": v.strata for v in allocations}
    with edc.engine.connect() as connection:
        audited = connection.execute(
            select(AuditEntry.new_values).where(AuditEntry.table_name == "randomizations")
        ).scalars()
        assert {json.loads(text)["dating"] for text in audited} == {"retrospective"}
    # nothing is dated after the load day: every date of every exported domain
    dates = [
        value[:10]
        for table in read_datasets(sdtm, DOMAINS).values()
        for column in table.columns
        if column.endswith("DTC")
        for value in table[column].drop_nulls().to_list()
        if value
    ]
    # (the latest is the data cut-off contact of a subject alive and followed up)
    assert dates and max(dates) == load_day.isoformat()


def test_synth_command_initializes_an_empty_database_and_loads(run_cli, tmp_path, monkeypatch):
    for key, value in FAST_HASH_ENV.items():
        monkeypatch.setenv(key, value)
    url = f"sqlite:///{tmp_path / 'synth.db'}"
    result = run_cli("synth", "--subjects", "4", "--sites", "2", "--database", url, "--seed", "5", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["database_initialized"] is True and document["refusals"] == []
    assert document["subjects"] == document["enrolled"] == 4
    assert document["randomized"] == document["generated"]["randomized"]
    users = {login["username"]: login for login in document["logins"]}
    assert users["admin"]["role"] == "administrator" and len(users["admin"]["password"]) >= 12
    assert {"coordinator.cn01", "investigator.cn02", "statistician", "dsmb"} <= set(users)
    again = run_cli("synth", "--subjects", "2", "--database", url, "--json")
    assert again.exit_code == 1
    assert again.json()["error"]["problems"][0]["code"] == "SIM-041"
    files_only = run_cli("synth", "--subjects", "2", "--out", tmp_path / "sdtm", "--monitoring", "--json")
    problem = files_only.json()["error"]["problems"][0]
    assert files_only.exit_code == 2 and (problem["field"], problem["code"]) == ("--monitoring", "CLI-003")
    assert not (tmp_path / "sdtm").exists()


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_a_replayed_randomization_is_dated_on_its_day_at_the_site(zone):
    day = date(2026, 3, 2)
    moment = synthetic._dated(day, zone)
    assert moment.tzinfo == UTC and site_date(moment, zone) == day


def test_screen_failures_are_entered_as_screen_failures_and_exported_as_such(edc, run_cli, tmp_path):
    """A screened subject the generator fails on ECOG or on the organ count is entered through the eligibility
    form, found not eligible by that criterion and recorded as a screen failure; the SDTM export says so (DM
    ``ARMNRS``, DS), and ADaM counts the subject as not enrolled."""
    records = generate_subjects(PROTOCOL, SCENARIO, 6, 2, np.random.default_rng(7), screen_failures=4)
    failures = {r.usubjid: r.truth["failed"] for r in records if "screening" in r.truth}
    summary = load_synthetic_subjects(edc, records, protocol=PROTOCOL)
    assert summary.monitoring == {}  # no monitoring pass unless asked
    assert summary.refusals == [] and (summary.subjects, summary.enrolled, summary.screen_failed) == (
        10,
        6,
        4,
    )
    monitor = next(x for x in summary.logins if x.username == "monitor")
    reader = authenticate(edc, login(edc, monitor.username, monitor.password, "t").access_token, "t")
    criterion = {"ecog": "INC-08", "metastatic_organ_count": "INC-04"}
    for usubjid, field in failures.items():
        code = summary.subject_codes[usubjid]
        assert data.get_subject(edc, reader, code).status == "screen_failed"
        derived = workflow.get_eligibility(edc, reader, code, protocol=PROTOCOL).derived
        failed = [c["id"] for c in derived["criteria"] if c["status"] == "not met"]
        assert (derived["verdict"], failed) == ("ineligible", [criterion[field]]), derived
    sdtm = tmp_path / "sdtm"
    assert run_cli("export", "sdtm", "--out", sdtm, "--database", edc.settings.database_url).exit_code == 0
    tables = read_datasets(sdtm, (*DOMAINS, "IE"))
    assert tables["DM"].filter(pl.col("ARMNRS") == "SCREEN FAILURE").height == 4
    assert tables["DS"].filter(pl.col("DSDECOD") == "SCREEN FAILURE").height == 4
    # IE: the criterion each failed, as the generator's own SDTM says it
    codes = {summary.subject_codes[u]: u for u in failures}
    exported = {
        (codes[row["USUBJID"].removeprefix("ESO-OLIGO-RT-")], row["IETESTCD"], row["IECAT"], row["IEORRES"])
        for row in tables["IE"].iter_rows(named=True)
    }
    generated = derive_sdtm_tables(records)["IE"]
    assert exported == {
        (row["USUBJID"], row["IETESTCD"], row["IECAT"], row["IEORRES"])
        for row in generated.iter_rows(named=True)
    }
    assert {code for _, code, _, _ in exported} <= {"INC08", "INC04"} and len(exported) == 4
    adsl = derive_adam(tables, PROTOCOL).adsl
    assert adsl.filter(pl.col("ENRLFL") == "N").height == 4


def test_the_monitoring_pass_verifies_forms_and_leaves_queries_in_every_state(edc):
    """With ``monitoring=True`` the monitor source-verifies every form of the enrolled subjects numbered 1, 5,
    9, 13 (load order, screen failures not counted), queries subjects 2, 8 and 14, the site answers 2 and
    14 and the monitor closes 2's: one query open, one answered, one closed, each by its role, audited."""
    records = generate_subjects(PROTOCOL, SCENARIO, 14, 3, np.random.default_rng(7), screen_failures=2)
    summary = load_synthetic_subjects(edc, records, protocol=PROTOCOL, monitoring=True)
    assert summary.refusals == [] and summary.enrolled == 14
    failed = {r.usubjid for r in records if "screening" in r.truth}
    enrolled = [code for usubjid, code in summary.subject_codes.items() if usubjid not in failed]
    monitor = next(x for x in summary.logins if x.username == "monitor")
    reader = authenticate(edc, login(edc, monitor.username, monitor.password, "t").access_token, "t")

    verified = {
        number: {form.is_verified for form in data.list_forms(edc, reader, code)}
        for number, code in enumerate(enrolled, start=1)
    }
    assert verified == {n: {n in (1, 5, 9, 13)} for n in range(1, 15)}
    found, total = queries.list_queries(edc, reader)
    assert total == 3
    states = {query.subject: query.state for query in found}
    assert states == {enrolled[1]: "closed", enrolled[7]: "open", enrolled[13]: "answered"}
    for query in found:
        assert (query.origin, query.item) in {("manual", "grade"), ("manual", "date")}
        authors = [(m.action, m.author) for m in query.messages]
        expected = {
            "open": [("raise", "monitor")],
            "answered": [("raise", "monitor"), ("answer", f"coordinator.{query.site.lower()}")],
            "closed": [
                ("raise", "monitor"),
                ("answer", f"coordinator.{query.site.lower()}"),
                ("close", "monitor"),
            ],
        }[query.state]
        assert authors == expected
    forms = sum(len(data.list_forms(edc, reader, enrolled[n - 1])) for n in (1, 5, 9, 13))
    assert summary.monitoring == {
        "forms verified": forms,
        "queries raised": 3,
        "queries answered": 2,
        "queries closed": 1,
    }
    with edc.engine.connect() as connection:
        by_monitor = connection.execute(
            select(AuditEntry.table_name, AuditEntry.action).where(AuditEntry.actor_username == "monitor")
        ).all()
    assert Counter(by_monitor) == {
        ("users", "login"): 2,  # the pass's and this test's
        ("forms", "update"): forms,
        ("data_queries", "create"): 3,
        ("data_queries", "update"): 1,
    }
