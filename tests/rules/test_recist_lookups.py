"""Lookups and scans of the RECIST fast paths: subject codes by runs of equal values, the confirmation scan."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.rules._recist_bor import PAD
from oligotrial.rules._recist_fast import codes_in, sorted_codes
from oligotrial.rules._recist_kernels import is_confirmed

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
    runs=st.lists(
        st.tuples(st.sampled_from(["S02", "S01 ", " S03", "S01", "", None]), st.integers(1, 40)),
        min_size=1,
        max_size=12,
    )
)
def test_sorted_codes_agree_with_a_dictionary(runs):
    # long runs take the per-run lookup, short ones the per-row one: the same answers
    values = [value for value, length in runs for _ in range(length)]
    names = sorted({v.strip() for v in values if v is not None})
    position = {name: i for i, name in enumerate(names)}
    codes, found = sorted_codes(pl.Series(values, dtype=pl.String))
    assert found.to_list() == names
    assert codes.tolist() == [-1 if v is None else position[v.strip()] for v in values]


def confirmed(
    code: np.ndarray,
    date: np.ndarray,
    start: int,
    confirming: tuple[int, ...],
    allowed: tuple[int, ...],
    ne: int,
    min_days: int,
    max_ne: int,
) -> list[list[bool]]:
    """The compiled scan, :func:`is_confirmed`, at every ``start`` assessment of every row."""
    size = max(int(code.max(initial=0)), *confirming, *allowed, ne) + 1
    is_confirming = np.isin(np.arange(size), confirming)
    is_allowed = np.isin(np.arange(size), allowed)
    width = code.shape[1]
    return [
        [
            bool(c == start)
            and is_confirmed(codes, dates, i, width, is_confirming, is_allowed, ne, min_days, max_ne)
            for i, c in enumerate(codes)
        ]
        for codes, dates in zip(code, date, strict=True)
    ]


def plain_confirmed(
    code: list[list[int]],
    date: list[list[int]],
    start: int,
    confirming: tuple[int, ...],
    allowed: tuple[int, ...],
    ne: int,
    min_days: int,
    max_ne: int,
) -> list[list[bool]]:
    """The definition, pair by pair: i is confirmed by some later j (RECIST 1.1 section 4.4.1)."""
    out = []
    for codes, dates in zip(code, date, strict=True):
        row = []
        for i, c in enumerate(codes):
            row.append(
                c == start
                and any(
                    codes[j] in confirming
                    and dates[j] - dates[i] >= min_days
                    and all(x in allowed for x in codes[i + 1 : j])
                    and sum(x == ne for x in codes[i + 1 : j]) <= max_ne
                    for j in range(i + 1, len(codes))
                )
            )
        out.append(row)
    return out


@st.composite
def response_rows(draw: st.DrawFn) -> tuple[list[list[int]], list[list[int]]]:
    width = draw(st.integers(1, 7))
    code, date = [], []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(0, width))
        codes = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
        gaps = draw(st.lists(st.sampled_from([7, 14, 21, 28, 42]), min_size=width, max_size=width))
        code.append(codes + [PAD] * (width - n))
        date.append([sum(gaps[: k + 1]) if k < n else 0 for k in range(width)])
    return code, date


@settings(max_examples=300, deadline=None)
@given(
    rows=response_rows(),
    start=st.integers(0, 5),
    confirming=st.lists(st.integers(0, 5), max_size=3, unique=True).map(tuple),
    allowed=st.lists(st.integers(0, 5), max_size=4, unique=True).map(tuple),
    min_days=st.sampled_from([0, 28, 35]),
    max_ne=st.integers(0, 2),
)
def test_confirmed_is_the_pairwise_definition(rows, start, confirming, allowed, min_days, max_ne):
    code, date = rows
    array_code = np.asarray(code, dtype=np.int64)
    array_date = np.asarray(date, dtype=np.int64)
    found = confirmed(array_code, array_date, start, confirming, allowed, 5, min_days, max_ne)
    assert found == plain_confirmed(code, date, start, confirming, allowed, 5, min_days, max_ne)


def test_confirmed_literal_cases():
    # codes 0 CR, 1 PR, 2 SD, 5 NE: a PR confirmed by CR or PR >= 28 days later, at most one NE between
    code = np.asarray(
        [[1, 5, 1, PAD], [1, 5, 5, 1], [1, 1, PAD, PAD], [1, 2, 1, PAD], [0, 0, PAD, PAD], [1, 1, 0, PAD]],
        dtype=np.int64,
    )
    date = np.asarray(
        [[0, 28, 56, 0], [0, 28, 56, 84], [0, 27, 0, 0], [0, 28, 56, 0], [0, 28, 0, 0], [0, 14, 42, 0]]
    )
    found = confirmed(code, date, 1, (0, 1), (0, 1, 5), 5, 28, 1)
    assert found == [
        [True, False, False, False],  # PR, NE, PR: one NE between
        [False, False, False, False],  # two NE between
        [False, False, False, False],  # 27 days
        [False, False, False, False],  # SD between
        [False, False, False, False],  # CR rows are not PR starts
        [True, True, False, False],  # the PR at day 14 is too close, the CR at day 42 confirms both
    ]


def test_kernel_response_codes_name_the_fast_path_texts():
    from oligotrial.rules import _recist_kernels as k
    from oligotrial.rules._recist_fast import _NT_CODES, _O_CODES, _T_CODES

    targets = [k.T_CR, k.T_PR, k.T_SD, k.T_PD, k.T_NE, k.T_NA]
    assert [_T_CODES[c] for c in targets] == ["CR", "PR", "SD", "PD", "NE", "NA"]
    non_targets = [k.N_CR, k.N_NN, k.N_PD, k.N_NE, k.N_NA]
    assert [_NT_CODES[c] for c in non_targets] == ["CR", "NON-CR/NON-PD", "PD", "NE", "NA"]
    overall = [k.O_CR, k.O_PR, k.O_SD, k.O_NN, k.O_PD, k.O_NE]
    assert [_O_CODES[c] for c in overall] == ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]
