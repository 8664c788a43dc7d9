"""Backup files (``oligotrial-backup/2``, :mod:`oligotrial.store.backup_file`), on SQLite and PostgreSQL.

- ``oligotrial backup`` and ``oligotrial restore`` (the real commands, each its own process) hold one batch of
  rows at a time: their peak memory for a database with 30,000 more audit entries is within a bound of that
  for a small one (the whole-file backup grew by about 5 KB per entry).
- A file cut short, unreadable part-way or out of this version's shape is refused with ``EDC-050`` naming the
  line, and the target is left without tables.
- A backup of the earlier format ``oligotrial-backup/1`` (one JSON document) still restores, to the same
  chain.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import sqlalchemy

from edc_fixtures import (
    append_form_changes,
    backup_table,
    edc_settings,
    peak_megabytes,
    read_backup_lines,
    write_backup_lines,
)
from oligotrial.errors import InputError
from oligotrial.services import backup_database, open_edc, restore_database
from oligotrial.services.audit_trail import verify_audit

ENTRIES = 30_000
GROWTH_LIMIT_MB = 50


def _target(backend: str, request, tmp_path: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return request.getfixturevalue("postgres_server").new_database()


def _tables(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_backup_and_restore_memory_does_not_grow_with_the_database(database_url, backend, request, tmp_path):
    small, large = tmp_path / "small.json.gz", tmp_path / "large.json.gz"
    backup_small = peak_megabytes(tmp_path, "backup", small, "--database", database_url)
    append_form_changes(database_url, ENTRIES)
    backup_large = peak_megabytes(tmp_path, "backup", large, "--database", database_url)
    targets = [_target(backend, request, tmp_path, name) for name in ("small", "large")]
    restore_small = peak_megabytes(tmp_path, "restore", small, "--database", targets[0])
    restore_large = peak_megabytes(tmp_path, "restore", large, "--database", targets[1])
    print(
        f"peak MB: backup {backup_small:.0f} -> {backup_large:.0f}, restore {restore_small:.0f} -> {restore_large:.0f}"
    )

    assert backup_large - backup_small < GROWTH_LIMIT_MB
    assert restore_large - restore_small < GROWTH_LIMIT_MB
    live, restored = open_edc(edc_settings(database_url)), open_edc(edc_settings(targets[1]))
    try:
        source, copy = verify_audit(live), verify_audit(restored)
        assert copy.is_intact and copy.entries == source.entries + 1  # + the restore's own entry
    finally:
        live.engine.dispose()
        restored.engine.dispose()


def _cut_end(lines: list) -> list:
    return lines[:-1]


def _long_row(lines: list) -> list:
    backup_table(lines, "audit_log")[0][1].append("one value too many")
    return lines


def _unknown_table(lines: list) -> list:
    return [*lines[:-1], {"table": "spreadsheet", "columns": ["id"]}, lines[-1]]


def _out_of_order(lines: list) -> list:
    first = lines[1 : 2 + len(backup_table(lines, "audit_chain_head")[0])]  # audit_chain_head, then its rows
    return [lines[0], *lines[1 + len(first) : -1], *first, lines[-1]]


def _unreadable_date(lines: list) -> list:
    rows, columns = backup_table(lines, "audit_log")
    rows[1][columns.index("at")] = "the day before yesterday"
    return lines


def _date_not_text(lines: list) -> list:
    rows, columns = backup_table(lines, "audit_log")
    rows[0][columns.index("at")] = 20261127
    return lines


def _end_not_an_object(lines: list) -> list:
    return [*lines[:-1], {"end": ["rows"]}]


def _counts_differ(lines: list) -> list:
    lines[-1]["end"]["rows"]["audit_log"] += 1
    return lines


def _header_counts_differ(lines: list) -> list:
    lines[0]["rows"]["users"] -= 1
    return lines


def _line_after_end(lines: list) -> list:
    return [*lines, [1]]


REFUSED = {
    _cut_end: "its end line is missing",
    _long_row: "a row of audit_log has 15 values, its columns are 14",
    _unknown_table: "table 'spreadsheet' is not a table of this version",
    _out_of_order: "table 'audit_chain_head' is out of this version's order of tables",
    _unreadable_date: "a row of audit_log has an unreadable date",
    _date_not_text: "a row of audit_log has an unreadable date",
    _end_not_an_object: "expected a table's header or the end line",
    _counts_differ: "the backup is incomplete: it ends with counts",
    _header_counts_differ: "the backup is incomplete: it ends with counts",
    _line_after_end: "the backup is incomplete",
}


@pytest.mark.parametrize("change", REFUSED, ids=lambda change: change.__name__.strip("_"))
def test_restore_refuses_a_file_cut_short_or_out_of_shape(world, backend, request, tmp_path, change):
    good = tmp_path / "good.json.gz"
    backup_database(world.edc, good)
    bad = tmp_path / "bad.json.gz"
    write_backup_lines(bad, change(read_backup_lines(good)))
    target = _target(backend, request, tmp_path, "target")

    with pytest.raises(InputError) as refused:
        restore_database(edc_settings(target), bad)
    problem = refused.value.problems[0]
    assert (problem.code, problem.field) == ("EDC-050", str(bad))
    assert REFUSED[change] in problem.message
    assert problem.line is not None
    assert _tables(target) == []  # nothing restored, the schema it created dropped again


def test_restore_refuses_a_file_that_is_not_a_backup(world, tmp_path):
    target = f"sqlite:///{tmp_path / 'target.db'}"
    good = tmp_path / "good.json.gz"
    backup_database(world.edc, good)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # the gzip stream ends early
    other = tmp_path / "other.json.gz"
    other.write_bytes(gzip.compress(b'{"format": "someone-else/1"}\n'))
    for path, message in (
        (cut, "not a readable oligotrial backup"),
        (other, "not an oligotrial backup"),
        (tmp_path / "absent.json.gz", "not a readable oligotrial backup"),
    ):
        with pytest.raises(InputError) as refused:
            restore_database(edc_settings(target), path)
        assert refused.value.problems[0].code == "EDC-050"
        assert message in refused.value.problems[0].message
    assert not (tmp_path / "target.db").exists() or _tables(target) == []


def test_a_backup_of_format_1_restores_to_the_same_chain(world, backend, request, tmp_path):
    current = tmp_path / "current.json.gz"
    backup_database(world.edc, current)
    lines = read_backup_lines(current)
    tables = {}
    for line in lines:
        if isinstance(line, dict) and "table" in line:
            rows, columns = backup_table(lines, line["table"])
            tables[line["table"]] = [dict(zip(columns, row, strict=True)) for row in rows]
    earlier = tmp_path / "earlier.json.gz"  # as format 1 wrote it: one JSON document on one line
    document = {**lines[0], "format": "oligotrial-backup/1", "tables": tables}
    earlier.write_bytes(gzip.compress(json.dumps(document).encode("utf-8")))

    restored = [
        restore_database(edc_settings(_target(backend, request, tmp_path, name)), path)
        for name, path in (("from-current", current), ("from-earlier", earlier))
    ]
    assert restored[0]["head_hash"] == restored[1]["head_hash"] == verify_audit(world.edc).head_hash
    assert restored[0]["rows"] == restored[1]["rows"]
    assert restored[1]["audit_entries_verified"] == verify_audit(world.edc).entries


def test_backup_and_restore_report_their_progress(world, tmp_path):
    path = tmp_path / "backup.json.gz"
    written: list[tuple[int, int]] = []
    made = backup_database(world.edc, path, progress=lambda done, total: written.append((done, total)))
    rows = sum(made["rows"].values())
    assert written[-1] == (rows, rows) and all(total == rows for _, total in written)
    assert [done for done, _ in written] == sorted(done for done, _ in written)

    steps: dict[str, list[tuple[int, int]]] = {"rows": [], "chain": []}
    restored = restore_database(
        edc_settings(f"sqlite:///{tmp_path / 'target.db'}"),
        path,
        progress=lambda step, done, total: steps[step].append((done, total)),
    )
    assert steps["rows"][-1] == (rows, rows)
    entries = restored["audit_entries_verified"]
    assert steps["chain"][-1] == (entries, entries)
