"""RECIST 1.1 engine: conformance suite (Tables 1-3), boundary cases, properties and bad input."""

from __future__ import annotations

import itertools
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oligotrial.errors import InputError
from oligotrial.rules.recist import (
    check_recist_input,
    compute_overall_response,
    derive_best_overall_response,
    derive_timepoint_responses,
)
from rules.recist_strategies import read_cases, subject_specs, tables

SETTINGS = {"confirmation_min_days": 28, "max_ne_between_confirmation": 1, "sd_min_days": 42}

# --- conformance: RECIST 1.1 Tables 1 and 2 ------------------------------------------------------------

OVERALL = read_cases("overall_response.csv")


@pytest.mark.parametrize("case", OVERALL, ids=[f"{i}:{c['source']}" for i, c in enumerate(OVERALL)])
def test_overall_response_tables_1_and_2(case):
    result = compute_overall_response([case["target"]], [case["non_target"]], [case["new"]])
    assert result.tolist() == [case["expected"]], case["source"]


def test_overall_response_is_vectorized():
    result = compute_overall_response(["CR", "SD", "NA"], ["CR", "NE", "NON-CR/NON-PD"], ["N", "N", "N"])
    assert result.tolist() == ["CR", "SD", "NON-CR/NON-PD"]


def test_overall_response_rejects_unknown_codes():
    with pytest.raises(InputError) as caught:
        compute_overall_response(["CR", "XX"], ["CR", "CR"], ["N", "N"])
    assert caught.value.code == "RECIST-008"
    assert caught.value.problems[0].field == "T[1]"


# --- conformance: best overall response with confirmation (Table 3) -------------------------------------

BEST = read_cases("best_response.csv")


def _rs_from_sequence(sequence: str, subject: str = "S1") -> pl.DataFrame:
    pairs = [item.split(":", 1) for item in sequence.split()]
    return pl.DataFrame(
        {
            "USUBJID": [subject] * len(pairs),
            "RSDTC": [d for d, _ in pairs],
            "OVRLRESP": [c for _, c in pairs],
        },
        schema={"USUBJID": pl.Utf8, "RSDTC": pl.Utf8, "OVRLRESP": pl.Utf8},
    )


@pytest.mark.parametrize("case", BEST, ids=[f"{i}:{c['source']}" for i, c in enumerate(BEST)])
def test_best_overall_response_table_3(case):
    dm = pl.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]})
    out = derive_best_overall_response(_rs_from_sequence(case["sequence"]), dm, **SETTINGS)
    row = out.row(0, named=True)

    def as_date(text: str) -> date | None:
        return date.fromisoformat(text) if text else None

    assert row["BOR"] == case["bor"]
    assert row["BOR_DATE"] == as_date(case["bor_date"])
    assert row["CBOR"] == case["cbor"]
    assert row["CBOR_DATE"] == as_date(case["cbor_date"])
    assert (row["CRSP"], row["CB"]) == (case["crsp"], case["cb"])


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        # PR, PR, CR, CR: DoR starts at the first PR of the first confirming pair (RECIST 1.1 section 4.4.2)
        ("2024-02-12:PR 2024-03-25:PR 2024-05-06:CR 2024-06-17:CR", date(2024, 2, 12)),
        # an unconfirmed PR (SD between) does not start DoR; the later confirmed pair does
        ("2024-02-12:PR 2024-03-25:SD 2024-05-06:PR 2024-06-17:PR", date(2024, 5, 6)),
        # PR confirmed by a CR across one NE (protocol allows 1 NE between)
        ("2024-02-12:PR 2024-03-25:NE 2024-05-06:CR", date(2024, 2, 12)),
        # CR then PR: the PR is PD (no PR after CR), nothing confirmed
        ("2024-02-12:CR 2024-03-25:PR", None),
        # confirmation too early (14 days)
        ("2024-02-12:PR 2024-02-26:PR", None),
    ],
)
def test_first_confirmed_response_date(sequence, expected):
    dm = pl.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]})
    row = derive_best_overall_response(_rs_from_sequence(sequence), dm, **SETTINGS).row(0, named=True)
    assert row["CRSP_DATE"] == expected
    assert (row["CRSP"] == "Y") == (expected is not None)


_CODES = st.sampled_from(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"])


@given(
    codes=st.lists(_CODES, min_size=1, max_size=8), gaps=st.lists(st.integers(7, 63), min_size=8, max_size=8)
)
def test_first_confirmed_response_is_the_confirmed_bor_with_cr_read_as_pr(codes, gaps):
    """The start of DoR, an independent formulation: with every CR read as PR, the best confirmed response
    is PR and its date is the first assessment of the first confirming pair (equal whenever CRSP is Y)."""
    day = date(2024, 1, 1).toordinal()
    dates = []
    for gap in gaps[: len(codes)]:
        day += gap
        dates.append(date.fromordinal(day).isoformat())
    sequence = " ".join(f"{d}:{c}" for d, c in zip(dates, codes, strict=True))
    dm = pl.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]})
    row = derive_best_overall_response(_rs_from_sequence(sequence), dm, **SETTINGS).row(0, named=True)
    as_pr = derive_best_overall_response(
        _rs_from_sequence(sequence.replace(":CR", ":PR")), dm, **SETTINGS
    ).row(0, named=True)
    if row["CRSP"] == "Y":
        assert row["CRSP_DATE"] == as_pr["CBOR_DATE"]
    else:
        assert row["CRSP_DATE"] is None


def test_best_overall_response_many_subjects_keeps_dm_order_and_settings():
    rs = pl.concat(
        [
            _rs_from_sequence("2024-02-12:PR 2024-03-11:PR", "B"),
            _rs_from_sequence("2024-02-12:CR 2024-03-01:CR", "A"),
        ]
    )
    dm = pl.DataFrame({"USUBJID": ["A", "B", "C"], "RFSTDTC": ["2024-01-01"] * 3})
    out = derive_best_overall_response(rs, dm, **SETTINGS)
    assert out["USUBJID"].to_list() == ["A", "B", "C"]
    assert out["CBOR"].to_list() == ["SD", "PR", "MISSING"]
    # with a 14-day confirmation interval the CR pair 18 days apart confirms
    shorter = derive_best_overall_response(rs, dm, **{**SETTINGS, "confirmation_min_days": 14})
    assert shorter["CBOR"].to_list() == ["CR", "PR", "MISSING"]


def test_best_overall_response_accepts_long_rs():
    rs = pl.DataFrame(
        {
            "USUBJID": ["S1"] * 4,
            "RSTESTCD": ["OVRLRESP", "TRGRESP", "OVRLRESP", "TRGRESP"],
            "RSSTRESC": ["PR", "PR", "PR", "PR"],
            "RSDTC": ["2024-02-12", "2024-02-12", "2024-03-11", "2024-03-11"],
        }
    )
    dm = pl.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]})
    assert derive_best_overall_response(rs, dm, **SETTINGS)["CBOR"].to_list() == ["PR"]


@pytest.mark.parametrize(
    ("rs", "dm", "code", "field"),
    [
        (
            {"USUBJID": ["S1"], "RSDTC": ["2024-02-12"], "OVRLRESP": ["VGPR"]},
            {"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]},
            "RECIST-021",
            "RS[USUBJID=S1].OVRLRESP",
        ),
        (
            {"USUBJID": ["S9"], "RSDTC": ["2024-02-12"], "OVRLRESP": ["PR"]},
            {"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]},
            "RECIST-023",
            "RS[USUBJID=S9].USUBJID",
        ),
        (
            {"USUBJID": ["S1"], "RSDTC": ["12/02/2024"], "OVRLRESP": ["PR"]},
            {"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]},
            "RECIST-022",
            "RS[USUBJID=S1].RSDTC",
        ),
        (
            {"USUBJID": ["S1"], "RSDTC": ["2024-02-12"], "OVRLRESP": ["PR"]},
            {"USUBJID": ["S1"], "RFSTDTC": [None]},
            "RECIST-024",
            "DM[USUBJID=S1].RFSTDTC",
        ),
        (
            {"USUBJID": ["S1", "S1"], "RSDTC": ["2024-02-12"] * 2, "OVRLRESP": ["PR", "SD"]},
            {"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]},
            "RECIST-026",
            "RS[USUBJID=S1, TRDTC=2024-02-12].OVRLRESP",
        ),
    ],
)
def test_best_overall_response_bad_input(rs, dm, code, field):
    with pytest.raises(InputError) as caught:
        derive_best_overall_response(
            pl.DataFrame(rs, schema={k: pl.Utf8 for k in rs}),
            pl.DataFrame(dm, schema={k: pl.Utf8 for k in dm}),
            **SETTINGS,
        )
    assert caught.value.code == code
    assert caught.value.problems[0].field == field


def test_best_overall_response_rejects_negative_settings():
    rs = _rs_from_sequence("2024-02-12:PR")
    dm = pl.DataFrame({"USUBJID": ["S1"], "RFSTDTC": ["2024-01-01"]})
    with pytest.raises(InputError) as caught:
        derive_best_overall_response(rs, dm, **{**SETTINGS, "max_ne_between_confirmation": -1})
    assert caught.value.code == "RECIST-027"


# --- boundary cases with literal values -------------------------------------------------------------------

LIVER2 = [("T1", "TARGET", "LIVER"), ("T2", "TARGET", "LUNG")]


def _one(lesions, *visits):
    tu, tr = tables({"S1": {"lesions": lesions, "visits": list(visits)}})
    return derive_timepoint_responses(tu, tr)


def test_exactly_minus_30_percent_is_pr():
    # 33.3 mm -> 23.31 mm is exactly -30.0 %; in binary floating point 23.31 / 33.3 - 1 != -0.3
    rs = _one([("T1", "TARGET", "LIVER")], ("2024-01-01", {"T1": 33.3}), ("2024-02-12", {"T1": 23.31}))
    assert rs["TRGRESP"].to_list() == ["PR"]
    assert rs["OVRLRESP"].to_list() == ["PR"]
    assert rs["PCHGBL"][0] == pytest.approx(-30.0)
    # one hundredth of a millimetre more is SD
    rs = _one([("T1", "TARGET", "LIVER")], ("2024-01-01", {"T1": 33.3}), ("2024-02-12", {"T1": 23.32}))
    assert rs["TRGRESP"].to_list() == ["SD"]


def test_plus_20_percent_but_4_mm_is_not_pd():
    rs = _one([("T1", "TARGET", "LIVER")], ("2024-01-01", {"T1": 20}), ("2024-02-12", {"T1": 24}))
    assert rs["TRGRESP"].to_list() == ["SD"]
    assert rs["PCHGNAD"][0] == pytest.approx(20.0)
    rs = _one([("T1", "TARGET", "LIVER")], ("2024-01-01", {"T1": 25}), ("2024-02-12", {"T1": 30}))
    assert rs["TRGRESP"].to_list() == ["PD"]  # +20 % and +5 mm


def test_nadir_below_baseline_makes_pd_reachable_below_baseline():
    rs = _one(
        LIVER2,
        ("2024-01-01", {"T1": 60, "T2": 40}),
        ("2024-02-12", {"T1": 30, "T2": 20}),
        ("2024-03-25", {"T1": 36, "T2": 24}),
    )
    assert rs["SOD"].to_list() == [50.0, 60.0]
    assert rs["NADIR"].to_list() == [100.0, 50.0]
    assert rs["TRGRESP"].to_list() == ["PR", "PD"]  # 60 mm is 40 % below baseline yet +20 % over the nadir
    assert rs["PCHGBL"].to_list() == [pytest.approx(-50.0), pytest.approx(-40.0)]


def test_target_node_9_mm_with_all_else_gone_is_cr():
    lesions = [("T1", "TARGET", "LIVER"), ("N1", "TARGET", "LYMPH NODE"), ("NT1", "NON-TARGET", "BONE")]
    rs = _one(
        lesions,
        ("2024-01-01", {"T1": 30, "N1": 20, "NT1": "PRESENT"}),
        ("2024-02-12", {"T1": 0, "N1": 9, "NT1": "ABSENT"}),
        ("2024-03-25", {"T1": 0, "N1": 10, "NT1": "ABSENT"}),
    )
    assert rs["SOD"].to_list() == [9.0, 10.0]
    assert rs["TRGRESP"][0] == "CR"
    assert rs["OVRLRESP"][0] == "CR"
    # a node back to 10 mm after a CR is disease again: PD whatever the sum
    assert rs["TRGRESP"][1] == "PD"


def test_new_lesion_is_pd_whatever_the_sums():
    lesions = [*LIVER2, ("NEW1", "NEW", "BRAIN")]
    rs = _one(
        lesions,
        ("2024-01-01", {"T1": 60, "T2": 40}),
        ("2024-02-12", {"T1": 0, "T2": 0, "NEW1": "PRESENT"}),
    )
    assert rs.select("TRGRESP", "NEWLIND", "OVRLRESP").row(0) == ("CR", "Y", "PD")


def test_missing_target_is_pd_when_measured_ones_already_show_it_otherwise_ne():
    visits = [
        ("2024-01-01", {"T1": 40, "T2": 20}),
        ("2024-02-12", {"T1": 30, "T2": 10}),  # nadir 40
    ]
    rs = _one(LIVER2, *visits, ("2024-03-25", {"T1": 50, "T2": None}))  # 50 >= 40 + 25 %
    assert rs["TRGRESP"].to_list() == ["PR", "PD"]
    assert rs["SOD"][1] is None
    rs = _one(LIVER2, *visits, ("2024-03-25", {"T1": 45}))  # +12.5 %, T2 has no record at all
    assert rs["TRGRESP"].to_list() == ["PR", "NE"]
    assert rs["OVRLRESP"].to_list() == ["PR", "NE"]


def test_too_small_to_measure_counts_5_mm_and_reappearance_after_cr_is_pd():
    rs = _one(
        [("T1", "TARGET", "LIVER")],
        ("2024-01-01", {"T1": 20}),
        ("2024-02-12", {"T1": "TOO SMALL TO MEASURE"}),
        ("2024-03-25", {"T1": 0}),
        ("2024-05-06", {"T1": 3}),
    )
    assert rs["SOD"].to_list() == [5.0, 0.0, 3.0]
    assert rs["TRGRESP"].to_list() == ["PR", "CR", "PD"]
    assert rs["PCHGNAD"][2] is None  # nadir 0: percent change undefined


def test_non_target_only_subject_follows_table_2():
    lesions = [("NT1", "NON-TARGET", "BONE"), ("NT2", "NON-TARGET", "LYMPH NODE")]
    rs = _one(
        lesions,
        ("2024-01-01", {"NT1": "PRESENT", "NT2": "PRESENT"}),
        ("2024-02-12", {"NT1": "PRESENT", "NT2": "ABSENT"}),
        ("2024-03-25", {"NT1": "ABSENT", "NT2": "ABSENT"}),
        ("2024-05-06", {"NT1": "ABSENT", "NT2": None}),
        ("2024-06-17", {"NT1": "UNEQUIVOCAL PROGRESSION", "NT2": "ABSENT"}),
    )
    assert rs["TRGRESP"].to_list() == ["NA"] * 4
    assert rs["OVRLRESP"].to_list() == ["NON-CR/NON-PD", "CR", "NE", "PD"]


def test_rs_output_columns():
    rs = _one([("T1", "TARGET", "LIVER")], ("2024-01-01", {"T1": 20}), ("2024-02-12", {"T1": 10}))
    assert rs.columns == [
        "USUBJID",
        "RSDTC",
        "TRGRESP",
        "NTRGRESP",
        "NEWLIND",
        "OVRLRESP",
        "SOD",
        "BLSOD",
        "NADIR",
        "PCHGBL",
        "PCHGNAD",
    ]
    assert rs.row(0) == ("S1", date(2024, 2, 12), "PR", "NA", "N", "PR", 10.0, 20.0, 20.0, -50.0, -50.0)


# --- properties --------------------------------------------------------------------------------------------

RANK = {"CR": 0, "PR": 1, "SD": 2, "NON-CR/NON-PD": 3, "NE": 4, "PD": 5}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=subject_specs())
def test_nadir_never_increases(spec):
    tu, tr = tables({"S1": spec})
    rs = derive_timepoint_responses(tu, tr)
    nadir = [n for n in rs["NADIR"].to_list() if n is not None]
    assert all(later <= earlier for earlier, later in itertools.pairwise(nadir))
    if nadir:
        assert nadir[0] <= rs["BLSOD"][0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=subject_specs(), data=st.data())
def test_adding_a_new_lesion_never_improves_the_overall_response(spec, data):
    tu, tr = tables({"S1": spec})
    before = derive_timepoint_responses(tu, tr)["OVRLRESP"].to_list()
    visit = data.draw(st.integers(1, len(spec["visits"]) - 1))
    state = data.draw(st.sampled_from(["PRESENT", "UNEQUIVOCAL PROGRESSION"]))
    visits = [(d, dict(v)) for d, v in spec["visits"]]
    visits[visit][1]["NEW1"] = state
    tu2, tr2 = tables({"S1": {"lesions": [*spec["lesions"], ("NEW1", "NEW", "BRAIN")], "visits": visits}})
    after = derive_timepoint_responses(tu2, tr2)["OVRLRESP"].to_list()
    assert after[visit - 1] == "PD"
    assert all(RANK[a] >= RANK[b] for a, b in zip(after, before, strict=True))


# --- bad input -------------------------------------------------------------------------------------------

BASE_VISIT = ("2024-01-01", {"T1": 30, "T2": 20})


def _bad(lesions, visits, **extra_tr):
    tu, tr = tables({"S1": {"lesions": lesions, "visits": visits}})
    for column, value in extra_tr.items():
        tr = tr.with_columns(pl.lit(value).alias(column))
    with pytest.raises(InputError) as caught:
        check_recist_input(tu, tr)
    return caught.value


def test_duplicate_lesion_id():
    error = _bad([*LIVER2, ("T2", "TARGET", "BONE")], [BASE_VISIT])
    assert error.code == "RECIST-002"
    assert error.problems[0].field == "TU[USUBJID=S1, TULNKID=T2].TULNKID"


def test_sixth_target():
    lesions = [(f"T{i}", "TARGET", organ) for i, organ in enumerate(["LIVER", "LUNG", "BONE"] * 2, 1)]
    error = _bad(lesions, [("2024-01-01", {f"T{i}": 20 for i in range(1, 7)})])
    assert [(p.code, p.field) for p in error.problems] == [
        ("RECIST-009", "TU[USUBJID=S1, TULNKID=T6].TUORRES")
    ]
    assert "at most 5 target lesions" in error.problems[0].message


def test_third_target_in_one_organ_nodes_counting_as_one():
    lesions = [("N1", "TARGET", "LYMPH NODE"), ("N2", "TARGET", "LYMPH NODE"), ("N3", "TARGET", "LYMPH NODE")]
    error = _bad(lesions, [("2024-01-01", {"N1": 20, "N2": 20, "N3": 20})])
    assert [(p.code, p.field, p.value) for p in error.problems] == [
        ("RECIST-010", "TU[USUBJID=S1, TULNKID=N3].TULOC", "LYMPH NODE")
    ]


def test_negative_diameter():
    error = _bad(LIVER2, [BASE_VISIT, ("2024-02-12", {"T1": -3, "T2": 20})])
    assert error.code == "RECIST-007"
    assert error.problems[0].field == "TR[USUBJID=S1, TRLNKID=T1, TRDTC=2024-02-12].TRSTRESN"
    assert error.problems[0].value == -3.0


def test_measurement_dated_before_baseline():
    tu, tr = tables({"S1": {"lesions": LIVER2, "visits": [BASE_VISIT, ("2023-12-20", {"T1": 30})]}})
    tr = tr.with_columns(TRBLFL=pl.when(pl.col("TRDTC") == "2024-01-01").then(pl.lit("Y")))
    with pytest.raises(InputError) as caught:
        check_recist_input(tu, tr)
    problem = caught.value.problems[0]
    assert (problem.code, problem.field) == (
        "RECIST-013",
        "TR[USUBJID=S1, TRLNKID=T1, TRDTC=2023-12-20].TRDTC",
    )


def test_unknown_response_code():
    lesions = [*LIVER2, ("NT1", "NON-TARGET", "BONE")]
    tu, tr = tables(
        {"S1": {"lesions": lesions, "visits": [("2024-01-01", {"T1": 30, "T2": 20, "NT1": "PRESENT"})]}}
    )
    tr = tr.with_columns(TRSTRESC=pl.when(pl.col("TRLNKID") == "NT1").then(pl.lit("SMALLER")))
    with pytest.raises(InputError) as caught:
        check_recist_input(tu, tr)
    problem = caught.value.problems[0]
    assert (problem.code, problem.field, problem.value) == (
        "RECIST-008",
        "TR[USUBJID=S1, TRLNKID=NT1, TRDTC=2024-01-01].TRSTRESC",
        "SMALLER",
    )


@pytest.mark.parametrize(
    ("lesions", "visits", "code", "field"),
    [
        (LIVER2, [("2024-01-01", {"T1": 30, "T2": 9})], "RECIST-011", "TR[USUBJID=S1, TRLNKID=T2].TRSTRESN"),
        (
            [("N1", "TARGET", "LYMPH NODE")],
            [("2024-01-01", {"N1": 14})],
            "RECIST-011",
            "TR[USUBJID=S1, TRLNKID=N1].TRSTRESN",
        ),
        (
            [*LIVER2, ("NEW1", "NEW", "BRAIN")],
            [("2024-01-01", {"T1": 30, "T2": 20, "NEW1": "PRESENT"})],
            "RECIST-012",
            "TR[USUBJID=S1, TRLNKID=NEW1, TRDTC=2024-01-01].TRSTRESC",
        ),
        (
            LIVER2,
            [BASE_VISIT, ("2024-02-12", {"T9": 3})],
            "RECIST-004",
            "TR[USUBJID=S1, TRLNKID=T9, TRDTC=2024-02-12].TRLNKID",
        ),
        (
            [("T1", "TARGET", "LIVER"), ("T2", "TUMOUR", "LUNG")],
            [BASE_VISIT],
            "RECIST-003",
            "TU[USUBJID=S1, TULNKID=T2].TUORRES",
        ),
        (
            [("T1", "TARGET", "LIVER"), ("NT1", "NON-TARGET", "BONE")],
            [("2024-01-01", {"T1": 30})],
            "RECIST-015",
            "TR[USUBJID=S1, TRLNKID=NT1].TRSTRESC",
        ),
    ],
)
def test_other_baseline_rules(lesions, visits, code, field):
    error = _bad(lesions, visits)
    assert (error.problems[0].code, error.problems[0].field) == (code, field)


def test_all_problems_reported_at_once():
    lesions = [*LIVER2, ("T2", "TARGET", "LUNG"), ("T3", "TARGET", "LUNG"), ("T4", "TARGET", "LUNG")]
    error = _bad(lesions, [("2024-01-01", {"T1": 30, "T2": 20, "T3": 20, "T4": 20})])
    assert {p.code for p in error.problems} == {"RECIST-002", "RECIST-010"}


def test_missing_column():
    tu, tr = tables({"S1": {"lesions": LIVER2, "visits": [BASE_VISIT]}})
    with pytest.raises(InputError) as caught:
        check_recist_input(tu.drop("TULOC"), tr)
    assert (caught.value.code, caught.value.problems[0].field) == ("RECIST-001", "TU.TULOC")


def test_bad_date_and_duplicate_result():
    tu, tr = tables({"S1": {"lesions": LIVER2, "visits": [BASE_VISIT, ("2024-02-12", {"T1": 30, "T2": 20})]}})
    tr = pl.concat([tr, tr.tail(1)]).with_columns(
        TRDTC=pl.when(pl.col("TRLNKID") == "T1").then(pl.col("TRDTC")).otherwise(pl.col("TRDTC"))
    )
    bad_date = tr.with_columns(
        TRDTC=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("2024-13-01")).otherwise("TRDTC")
    )
    with pytest.raises(InputError) as caught:
        check_recist_input(tu, bad_date)
    assert {p.code for p in caught.value.problems} == {"RECIST-006", "RECIST-014"}
