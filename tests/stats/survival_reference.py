"""Loading the R reference outputs of tests/data/survival (written by make_reference.R)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "survival"


def _value(text: str) -> Any:
    if text == "NA":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return text


def read_rows(name: str) -> list[dict[str, Any]]:
    """Rows of a reference CSV, numbers as floats and R's ``NA`` as ``nan``."""
    with (REFERENCE / name).open(newline="", encoding="utf-8") as handle:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def read_columns(name: str) -> dict[str, np.ndarray]:
    """A reference CSV as arrays by column (strings stay strings)."""
    rows = read_rows(name)
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def assert_close(actual: Any, expected: Any, rtol: float = 1e-6) -> None:
    """Agreement within ``rtol`` relative (absolute ``rtol`` near zero), ``nan`` matching ``nan``."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float),
        np.asarray(expected, dtype=float),
        rtol=rtol,
        atol=rtol * 1e-3,
        equal_nan=True,
    )


# dataset -> (time column, status column, status value meaning an event), as in make_reference.R
DATASETS = {
    "lung": ("time", "status", 2.0),
    "veteran": ("time", "status", 1.0),
    "ovarian": ("futime", "fustat", 1.0),
    "aml": ("time", "status", 1.0),
    "ties": ("time", "status", 1.0),
    "censored": ("time", "status", 1.0),
    "allcensored": ("time", "status", 1.0),
}


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Times, event indicators and all columns of a reference input dataset."""
    columns = read_columns(f"{name}.csv")
    time_column, status_column, event_value = DATASETS[name]
    return columns[time_column].astype(float), columns[status_column].astype(float) == event_value, columns


def design_matrix(columns: dict[str, np.ndarray], covariates: str) -> tuple[np.ndarray, list[str]]:
    """Covariates ``a+b``; a text column becomes indicators against its first sorted level (R: ``ab``)."""
    matrix, names = [], []
    for name in covariates.split("+"):
        values = columns[name]
        if values.dtype.kind in "US":
            for level in sorted(set(values))[1:]:
                matrix.append((values == level).astype(float))
                names.append(f"{name}{level}")
        else:
            matrix.append(values.astype(float))
            names.append(name)
    return np.column_stack(matrix), names
