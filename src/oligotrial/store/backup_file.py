"""The backup file: every table's rows as gzip-compressed JSON Lines, written and read a batch at a time.

Layout of format ``oligotrial-backup/2`` (one JSON value per line, UTF-8):

1. ``{"format": "oligotrial-backup/2", "schema": REVISION, "created_at": ISO, "rows": {NAME: COUNT, ...}}``
   (the counts of the snapshot, for a reader's progress);
2. for each table, in the metadata's dependency order: ``{"table": NAME, "columns": [...]}``, then one JSON
   array of values per row, in the columns' order (dates and times as ISO text);
3. ``{"end": {"rows": {NAME: COUNT, ...}}}``: a file without it, or whose counts (here or in the header)
   differ from its rows, is incomplete and refused.

Memory stays that of one batch of rows whatever the database's size: the writer reads each table through a
streaming cursor (a server-side cursor on PostgreSQL), the reader hands rows over in batches. A file of the
earlier format ``oligotrial-backup/1`` (one JSON document holding every table's rows) is still read, whole.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Date, Table, func, select

from oligotrial.errors import InputError
from oligotrial.store.tables import Base, UTCDateTime

__all__ = ["BACKUP_FORMAT", "BackupReader", "write_backup"]

BACKUP_FORMAT = "oligotrial-backup/2"
"""Identifies a backup file (see the module's notes)."""
_FORMAT_1 = "oligotrial-backup/1"
BATCH_ROWS = 1000
"""Rows per batch, read from the database or handed over by :class:`BackupReader`."""


def _iso(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not stored in a backup")


def _line(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, default=_iso) + "\n").encode("utf-8")


def write_backup(
    connection: Connection,
    file: IO[bytes],
    header: dict[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write every table of ``connection`` (read in its transaction, one snapshot) to the binary ``file``,
    gzip-compressed, after the ``header`` fields; returns the rows written per table.

    ``progress(rows written, rows in all)`` is called after each batch.
    """
    tables = Base.metadata.sorted_tables
    totals = {t.name: connection.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}
    total, written = sum(totals.values()), 0
    counts: dict[str, int] = {}
    with gzip.GzipFile(fileobj=file, mode="wb") as out:
        out.write(_line({"format": BACKUP_FORMAT, **header, "rows": totals}))
        for table in tables:
            out.write(_line({"table": table.name, "columns": [c.name for c in table.columns]}))
            query = select(table).order_by(*table.primary_key.columns)
            result = connection.execute(query, execution_options={"yield_per": BATCH_ROWS})
            counts[table.name] = 0
            for rows in result.partitions():
                out.write(b"".join(_line(list(row)) for row in rows))
                counts[table.name] += len(rows)
                written += len(rows)
                if progress is not None:
                    progress(written, total)
        out.write(_line({"end": {"rows": counts}}))
    return counts


class BackupReader:
    """A backup file opened for reading: its header at once, its rows table by table in batches.

    Raises
    ------
    InputError
        ``EDC-050`` naming the file and, where there is one, the line: not a readable backup, a table or
        column this version does not have, tables out of dependency order, a row of the wrong length or with
        an unreadable date, a file cut short.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._number = 0  # of the line read last
        self._pending: Any = None  # the line that ended a table's rows
        self._file = self._open()
        first = self._next()
        if not isinstance(first, dict) or first.get("format") not in (BACKUP_FORMAT, _FORMAT_1):
            self.close()
            raise self._error(f"not an oligotrial backup (format {BACKUP_FORMAT} expected)")
        self.header: dict[str, Any] = first
        self.rows: dict[str, int] = {}
        """The rows read per table so far (every table once :meth:`tables` is exhausted)."""
        self.total_rows = self._total_rows()
        """The rows the file holds, as its header says."""

    def _total_rows(self) -> int:
        if self.header["format"] == _FORMAT_1:
            tables = self.header.get("tables")
            if not isinstance(tables, dict):
                self.close()
                raise self._error("the backup has no tables")
            return sum(len(rows) for rows in tables.values() if isinstance(rows, list))
        counts = self.header.get("rows")
        if not isinstance(counts, dict) or not all(isinstance(n, int) for n in counts.values()):
            self.close()
            raise self._error("the header has no row counts")
        return sum(counts.values())

    def _open(self) -> IO[str]:
        try:
            return gzip.open(self.path, "rt", encoding="utf-8")
        except OSError as exc:
            raise self._error(f"not a readable oligotrial backup: {exc}") from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> BackupReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _error(self, message: str) -> InputError:
        return InputError.single("EDC-050", str(self.path), message, line=self._number or None)

    def _next(self) -> Any:
        """The next line's JSON value; ``None`` at the end of the file."""
        try:
            line = self._file.readline()
            if not line:
                return None
            self._number += 1
            return json.loads(line)
        except (OSError, EOFError, ValueError) as exc:
            raise self._error(f"not a readable oligotrial backup: {exc}") from None

    def tables(self) -> Iterator[tuple[Table, Iterator[list[dict[str, Any]]]]]:
        """Each table of the file in dependency order, with its rows in batches of column -> value (dates and
        times as Python values); a batch must be consumed before the next table is asked for."""
        if self.header["format"] == _FORMAT_1:
            yield from self._tables_of_format_1()
            return
        known = {table.name: n for n, table in enumerate(Base.metadata.sorted_tables)}
        place = -1
        line = self._next()
        while isinstance(line, dict) and "table" in line:
            name, columns = line.get("table"), line.get("columns")
            if name not in known:
                raise self._error(f"table {name!r} is not a table of this version")
            if known[name] <= place:
                raise self._error(f"table {name!r} is out of this version's order of tables (by their links)")
            place = known[name]
            table = Base.metadata.tables[name]
            names = [column.name for column in table.columns]
            if not isinstance(columns, list) or sorted(map(str, columns)) != sorted(names):
                raise self._error(f"the columns of {name} are {columns!r}, this version has {names}")
            batches = self._batches(table, columns)
            yield table, batches
            for _ in batches:  # whatever the caller left unread
                pass
            line = self._pending
        if line is None:
            raise self._error("the backup is incomplete: its end line is missing")
        end = line.get("end") if isinstance(line, dict) else None
        counts = end.get("rows") if isinstance(end, dict) else None
        if counts is None:
            raise self._error("expected a table's header or the end line")
        if counts != self.rows or self.header["rows"] != self.rows or self._next() is not None:
            raise self._error(
                f"the backup is incomplete: it ends with counts {counts}, its rows are {self.rows}"
            )

    def _batches(self, table: Table, columns: list[str]) -> Iterator[list[dict[str, Any]]]:
        readers = [_reader(table, column) for column in columns]
        self.rows[table.name] = 0
        batch: list[dict[str, Any]] = []
        while isinstance(line := self._next(), list):
            if len(line) != len(columns):
                raise self._error(
                    f"a row of {table.name} has {len(line)} values, its columns are {len(columns)}"
                )
            try:
                batch.append({c: read(v) for c, read, v in zip(columns, readers, line, strict=True)})
            except (TypeError, ValueError) as exc:
                raise self._error(f"a row of {table.name} has an unreadable date: {exc}") from None
            self.rows[table.name] += 1
            if len(batch) == BATCH_ROWS:
                yield batch
                batch = []
        self._pending = line
        if batch:
            yield batch

    def _tables_of_format_1(self) -> Iterator[tuple[Table, Iterator[list[dict[str, Any]]]]]:
        tables = self.header["tables"]  # a dict: checked when the file was opened
        for table in Base.metadata.sorted_tables:
            rows = tables.get(table.name, [])
            readers = {column.name: _reader(table, column.name) for column in table.columns}
            try:
                batch = [{c: readers[c](v) for c, v in row.items()} for row in rows]
            except KeyError as exc:
                raise self._error(f"column {exc} is not a column of {table.name}") from None
            except (AttributeError, TypeError, ValueError) as exc:
                raise self._error(f"a row of {table.name} is unreadable: {exc}") from None
            self.rows[table.name] = len(batch)
            yield table, iter([batch] if batch else [])


def _reader(table: Table, column: str) -> Callable[[Any], Any]:
    """How a column's JSON value becomes the database's value (dates and times from ISO text)."""
    kind = table.c[column].type
    if isinstance(kind, UTCDateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(kind, Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    return lambda v: v
