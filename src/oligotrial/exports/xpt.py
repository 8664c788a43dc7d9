"""SAS XPORT version 5 with the metadata of the CDISC implementation guides, and the checks that refuse what
version 5 cannot hold faithfully.

Variable labels, types and origins come from ``metadata/variables.csv`` (per dataset, with ``*`` rows shared
by all), dataset labels and structures from ``metadata/datasets.csv``; they follow SDTMIG 3.4 and ADaMIG 1.3.
Before a file is written, :func:`check_xpt` refuses, naming dataset, variable and row:

========  =====================================================================================
XPT-001   a dataset or variable name longer than 8 characters
XPT-002   a label longer than 40 characters
XPT-003   a variable the metadata table does not describe (add it there, or drop it)
XPT-004   a character value longer than 200 bytes
XPT-005   a character value that is not ASCII (version 5 has no encoding)
XPT-006   a variable the metadata declares a date that does not hold SAS dates (e.g. ISO text)
XPT-007   a value that does not fit the declared integer or float type
========  =====================================================================================
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import polars as pl
import pyreadstat

from oligotrial.errors import InputError, Problem

__all__ = [
    "DatasetMeta",
    "Metadata",
    "VariableMeta",
    "check_xpt",
    "load_metadata",
    "prepare_xpt",
    "write_xpt",
]

VariableType = Literal["text", "integer", "float", "date"]
_MAX_ROWS_LISTED = 10


@dataclass(frozen=True)
class VariableMeta:
    dataset: str
    name: str
    label: str
    type: VariableType
    origin: str


@dataclass(frozen=True)
class DatasetMeta:
    name: str
    label: str
    klass: str
    structure: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Metadata:
    """The metadata table: dataset descriptions and variable descriptions."""

    datasets: dict[str, DatasetMeta]
    variables: dict[tuple[str, str], VariableMeta]

    def variable(self, dataset: str, name: str) -> VariableMeta | None:
        """The description of ``name`` in ``dataset`` (a dataset-specific row first, then a ``*`` row)."""
        return self.variables.get((dataset, name)) or self.variables.get(("*", name))


@cache
def load_metadata() -> Metadata:
    """Read the packaged metadata tables."""
    folder = resources.files("oligotrial.exports").joinpath("metadata")
    with folder.joinpath("datasets.csv").open(encoding="utf-8") as handle:
        datasets = {
            row["dataset"]: DatasetMeta(
                row["dataset"], row["label"], row["class"], row["structure"], tuple(row["keys"].split())
            )
            for row in csv.DictReader(handle)
        }
    with folder.joinpath("variables.csv").open(encoding="utf-8") as handle:
        variables = {
            (row["dataset"], row["variable"]): VariableMeta(
                row["dataset"],
                row["variable"],
                row["label"],
                _variable_type(row["type"]),
                row["origin"],
            )
            for row in csv.DictReader(handle)
        }
    return Metadata(datasets, variables)


_TYPES: dict[str, VariableType] = {"text": "text", "integer": "integer", "float": "float", "date": "date"}


def _variable_type(text: str) -> VariableType:
    if text not in _TYPES:
        raise ValueError(f"metadata/variables.csv: unknown type {text!r}")
    return _TYPES[text]


def prepare_xpt(name: str, frame: pl.DataFrame, metadata: Metadata | None = None) -> pl.DataFrame:
    """Check a dataset for XPORT v5 and return it with the declared types applied.

    Raises
    ------
    InputError
        With every refusal (codes XPT-001 to XPT-007), each naming dataset, variable and row.
    """
    metadata = metadata or load_metadata()
    problems = check_xpt(name, frame, metadata)
    if problems:
        raise InputError(problems)
    casts = []
    for column in frame.columns:
        meta = metadata.variable(name, column)
        assert meta is not None
        if meta.type in {"integer", "float"} and frame.schema[column] == pl.Utf8:
            casts.append(pl.col(column).cast(pl.Float64))
    return frame.with_columns(casts) if casts else frame


def check_xpt(name: str, frame: pl.DataFrame, metadata: Metadata | None = None) -> list[Problem]:
    """Every reason the dataset cannot be written faithfully as SAS XPORT version 5 (empty when none)."""
    metadata = metadata or load_metadata()
    problems: list[Problem] = []
    if len(name) > 8:
        problems.append(
            Problem("XPT-001", name, f"dataset names have at most 8 characters, got {name!r}", name)
        )
    dataset = metadata.datasets.get(name)
    if dataset is None:
        problems.append(
            Problem("XPT-003", name, f"dataset {name} has no description in the metadata table", name)
        )
    elif len(dataset.label) > 40:
        problems.append(
            Problem("XPT-002", name, f"dataset label longer than 40 characters: {dataset.label!r}")
        )
    for column, dtype in frame.schema.items():
        where = f"{name}.{column}"
        if len(column) > 8:
            problems.append(
                Problem("XPT-001", where, f"variable names have at most 8 characters, got {column!r}", column)
            )
        meta = metadata.variable(name, column)
        if meta is None:
            problems.append(
                Problem(
                    "XPT-003",
                    where,
                    f"variable {column} of {name} is not in the metadata table; add it or drop it",
                    column,
                )
            )
            continue
        if len(meta.label) > 40:
            problems.append(Problem("XPT-002", where, f"label longer than 40 characters: {meta.label!r}"))
        if dtype == pl.Utf8:
            problems += _text_problems(frame, name, column)
        if meta.type == "date" and dtype != pl.Date:
            problems.append(
                Problem(
                    "XPT-006",
                    where,
                    f"{column} must hold SAS dates (a date column), got {dtype} values",
                    str(dtype),
                )
            )
        if meta.type in {"integer", "float"} and dtype == pl.Utf8:
            numbers = pl.col(column).cast(pl.Float64, strict=False)
            bad = frame.with_row_index("_row", 1).filter(pl.col(column).is_not_null() & numbers.is_null())
            problems += [
                Problem(
                    "XPT-007", f"{where}[row {row}]", f"expected a number ({meta.type}), got {value!r}", value
                )
                for row, value in bad.select("_row", column).head(_MAX_ROWS_LISTED).iter_rows()
            ]
    return problems


def _text_problems(frame: pl.DataFrame, name: str, column: str) -> list[Problem]:
    values = frame.with_row_index("_row", 1).select("_row", column).filter(pl.col(column).is_not_null())
    long = values.filter(pl.col(column).str.len_bytes() > 200)
    foreign = values.filter(~pl.col(column).str.contains(r"^[\x00-\x7F]*$"))
    return [
        Problem(
            "XPT-004",
            f"{name}.{column}[row {row}]",
            f"character values hold at most 200 bytes, got {len(v.encode())}",
            v,
        )
        for row, v in long.head(_MAX_ROWS_LISTED).iter_rows()
    ] + [
        Problem("XPT-005", f"{name}.{column}[row {row}]", f"XPORT v5 text must be ASCII, got {v!r}", v)
        for row, v in foreign.head(_MAX_ROWS_LISTED).iter_rows()
    ]


def write_xpt(name: str, frame: pl.DataFrame, path: Path, metadata: Metadata | None = None) -> None:
    """Write one dataset as SAS XPORT v5 with its labels (checked first; see :func:`prepare_xpt`)."""
    metadata = metadata or load_metadata()
    prepared = prepare_xpt(name, frame, metadata)
    labels: dict[str, str | None] = {
        column: meta.label for column in prepared.columns if (meta := metadata.variable(name, column))
    }
    formats = {column: "DATE9." for column, dtype in prepared.schema.items() if dtype == pl.Date}
    pyreadstat.write_xport(
        prepared,
        str(path),
        file_label=metadata.datasets[name].label,
        column_labels=labels,
        table_name=name,
        file_format_version=5,
        variable_format=formats,
    )
