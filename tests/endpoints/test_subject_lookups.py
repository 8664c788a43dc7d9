"""The integer lookups behind the endpoint derivations: each record's DM row, the ADRS assessment behind a
date, the ADRS order; each against the plain dict / join / sort it replaces."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints.adrs import _assessment_rows, _sorted
from oligotrial.endpoints.sdtm import subject_rows_of

D0 = date(2024, 1, 1)


def test_subject_rows_worked():
    dm = pl.Series(["A", "B", "C"])
    # the DM order itself, a sorted subset with a stranger, an unsorted list with a null
    assert subject_rows_of(pl.Series(["A", "A", "B", "C", "C"]), dm).tolist() == [0, 0, 1, 2, 2]
    assert subject_rows_of(pl.Series(["A", "AA", "C"]), dm).tolist() == [0, -1, 2]
    assert subject_rows_of(pl.Series(["C", None, "A", "Z", "C"]), dm).tolist() == [2, -1, 0, -1, 2]
    assert subject_rows_of(pl.Series([], dtype=pl.Utf8), dm).tolist() == []


@settings(max_examples=200, deadline=None)
@given(
    dm=st.lists(st.text("ABC", min_size=1, max_size=3), unique=True, max_size=8),
    picks=st.lists(st.one_of(st.none(), st.text("ABCD", min_size=1, max_size=3)), max_size=30),
    order=st.sampled_from(["as drawn", "sorted", "grouped"]),
    dm_sorted=st.booleans(),
)
def test_subject_rows_agree_with_a_dict(dm, picks, order, dm_sorted):
    if dm_sorted:
        dm = sorted(dm)
    if order == "sorted":
        picks = sorted(picks, key=lambda x: (x is not None, x or ""))
    elif order == "grouped":
        picks = [s for s in dm for _ in range(2)]
    where = {s: n for n, s in enumerate(dm)}
    expected = [where.get(s, -1) if s is not None else -1 for s in picks]
    got = subject_rows_of(pl.Series(picks, dtype=pl.Utf8), pl.Series(dm, dtype=pl.Utf8))
    assert got.tolist() == expected


def responses(rows: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"_RANK": [r for r, _ in rows], "RSDTC": [D0 + timedelta(days=d) for _, d in rows]},
        schema={"_RANK": pl.Int64, "RSDTC": pl.Date},
    )


def best(rows: list[tuple[int, int | None, int | None, int | None]]) -> pl.DataFrame:
    day = lambda d: None if d is None else D0 + timedelta(days=d)  # noqa: E731
    return pl.DataFrame(
        {
            "_RANK": [r[0] for r in rows],
            "BOR_DATE": [day(r[1]) for r in rows],
            "CBOR_DATE": [day(r[2]) for r in rows],
            "CRSP_DATE": [day(r[3]) for r in rows],
        },
        schema={"_RANK": pl.Int64, "BOR_DATE": pl.Date, "CBOR_DATE": pl.Date, "CRSP_DATE": pl.Date},
    )


def test_assessment_rows():
    # subject 2: days 40, 10, 80 (rows 0-2); subject 1: days 10, 50 (rows 3-4)
    found = _assessment_rows(
        responses([(2, 40), (2, 10), (2, 80), (1, 10), (1, 50)]),
        best([(1, 50, 10, None), (2, 10, 80, 90), (3, None, None, None)]),
    )
    assert found is not None
    assert found["BOR_DATE"].tolist() == [4, 1, -1]
    assert found["CBOR_DATE"].tolist() == [3, 2, -1]
    assert found["CRSP_DATE"].tolist() == [-1, -1, -1]  # none of subject 2 on day 90
    # two records of one subject on one date: the caller joins instead
    assert _assessment_rows(responses([(1, 10), (1, 10)]), best([(1, 10, 10, 10)])) is None


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 4), st.one_of(st.none(), st.integers(0, 30))),
        max_size=30,
        unique=True,
    )
)
def test_sorted_agrees_with_a_sort(rows):
    frame = pl.DataFrame(
        {
            "_RANK": [r[0] for r in rows],
            "_ORDER": [r[1] for r in rows],
            "ADT": [None if r[2] is None else D0 + timedelta(days=r[2]) for r in rows],
            "N": np.arange(len(rows)),
        },
        schema={"_RANK": pl.Int64, "_ORDER": pl.Int64, "ADT": pl.Date, "N": pl.Int64},
    )
    expected = frame.sort("_RANK", "_ORDER", "ADT", nulls_last=True, maintain_order=True)
    assert _sorted(frame, 5).rows() == expected.rows()
