"""The fast path of the RECIST engine gives exactly what the reference path gives, or steps aside.

``fast_timepoint_frame`` must return the frame of ``timepoint_frame(prepare(tu, tr))`` for valid input and
``None`` whenever the reference path raises; the public functions then raise the reference path's error.
Inputs are hypothesis-built studies, then mutated (case, spaces, duplicates, dates, codes, numbers as text,
baseline flags, ...) so that both valid and invalid tables are compared; larger studies in several row
orders cover the branches of the compiled passes (subject runs, no sort / run-merging sort / full sort).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from oligotrial.errors import InputError
from oligotrial.rules import _recist_fast as fast
from oligotrial.rules import _recist_kernels as kernels
from oligotrial.rules._recist_bor import checked_matrices, fast_matrices
from oligotrial.rules._recist_fast import FEW_RUNS, code_runs, fast_timepoint_frame
from oligotrial.rules._recist_input import prepare
from oligotrial.rules._recist_timepoint import timepoint_frame
from oligotrial.rules.recist import derive_timepoint_responses, to_rs_records

from .recist_strategies import subject_specs, tables


def reference(tu: pl.DataFrame, tr: pl.DataFrame) -> pl.DataFrame | Exception:
    try:
        return timepoint_frame(prepare(tu, tr))
    except Exception as error:
        return error


def check_same(tu: pl.DataFrame, tr: pl.DataFrame) -> None:
    expected = reference(tu, tr)
    fast = fast_timepoint_frame(tu, tr)
    if isinstance(expected, Exception):
        assert fast is None
        with pytest.raises(type(expected)) as raised:
            derive_timepoint_responses(tu, tr)
        if isinstance(expected, InputError):
            assert isinstance(raised.value, InputError)
            # compared as text: a NaN diameter is the value of its RECIST-007 problem, and nan != nan
            assert [repr(p) for p in raised.value.problems] == [repr(p) for p in expected.problems]
        else:  # e.g. a NaN diameter written as text: the reference path's own polars error, unchanged
            assert str(raised.value) == str(expected)
    elif fast is not None:
        assert_frame_equal(fast, expected)
        assert_frame_equal(derive_timepoint_responses(tu, tr), to_rs_records(expected))


@st.composite
def studies(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = draw(st.integers(1, 4))
    names = draw(st.permutations([f"S{i:02d}" for i in range(n)]))
    specs = {name: draw(subject_specs(subject=name)) for name in names}
    for spec in specs.values():
        if draw(st.booleans()):  # NEW lesions, present or absent, sometimes measured
            spec["lesions"].append(("NEW1", "NEW", draw(st.sampled_from(["BRAIN", "LYMPH NODE", None]))))
            for k, (_, values) in enumerate(spec["visits"]):
                if k:
                    values["NEW1"] = draw(st.sampled_from(["ABSENT", "PRESENT", "UNEQUIVOCAL PROGRESSION"]))
    tu, tr = tables(specs)
    return tu, tr


MUTATIONS = (
    "lower",
    "spaces",
    "drop_row",
    "duplicate_row",
    "shift_date",
    "negative",
    "null_field",
    "unknown_code",
    "baseline_flag",
    "number_as_text",
    "stresc_number",
    "shuffle",
    "new_measured",
    "drop_tu",
    "datetime",
)


def mutate(
    tu: pl.DataFrame, tr: pl.DataFrame, ops: list[tuple[str, int]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    tu_rows = tu.to_dicts()
    tr_rows = tr.to_dicts()
    flags = False
    text_numbers = False
    datetimes = False
    for op, k in ops:
        row: dict[str, Any] = tr_rows[k % len(tr_rows)] if tr_rows else {}
        if op == "lower" and tr_rows:
            row["TRTESTCD"] = row["TRTESTCD"].lower() if row["TRTESTCD"] else None
            if row["TRSTRESC"]:
                row["TRSTRESC"] = row["TRSTRESC"].lower()
        elif op == "spaces" and tr_rows:
            row["USUBJID"] = f" {row['USUBJID']} "
            if tu_rows:  # "drop_tu" may have removed every TU record
                tu_rows[k % len(tu_rows)]["TULNKID"] = f"{tu_rows[k % len(tu_rows)]['TULNKID']} "
        elif op == "drop_row" and tr_rows:
            tr_rows.pop(k % len(tr_rows))
        elif op == "duplicate_row" and tr_rows:
            tr_rows.append(dict(row))
        elif op == "shift_date" and tr_rows and row["TRDTC"] != "2024-02-30":
            day = date.fromisoformat(row["TRDTC"]) + timedelta(days=(k % 5) * 7 - 14)
            row["TRDTC"] = day.isoformat() if k % 7 else "2024-02-30"
        elif op == "negative" and tr_rows and row["TRSTRESN"] is not None:
            row["TRSTRESN"] = -row["TRSTRESN"]
        elif op == "null_field" and tr_rows:
            field = ["USUBJID", "TRLNKID", "TRTESTCD", "TRSTRESC", "TRSTRESN", "TRSTAT"][k % 6]
            row[field] = None
        elif op == "unknown_code" and tr_rows:
            field = ["TRTESTCD", "TRSTRESC", "TRSTAT", "TRLNKID"][k % 4]
            row[field] = ["XX", "MAYBE", "DONE", "ZZ9"][k % 4]
        elif op == "baseline_flag" and tr_rows:
            flags = True
            row["TRBLFL"] = "y" if k % 3 else "Y"
        elif op == "number_as_text":
            text_numbers = True
        elif op == "stresc_number" and tr_rows and row["TRSTRESN"] is not None:
            row["TRSTRESC"] = f" {row['TRSTRESN']}" if k % 4 else "NAN"
            row["TRSTRESN"] = None
        elif op == "shuffle":
            tr_rows = tr_rows[k % max(len(tr_rows), 1) :] + tr_rows[: k % max(len(tr_rows), 1)]
            tr_rows.reverse()
        elif op == "new_measured" and tr_rows:
            row["TRTESTCD"] = "LDIAM"
            row["TRSTRESN"] = float(k % 30)
        elif op == "drop_tu" and tu_rows:
            tu_rows.pop(k % len(tu_rows))
        elif op == "datetime":
            datetimes = True
    schema_tr = dict(tr.schema)
    if flags:
        schema_tr["TRBLFL"] = pl.Utf8
        for row in tr_rows:
            row.setdefault("TRBLFL", None)
    tu_new = pl.DataFrame(tu_rows, schema=tu.schema, orient="row")
    tr_new = pl.DataFrame(tr_rows, schema=schema_tr, orient="row")
    if text_numbers:
        tr_new = tr_new.with_columns(pl.col("TRSTRESN").cast(pl.Utf8))
    if datetimes:
        tr_new = tr_new.with_columns(
            pl.col("TRDTC").str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
        )
    return tu_new, tr_new


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(study=studies())
def test_valid_studies_take_the_fast_path_and_agree(study):
    tu, tr = study
    expected = reference(tu, tr)
    fast = fast_timepoint_frame(tu, tr)
    if (
        not isinstance(expected, Exception)
        and not (tr["TRTESTCD"].is_in(["LDIAM", "LPERP"]) & (tr["TRLNKID"] == "NEW1")).any()
    ):
        assert fast is not None
    check_same(tu, tr)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    study=studies(),
    ops=st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 1000)), min_size=1, max_size=4),
)
def test_mutated_studies_agree_or_raise_the_same_error(study, ops):
    tu, tr = mutate(*study, ops)
    check_same(tu, tr)


def test_categorical_and_whitespace_inputs_agree():
    tu, tr = tables(
        {
            "S1": {
                "lesions": [
                    ("T1", "TARGET", "LIVER"),
                    ("N1", "TARGET", "LYMPH NODE"),
                    ("NT1", "NON-TARGET", "BONE"),
                ],
                "visits": [
                    ("2024-01-01", {"T1": 30, "N1": 20, "NT1": "PRESENT"}),
                    ("2024-02-12", {"T1": 0, "N1": 9, "NT1": "ABSENT"}),
                    ("2024-03-25", {"T1": "TOO SMALL TO MEASURE", "N1": None, "NT1": "PRESENT"}),
                ],
            }
        }
    )
    tr = tr.with_columns(
        pl.col("USUBJID").str.pad_start(4).cast(pl.Categorical),
        pl.col("TRTESTCD").str.to_lowercase(),
        pl.col("TRSTRESC").str.to_lowercase().cast(pl.Categorical),
    )
    tu = tu.with_columns(pl.col("TULOC").str.to_lowercase(), pl.col("TUORRES").cast(pl.Categorical))
    assert fast_timepoint_frame(tu, tr) is not None
    check_same(tu, tr)


RESPONSES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")


@st.composite
def rs_dm(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    subjects = [f"S{i}" for i in range(draw(st.integers(1, 5)))]
    messy = draw(st.booleans())
    rows = []
    for subject in subjects:
        for k in range(draw(st.integers(0, 6))):
            code = draw(st.sampled_from([*RESPONSES, " PR", "cr", "XX", None] if messy else RESPONSES))
            day = date(2024, 1, 1) + timedelta(days=draw(st.sampled_from([0, 28, 42, 84])) + 42 * k)
            text = draw(
                st.sampled_from([day.isoformat(), f"{day.isoformat()}T10:00", *(["bad"] if messy else [])])
            )
            who = draw(st.sampled_from([subject, f" {subject}", *(["S99"] if messy else [])]))
            rows.append((who, text, code))
    rs = pl.DataFrame(rows, schema={"USUBJID": pl.Utf8, "RSDTC": pl.Utf8, "OVRLRESP": pl.Utf8}, orient="row")
    refs = ["2023-12-30", "2024-01-01", *([None, "x"] if messy else [])]
    dm_rows = [(s, draw(st.sampled_from(refs))) for s in subjects]
    if messy and draw(st.booleans()):
        dm_rows.append(dm_rows[0])
    dm = pl.DataFrame(dm_rows, schema={"USUBJID": pl.Utf8, "RFSTDTC": pl.Utf8}, orient="row")
    return rs, dm


@settings(max_examples=300, deadline=None)
@given(data=rs_dm())
def test_best_response_matrices_fast_path_agrees(data):
    rs, dm = data
    try:
        expected = checked_matrices(rs, dm, RESPONSES, "RECIST")
    except InputError:
        assert fast_matrices(rs, dm, RESPONSES, "OVRLRESP") is None
        return
    fast = fast_matrices(rs, dm, RESPONSES, "OVRLRESP")
    if fast is not None:
        assert fast.subjects.to_list() == expected.subjects.to_list()
        for name in ("code", "date", "day"):
            assert (getattr(fast, name) == getattr(expected, name)).all(), name
            assert getattr(fast, name).shape == getattr(expected, name).shape


# --- larger studies: the compiled passes' branches ------------------------------------------------------
# USUBJID in runs (> 64 rows grouped by subject) or not; rows already in key order, a few sorted runs
# (one block per lesion, as an export by lesion gives), or shuffled (many runs: the general sort).
ORDERS = ("subject", "lesion", "shuffled")


def reorder(tr: pl.DataFrame, order: str, seed: int) -> pl.DataFrame:
    if order == "lesion":
        return tr.sort("TRLNKID", "USUBJID", "TRDTC", maintain_order=True)
    if order == "shuffled":
        return tr.sample(fraction=1.0, shuffle=True, seed=seed)
    return tr


@st.composite
def larger_studies(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    names = [f"S{i:02d}" for i in range(draw(st.integers(8, 14)))]
    specs = {name: draw(subject_specs(subject=name)) for name in names}
    for spec in specs.values():
        if draw(st.booleans()):
            spec["lesions"].append(("NEW1", "NEW", "BRAIN"))
            for k, (_, values) in enumerate(spec["visits"]):
                if k:
                    values["NEW1"] = draw(st.sampled_from(["ABSENT", "PRESENT", "UNEQUIVOCAL PROGRESSION"]))
    tu, tr = tables(specs)
    return tu, reorder(tr, draw(st.sampled_from(ORDERS)), draw(st.integers(0, 2**31)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(study=larger_studies())
def test_larger_studies_in_any_row_order_agree(study):
    tu, tr = study
    expected = reference(tu, tr)
    fast = fast_timepoint_frame(tu, tr)
    assert (fast is None) == isinstance(expected, Exception)
    check_same(tu, tr)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    study=larger_studies(),
    ops=st.lists(
        st.tuples(st.sampled_from([m for m in MUTATIONS if m != "shuffle"]), st.integers(0, 1000)),
        min_size=1,
        max_size=3,
    ),
)
def test_larger_mutated_studies_agree_or_raise_the_same_error(study, ops):
    check_same(*mutate(*study, ops))


def test_larger_study_orders_take_each_branch(monkeypatch):
    visits = [("2024-01-01", {"T1": 40, "N1": 20, "NT1": "PRESENT"})] + [
        (
            (date(2024, 1, 1) + timedelta(days=42 * k)).isoformat(),
            {"T1": 40 - 5 * k, "N1": 12, "NT1": "PRESENT"},
        )
        for k in range(1, 6)
    ]
    lesions = [("T1", "TARGET", "LIVER"), ("N1", "TARGET", "LYMPH NODE"), ("NT1", "NON-TARGET", "BONE")]
    tu, tr = tables({f"S{i:02d}": {"lesions": lesions, "visits": visits} for i in range(30)})
    assert tr.height == 540
    names = tu["USUBJID"].unique().sort()
    descents: list[int] = []
    check_rows = kernels.check_rows

    def spy(*args: Any) -> Any:
        result = check_rows(*args)
        descents.append(result[1])
        return result

    monkeypatch.setattr(kernels, "check_rows", spy)
    for order in ORDERS:
        moved = reorder(tr, order, 7)
        runs = code_runs(moved["USUBJID"], names)
        assert runs is not None
        # grouped by subject: one code per run of equal USUBJID; shuffled: one code per row
        assert runs[1].shape[0] == {"subject": 30, "lesion": 90, "shuffled": 0}[order]
        frame = fast_timepoint_frame(tu, moved)
        assert frame is not None
        assert_frame_equal(frame, timepoint_frame(prepare(tu, moved)))
    # in key order (no sort), three sorted blocks (numpy's stable sort), shuffled (polars' sort)
    assert descents[0] == 0
    assert descents[1] == 2
    assert descents[2] >= FEW_RUNS


def test_many_link_ids_are_looked_up_not_compared():
    # more than 32 distinct TULNKID values: TR link ids take the lookup table (int64 codes)
    def study(i: int) -> dict[str, Any]:
        lesions = [
            (f"T{i}", "TARGET", "LIVER"),
            (f"N{i}", "TARGET", "LYMPH NODE"),
            (f"B{i}", "NON-TARGET", "BONE"),
        ]
        visits = [("2024-01-01", {f"T{i}": 30 + i, f"N{i}": 20, f"B{i}": "PRESENT"})] + [
            (
                (date(2024, 1, 1) + timedelta(days=42 * k)).isoformat(),
                {f"T{i}": 30 - 4 * k + i % 7, f"N{i}": 9, f"B{i}": "ABSENT"},
            )
            for k in range(1, 4)
        ]
        return {"lesions": lesions, "visits": visits}

    tu, tr = tables({f"S{i:02d}": study(i) for i in range(20)})
    assert tu["TULNKID"].n_unique() == 60
    frame = fast_timepoint_frame(tu, tr)
    assert frame is not None
    assert_frame_equal(frame, timepoint_frame(prepare(tu, tr)))
    # SOD 50 + i at baseline, 39 - 4k + i % 7 after: PR (<= -30 %) except at k = 1 for i = 1..6 (SD)
    assert frame.filter(~pl.col("IS_BASELINE"))["OVRLRESP"].value_counts().sort("OVRLRESP").rows() == [
        ("PR", 54),
        ("SD", 6),
    ]


def test_mutate_spaces_after_every_tumour_record_is_dropped():
    """The mutation helper itself: "spaces" after "drop_tu" emptied TU (hypothesis found it in a CI run)."""
    tu = pl.DataFrame({"USUBJID": ["S00"], "TULNKID": ["NT1"], "TUORRES": ["NON-TARGET"], "TULOC": ["BONE"]})
    tr = pl.DataFrame(
        {
            "USUBJID": ["S00", "S00"],
            "TRLNKID": ["NT1", "NT1"],
            "TRTESTCD": ["TUMSTATE"] * 2,
            "TRSTRESC": ["PRESENT"] * 2,
            "TRSTRESN": [None, None],
            "TRSTAT": [None, None],
            "TRDTC": ["2024-01-01", "2024-02-12"],
        }
    )
    mutated_tu, mutated_tr = mutate(tu, tr, [("drop_tu", 0), ("spaces", 0)])
    assert mutated_tu.height == 0
    assert mutated_tr["USUBJID"].to_list() == [" S00 ", "S00"]


texts = st.lists(st.one_of(st.none(), st.sampled_from(["CR", "PR", "pr", " SD", "T01", "T1", "", "LIVER"])))


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_a_few_texts_are_looked_up_as_the_join_finds_them(values, reference):
    """``index_in``'s dict for a few texts answers as its join: a position, or -2 (absent or null)."""
    distinct = list(dict.fromkeys(reference))  # the reference holds distinct values
    values_series, reference_series = pl.Series(values, dtype=pl.String), pl.Series(distinct, dtype=pl.String)
    by_dict = fast.index_in(values_series, reference_series)
    few = fast._FEW_TEXTS
    fast._FEW_TEXTS = -1  # the join
    try:
        by_join = fast.index_in(values_series, reference_series)
    finally:
        fast._FEW_TEXTS = few
    assert by_dict.tolist() == by_join.tolist()
    assert by_dict.dtype == by_join.dtype


@settings(max_examples=200, deadline=None)
@given(texts, st.booleans())
def test_a_few_rows_are_encoded_as_the_categorical_path_encodes_them(rows, upper):
    """``encode_text`` of a few rows (a dict) and of many (polars' categorical path): each row's normalized
    text is the same (the values' order may differ: codes are only read through the values)."""

    def decoded(encoded):
        codes, values = encoded
        names = values.to_list()
        return [None if code < 0 else names[code] for code in codes]

    series = pl.Series("TRSTRESC", rows, dtype=pl.String)
    few = fast._FEW_TEXTS
    by_dict = fast.encode_text(series, upper=upper)
    fast._FEW_TEXTS = -1  # the categorical path
    try:
        by_categorical = fast.encode_text(series, upper=upper)
    finally:
        fast._FEW_TEXTS = few
    assert decoded(by_dict) == decoded(by_categorical)
    assert sorted(by_dict[1].to_list()) == sorted(by_categorical[1].to_list())
