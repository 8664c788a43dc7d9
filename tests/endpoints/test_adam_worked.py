"""Worked cases with literal ADTTE/ADRS/ADAE records: one subject per censoring rule of PROTOCOL.md section 5
(tests/data/adam/worked/README.md describes each); expected values worked out by hand from the dates."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets
from oligotrial.protocol import load_protocol

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"
PROTOCOL = load_protocol()
NAT = "LAST ADEQUATE ASSESSMENT BEFORE NEW ANTICANCER THERAPY"
MISSED = "LAST ADEQUATE ASSESSMENT BEFORE 2 OR MORE MISSED ASSESSMENTS"


@pytest.fixture(scope="module")
def adam():
    return derive_adam(read_datasets(WORKED, DOMAINS), PROTOCOL)


def _record(adtte, subject, paramcd):
    rows = adtte.filter((pl.col("USUBJID") == subject) & (pl.col("PARAMCD") == paramcd)).to_dicts()
    assert len(rows) == 1, (subject, paramcd, rows)
    return rows[0]


# (subject, PARAMCD, ADT, AVAL, CNSR, EVNTDESC or CNSDTDSC, SRCDOM, SRCVAR, SRCSEQ); origin 2026-04-01 for
# PFS/OS, 2026-01-05 for PFSENR, the first confirmed response for DOR.
CASES = [
    # progression: first PD 06-22, 82 days after randomization -> AVAL 83
    ("S01", "PFS", "2026-06-22", 83, 0, "DISEASE PROGRESSION", "RS", "RSDTC", 4),
    # alive without progression: the last adequate assessment
    ("S02", "PFS", "2026-06-22", 83, 1, "LAST ADEQUATE TUMOR ASSESSMENT", "RS", "RSDTC", 4),
    # new therapy 05-20 before PD 06-22: the last adequate assessment on or before it (05-11)
    ("S03", "PFS", "2026-05-11", 41, 3, NAT, "RS", "RSDTC", 3),
    # death 08-20, 101 days after the last assessment 05-11 (> 2 x 42 + 7 = 91): censored at 05-11
    ("S04", "PFS", "2026-05-11", 41, 4, MISSED, "RS", "RSDTC", 3),
    ("S04", "OS", "2026-08-20", 142, 0, "DEATH", "DM", "DTHDTC", None),
    # death on the day of randomization: an event on day 1
    ("S05", "PFS", "2026-04-01", 1, 0, "DEATH", "DM", "DTHDTC", None),
    ("S05", "OS", "2026-04-01", 1, 0, "DEATH", "DM", "DTHDTC", None),
    # no baseline assessment: censored at randomization whatever follows (PD 05-11)
    ("S06", "PFS", "2026-04-01", 1, 2, "NO BASELINE TUMOR ASSESSMENT", "ADSL", "RANDDT", None),
    ("S06", "PFSENR", "2026-01-05", 1, 2, "NO BASELINE TUMOR ASSESSMENT", "ADSL", "ENRLDT", None),
    ("S06", "OS", "2026-05-11", 41, 1, "LAST KNOWN ALIVE DATE", "ADSL", "LSTALVDT", None),
    # one missed assessment (gap 05-11 -> 08-03 = 84 <= 91): the progression stays an event
    ("S07", "PFS", "2026-08-03", 125, 0, "DISEASE PROGRESSION", "RS", "RSDTC", 4),
    # new therapy on the day of progression: the event wins
    ("S08", "PFS", "2026-06-22", 83, 0, "DISEASE PROGRESSION", "RS", "RSDTC", 4),
    # death 19 days after randomization, before any assessment since: an event (rule switched off)
    ("S09", "PFS", "2026-04-20", 20, 0, "DEATH", "DM", "DTHDTC", None),
    ("S09", "DOR", "2026-04-20", 64, 0, "DEATH", "DM", "DTHDTC", None),
    # never randomized: PFS from enrollment only (PD 03-30 = day 85)
    ("S10", "PFSENR", "2026-03-30", 85, 0, "DISEASE PROGRESSION", "RS", "RSDTC", 2),
    # DoR from the first confirmed response (PR 02-16, though the best response is CR) to PD 08-03
    ("S11", "DOR", "2026-08-03", 169, 0, "DISEASE PROGRESSION", "RS", "RSDTC", 5),
    ("S01", "DOR", "2026-06-22", 127, 0, "DISEASE PROGRESSION", "RS", "RSDTC", 4),
    # the same rules from enrollment
    ("S04", "PFSENR", "2026-05-11", 127, 4, MISSED, "RS", "RSDTC", 3),
    ("S05", "PFSENR", "2026-04-01", 87, 0, "DEATH", "DM", "DTHDTC", None),
    ("S02", "OS", "2026-06-22", 83, 1, "LAST KNOWN ALIVE DATE", "ADSL", "LSTALVDT", None),
    # no assessment at all after baseline: censored at randomization; alive, last known alive at randomization
    ("S12", "PFS", "2026-04-01", 1, 1, "NO ADEQUATE POST-BASELINE ASSESSMENT", "ADSL", "RANDDT", None),
    ("S12", "OS", "2026-04-01", 1, 1, "LAST KNOWN ALIVE DATE", "ADSL", "LSTALVDT", None),
]


@pytest.mark.parametrize(
    ("subject", "paramcd", "adt", "aval", "cnsr", "desc", "srcdom", "srcvar", "srcseq"), CASES
)
def test_worked_adtte_record(adam, subject, paramcd, adt, aval, cnsr, desc, srcdom, srcvar, srcseq):
    record = _record(adam.adtte, subject, paramcd)
    assert record["ADT"] == date.fromisoformat(adt)
    assert record["AVAL"] == aval and record["AVALU"] == "DAYS"
    assert record["CNSR"] == cnsr
    assert (record["EVNTDESC"] if cnsr == 0 else record["CNSDTDSC"]) == desc
    assert record["EVNTDESC" if cnsr else "CNSDTDSC"] is None
    assert (record["SRCDOM"], record["SRCVAR"], record["SRCSEQ"]) == (srcdom, srcvar, srcseq)


def test_populations(adam):
    counts = adam.adtte.group_by("PARAMCD").agg(pl.len()).sort("PARAMCD").rows()
    assert counts == [("DOR", 3), ("OS", 11), ("PFS", 11), ("PFSENR", 12)]
    assert "S10" not in adam.adtte.filter(pl.col("PARAMCD") == "PFS")["USUBJID"].to_list()


def test_adrs_subject_level(adam):
    adrs = adam.adrs.filter(pl.col("PARAMCD") != "OVR")
    got = {(r["USUBJID"], r["PARAMCD"]): (r["AVALC"], r["ADT"]) for r in adrs.to_dicts()}
    assert got[("S11", "BOR")] == ("CR", date(2026, 5, 11))
    assert got[("S11", "CBOR")] == ("CR", date(2026, 5, 11))
    assert got[("S11", "CRSP")] == ("Y", date(2026, 2, 16))
    assert got[("S09", "CBOR")] == ("PR", date(2026, 2, 16))
    assert got[("S02", "CRSP")] == ("N", None)
    assert got[("S10", "BOR")] == ("SD", date(2026, 2, 16))
    assert sum(1 for (s, p), (v, _) in got.items() if p == "CRSP" and v == "Y") == 3
    assert got[("S12", "BOR")] == ("MISSING", None) and got[("S12", "CB")] == ("N", None)
    assert adam.adrs.filter(pl.col("PARAMCD") == "OVR").height == 37  # every RS record of RS.csv


def test_adsl(adam):
    adsl = {r["USUBJID"]: r for r in adam.adsl.to_dicts()}
    assert adsl["S10"]["ITTFL"] == "N" and adsl["S10"]["TRT01P"] == "INDUCTION ONLY"
    assert adsl["S04"]["EOSSTT"] == "DISCONTINUED" and adsl["S04"]["DCSREAS"] == "DEATH"
    assert adsl["S03"]["NATSDT"] == date(2026, 5, 20)
    assert adsl["S01"]["INDRESP"] == "PR" and adsl["S01"]["STRAT2V"] == "CR/PR"
    assert adsl["S02"]["STRAT2V"] == "SD"
    assert adsl["S07"]["STRAT1V"] == "02"
    assert adsl["S01"]["TRTEDT"] == date(2026, 3, 9)


def test_adae_window_and_phase(adam):
    adae = {(r["USUBJID"], r["AESEQ"]): r for r in adam.adae.to_dicts()}
    # last dose 2026-03-09; reporting window 30 days: 04-08 is day 30 (in), 04-09 day 31 (out)
    assert (adae[("S01", 2)]["TRTEMFL"], adae[("S04", 1)]["TRTEMFL"]) == ("Y", "N")
    assert adae[("S02", 2)]["APHASE"] == "SCREENING" and adae[("S02", 2)]["TRTEMFL"] == "N"
    assert adae[("S01", 1)]["APHASE"] == "INDUCTION" and adae[("S01", 1)]["TRTA"] == "INDUCTION ONLY"
    assert adae[("S02", 1)]["ATOXGRN"] == 3


def test_adtr_is_empty_without_tumour_measurements(adam):
    # the worked study gives responses as RS with a baseline-only TR and no TU: no sums of diameters
    assert adam.adtr.height == 0 and "PCHG" in adam.adtr.columns


def test_adtr_sums_and_percent_changes_from_tumour_measurements():
    tables = read_datasets(WORKED, DOMAINS)
    tables["TU"] = pl.DataFrame(
        {
            "USUBJID": ["S01", "S01"],
            "TULNKID": ["T01", "T02"],
            "TUORRES": ["TARGET", "TARGET"],
            "TULOC": ["LIVER", "LUNG"],
        }
    )
    # baseline 30 + 20 = 50 mm; then 20 + 15 = 35 mm (-30.0 %, PR); then 25 + 20 = 45 mm (+28.6 % from nadir 35)
    rows = [
        ("T01", 30, "2026-01-02"),
        ("T02", 20, "2026-01-02"),
        ("T01", 20, "2026-02-16"),
        ("T02", 15, "2026-02-16"),
    ]
    rows += [("T01", 25, "2026-03-30"), ("T02", 20, "2026-03-30")]
    tables["TR"] = pl.DataFrame(
        {
            "USUBJID": ["S01"] * len(rows),
            "TRLNKID": [r[0] for r in rows],
            "TRTESTCD": ["LDIAM"] * len(rows),
            "TRSTRESN": [str(r[1]) for r in rows],
            "TRDTC": [r[2] for r in rows],
        }
    )
    adtr = derive_adam(tables, PROTOCOL).adtr
    assert adtr.select("ADT", "AVAL", "BASE", "CHG", "PCHG", "NADIR").rows() == [
        (date(2026, 2, 16), 35.0, 50.0, -15.0, pytest.approx(-30.0), 50.0),
        (date(2026, 3, 30), 45.0, 50.0, -5.0, pytest.approx(-10.0), 35.0),
    ]
    assert adtr["PARAMCD"].unique().to_list() == ["SUMDIAM"]


def test_adsl_reads_baseline_qualifiers_from_suppdm():
    tables = read_datasets(WORKED, DOMAINS)
    tables["SUPPDM"] = pl.DataFrame(
        {
            "USUBJID": ["S01", "S01", "S01", "S02"],
            "QNAM": ["HISTOL", "ECOG", "METORGN", "METORGN"],
            "QVAL": ["adenocarcinoma", "1", "3", "1"],
        }
    )
    adsl = {r["USUBJID"]: r for r in derive_adam(tables, PROTOCOL).adsl.to_dicts()}
    assert (adsl["S01"]["HISTOL"], adsl["S01"]["ECOGBL"], adsl["S01"]["METORGN"]) == ("adenocarcinoma", 1, 3)
    assert (adsl["S01"]["STRAT3V"], adsl["S02"]["STRAT3V"]) == ("2-3", "1")  # protocol levels 1 vs 2-3
    assert adsl["S03"]["HISTOL"] is None and adsl["S03"]["STRAT3V"] is None
