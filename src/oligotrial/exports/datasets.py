"""Reading and writing tabular datasets (SDTM in, ADaM out) as CSV or SAS XPORT files.

A folder holds one file per dataset, named after it in any case (``DM.csv``, ``dm.xpt``). Every cell is read
as text, so that the derivations see the same values whichever format a study arrives in: XPORT numbers are
turned into text the way a CSV holds them (``3.0`` -> ``3``), XPORT dates into ISO 8601, empty text into
null.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import polars as pl
import pyreadstat

from oligotrial.errors import InputError
from oligotrial.exports.xpt import check_xpt, write_xpt

__all__ = ["DatasetFormat", "csv_digest", "dataset_file_name", "read_datasets", "write_datasets"]

DatasetFormat = Literal["csv", "xpt"]

_CSV_DATE_FORMAT = "%Y-%m-%d"


def read_datasets(
    folder: Path, names: Iterable[str], prefer: DatasetFormat | None = None
) -> dict[str, pl.DataFrame]:
    """Read the datasets of ``names`` found in ``folder`` (absent ones are simply not returned).

    ``prefer`` picks the format when a dataset is there in both (as ``oligotrial adam --format both`` writes
    them); without it, such a folder is ambiguous.

    Raises
    ------
    InputError
        ``FILE-010`` when the folder does not exist, ``FILE-011`` when a dataset exists both as CSV and
        XPORT and no format is preferred, ``FILE-012`` when a file cannot be parsed.
    """
    if not folder.is_dir():
        raise InputError.single(
            "FILE-010", str(folder), f"expected a folder of datasets, got {str(folder)!r}"
        )
    files: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        if path.suffix.lower() in {".csv", ".xpt"}:
            files.setdefault(path.stem.upper(), []).append(path)
    tables: dict[str, pl.DataFrame] = {}
    for name in names:
        found = files.get(name.upper(), [])
        if len(found) > 1 and prefer is not None:
            found = [p for p in found if p.suffix.lower() == f".{prefer}"] or found
        if len(found) > 1:
            raise InputError.single(
                "FILE-011",
                name,
                f"dataset {name} is given twice ({', '.join(p.name for p in sorted(found))}); keep one file",
            )
        if found:
            tables[name.upper()] = _read(found[0])
    return tables


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)
        frame, _ = pyreadstat.read_xport(str(path), output_format="polars")
    except Exception as exc:
        raise InputError.single("FILE-012", path.name, f"cannot read {path.name}: {exc}") from None
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        [
            pl.col(name).map_elements(_number_text, return_dtype=pl.Utf8)
            for name, dtype in frame.schema.items()
            if dtype.is_numeric()
        ]
        + [pl.col(name).replace("", None) for name, dtype in frame.schema.items() if dtype == pl.Utf8]
        + [pl.col(name).dt.to_string("%Y-%m-%d") for name, dtype in frame.schema.items() if dtype == pl.Date]
    )


def _number_text(value: float | None) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def dataset_file_name(name: str, fmt: str) -> str:
    """The file a dataset is written to: ``<name lower>.<format>`` (``adsl.xpt``)."""
    return f"{name.lower()}.{fmt}"


def write_datasets(
    tables: Mapping[str, pl.DataFrame],
    folder: Path,
    formats: Iterable[DatasetFormat],
    files: Mapping[str, bytes] | None = None,
) -> list[Path]:
    """Write each table as ``<name lower>.<format>``, and each of ``files`` (name to content), all or nothing.

    XPORT files are checked and labelled by :mod:`oligotrial.exports.xpt` before anything is written. Every
    file is first written to a temporary folder beside ``folder``; only when all are written are they moved
    into place, so a failure leaves ``folder`` as it was. Dates are ISO 8601 text in CSV and SAS dates
    (``DATE9.``) in XPORT version 5.
    """
    formats = list(dict.fromkeys(formats))
    if "xpt" in formats:
        problems = [p for name, table in tables.items() for p in check_xpt(name, table)]
        if problems:
            raise InputError(problems)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    written: list[Path] = []
    try:
        for name, table in tables.items():
            for fmt in formats:
                target = staging / dataset_file_name(name, fmt)
                if fmt == "csv":
                    table.write_csv(target, date_format=_CSV_DATE_FORMAT)
                else:
                    write_xpt(name, table, target)
        for name, content in (files or {}).items():
            (staging / name).write_bytes(content)
        for path in sorted(staging.iterdir()):
            final = folder / path.name
            os.replace(path, final)
            written.append(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def csv_digest(table: pl.DataFrame) -> str:
    """SHA-256 of ``table`` as :func:`write_datasets` writes it in CSV: the digest of that file's bytes."""
    return hashlib.sha256(table.write_csv(date_format=_CSV_DATE_FORMAT).encode("utf-8")).hexdigest()
