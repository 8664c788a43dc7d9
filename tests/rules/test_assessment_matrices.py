"""``rules._recist_kernels.assessment_matrices`` (three compiled passes over arrays numpy allocates) against a
plain Python construction of the same matrices and checks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.rules._recist_kernels import assessment_matrices

N_CODES = 6


def _expected(records, ref, ref_null):
    """The matrices row by row: a subject's distinct (date, code) pairs in date order; ``None`` when a
    check fails (a subject outside DM or without a reference date, an unknown code, two codes on a date)."""
    by_subject: dict[int, set[tuple[int, int]]] = {}
    for subject, date, code in records:
        if subject < 0 or not 0 <= code < N_CODES or ref_null[subject]:
            return None
        by_subject.setdefault(subject, set()).add((date, code))
    for pairs in by_subject.values():
        if len({date for date, _ in pairs}) != len(pairs):  # RECIST-026
            return None
    width = max(len(pairs) for pairs in by_subject.values())
    code = np.full((len(ref), width), -1, dtype=np.int64)
    date = np.zeros((len(ref), width), dtype=np.int64)
    day = np.zeros((len(ref), width), dtype=np.int64)
    for subject, pairs in by_subject.items():
        for column, (d, c) in enumerate(sorted(pairs)):
            code[subject, column], date[subject, column], day[subject, column] = c, d, d - ref[subject]
    return code, date, day


def test_worked():
    # subject 0: PR on day 10 (twice, counted once), CR on day 12; subject 1: SD on day 11; subject 2 none
    ok, code, date, day = assessment_matrices(
        np.array([0, 1, 0, 0], dtype=np.int64),
        np.array([12, 11, 10, 10], dtype=np.int32),
        np.array([0, 2, 1, 1], dtype=np.int8),
        np.array([5, 1, 0], dtype=np.int32),
        np.array([False, False, True]),
        N_CODES,
        10,
        3,
    )
    assert ok
    assert code.tolist() == [[1, 0], [2, -1], [-1, -1]]
    assert date.tolist() == [[10, 12], [11, 0], [0, 0]]
    assert day.tolist() == [[5, 7], [10, 0], [0, 0]]
    # two codes on one date (RECIST-026): refused
    refused = assessment_matrices(
        np.array([0, 0], dtype=np.int64),
        np.array([10, 10], dtype=np.int32),
        np.array([0, 1], dtype=np.int8),
        np.array([5], dtype=np.int32),
        np.array([False]),
        N_CODES,
        10,
        1,
    )
    assert refused[0] is False and refused[1].shape == (0, 0)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.integers(-1, 3), st.integers(0, 6), st.integers(-1, N_CODES)), min_size=1, max_size=30
    ),
    ref=st.lists(st.tuples(st.integers(-3, 3), st.booleans()), min_size=4, max_size=4),
    in_order=st.booleans(),
)
def test_agrees_with_a_plain_construction(records, ref, in_order):
    if in_order:
        records = sorted(records)
    subject = np.array([r[0] for r in records], dtype=np.int64)
    date = np.array([100 + r[1] for r in records], dtype=np.int32)
    code = np.array([r[2] for r in records], dtype=np.int8)
    ref_days = np.array([100 + d for d, _ in ref], dtype=np.int32)
    ref_null = np.array([n for _, n in ref], dtype=np.bool_)
    ok, out_code, out_date, out_day = assessment_matrices(
        subject,
        date,
        code,
        ref_days,
        ref_null,
        N_CODES,
        int(date.min()),
        int(date.max()) - int(date.min()) + 1,
    )
    expected = _expected([(r[0], 100 + r[1], r[2]) for r in records], ref_days.tolist(), ref_null.tolist())
    if expected is None:
        assert not ok
        return
    assert ok
    assert out_code.tolist() == expected[0].tolist()
    assert out_date.tolist() == expected[1].tolist()
    assert out_day.tolist() == expected[2].tolist()
