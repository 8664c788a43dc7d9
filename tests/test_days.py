"""Day numbers as polars dates (``oligotrial._days.dates_of``), against Python's own dates."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from oligotrial._days import dates_of

NO_DAY = np.iinfo(np.int64).max  # the endpoints' "no date" (a day after every date)


@given(
    st.lists(st.one_of(st.none(), st.dates(date(1, 1, 1), date(9999, 12, 31))), max_size=40),
    st.sampled_from([NO_DAY, np.iinfo(np.int64).min]),
)
def test_dates_of_agree_with_python_dates(dates, none):
    days = np.array([none if d is None else (d - date(1970, 1, 1)).days for d in dates], dtype=np.int64)
    result = dates_of("ADT", days, days != none)
    assert result.dtype == pl.Date and result.name == "ADT"
    assert result.to_list() == dates


def test_dates_of_worked():
    days = np.array([0, NO_DAY, -1, 19_723], dtype=np.int64)
    result = dates_of("ADT", days, days != NO_DAY)
    assert result.to_list() == [date(1970, 1, 1), None, date(1969, 12, 31), date(2024, 1, 1)]
