"""The audit trail: append-only entries chained by SHA-256, and the verifier that names tampered rows.

Notes
-----
21 CFR 11.10(e) asks for secure, computer-generated, time-stamped audit trails recording the date and time of
operator entries and actions that create, modify or delete electronic records, without obscuring previous
values. Each entry records who (user id and name), when (UTC), what (table, record, old -> new values), why
(reason) and from where (source address). Entry ``n`` stores ``prev_hash`` = hash of entry ``n - 1`` (64
zeros for the first) and ``hash`` = SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of its
fields including ``prev_hash``. Positions are contiguous from 1 and the ``audit_chain_head`` row holds the
last position and hash, so removing the newest rows is detected as well as removing any other.

Appends are serialized: the head row is read ``FOR UPDATE`` (PostgreSQL) inside a write transaction that
SQLite begins with ``BEGIN IMMEDIATE``; two concurrent writers can therefore never chain to the same
predecessor. A write transaction collects its entries and chains them at its end (:func:`chain_entries`), so
the head is held only for the append and the commit. Within one server process, write use cases also queue
first-come first-served for the process's writer gate (:func:`oligotrial.store.engine.writer_gate`) and
those queued together share one transaction and one append (group commit, see
:func:`oligotrial.services.write_transaction`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from oligotrial.errors import Problem
from oligotrial.store.prepared import Prepared
from oligotrial.store.tables import GENESIS_HASH, AuditChainHead, AuditEntry

__all__ = [
    "AuditReport",
    "audit_entry",
    "canonical_json",
    "chain_entries",
    "compute_entry_hash",
    "entry_fields",
    "verify_audit_chain",
]

_BATCH = 5000


def canonical_json(value: Any) -> str:
    """Serialize ``value`` as canonical JSON: sorted keys, no insignificant whitespace, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    """The hashed fields of an entry, as stored."""
    return {
        "id": int(entry.id),
        "at": _iso(entry.at),
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "action": entry.action,
        "table_name": entry.table_name,
        "record_id": entry.record_id,
        "site_id": entry.site_id,
        "old_values": entry.old_values,
        "new_values": entry.new_values,
        "reason": entry.reason,
        "source": entry.source,
        "prev_hash": entry.prev_hash,
    }


def compute_entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields (which include ``prev_hash``)."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def audit_entry(
    *,
    actor_id: int | None,
    actor_username: str,
    action: str,
    table_name: str,
    record_id: object,
    site_id: int | None,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    reason: str | None,
    source: str,
) -> dict[str, Any]:
    """The fields of a new entry, before :func:`chain_entries` gives it its time, position and hashes."""
    return {
        "actor_id": actor_id,
        "actor_username": actor_username,
        "action": action,
        "table_name": table_name,
        "record_id": str(record_id),
        "site_id": site_id,
        "old_values": None if old is None else canonical_json(old),
        "new_values": None if new is None else canonical_json(new),
        "reason": reason,
        "source": source,
    }


def chain_entries(connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append ``entries`` (from :func:`audit_entry`), in order, to the chain in the connection's transaction.

    Notes
    -----
    Read the head (``FOR UPDATE`` on PostgreSQL; on SQLite the ``BEGIN IMMEDIATE`` write transaction already
    excludes other writers), insert the entries, move the head. On PostgreSQL the insert and the move are one
    statement (a data-modifying ``WITH``, the entries passed as one JSON array of rows): the head's lock,
    which every writer of every server process waits for, is then held for two database round trips and the
    commit instead of three (issue 6); SQLite, in process, runs them as two statements, which cost no round
    trip. Each entry is stamped
    with the time it is chained (UTC, under the head's lock, so times never decrease along the chain). The
    head row stays locked until the transaction ends, so the entries commit or roll back together with the
    changes they record. Callers chain at the end of the transaction, after every change: the head is then
    the last lock a write transaction takes, held only for these statements and the commit, and a transaction
    holding it waits for no other lock (no deadlock).
    """
    if not entries:
        return
    head_seq, head_hash = _HEAD_FOR_UPDATE.one(connection)
    at = datetime.now(UTC)
    stamp = _iso(at)  # the time as hashed (and as PostgreSQL reads it from the JSON below)
    rows = []
    for entry in entries:
        row = {**entry, "at": at, "id": int(head_seq) + 1, "prev_hash": head_hash}
        row["hash"] = compute_entry_hash({**row, "at": stamp})
        head_seq, head_hash = row["id"], row["hash"]
        rows.append(row)
    moved = {"new_seq": head_seq, "new_hash": head_hash}
    if connection.dialect.name == "postgresql":
        entries_json = json.dumps([{**row, "at": stamp} for row in rows], ensure_ascii=False)
        _INSERT_ENTRIES_AND_MOVE_HEAD.run(connection, {"entries": entries_json, **moved})
    else:
        _INSERT_ENTRY.run(connection, rows)
        _MOVE_HEAD.run(connection, moved)


_HEAD = cast(Table, AuditChainHead.__table__)
_HEAD_FOR_UPDATE = Prepared(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update())
_ENTRIES = cast(Table, AuditEntry.__table__)
_INSERT_ENTRY = Prepared(insert(_ENTRIES).values({c.key: bindparam(c.key) for c in _ENTRIES.columns}))
_MOVE_HEAD = Prepared(
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_INSERT_ENTRIES_AND_MOVE_HEAD = Prepared(
    text(
        "WITH entries AS (INSERT INTO audit_log "
        "SELECT * FROM json_populate_recordset(CAST(NULL AS audit_log), CAST(:entries AS json))) "
        "UPDATE audit_chain_head SET seq = :new_seq, hash = :new_hash WHERE id = 1"
    )
)
"""PostgreSQL: the entries (one JSON array of rows, whatever their number: one statement text, compiled once)
inserted and the head moved in one statement."""


@dataclass
class AuditReport:
    """Result of :func:`verify_audit_chain`.

    Attributes
    ----------
    entries
        Number of rows found in ``audit_log``.
    head_seq, head_hash
        The chain head: last position and hash the application recorded.
    problems
        One per tampered row: ``AUDIT-001`` changed, ``AUDIT-002`` removed, ``AUDIT-003`` inserted,
        ``AUDIT-004`` re-linked (hash valid but not chained to its predecessor), ``AUDIT-005`` head missing.
    """

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)

    @property
    def is_intact(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.is_intact,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": [p.to_dict() for p in self.problems],
        }


def verify_audit_chain(session: Session, progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """Recompute the chain and name every row changed, removed or inserted behind the application's back.

    Notes
    -----
    Walks rows by position. A row whose recomputed hash differs from its stored hash was changed; a gap in
    positions (or positions missing before the head) means rows were removed; a row beyond the head
    position, was inserted; a row whose own hash is right but whose ``prev_hash``
    differs from its predecessor's hash was re-linked. Rewriting the whole chain *and* the head with
    recomputed hashes is only detectable against an externally recorded head hash (``head_hash``).
    ``progress(entries checked, the head's position)`` is called after each batch of entries.
    """
    head = session.get(AuditChainHead, 1)
    report = AuditReport()
    if head is None:
        report.problems.append(
            Problem(
                "AUDIT-005", "audit_chain_head", "the chain head row is missing; the chain cannot be anchored"
            )
        )
        head_seq, head_hash = None, None
    else:
        head_seq, head_hash = int(head.seq), head.hash
        report.head_seq, report.head_hash = head_seq, head_hash
    expected = 1
    prev_hash = GENESIS_HASH
    last_id = 0
    after = None
    while True:
        stmt = select(AuditEntry).order_by(AuditEntry.id).limit(_BATCH)
        if after is not None:
            stmt = stmt.where(AuditEntry.id > after)
        rows = session.execute(stmt).scalars().all()
        if not rows:
            break
        for row in rows:
            report.entries += 1
            position = int(row.id)
            after = position
            if head_seq is not None and position > head_seq:
                report.problems.append(
                    Problem(
                        "AUDIT-003",
                        f"audit_log[{position}]",
                        f"row inserted: position {position} lies beyond the chain head ({head_seq})",
                        value=_summary(row),
                    )
                )
                continue
            for missing in range(expected, position):
                report.problems.append(
                    Problem(
                        "AUDIT-002", f"audit_log[{missing}]", f"row removed: position {missing} is missing"
                    )
                )
            recomputed = compute_entry_hash(entry_fields(row))
            if recomputed != row.hash:
                report.problems.append(
                    Problem(
                        "AUDIT-001",
                        f"audit_log[{position}]",
                        "row changed: its content no longer matches its hash",
                        value=_summary(row),
                    )
                )
            elif position == expected and row.prev_hash != prev_hash:
                report.problems.append(
                    Problem(
                        "AUDIT-004",
                        f"audit_log[{position}]",
                        "row re-linked: its prev_hash is not the hash of the row before it",
                        value=_summary(row),
                    )
                )
            prev_hash = row.hash
            expected = position + 1
            last_id = position
        session.expunge_all()
        if progress is not None:
            progress(report.entries, head_seq or 0)
    if head_seq is not None:
        for missing in range(max(expected, last_id + 1), head_seq + 1):
            report.problems.append(
                Problem("AUDIT-002", f"audit_log[{missing}]", f"row removed: position {missing} is missing")
            )
        if last_id == head_seq and head_seq > 0 and prev_hash != head_hash and not report.problems:
            report.problems.append(
                Problem(
                    "AUDIT-004",
                    f"audit_log[{head_seq}]",
                    "the last row's hash differs from the chain head's hash",
                )
            )
    return report


def _summary(row: AuditEntry) -> str:
    return f"{row.action} {row.table_name}/{row.record_id} by {row.actor_username}"
