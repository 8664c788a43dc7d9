"""CTCAE terminology use cases: import NCI's workbook, search terms by term and system organ class, show the
grade definitions, and check an adverse event's term and grade (for the AE form).

Notes
-----
The terminology is loaded from a workbook the user supplies (``oligotrial ctcae import FILE``); the newest
import replaces the terms of the previous one, and every import is audited with the file's SHA-256 and counts.
Without a workbook the protocol's expected toxicities (``adverse_events.expected_toxicities``) are still
available: as terms with their system organ class, without grade texts, every grade 1-5 accepted.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from oligotrial.errors import InputError, NotFoundError, PermissionDeniedError, Problem
from oligotrial.protocol import Protocol
from oligotrial.rules.ctcae import GRADES, CtcaeTerm, check_ctcae_grade, parse_ctcae_rows, term_key
from oligotrial.services._context import (
    Actor,
    Edc,
    Permission,
    Role,
    paged,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services.randomization import current_protocol
from oligotrial.store.tables import CtcaeImport, CtcaeTermRow

__all__ = [
    "CtcaeStatus",
    "CtcaeTermView",
    "check_ctcae_term_grade",
    "get_ctcae_status",
    "get_ctcae_term",
    "import_ctcae_workbook",
    "list_ctcae_socs",
    "list_expected_toxicities",
    "read_ctcae_workbook",
    "search_ctcae_terms",
    "show_ctcae_term",
]

_MAX_QUERY = 200


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CtcaeTermView(_View):
    """A term with the definition of each grade (``None``: not defined for the term, or unknown when the
    term comes from the protocol only)."""

    term: str
    soc: str
    meddra_code: int | None
    grades: dict[int, str | None]
    applicable_grades: list[int]
    definition: str | None
    navigational_note: str | None
    source: Literal["workbook", "protocol"]
    is_expected: bool
    expected_category: str | None = None


class CtcaeStatus(_View):
    """The loaded terminology: version, file, SHA-256, counts (``None`` when none was imported)."""

    version: str | None
    file_name: str | None
    sha256: str | None
    terms: int
    socs: int
    imported_at: datetime | None


def _require_reader(actor: Actor) -> None:
    if not actor.has_anywhere(Permission.READ_AGGREGATE):
        raise PermissionDeniedError(Problem("AUTH-100", "", "your roles do not allow this action"))


def _require_importer(actor: Actor) -> None:
    if not any(
        role in (Role.ADMINISTRATOR, Role.DATA_MANAGER) and site is None for role, site in actor.assignments
    ):
        raise PermissionDeniedError(
            Problem(
                "AUTH-111", "", "only a study-wide administrator or data manager may import the terminology"
            )
        )


def _expected(protocol: Protocol) -> dict[str, Any]:
    return {term_key(t.term): t for t in protocol.adverse_events.expected_toxicities}


def _row_view(row: CtcaeTermRow, protocol: Protocol) -> CtcaeTermView:
    grades = [row.grade_1, row.grade_2, row.grade_3, row.grade_4, row.grade_5]
    expected = _expected(protocol).get(row.term_key)
    return CtcaeTermView(
        term=row.term,
        soc=row.soc,
        meddra_code=row.meddra_code,
        grades=dict(zip(GRADES, grades, strict=True)),
        applicable_grades=[g for g, t in zip(GRADES, grades, strict=True) if t is not None],
        definition=row.definition,
        navigational_note=row.navigational_note,
        source="workbook",
        is_expected=expected is not None,
        expected_category=None if expected is None else expected.category,
    )


def _protocol_view(toxicity: Any) -> CtcaeTermView:
    return CtcaeTermView(
        term=toxicity.term,
        soc=toxicity.soc,
        meddra_code=None,
        grades=dict.fromkeys(GRADES),
        applicable_grades=list(GRADES),
        definition=None,
        navigational_note=None,
        source="protocol",
        is_expected=True,
        expected_category=toxicity.category,
    )


def _has_terminology(session: Session) -> bool:
    return session.execute(select(CtcaeTermRow.id).limit(1)).first() is not None


# -- functions for other use cases (inside their transaction) ------------------------------------------------


def get_ctcae_term(session: Session, term: str, protocol: Protocol | None = None) -> CtcaeTermView | None:
    """The term (looked up case-insensitively) with its grade texts, or ``None``.

    Without an imported workbook, the protocol's expected toxicities are found (``source="protocol"``, no
    grade texts). Call it inside your own transaction (e.g. while saving an AE form).
    """
    protocol = protocol or current_protocol()
    key = term_key(term)
    row = session.execute(select(CtcaeTermRow).where(CtcaeTermRow.term_key == key)).scalar_one_or_none()
    if row is not None:
        return _row_view(row, protocol)
    if not _has_terminology(session):
        toxicity = _expected(protocol).get(key)
        if toxicity is not None:
            return _protocol_view(toxicity)
    return None


def check_ctcae_term_grade(
    session: Session, term: str, grade: object, protocol: Protocol | None = None
) -> CtcaeTermView:
    """Check an AE's term and grade; returns the term (with grade texts) or raises.

    Raises
    ------
    InputError
        ``CTCAE-001`` unknown term (without a workbook: not one of the protocol's expected toxicities, and
        the message says to import the workbook); ``CTCAE-002`` grade not 1-5; ``CTCAE-003`` a grade the term
        does not have. Problems name the fields ``term`` and ``grade``.
    """
    view = get_ctcae_term(session, term, protocol)
    found = (
        None
        if view is None
        else CtcaeTerm(
            term=view.term,
            soc=view.soc,
            grades=(view.grades[1], view.grades[2], view.grades[3], view.grades[4], view.grades[5])
            if view.source == "workbook"
            else ("", "", "", "", ""),
        )
    )
    try:
        check_ctcae_grade(term, grade, found)
    except InputError as error:
        if view is None and not _has_terminology(session):
            problems = [
                Problem(
                    p.code,
                    p.field,
                    "no CTCAE workbook is loaded and this is not one of the protocol's expected toxicities; "
                    "import the terminology with `oligotrial ctcae import FILE`",
                    p.value,
                )
                if p.code == "CTCAE-001"
                else p
                for p in error.problems
            ]
            raise InputError(problems) from None
        raise
    assert view is not None
    return view


# -- use cases ---------------------------------------------------------------------------------------------


def read_ctcae_workbook(path: Path) -> tuple[list[CtcaeTerm], str]:
    """Read the first sheet of a CTCAE workbook (xlsx); returns the terms and the file's SHA-256.

    Raises
    ------
    InputError
        ``FILE-001`` unreadable file; ``CTCAE-014`` not an xlsx workbook; codes of
        :func:`oligotrial.rules.ctcae.parse_ctcae_rows`.
    """
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise InputError.single("FILE-001", str(path), f"cannot read the workbook: {exc.strerror}") from None
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise InputError.single(
            "CTCAE-014", str(path), f"not an Excel workbook (.xlsx) of CTCAE terms: {exc}"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    return parse_ctcae_rows(rows), hashlib.sha256(content).hexdigest()


def import_ctcae_workbook(
    edc: Edc, actor: Actor, path: Path, *, version: str | None = None, protocol: Protocol | None = None
) -> CtcaeStatus:
    """Load the terms of a CTCAE workbook, replacing those of an earlier import (one audited transaction).

    Raises
    ------
    PermissionDeniedError
        ``AUTH-111`` unless a study-wide administrator (the command line) or data manager.
    InputError
        See :func:`read_ctcae_workbook`.
    """
    _require_importer(actor)
    protocol = protocol or current_protocol()
    terms, sha256 = read_ctcae_workbook(path)
    version = version or protocol.adverse_events.ctcae_version
    with write_transaction(edc) as session:
        previous = session.execute(select(func.count()).select_from(CtcaeTermRow)).scalar_one()
        session.execute(delete(CtcaeTermRow))
        now = datetime.now(UTC)
        record = CtcaeImport(
            version=version,
            file_name=Path(path).name[:255],
            sha256=sha256,
            terms=len(terms),
            socs=len({t.soc for t in terms}),
            imported_by=actor.user_id,
            imported_at=now,
        )
        session.add(record)
        session.flush()
        session.execute(
            insert(CtcaeTermRow),
            [
                {
                    "import_id": record.id,
                    "meddra_code": t.meddra_code,
                    "soc": t.soc,
                    "term": t.term,
                    "term_key": term_key(t.term),
                    **{f"grade_{g}": text for g, text in zip(GRADES, t.grades, strict=True)},
                    "definition": t.definition,
                    "navigational_note": t.navigational_note,
                }
                for t in terms
            ],
        )
        write_audit(
            session,
            actor,
            "import",
            "ctcae_imports",
            record.id,
            site_id=None,
            old={"terms": previous},
            new={
                "version": version,
                "file_name": record.file_name,
                "sha256": sha256,
                "terms": record.terms,
                "socs": record.socs,
            },
        )
        return _status(record)


def _status(record: CtcaeImport | None) -> CtcaeStatus:
    if record is None:
        return CtcaeStatus(version=None, file_name=None, sha256=None, terms=0, socs=0, imported_at=None)
    return CtcaeStatus(
        version=record.version,
        file_name=record.file_name,
        sha256=record.sha256,
        terms=record.terms,
        socs=record.socs,
        imported_at=record.imported_at,
    )


def get_ctcae_status(edc: Edc, actor: Actor) -> CtcaeStatus:
    """The loaded terminology (from the newest import)."""
    _require_reader(actor)
    with read_transaction(edc) as session:
        record = session.execute(
            select(CtcaeImport).order_by(CtcaeImport.id.desc()).limit(1)
        ).scalar_one_or_none()
        return _status(record)


def search_ctcae_terms(
    edc: Edc,
    actor: Actor,
    *,
    query: str | None = None,
    soc: str | None = None,
    limit: int = 50,
    offset: int = 0,
    protocol: Protocol | None = None,
) -> tuple[list[CtcaeTermView], int]:
    """Terms whose name contains ``query`` (case-insensitive) in system organ classes containing ``soc``,
    ordered by SOC and term, with the total count. Without a workbook: the protocol's expected toxicities.
    """
    _require_reader(actor)
    protocol = protocol or current_protocol()
    for name, value in (("q", query), ("soc", soc)):
        if value is not None and len(value) > _MAX_QUERY:
            raise InputError.single("CTCAE-020", name, f"at most {_MAX_QUERY} characters", value=value[:50])
    q = (query or "").strip().casefold()
    s = (soc or "").strip().casefold()
    with read_transaction(edc) as session:
        if not _has_terminology(session):
            found = [
                _protocol_view(t)
                for t in protocol.adverse_events.expected_toxicities
                if q in term_key(t.term) and s in t.soc.casefold()
            ]
            found.sort(key=lambda v: (v.soc, v.term))
            return found[offset : offset + limit], len(found)
        stmt = select(CtcaeTermRow)
        if q:
            stmt = stmt.where(CtcaeTermRow.term_key.contains(term_key(q), autoescape=True))
        if s:
            stmt = stmt.where(func.lower(CtcaeTermRow.soc).contains(s, autoescape=True))
        result, total = paged(session, stmt, [CtcaeTermRow.soc, CtcaeTermRow.term], limit, offset)
        return [_row_view(r, protocol) for r in result.scalars()], total


def show_ctcae_term(edc: Edc, actor: Actor, term: str, *, protocol: Protocol | None = None) -> CtcaeTermView:
    """One term with its grade definitions (shown when grading); ``CTCAE-001`` 404 when unknown."""
    _require_reader(actor)
    with read_transaction(edc) as session:
        view = get_ctcae_term(session, term, protocol)
    if view is None:
        raise NotFoundError(Problem("CTCAE-001", "term", "not a CTCAE term", value=term))
    return view


def list_ctcae_socs(edc: Edc, actor: Actor) -> list[dict[str, Any]]:
    """System organ classes with their number of terms."""
    _require_reader(actor)
    with read_transaction(edc) as session:
        rows = session.execute(
            select(CtcaeTermRow.soc, func.count()).group_by(CtcaeTermRow.soc).order_by(CtcaeTermRow.soc)
        ).all()
        return [{"soc": soc, "terms": int(n)} for soc, n in rows]


def list_expected_toxicities(
    edc: Edc, actor: Actor, *, protocol: Protocol | None = None
) -> list[CtcaeTermView]:
    """The protocol's expected toxicities, with grade texts when a workbook is loaded."""
    _require_reader(actor)
    protocol = protocol or current_protocol()
    with read_transaction(edc) as session:
        return [
            get_ctcae_term(session, t.term, protocol) or _protocol_view(t)
            for t in protocol.adverse_events.expected_toxicities
        ]
