"""The integer lookups behind the endpoint derivations: each record's DM row, the ADRS assessment behind a
date, the ADRS order, the per-subject first and last values; each against the plain dict / scan / sort /
``numpy.minimum.at`` it replaces."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints._kernels import merge_by_rank
from oligotrial.endpoints.adrs import _NULL_DAY, _DayOffsets, _matches, _record_order
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
    cuts=st.lists(st.integers(0, 30), max_size=3),
)
def test_subject_rows_agree_with_a_dict(dm, picks, order, dm_sorted, cuts):
    if dm_sorted:
        dm = sorted(dm)
    if order == "sorted":
        picks = sorted(picks, key=lambda x: (x is not None, x or ""))
    elif order == "grouped":
        picks = [s for s in dm for _ in range(2)]
    where = {s: n for n, s in enumerate(dm)}
    expected = [where.get(s, -1) if s is not None else -1 for s in picks]
    # the records in several chunks (as a CSV reader hands them over), a run of one subject split by a cut
    bounds = [0, *sorted(min(cut, len(picks)) for cut in cuts), len(picks)]
    pieces = [pl.Series(picks[a:b], dtype=pl.Utf8) for a, b in pairwise(bounds)]
    records = pl.concat(pieces, rechunk=False)
    got = subject_rows_of(records, pl.Series(dm, dtype=pl.Utf8))
    assert got.tolist() == expected


def test_matches_worked():
    # sorted keys 10, 20, 20, 30: query 20 has two matches, 30 one, 25 none; the last query is not wanted
    ordered = np.array([10, 20, 20, 30])
    record, found = _matches(ordered, np.array([30, 25, 20, 10]), np.array([True, True, True, False]))
    assert record.tolist() == [0, 1, 2, 2, 3]
    assert found.tolist() == [3, -1, 1, 2, -1]
    # at most one match each: one entry per query
    record, found = _matches(ordered, np.array([10, 30]), np.array([True, True]))
    assert record.tolist() == [0, 1] and found.tolist() == [0, 3]


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.integers(0, 60), max_size=80),
    queries=st.lists(st.tuples(st.integers(-2, 62), st.booleans()), max_size=40),
    ascending=st.booleans(),
)
def test_matches_in_query_order_agree_with_a_scan(keys, queries, ascending):
    # queries in ascending order (ADRS's usual case) take the galloping search from the previous one;
    # unwanted queries in between must not mislead it
    if ascending:
        queries = sorted(queries)
    ordered = np.sort(np.array(keys, dtype=np.int64))
    query = np.array([q for q, _ in queries], dtype=np.int64)
    wanted = np.array([w for _, w in queries], dtype=np.bool_)
    expected = []
    for n, (q, w) in enumerate(queries):
        hits = [i for i, k in enumerate(ordered.tolist()) if k == q] if w else []
        expected += [(n, i) for i in hits] or [(n, -1)]
    record, found = _matches(ordered, query, wanted)
    assert list(zip(record.tolist(), found.tolist(), strict=True)) == expected


def test_merge_by_rank_worked():
    # first part: ranks 1, 0, 1 ordered as 1, 0, 2; then two parts with ranks [0, 1] and [1, 1]
    order = np.empty(7, dtype=np.int64)
    ok = merge_by_rank(
        np.array([1, 0, 2]), np.array([1, 0, 1]), np.array([0, 1, 1, 1]), np.array([0, 2, 4]), order
    )
    assert ok and order.tolist() == [1, 3, 0, 2, 4, 5, 6]
    # a later part out of rank order: refused
    assert not merge_by_rank(np.array([0]), np.array([0]), np.array([1, 0]), np.array([0, 2]), order[:3])


_DAY = st.one_of(st.none(), st.integers(-5, 5))


@settings(max_examples=300, deadline=None)
@given(
    ovr=st.lists(st.tuples(st.integers(0, 6), _DAY), max_size=25),
    parts=st.lists(st.lists(st.integers(0, 6), max_size=8), min_size=4, max_size=4),
    dates=st.lists(st.lists(_DAY, min_size=7, max_size=7), min_size=4, max_size=4),
    in_order=st.booleans(),
)
def test_record_order_as_one_stable_sort(ovr, parts, dates, in_order):
    # ADRS's order: rank, parameter (the part), date with nulls last, ties in input order; a subject-level
    # part has one date per subject (``dates[part][rank]``, a record repeated for two source records
    # keeps it); merged when those parts come in rank order, else sorted
    if in_order:
        parts = [sorted(part) for part in parts]
    every = [ovr, *[[(r, dates[n][r]) for r in part] for n, part in enumerate(parts)]]
    ranks = [np.array([r for r, _ in part], dtype=np.int64) for part in every]
    days = [np.array([_NULL_DAY if d is None else d for _, d in part], dtype=np.int64) for part in every]
    parameter = np.concatenate([np.full(len(part), n, dtype=np.int64) for n, part in enumerate(every)])
    packing = _DayOffsets(np.concatenate(days))
    offsets = [packing.offsets(d) for d in days]
    ovr_order = np.argsort(packing.key(ranks[0], 0, offsets[0]), kind="stable")
    rows = [(r, n, d) for n, part in enumerate(every) for r, d in part]
    expected = sorted(
        range(len(rows)), key=lambda i: (rows[i][0], rows[i][1], rows[i][2] is None, rows[i][2] or 0)
    )
    assert _record_order(ovr_order, ranks, parameter, offsets, packing).tolist() == expected


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.one_of(st.none(), st.integers(-40, 30))),
        max_size=30,
    ),
    far=st.booleans(),
)
def test_day_offsets_order_as_a_sort(rows, far):
    # ``far``: days so far apart that the offsets may not fit in the packed key (dense codes then)
    scale = 1 << 57 if far else 1
    rank = np.array([r[0] for r in rows], dtype=np.int64)
    parameter = np.array([r[1] for r in rows], dtype=np.int64)
    days = np.array([_NULL_DAY if r[2] is None else r[2] * scale for r in rows], dtype=np.int64)
    offsets = _DayOffsets(days)
    order = np.argsort(offsets.key(rank, parameter, offsets.offsets(days)), kind="stable")
    expected = sorted(
        range(len(rows)), key=lambda i: (rows[i][0], rows[i][1], rows[i][2] is None, rows[i][2] or 0)
    )
    assert order.tolist() == expected


def test_day_offsets_switch_to_dense_codes():
    near = _DayOffsets(np.array([0, 10, _NULL_DAY], dtype=np.int64))
    assert near.codes is None and near.span == 12  # offsets 0..10, then the null
    far = _DayOffsets(np.array([0, 1 << 61, _NULL_DAY], dtype=np.int64))
    assert far.codes is not None and far.codes.tolist() == [0, 1 << 61] and far.span == 3
    key = far.key(
        np.zeros(3, dtype=np.int64), 0, far.offsets(np.array([1 << 61, _NULL_DAY, 0], dtype=np.int64))
    )
    assert key.tolist() == [1, 2, 0]


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(st.integers(-5, 5), min_size=1, max_size=6),
    records=st.lists(st.tuples(st.integers(0, 5), st.integers(-10, 10)), max_size=40),
    lowest=st.booleans(),
    as_float=st.booleans(),
)
def test_extremes_agree_with_numpy_at(start, records, lowest, as_float):
    from oligotrial.endpoints._kernels import extremes_at

    rows = np.array([r % len(start) for r, _ in records], dtype=np.int64)
    values = np.array([v for _, v in records], dtype=np.float64 if as_float else np.int64)
    expected = np.array(start, dtype=np.int64)
    (np.minimum if lowest else np.maximum).at(expected, rows, values.astype(np.int64))
    found = np.array(start, dtype=np.int64)
    extremes_at(found, rows, values, lowest=lowest)
    assert found.tolist() == expected.tolist()


def test_extremes_worked():
    from oligotrial.endpoints._kernels import extremes_at

    found = np.array([5, 5, 5], dtype=np.int64)
    extremes_at(found, np.array([0, 0, 2, 2]), np.array([3, 7, 9, 6]), lowest=True)
    assert found.tolist() == [3, 5, 5]
    extremes_at(found, np.array([0, 1, 2]), np.array([4, 8, 1]), lowest=False)
    assert found.tolist() == [4, 8, 5]


def test_extremes_skip_records_without_a_subject():
    from oligotrial.endpoints._kernels import extremes_at

    found = np.array([5, 5, 5], dtype=np.int64)
    extremes_at(found, np.array([0, -1, 2, -1]), np.array([3, 1, 9, 0]), lowest=True)
    assert found.tolist() == [3, 5, 5]
    extremes_at(found, np.array([-1, 1, -1]), np.array([40, 8, 50]), lowest=False)
    assert found.tolist() == [3, 8, 5]
