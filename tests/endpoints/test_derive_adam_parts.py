"""``derive_adam`` runs independent parts side by side (``endpoints._parallel``): its datasets and its errors
are those of the public functions called one after the other."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

from oligotrial._threads import core_pool
from oligotrial.endpoints import (
    check_sdtm,
    derive_adae,
    derive_adam,
    derive_adrs,
    derive_adsl,
    derive_adtr,
    derive_adtte,
)
from oligotrial.endpoints._parallel import offer, start
from oligotrial.endpoints.adsl import derive_adsl_parts
from oligotrial.endpoints.adtte import confirmed_responders
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.errors import InputError
from oligotrial.exports.datasets import read_datasets
from oligotrial.protocol import load_protocol

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"
PROTOCOL = load_protocol()


def one_after_the_other(tables, **settings):
    study = check_sdtm(tables, PROTOCOL)
    adsl = derive_adsl(study, PROTOCOL)
    adrs = derive_adrs(study, adsl, PROTOCOL, **settings)
    return {
        "ADSL": adsl,
        "ADRS": adrs,
        "ADTTE": derive_adtte(study, adsl, adrs, PROTOCOL),
        "ADAE": derive_adae(study, adsl, PROTOCOL),
        "ADTR": derive_adtr(study, adsl),
    }


@pytest.mark.parametrize("settings", [{}, {"confirmation_min_days": 35, "sd_min_days": 30}])
def test_same_datasets_as_the_functions_in_order(settings):
    tables = read_datasets(WORKED, DOMAINS)
    got = derive_adam(tables, PROTOCOL, **settings).as_dict()
    for name, expected in one_after_the_other(tables, **settings).items():
        assert got[name].schema == expected.schema, name
        assert got[name].equals(expected), name


def in_chunks(frame: pl.DataFrame, pieces: int) -> pl.DataFrame:
    """``frame`` as ``pieces`` chunks of about equal length, as a CSV reader may hand a table over."""
    size = -(-frame.height // pieces)
    chunked = pl.concat([frame.slice(k * size, size) for k in range(pieces)], rechunk=False)
    assert chunked.n_chunks() == min(pieces, frame.height)
    return chunked


def test_tables_in_several_chunks_give_the_same_datasets():
    # the gathers take other paths when a column has several chunks (polars copies each text then)
    tables = read_datasets(WORKED, DOMAINS)
    got = derive_adam({name: in_chunks(frame, 3) for name, frame in tables.items()}, PROTOCOL).as_dict()
    for name, expected in derive_adam(tables, PROTOCOL).as_dict().items():
        assert got[name].schema == expected.schema, name
        assert got[name].equals(expected), name


def test_the_first_error_in_order_is_raised():
    # S01 (randomized) and S10 (enrolled only) have responses but were never dosed (no EX, no RFSTDTC): the
    # induction best response of ADSL refuses S01 (responses before randomization), ADRS refuses both
    # (RECIST-023); ADSL's error comes first, as when the functions are called in order
    tables = read_datasets(WORKED, DOMAINS)
    undosed = pl.col("USUBJID").is_in(["S01", "S10"])
    tables["EX"] = tables["EX"].filter(~undosed)
    tables["DM"] = tables["DM"].with_columns(
        pl.when(undosed).then(None).otherwise(pl.col("RFSTDTC")).alias("RFSTDTC")
    )
    with pytest.raises(InputError) as sequential:
        one_after_the_other(tables)
    with pytest.raises(InputError) as parallel:
        derive_adam(tables, PROTOCOL)
    assert parallel.value.problems == sequential.value.problems
    assert [(p.code, p.value) for p in parallel.value.problems] == [("RECIST-023", "S01")]
    study = check_sdtm(tables, PROTOCOL)
    adsl, _ = derive_adsl_parts(study, PROTOCOL)  # ADSL but its induction best response
    with pytest.raises(InputError) as adrs_error:  # what ADRS alone raises: both subjects
        derive_adrs(study, adsl, PROTOCOL)
    assert [p.value for p in adrs_error.value.problems] == ["S01", "S10"]


def test_code_errors_come_before_the_subject_level_rules():
    # the consistency rules run beside the code checks: an unknown response code (SDTM-004) with a subject
    # absent from DM (SDTM-101) and a death before the first dose (SDTM-103) gives the code error alone,
    # and the subject-level problems, in HEAD's order, once the code is fixed
    tables = read_datasets(WORKED, DOMAINS)
    stranger = tables["RS"].head(1).with_columns(pl.lit("S99").alias("USUBJID"))
    first = pl.int_range(pl.len()) == 0
    coded = pl.when(first).then(pl.lit("XX")).otherwise(pl.col("RSSTRESC")).alias("RSSTRESC")
    tables["RS"] = pl.concat([tables["RS"].with_columns(coded), stranger])
    tables["DM"] = tables["DM"].with_columns(
        pl.when(first).then(pl.lit("2000-01-01")).otherwise(pl.col("DTHDTC")).alias("DTHDTC"),
        pl.when(first).then(pl.lit("Y")).otherwise(pl.col("DTHFL")).alias("DTHFL"),
    )
    with pytest.raises(InputError) as codes:
        derive_adam(tables, PROTOCOL)
    assert [(p.code, p.value) for p in codes.value.problems] == [("SDTM-004", "XX")]
    tables["RS"] = tables["RS"].with_columns(pl.col("RSSTRESC").replace("XX", "PR"))
    with pytest.raises(InputError) as subject_level:
        derive_adam(tables, PROTOCOL)
    assert [(p.code, p.field) for p in subject_level.value.problems] == [
        ("SDTM-101", "RS[row 38].USUBJID"),
        ("SDTM-103", "DM[row 1].DTHDTC"),
        *[("SDTM-104", f"RS[row {row}].RSDTC") for row in (1, 2, 3, 4)],  # S01's assessments after death
    ]


def test_a_nested_part_runs_in_its_caller_thread():
    # a part started from a part already on the pool runs at once where it is started: no worker waits for
    # a queue the other workers may all be waiting on
    def outer():
        inner = start(lambda: threading.current_thread().name)
        return threading.current_thread().name, inner.done(), inner.result()

    name, done, inner_name = start(outer).result()
    assert done and inner_name == name


def test_an_offered_part_runs_once_where_it_is_first_needed():
    # workers busy (each waits on an event): the caller of result() runs the part itself, and a worker that
    # comes to it later finds it taken
    release = threading.Event()
    # one core: no pool, a started part would run (and wait) here
    busy = [start(release.wait) for _ in range(8)] if core_pool("adam") is not None else []
    runs: list[str] = []

    def part():
        runs.append(threading.current_thread().name)
        return 42

    offered = offer(part)
    assert offered.result() == 42
    assert runs == [threading.current_thread().name]
    release.set()
    for task in busy:
        task.result()
    assert offered.result() == 42 and len(runs) == 1


def test_an_offered_part_on_a_free_worker():
    started = threading.Event()
    finish = threading.Event()

    def part():
        started.set()
        finish.wait()
        return threading.current_thread().name

    offered = offer(part)
    if core_pool("adam") is None:  # one core: nothing was submitted, result() runs it here
        finish.set()
        assert offered.result() == threading.current_thread().name
        return
    assert started.wait(timeout=60)  # a free worker took it (the bound only keeps a broken pool from hanging)
    finish.set()
    assert offered.result() != threading.current_thread().name  # taken by the worker: result() waits


def test_an_offered_part_hands_back_its_error_and_nested_offers_run_in_their_caller():
    def fail():
        raise InputError.single("SDTM-001", "DM", "the DM domain is required")

    with pytest.raises(InputError, match="DM domain"):
        offer(fail).result()

    def outer():
        inner = offer(lambda: threading.current_thread().name)
        return threading.current_thread().name, inner.result()

    name, inner_name = start(outer).result()
    assert inner_name == name


def test_an_error_comes_back_from_result():
    def fail():
        raise InputError.single("SDTM-001", "DM", "the DM domain is required")

    task = start(fail)
    with pytest.raises(InputError, match="DM domain"):
        task.result()


def test_a_study_without_any_response_record():
    """RS present but empty and no TR (a study before its first tumour assessment, as the aggregate report
    page derives it): no OVR records, BOR MISSING for everyone, ADTTE from death and censoring alone. The
    expected records are those of the implementation before the parallel one (commit bb0546d)."""
    tables = read_datasets(WORKED, DOMAINS)
    tables["RS"] = tables["RS"].clear()
    del tables["TR"]
    adam = derive_adam(tables, PROTOCOL).as_dict()
    subjects = [f"S{n:02d}" for n in range(1, 13)]
    assert sorted(adam["ADRS"].select("USUBJID", "PARAMCD", "AVALC").iter_rows()) == [
        (s, p, "N" if p in ("CB", "CRSP") else "MISSING")
        for s in subjects
        for p in ("BOR", "CB", "CBOR", "CRSP")
    ]
    censored = {"S03": 3, "S04": 4, "S08": 3}  # PFS and PFSENR; otherwise 1
    expected = []
    for s in subjects:
        if s == "S10":  # enrolled, never randomized
            expected.append((s, "PFSENR", 1, None))
            continue
        died = s in ("S04", "S05", "S09")
        expected.append((s, "OS", 0 if died else 1, "DEATH" if died else None))
        pfs = (0, "DEATH") if s in ("S05", "S09") else (censored.get(s, 1), None)
        expected.append((s, "PFS", *pfs))
        expected.append((s, "PFSENR", *((4, None) if s == "S09" else pfs)))
    assert sorted(adam["ADTTE"].select("USUBJID", "PARAMCD", "CNSR", "EVNTDESC").iter_rows()) == expected


def test_responders_are_published_as_the_crsp_records_they_become():
    # every response repeated as an identical record (a new RSSEQ): a confirmed responder then has two
    # CRSP records on the date of its first confirmed response, and DoR two records, as ADTTE derived from
    # the finished ADRS has them
    tables = read_datasets(WORKED, DOMAINS)
    rs = tables["RS"]
    tables["RS"] = pl.concat(
        [rs, rs.with_columns(pl.col("RSSEQ").cast(pl.Int64) + 100)], how="vertical_relaxed"
    )
    study = check_sdtm(tables, PROTOCOL)
    adsl = derive_adsl(study, PROTOCOL)
    published = []
    adrs = derive_adrs(study, adsl, PROTOCOL, on_responders=published.append)
    (responders,) = published
    expected = confirmed_responders(adrs)
    assert responders.equals(expected)
    assert expected["USUBJID"].is_duplicated().all() and expected.height >= 2
    got = derive_adam(tables, PROTOCOL).as_dict()
    for name, frame in one_after_the_other(tables).items():
        assert got[name].equals(frame), name
