"""The hash lookup of each record's DM row (``endpoints/_subjects.py``): the compiled table against plain
dicts, and the text check that keeps a hash collision from giving a wrong row."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints import _subjects
from oligotrial.endpoints._subjects import hashed_subject_rows, lookup_hashes
from oligotrial.endpoints.sdtm import subject_rows_of


def run_kernel(dm: list[int | None], records: list[int | None]) -> tuple[bool, list[int]]:
    rows = np.empty(len(records), dtype=np.int64)
    usable = lookup_hashes(
        np.array([h or 0 for h in dm], dtype=np.uint64),
        np.array([h is not None for h in dm], dtype=np.bool_),
        np.array([h or 0 for h in records], dtype=np.uint64),
        np.array([h is not None for h in records], dtype=np.bool_),
        rows,
    )
    return usable, rows.tolist()


def test_kernel_worked():
    # 17 and 33 share a slot of the 16-slot table: found by probing; a null record and an unknown hash: -1
    assert run_kernel([17, None, 33, 2**64 - 1], [33, 33, None, 17, 4, 2**64 - 1, 33]) == (
        True,
        [2, 2, -1, 0, -1, 3, 2],
    )
    assert run_kernel([], [1, None]) == (True, [-1, -1])
    assert run_kernel([7, 8, 7], [8])[0] is False  # a hash twice in DM: not decided here


@settings(max_examples=200, deadline=None)
@given(
    dm=st.lists(st.integers(0, 40), unique=True, max_size=30),
    records=st.lists(st.one_of(st.none(), st.integers(0, 40)), max_size=60),
)
def test_kernel_agrees_with_a_dict(dm, records):
    where = {h: n for n, h in enumerate(dm)}
    assert run_kernel(dm, records) == (True, [-1 if h is None else where.get(h, -1) for h in records])


def test_text_lookups_worked():
    dm = pl.Series(["S3", "S1", "S2", None])
    records = pl.Series(["S1", "S1", None, "S9", "S2", "S3", "S1", "s1"])
    assert hashed_subject_rows(records, dm).tolist() == [1, 1, -1, -1, 2, 0, 1, -1]
    assert hashed_subject_rows(records, pl.Series(["S1", "S2", "S1"])) is None  # DM twice: the caller decides
    assert hashed_subject_rows(pl.Series([1, 2]), pl.Series([1, 2])) is None  # not text


def test_a_collision_is_never_a_row(monkeypatch):
    # a hash that matched a different text (simulated: the table says every record is DM row 0)
    def colliding(dm_hash, dm_known, record_hash, known, rows):
        rows[:] = 0
        return True

    monkeypatch.setattr(_subjects, "lookup_hashes", colliding)
    dm = pl.Series(["A", "B"])
    records = pl.Series(["B", "B", "A", "C"])
    assert hashed_subject_rows(records, dm) is None
    assert subject_rows_of(records, dm).tolist() == [1, 1, 0, -1]  # found by the text lookups instead
    assert subject_rows_of(pl.Series(["B", "Z", "A"]), pl.Series(["B", "A"])).tolist() == [0, -1, 1]
