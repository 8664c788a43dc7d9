"""Day numbers (days since 1970) as polars dates: the pure core's one conversion, shared by the rules and the
endpoints."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["dates_of"]


def dates_of(name: str, days: npt.NDArray[np.int64], known: npt.NDArray[np.bool_]) -> pl.Series:
    """Days since 1970 as ``pl.Date`` named ``name``, null where not ``known``.

    Notes
    -----
    numpy narrows the days to 32 bits (a date's own type) without checking them: a known day is a date's,
    and whatever an unknown one becomes is hidden by its null. polars' checked cast from 64 bits, the
    alternative, costs about three times the rest.
    """
    values = pl.Series(name, days.astype(np.int32), dtype=pl.Int32).cast(pl.Date)
    if bool(known.all()):
        return values
    return pl.select(pl.when(pl.Series(known)).then(values)).to_series().alias(name)
