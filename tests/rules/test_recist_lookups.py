"""Lookups of the RECIST fast paths: subject codes by runs of equal values, code membership by table."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.rules._recist_bor import PAD, _member
from oligotrial.rules._recist_fast import codes_in

NAMES = pl.Series(["S01", "S02", "S03"], dtype=pl.String)


def test_codes_in_runs_strip_null_and_absent():
    # 70 rows in 5 runs: looked up once per run; " S02 " is stripped, null is -1, "S09" (not listed) -2
    values = ["S03"] * 20 + [" S02 "] * 20 + [None] * 10 + ["S09"] * 10 + ["S01"] * 10
    codes = codes_in(pl.Series(values, dtype=pl.String), NAMES)
    assert codes is not None
    assert codes.tolist() == [2] * 20 + [1] * 20 + [-1] * 10 + [-2] * 10 + [0] * 10


def test_codes_in_without_runs():
    # alternating values: no runs to use, the distinct values are coded instead (same answers)
    values = ["S01", "S03", None, "S09 ", " S02"] * 14
    codes = codes_in(pl.Series(values, dtype=pl.String), NAMES)
    assert codes is not None
    assert codes.tolist() == [0, 2, -1, -2, 1] * 14


@settings(max_examples=100, deadline=None)
@given(
    runs=st.lists(
        st.tuples(st.sampled_from(["S01", "S02", "S03", " S01", "X", None]), st.integers(1, 40)),
        min_size=1,
        max_size=12,
    )
)
def test_codes_in_agrees_with_a_dictionary(runs):
    values = [value for value, length in runs for _ in range(length)]
    position = {name: i for i, name in enumerate(NAMES.to_list())}
    expected = [-1 if v is None else position.get(v.strip(), -2) for v in values]
    codes = codes_in(pl.Series(values, dtype=pl.String), NAMES)
    assert codes is not None
    assert codes.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(PAD, 7), min_size=3, max_size=3), min_size=1, max_size=6),
    values=st.lists(st.integers(0, 7), max_size=4, unique=True).map(tuple),
)
def test_member_is_isin(rows, values):
    code = np.asarray(rows, dtype=np.int64)
    assert (_member(code, values) == np.isin(code, values)).all()


def test_member_pad_is_never_a_member():
    code = np.asarray([[0, 1, PAD], [5, PAD, PAD]], dtype=np.int64)
    assert _member(code, (0, 5)).tolist() == [[True, False, False], [True, False, False]]
