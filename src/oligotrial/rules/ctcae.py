"""CTCAE terminology: reading the rows of NCI's workbook (already read into Python values) and checking an
adverse event's term and grade.

The terminology itself is not part of oligotrial: a user supplies NCI's workbook (``CTCAE_v5.0_*.xlsx``),
whose rows the services read and hand to :func:`parse_ctcae_rows`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from oligotrial.errors import InputError, Problem

__all__ = [
    "GRADES",
    "CtcaeTerm",
    "check_ctcae_grade",
    "normalize_header",
    "parse_ctcae_rows",
    "term_key",
]

GRADES = (1, 2, 3, 4, 5)
"""CTCAE grades: 1 mild, 2 moderate, 3 severe, 4 life-threatening, 5 death."""

_COLUMNS = {
    "meddra code": "meddra_code",
    "meddra soc": "soc",
    "ctcae term": "term",
    "grade 1": "grade_1",
    "grade 2": "grade_2",
    "grade 3": "grade_3",
    "grade 4": "grade_4",
    "grade 5": "grade_5",
    "definition": "definition",
    "navigational note": "navigational_note",
}
_REQUIRED = ("soc", "term", "grade_1", "grade_2", "grade_3", "grade_4", "grade_5")
_NOT_APPLICABLE = {"-", "\u2013", "\u2014", ""}


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE term: its system organ class and the definition of each grade (``None``: the grade does
    not apply to the term, written "-" in the workbook)."""

    term: str
    soc: str
    grades: tuple[str | None, str | None, str | None, str | None, str | None]
    meddra_code: int | None = None
    definition: str | None = None
    navigational_note: str | None = None

    @property
    def applicable_grades(self) -> tuple[int, ...]:
        """The grades that have a definition for this term."""
        return tuple(g for g, text in zip(GRADES, self.grades, strict=True) if text is not None)


def normalize_header(text: object) -> str:
    """A header cell compared loosely: NFKC (non-breaking spaces become spaces), collapsed blanks, lower case."""
    value = unicodedata.normalize("NFKC", "" if text is None else str(text))
    return re.sub(r"\s+", " ", value).strip().casefold()


def term_key(term: str) -> str:
    """The key a term is looked up by: NFKC, en/em dashes as hyphens, collapsed blanks, case-folded."""
    value = unicodedata.normalize("NFKC", term).replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", value).strip().casefold()


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return None if text in _NOT_APPLICABLE else text


def parse_ctcae_rows(rows: Sequence[Sequence[object]]) -> list[CtcaeTerm]:
    """Read the rows of a CTCAE workbook sheet (the first row is the header).

    Notes
    -----
    Columns are found by their header text (MedDRA Code, MedDRA SOC, CTCAE Term, Grade 1 ... Grade 5,
    Definition, Navigational Note), compared after Unicode NFKC normalization and blank collapsing, because
    NCI's v5.0 workbook has non-breaking spaces in its grade headers. A grade cell holding "-" (or nothing)
    means the grade does not apply to the term (CTCAE v5.0 introduction). Rows without a term are skipped.

    Raises
    ------
    InputError
        ``CTCAE-010`` a required column is missing; ``CTCAE-011`` a term appears twice; ``CTCAE-012`` a term
        without a system organ class or without any grade; ``CTCAE-013`` a MedDRA code that is not a number.
    """
    if not rows:
        raise InputError.single("CTCAE-010", "header", "the sheet is empty; expected NCI's CTCAE workbook")
    header = [normalize_header(h) for h in rows[0]]
    where: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in _COLUMNS and _COLUMNS[name] not in where:
            where[_COLUMNS[name]] = index
    missing = [c for c in _REQUIRED if c not in where]
    if missing:
        raise InputError.single(
            "CTCAE-010",
            "header",
            "missing columns "
            + ", ".join(missing)
            + "; expected MedDRA SOC, CTCAE Term, Grade 1 ... Grade 5",
            value=[str(h) for h in rows[0]],
        )

    def cell(row: Sequence[object], column: str) -> object:
        index = where.get(column)
        return row[index] if index is not None and index < len(row) else None

    problems: list[Problem] = []
    terms: list[CtcaeTerm] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        term = _text(cell(row, "term"))
        if term is None:
            continue
        soc = _text(cell(row, "soc"))
        g = [_text(cell(row, f"grade_{n}")) for n in GRADES]
        grades = (g[0], g[1], g[2], g[3], g[4])
        code_value = cell(row, "meddra_code")
        code: int | None = None
        if code_value is not None and str(code_value).strip():
            try:
                code = int(str(code_value).strip())
            except ValueError:
                problems.append(
                    Problem("CTCAE-013", "MedDRA Code", "expected a number", value=code_value, line=line)
                )
        if soc is None or all(x is None for x in grades):
            problems.append(
                Problem(
                    "CTCAE-012", "CTCAE Term", "a term needs a system organ class and a grade", term, line
                )
            )
            continue
        key = term_key(term)
        if key in seen:
            problems.append(
                Problem("CTCAE-011", "CTCAE Term", f"term also on line {seen[key]}", value=term, line=line)
            )
            continue
        seen[key] = line
        terms.append(
            CtcaeTerm(
                term=term,
                soc=soc,
                grades=grades,
                meddra_code=code,
                definition=_text(cell(row, "definition")),
                navigational_note=_text(cell(row, "navigational_note")),
            )
        )
    if problems:
        raise InputError(problems)
    return terms


def check_ctcae_grade(term: str, grade: object, found: CtcaeTerm | None) -> CtcaeTerm:
    """Check an adverse event's term and grade against the terminology.

    Parameters
    ----------
    term
        The term as entered (for the message).
    grade
        The grade as entered.
    found
        The terminology's entry for ``term`` (``None`` when the term is unknown).

    Raises
    ------
    InputError
        ``CTCAE-001`` unknown term; ``CTCAE-002`` a grade that is not a whole number 1-5 (CTCAE has no grade
        0 or 6); ``CTCAE-003`` a grade the term does not have (its cell is "-", e.g. grade 5 of many terms).
    """
    problems = []
    if found is None:
        problems.append(
            Problem(
                "CTCAE-001",
                "term",
                "not a CTCAE term; search the terminology by term or system organ class, or use "
                "'<SOC> - Other, specify'",
                value=term,
            )
        )
    is_int = isinstance(grade, int) and not isinstance(grade, bool)
    if not is_int or grade not in GRADES:
        problems.append(Problem("CTCAE-002", "grade", "expected a CTCAE grade 1, 2, 3, 4 or 5", value=grade))
    elif found is not None and grade not in found.applicable_grades:
        allowed = ", ".join(map(str, found.applicable_grades))
        problems.append(
            Problem(
                "CTCAE-003",
                "grade",
                f"grade {grade} is not defined for {found.term!r}; its grades are {allowed}",
                value=grade,
            )
        )
    if problems:
        raise InputError(problems)
    assert found is not None
    return found
