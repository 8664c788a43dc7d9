"""``oligotrial recist timepoints | bor | evaluate``: files in, JSON/CSV out, exit 2 on bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

STUDY = Path(__file__).resolve().parents[1] / "data" / "recist" / "study"
TU, TR, DM = STUDY / "TU.csv", STUDY / "TR.csv", STUDY / "DM.csv"


def test_timepoints_json(run_cli):
    result = run_cli("recist", "timepoints", "--tu", TU, "--tr", TR, "--json")
    assert result.exit_code == 0, result.stderr
    records = result.json()["records"]
    s04 = [r for r in records if r["USUBJID"] == "S04"]
    assert [(r["RSDTC"], r["TRGRESP"], r["OVRLRESP"], r["SOD"]) for r in s04] == [
        ("2024-02-15", "PR", "PR", 30.31),
        ("2024-03-28", "NE", "NE", None),
    ]
    assert s04[0]["PCHGBL"] == pytest.approx(-30.0)


def test_timepoints_csv_to_out(run_cli, tmp_path):
    out = tmp_path / "RS.csv"
    result = run_cli("recist", "timepoints", "--tu", TU, "--tr", TR, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["USUBJID"] == "S01"
    assert rows[0]["OVRLRESP"] == "PR"
    assert len(rows) == 9


def test_bor_from_written_rs_with_protocol_defaults(run_cli, tmp_path):
    out = tmp_path / "RS.csv"
    assert run_cli("recist", "timepoints", "--tu", TU, "--tr", TR, "--out", out).exit_code == 0
    result = run_cli("recist", "bor", "--rs", out, "--dm", DM, "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["settings"] == {
        "confirmation_min_days": 28,
        "max_ne_between_confirmation": 1,
        "sd_min_days": 42,
    }
    assert document["subjects"] == [
        {
            "USUBJID": "S01",
            "BOR": "CR",
            "BOR_DATE": "2024-03-25",
            "CBOR": "CR",
            "CBOR_DATE": "2024-03-25",
            "CRSP": "Y",
            "CRSP_DATE": "2024-02-12",  # PR confirmed by the CR 42 days later: where DoR starts
            "CB": "Y",
        },
        {
            "USUBJID": "S02",
            "BOR": "PD",
            "BOR_DATE": "2024-02-13",
            "CBOR": "PD",
            "CBOR_DATE": "2024-02-13",
            "CRSP": "N",
            "CRSP_DATE": None,
            "CB": "N",
        },
        {
            "USUBJID": "S03",
            "BOR": "NON-CR/NON-PD",
            "BOR_DATE": "2024-02-14",
            "CBOR": "NON-CR/NON-PD",
            "CBOR_DATE": "2024-02-14",
            "CRSP": "N",
            "CRSP_DATE": None,
            "CB": "Y",
        },
        {
            "USUBJID": "S04",
            "BOR": "PR",
            "BOR_DATE": "2024-02-15",
            "CBOR": "SD",
            "CBOR_DATE": "2024-02-15",
            "CRSP": "N",
            "CRSP_DATE": None,
            "CB": "Y",
        },
        {
            "USUBJID": "S05",
            "BOR": "MISSING",
            "BOR_DATE": None,
            "CBOR": "MISSING",
            "CBOR_DATE": None,
            "CRSP": "N",
            "CRSP_DATE": None,
            "CB": "N",
        },
    ]


def test_bor_options_override_the_protocol(run_cli, tmp_path):
    out = tmp_path / "RS.csv"
    run_cli("recist", "timepoints", "--tu", TU, "--tr", TR, "--out", out)
    result = run_cli(
        "recist", "bor", "--rs", out, "--dm", DM, "--confirm-days", "60", "--min-sd-days", "50", "--json"
    )
    assert result.exit_code == 0, result.stderr
    subjects = {s["USUBJID"]: s for s in result.json()["subjects"]}
    # S01 (PR, CR, CR 42 days later): the CR pair is not confirmed with 60 days, the PR is, by the CR 84
    # days later; S04's lone PR on day 42 falls back to NE below a 50-day SD minimum
    assert (subjects["S01"]["CBOR"], subjects["S01"]["CBOR_DATE"]) == ("PR", "2024-02-12")
    assert subjects["S04"]["CBOR"] == "NE"
    assert result.json()["settings"]["max_ne_between_confirmation"] == 1


def test_evaluate_csv_and_irecist_json(run_cli):
    result = run_cli("recist", "evaluate", "--tu", TU, "--tr", TR, "--dm", DM)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "USUBJID,BOR,BOR_DATE,CBOR,CBOR_DATE,CRSP,CRSP_DATE,CB"
    assert result.stdout.splitlines()[1] == "S01,CR,2024-03-25,CR,2024-03-25,Y,2024-02-12,Y"
    result = run_cli("recist", "evaluate", "--tu", TU, "--tr", TR, "--dm", DM, "--irecist", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    s02 = {s["USUBJID"]: s for s in document["subjects"]}["S02"]
    assert (s02["BOR"], s02["IBOR"], s02["IPD_DATE"]) == ("PD", "iUPD", None)
    assert [t["IOVRLRESP"] for t in document["timepoints"] if t["USUBJID"] == "S02"] == ["iUPD", "iUPD"]


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


TU_OK = ["USUBJID,TULNKID,TUORRES,TULOC", "S1,T1,TARGET,LIVER", "S1,T2,TARGET,LUNG", "S1,NT1,NON-TARGET,BONE"]
TR_HEAD = "USUBJID,TRLNKID,TRTESTCD,TRSTRESC,TRSTRESN,TRDTC,TRBLFL"
TR_OK = [
    TR_HEAD,
    "S1,T1,LDIAM,,30,2024-01-01,Y",
    "S1,T2,LDIAM,,20,2024-01-01,Y",
    "S1,NT1,TUMSTATE,PRESENT,,2024-01-01,Y",
]


@pytest.mark.parametrize(
    ("tu_rows", "tr_rows", "code", "field", "rule_words"),
    [
        (
            [*TU_OK, "S1,T1,TARGET,BONE"],
            TR_OK,
            "RECIST-002",
            "TU[USUBJID=S1, TULNKID=T1].TULNKID",
            "unique",
        ),
        (
            [*TU_OK, "S1,T3,TARGET,BONE", "S1,T4,TARGET,BRAIN", "S1,T5,TARGET,SKIN", "S1,T6,TARGET,ADRENAL"],
            [*TR_OK, *(f"S1,T{i},LDIAM,,20,2024-01-01,Y" for i in range(3, 7))],
            "RECIST-009",
            "TU[USUBJID=S1, TULNKID=T6].TUORRES",
            "at most 5 target lesions",
        ),
        (
            [*TU_OK, "S1,T3,TARGET,LIVER", "S1,T4,TARGET,LIVER"],
            [*TR_OK, "S1,T3,LDIAM,,20,2024-01-01,Y", "S1,T4,LDIAM,,20,2024-01-01,Y"],
            "RECIST-010",
            "TU[USUBJID=S1, TULNKID=T4].TULOC",
            "at most 2 target lesions per organ",
        ),
        (
            TU_OK,
            [*TR_OK, "S1,T1,LDIAM,,-4,2024-02-12,"],
            "RECIST-007",
            "TR[USUBJID=S1, TRLNKID=T1, TRDTC=2024-02-12].TRSTRESN",
            "cannot be negative",
        ),
        (
            TU_OK,
            [*TR_OK, "S1,T1,LDIAM,,25,2023-12-01,"],
            "RECIST-013",
            "TR[USUBJID=S1, TRLNKID=T1, TRDTC=2023-12-01].TRDTC",
            "before the baseline",
        ),
        (
            TU_OK,
            [*TR_OK, "S1,NT1,TUMSTATE,SHRINKING,,2024-02-12,"],
            "RECIST-008",
            "TR[USUBJID=S1, TRLNKID=NT1, TRDTC=2024-02-12].TRSTRESC",
            "unknown response code",
        ),
    ],
    ids=["duplicate-lesion", "sixth-target", "third-in-organ", "negative", "before-baseline", "unknown-code"],
)
def test_bad_input_exits_2_naming_subject_lesion_field_and_rule(
    run_cli, tmp_path, tu_rows, tr_rows, code, field, rule_words
):
    tu = _write(tmp_path / "TU.csv", tu_rows)
    tr = _write(tmp_path / "TR.csv", tr_rows)
    result = run_cli("recist", "timepoints", "--tu", tu, "--tr", tr, "--json")
    assert result.exit_code == 2
    problems = result.json()["error"]["problems"]
    assert (problems[0]["code"], problems[0]["field"]) == (code, field)
    assert rule_words in problems[0]["message"]
    assert code in result.stderr and field in result.stderr
    # the same through evaluate, without --json: message on stderr only
    dm = _write(tmp_path / "DM.csv", ["USUBJID,RFSTDTC", "S1,2024-01-01"])
    result = run_cli("recist", "evaluate", "--tu", tu, "--tr", tr, "--dm", dm)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{code} {field}" in result.stderr


def test_bor_bad_code_and_missing_file(run_cli, tmp_path):
    rs = _write(tmp_path / "RS.csv", ["USUBJID,RSDTC,OVRLRESP", "S1,2024-02-12,GOOD"])
    dm = _write(tmp_path / "DM.csv", ["USUBJID,RFSTDTC", "S1,2024-01-01"])
    result = run_cli("recist", "bor", "--rs", rs, "--dm", dm, "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["problems"][0]["code"] == "RECIST-021"
    result = run_cli("recist", "bor", "--rs", tmp_path / "nope.csv", "--dm", dm)
    assert result.exit_code == 2
    assert "FILE-001" in result.stderr


def test_bor_bad_protocol_file_exits_2(run_cli, tmp_path):
    rs = _write(tmp_path / "RS.csv", ["USUBJID,RSDTC,OVRLRESP", "S1,2024-02-12,PR"])
    dm = _write(tmp_path / "DM.csv", ["USUBJID,RFSTDTC", "S1,2024-01-01"])
    result = run_cli("recist", "bor", "--rs", rs, "--dm", dm, "--protocol", tmp_path / "missing.yaml")
    assert result.exit_code == 2
    assert "PROTO-001" in result.stderr
