"""ADTTE's assessment period ends (first dose + calendar months), computed once per day of the doses' span and
gathered: the dates of polars' ``dt.offset_by`` of each subject's own first dose."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints.adtte import _period_ends
from oligotrial.protocol import load_protocol

PROTOCOL = load_protocol()


def _expected(first_dose: pl.Series) -> list[pl.Series]:
    return [
        first_dose.dt.offset_by(f"{period.until_months}mo").alias(f"_PERIODEND{k}")
        for k, period in enumerate(PROTOCOL.assessments.periods)
    ]


def test_worked_month_ends_and_a_missing_dose():
    first_dose = pl.Series("TRTSDT", [date(2024, 1, 31), None, date(2024, 1, 31), date(2023, 12, 31)])
    months = [p.until_months for p in PROTOCOL.assessments.periods]
    got = _period_ends(first_dose, PROTOCOL)
    # the first period's end of 2024-01-31 is the last day of the month until_months later (no day 31 there
    # unless that month has one): the calendar arithmetic of offset_by
    assert [s.name for s in got] == [f"_PERIODEND{k}" for k in range(len(months))]
    assert got[0][1] is None
    for series, expected in zip(got, _expected(first_dose), strict=True):
        assert series.equals(expected)
        assert series.dtype == pl.Date


@pytest.mark.parametrize("days", [[], [None, None], [19000], [0, 100_000]])
def test_empty_all_null_single_and_wide_span(days):
    first_dose = pl.Series("TRTSDT", days, dtype=pl.Int32).cast(pl.Date)
    for series, expected in zip(_period_ends(first_dose, PROTOCOL), _expected(first_dose), strict=True):
        assert series.equals(expected)
        assert series.len() == len(days)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(18_000, 21_000)), max_size=60))
def test_same_dates_as_offsetting_each_subject(days):
    first_dose = pl.Series("TRTSDT", days, dtype=pl.Int32).cast(pl.Date)
    for series, expected in zip(_period_ends(first_dose, PROTOCOL), _expected(first_dose), strict=True):
        assert series.equals(expected)
