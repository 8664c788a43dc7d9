"""SDTM-shaped input: the variables each domain must have, typed and checked before any derivation.

The analysis reads SDTM-shaped tables, whichever system captured them (this EDC's export or another's). Every
cell arrives as text; :func:`check_sdtm` checks the required variables, parses dates and numbers, validates
codes and the subject-level consistency rules, and returns a :class:`Study` of typed tables. Each problem
names the domain, the row (1-based, as in the file), the variable and the value, or for a subject-level rule
the subject, the domain and the rule.

Conventions read (SDTMIG 3.4 unless noted):

* DM: ``RFICDTC`` informed consent, ``RFSTDTC`` first study treatment, ``DTHDTC``/``DTHFL`` death, ``SITEID``,
  ``ARMCD``/``ARM`` planned and ``ACTARMCD``/``ACTARM`` actual arm (null before randomization).
* DS: ``DSCAT = PROTOCOL MILESTONE`` with ``DSDECOD`` ``RANDOMIZED`` (the randomization date) or ``ENROLLED``
  (the enrollment date; by convention of this system, else the first dose); ``DSCAT = DISPOSITION EVENT``
  records give the end-of-study status (the latest; ``COMPLETED`` or a reason).
* EX study treatment, PR radiotherapy (``PRSTDTC``/``PRENDTC``), CM with ``CMCAT = SUBSEQUENT ANTICANCER
  THERAPY``, RS (``RSTESTCD = OVRLRESP``, ``RSSTRESC``), TU/TR (when RS is absent), AE, SV.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property, partial, reduce
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.endpoints._parallel import run_here, start
from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import Protocol
from oligotrial.rules.recist import derive_timepoint_responses

__all__ = [
    "DOMAINS",
    "REQUIRED",
    "RESPONSE_CODES",
    "ROW",
    "SUBSEQUENT_THERAPY",
    "Study",
    "adsl_rows_of",
    "at_rows",
    "check_sdtm",
    "derive_overall_responses",
    "nullable_rows",
    "subject_rows_of",
]

Rows = npt.NDArray[np.int64]

#: Row number column added to every table (1-based, the file's data row; polars' index type, ``pl.UInt32``).
ROW: Final = "_ROW"
SUBSEQUENT_THERAPY: Final = "SUBSEQUENT ANTICANCER THERAPY"
RESPONSE_CODES: Final = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
DOMAINS: Final = ("DM", "DS", "EX", "PR", "CM", "RS", "TU", "TR", "AE", "SV", "SUPPDM")

#: Required variables per domain. DM is required; RS or TU+TR gives the responses.
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "DM": ("USUBJID", "SITEID", "RFICDTC", "RFSTDTC", "DTHDTC", "DTHFL", "ARMCD", "ACTARMCD"),
    "DS": ("USUBJID", "DSCAT", "DSDECOD", "DSSTDTC"),
    "EX": ("USUBJID", "EXTRT", "EXSTDTC"),
    "PR": ("USUBJID", "PRTRT", "PRSTDTC"),
    "CM": ("USUBJID", "CMCAT", "CMSTDTC"),
    "RS": ("USUBJID", "RSTESTCD", "RSSTRESC", "RSDTC"),
    "TU": ("USUBJID", "TULNKID", "TUORRES", "TULOC"),
    "TR": ("USUBJID", "TRLNKID", "TRTESTCD", "TRDTC"),
    "AE": ("USUBJID", "AETERM", "AEDECOD", "AESTDTC", "AETOXGR"),
    "SV": ("USUBJID", "SVSTDTC"),
    "SUPPDM": ("USUBJID", "QNAM", "QVAL"),
}
_DATES: Final[dict[str, tuple[str, ...]]] = {
    "DM": ("RFICDTC", "RFSTDTC", "RFXENDTC", "DTHDTC"),
    "DS": ("DSSTDTC",),
    "EX": ("EXSTDTC", "EXENDTC"),
    "PR": ("PRSTDTC", "PRENDTC"),
    "CM": ("CMSTDTC", "CMENDTC"),
    "RS": ("RSDTC",),
    "AE": ("AESTDTC", "AEENDTC"),
    "SV": ("SVSTDTC", "SVENDTC"),
}
_INTEGERS: Final[dict[str, tuple[str, ...]]] = {
    "DM": ("AGE",),
    "DS": ("DSSEQ",),
    "EX": ("EXSEQ",),
    "PR": ("PRSEQ",),
    "CM": ("CMSEQ",),
    "RS": ("RSSEQ",),
    "AE": ("AESEQ", "AETOXGR"),
}
_FLOATS: Final[dict[str, tuple[str, ...]]] = {"EX": ("EXDOSE",), "PR": ("PRDOSE",)}
_MAX_LISTED = 20


@dataclass(frozen=True)
class Study:
    """Typed SDTM tables of one study. Dates are ``pl.Date``; every table keeps its file row in ``_ROW``.
    Optional domains that were not supplied are empty tables with their required columns.
    ``subject_rows`` gives, per domain, the DM row (0-based) of each record's subject, found once by the
    checks so that per-subject aggregates can be numpy scatters instead of group-bys on USUBJID."""

    dm: pl.DataFrame
    ds: pl.DataFrame
    ex: pl.DataFrame
    pr: pl.DataFrame
    cm: pl.DataFrame
    rs: pl.DataFrame | None
    tu: pl.DataFrame | None
    tr: pl.DataFrame | None
    ae: pl.DataFrame
    sv: pl.DataFrame
    suppdm: pl.DataFrame
    subject_rows: Mapping[str, Rows] = field(default_factory=dict)

    @cached_property
    def overall_responses(self) -> pl.DataFrame:
        """:func:`derive_overall_responses`, derived once per study (ADSL, ADRS and ADTTE all read it;
        without RS it runs the RECIST engine)."""
        return _overall_responses(self)

    def subject_rows_in(self, domain: str, frame: pl.DataFrame) -> Rows:
        """The DM row (0-based, -1 when absent) of each record of ``frame``, the study's ``domain``
        table: found by the checks, or looked up now."""
        rows = self.subject_rows.get(domain)
        if rows is not None and rows.shape[0] == frame.height:
            return rows
        return subject_rows_of(frame["USUBJID"].cast(pl.Utf8), self.dm["USUBJID"])

    @cached_property
    def coded_responses(self) -> pl.DataFrame:
        """:func:`oligotrial.endpoints._best.code_responses` of :attr:`overall_responses` (the response
        codes and dates, row for row), computed once per study for ADSL and ADRS."""
        from oligotrial.endpoints._best import code_responses

        return code_responses(self.overall_responses)

    @cached_property
    def first_tumour_results(self) -> tuple[Rows, npt.NDArray[np.bool_]]:
        """Per DM subject (DM order), the earliest TR date (days since 1970; the largest int64 when none
        or unparseable) and whether the subject has any TR record; computed once per study, and cheap
        to start early as it reads TR only (1.2 million dates at 100,000 subjects)."""
        from oligotrial.endpoints._kernels import extremes_at  # compiled on first use

        never = np.iinfo(np.int64).max
        first = np.full(self.dm.height, never, dtype=np.int64)
        any_tr = np.zeros(self.dm.height, dtype=np.bool_)
        if self.tr is not None:
            rows = self.subject_rows_in("TR", self.tr)
            days = _tr_dates(self.tr["TRDTC"]).cast(pl.Int64).fill_null(never).to_numpy()
            extremes_at(first, rows, days, lowest=True)  # records without a subject (-1) are skipped
            any_tr[rows if rows.min(initial=0) >= 0 else rows[rows >= 0]] = True
        return first, any_tr

    @cached_property
    def subject_ranks(self) -> Rows:
        """Per DM row (DM order), the place of its subject in USUBJID order (0-based; a null subject
        first, as polars sorts nulls first), computed once per study: records ordered by their subject
        can then be ordered by an integer key instead of by text.

        Notes
        -----
        The order is that of polars' sort of the text (byte order, SDTMIG 3.4's USUBJID being text); DM's
        subjects are unique (``SDTM-005``), so no two rows share a place.
        """
        subjects = self.dm["USUBJID"]
        if subjects.null_count() == 0 and subjects.is_sorted():
            return np.arange(subjects.len(), dtype=np.int64)
        order = subjects.arg_sort(nulls_last=False).to_numpy()
        ranks = np.empty(subjects.len(), dtype=np.int64)
        ranks[order] = np.arange(subjects.len(), dtype=np.int64)
        return ranks

    @cached_property
    def overall_response_subjects(self) -> Rows:
        """The DM row (0-based) of each record of :attr:`overall_responses`."""
        if self.rs is not None and "RS" in self.subject_rows:
            ovrl = (self.rs["RSTESTCD"] == "OVRLRESP").fill_null(False).to_numpy()
            rows: Rows = self.subject_rows["RS"][ovrl]
            return rows
        return subject_rows_of(self.overall_responses["USUBJID"], self.dm["USUBJID"])


def check_sdtm(tables: Mapping[str, pl.DataFrame], protocol: Protocol) -> Study:
    """Check SDTM-shaped tables and return them typed.

    Parameters
    ----------
    tables
        Domain name -> table of text cells (as read from CSV or XPORT). DM is required; RS, or TU and TR,
        give the tumour responses.
    protocol
        Supplies the arm codes.

    Raises
    ------
    InputError
        ``SDTM-001`` required domain or variable missing; ``SDTM-002`` unparseable date; ``SDTM-003``
        unparseable number; ``SDTM-004`` unknown code; ``SDTM-005`` duplicate subject in DM; ``SDTM-101``
        subject absent from DM; ``SDTM-102`` randomization before consent; ``SDTM-103`` death before first
        dose; ``SDTM-104`` a tumour assessment after death; ``SDTM-105`` death flag and date disagree;
        ``SDTM-106`` arm and randomization record disagree; ``SDTM-107`` randomized twice.
    """
    problems: list[Problem] = []
    upper = {name.upper(): frame for name, frame in tables.items()}
    if "DM" not in upper:
        raise InputError.single("SDTM-001", "DM", "the DM domain is required (one row per subject)")
    if "RS" not in upper and not {"TU", "TR"} <= set(upper):
        problems.append(Problem("SDTM-001", "RS", "responses are required: give RS, or TU and TR"))
    # each domain typed, and its records' DM rows found, as parts of their own (side by side on the
    # pool); the problems are then listed in domain order, as one domain after the other would give them
    prepared: dict[str, pl.DataFrame] = {}
    for name in DOMAINS:
        frame = upper.get(name)
        if frame is None:
            frame = pl.DataFrame(schema=dict.fromkeys(REQUIRED[name], pl.Utf8))
        frame = frame.with_row_index(ROW, offset=1)  # polars' index type: no copy to a wider one
        missing = [v for v in REQUIRED[name] if v not in frame.columns]
        problems += [
            Problem("SDTM-001", f"{name}.{v}", f"required variable {v} is missing from {name}")
            for v in missing
        ]
        if not missing:
            prepared[name] = frame.with_columns(pl.col(c).cast(pl.Utf8) for c in frame.columns if c != ROW)
    # the costliest parts first (the pool takes them in turn); the largest lookup in this thread, which
    # would otherwise only wait
    typing = {
        name: start(partial(_typed, name, prepared[name]))
        for name in sorted(prepared, key=lambda name: -_typing_cost(name, prepared[name]))
    }
    lookups: dict[str, Future[Rows]] = {}
    if "DM" in prepared:
        dm_subjects = prepared["DM"]["USUBJID"]
        largest = sorted((name for name in prepared if name != "DM"), key=lambda name: -prepared[name].height)
        lookups = {
            name: start(partial(subject_rows_of, prepared[name]["USUBJID"], dm_subjects))
            for name in largest[1:]
        }
        if largest:
            lookups[largest[0]] = run_here(
                partial(subject_rows_of, prepared[largest[0]]["USUBJID"], dm_subjects)
            )
    typed: dict[str, pl.DataFrame] = {}
    for name in prepared:  # domain order
        typed[name], found = typing[name].result()
        problems += found
    _raise(problems)

    def consistency() -> tuple[list[Problem], dict[str, Rows]]:
        return _check_consistency(typed, {name: task.result for name, task in lookups.items()})

    # the subject-level rules beside the code checks (read only when the codes pass, as in that order;
    # the lookups it waits for were queued before it, or are done)
    subject_level = start(consistency)
    problems += _check_codes(typed, protocol)
    _raise(problems)
    found, subject_rows = subject_level.result()
    problems += found
    _raise(problems)
    supplied = set(upper)
    return Study(
        dm=typed["DM"],
        ds=typed["DS"],
        ex=typed["EX"],
        pr=typed["PR"],
        cm=typed["CM"],
        rs=typed["RS"] if "RS" in supplied else None,
        tu=upper["TU"] if "TU" in supplied else None,
        tr=upper["TR"] if "TR" in supplied else None,
        ae=typed["AE"],
        sv=typed["SV"],
        suppdm=typed["SUPPDM"],
        subject_rows=subject_rows,
    )


def _typing_cost(name: str, frame: pl.DataFrame) -> int:
    """A rough cost of :func:`_typed` on ``frame``: its cells to convert."""
    columns = (*_DATES.get(name, ()), *_INTEGERS.get(name, ()), *_FLOATS.get(name, ()))
    return frame.height * sum(column in frame.columns for column in columns)


def _tr_dates(text: pl.Series) -> pl.Series:
    """TR dates (the date part of TRDTC; unparseable: null), with the format polars infers from the first
    value (``str.to_date`` without a format).

    Notes
    -----
    Parsing with an explicit format is several times faster than with an inferred one. When every value is
    an ISO 8601 date (the SDTM convention, SDTMIG 3.4 section 4.4.1) the inferred format is ``%Y-%m-%d``, so
    the explicit parse gives the same dates; otherwise the inferring parse decides, as before. The usual
    case, every value beginning with an ISO date, is decided by one compiled pass over the text
    (:func:`oligotrial.endpoints._dates.parse_iso_dates`).
    """
    from oligotrial.endpoints._dates import parse_iso_dates  # compiled on first use

    text = text.cast(pl.Utf8)
    parsed = parse_iso_dates(text, whole=False)
    if parsed is not None:
        return parsed.alias("TRDTC")
    day = text.str.slice(0, 10)
    iso = day.str.to_date("%Y-%m-%d", strict=False)
    if iso.null_count() == day.null_count():
        return iso.alias("TRDTC")
    return day.str.to_date(strict=False).alias("TRDTC")


def _raise(problems: list[Problem]) -> None:
    if problems:
        shown = problems[:_MAX_LISTED]
        if len(problems) > _MAX_LISTED:
            first = shown[-1]
            shown[-1] = Problem(
                first.code,
                first.field,
                f"{first.message} (and {len(problems) - _MAX_LISTED} more problems)",
                first.value,
            )
        raise InputError(shown)


def _date_expr(column: str) -> pl.Expr:
    """ISO 8601 date, or date-time whose date part is used; partial dates do not parse."""
    return pl.col(column).str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _typed(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[Problem]]:
    """``frame`` with its dates, whole numbers and numbers typed, and a problem (SDTM-002, SDTM-003) for each
    cell that is not what its column holds (the first :data:`_MAX_LISTED` per column).

    Notes
    -----
    A date cell is an ISO 8601 date, or date-time whose date part is used (SDTMIG 3.4 section 4.4.1);
    partial dates are not dates. Parsed by one compiled pass over the text
    (:func:`oligotrial.endpoints._dates.parse_iso_dates`), or where that pass cannot decide (non-ASCII
    text) by the pattern and parse of :func:`_date_expr`, which give the same dates.
    """
    from oligotrial.endpoints._dates import parse_iso_dates  # compiled on first use

    problems: list[Problem] = []
    conversions: list[tuple[str, pl.Expr | pl.Series, str]] = []
    for column in _DATES.get(name, ()):
        if column in frame.columns:
            parsed = parse_iso_dates(frame[column], whole=True)
            if parsed is None:
                full = pl.col(column).str.contains(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$")
                conversions.append(
                    (column, pl.when(full).then(_date_expr(column)), "an ISO 8601 date YYYY-MM-DD")
                )
            else:
                conversions.append((column, parsed, "an ISO 8601 date YYYY-MM-DD"))
    for column in _INTEGERS.get(name, ()):
        if column in frame.columns:
            conversions.append((column, _number(frame[column], pl.Int64), "a whole number"))
    for column in _FLOATS.get(name, ()):
        if column in frame.columns:
            conversions.append((column, _number(frame[column], pl.Float64), "a number"))
    if not conversions:
        return frame, problems
    converted = frame.with_columns(expr.alias(f"__{column}") for column, expr, _ in conversions)
    for column, _, expected in conversions:
        bad = converted.filter(pl.col(column).is_not_null() & pl.col(f"__{column}").is_null())
        problems += [
            Problem(
                "SDTM-002" if "date" in expected else "SDTM-003",
                f"{name}[row {row}].{column}",
                f"expected {expected}, got {value!r}",
                value,
            )
            for row, value in bad.select(ROW, column).head(_MAX_LISTED).iter_rows()
        ]
    result = converted.with_columns(pl.col(f"__{column}").alias(column) for column, _, _ in conversions).drop(
        [f"__{column}" for column, _, _ in conversions]
    )
    return result, problems


def _number(text: pl.Series, dtype: type[pl.Int64] | type[pl.Float64]) -> pl.Series | pl.Expr:
    """The numbers of text cells, surrounding white space ignored (null where a cell is not one of
    ``dtype``).

    Notes
    -----
    Cast as it is first: a cell that is a number as it stands is the same number without its white space,
    so only when some cell fails is the whole column stripped and cast again (stripping costs several times
    the cast, and SDTM numbers rarely carry white space).
    """
    direct = text.cast(dtype, strict=False)
    if direct.null_count() == text.null_count():
        return direct
    return pl.col(text.name).str.strip_chars().cast(dtype, strict=False)


def _unknown(
    frame: pl.DataFrame, name: str, column: str, allowed: tuple[str, ...], where: pl.Expr | None = None
) -> list[Problem]:
    rows = frame.filter(pl.col(column).is_not_null() & ~_one_of(pl.col(column), allowed))
    if where is not None:
        rows = rows.filter(where)
    return [
        Problem(
            "SDTM-004",
            f"{name}[row {row}].{column}",
            f"unknown code {value!r}; expected one of: {', '.join(allowed)}",
            value,
        )
        for row, value in rows.select(ROW, column).head(_MAX_LISTED).iter_rows()
    ]


def _one_of(column: pl.Expr, allowed: tuple[str, ...]) -> pl.Expr:
    """``column.is_in(allowed)`` for a few codes, as one comparison per code (a hashed lookup of every cell
    costs about twice as much for a code list of this size)."""
    return reduce(operator.or_, (column == code for code in allowed), pl.lit(False))


def _duplicated(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """The rows of ``frame`` whose ``column`` value (null included) is not unique, by
    ``is_duplicated``; at once when every value is unique (counted, which costs less)."""
    if frame[column].n_unique() == frame.height:
        return frame.clear()
    return frame.filter(pl.col(column).is_duplicated())


def _check_codes(t: dict[str, pl.DataFrame], protocol: Protocol) -> list[Problem]:
    arms = tuple(a.armcd for a in protocol.arms)
    problems = _unknown(t["DM"], "DM", "ARMCD", arms) + _unknown(t["DM"], "DM", "ACTARMCD", arms)
    problems += _unknown(t["DM"], "DM", "DTHFL", ("Y",))
    problems += _unknown(t["RS"], "RS", "RSSTRESC", RESPONSE_CODES, where=pl.col("RSTESTCD") == "OVRLRESP")
    grades = t["AE"].filter(pl.col("AETOXGR").is_not_null() & ~pl.col("AETOXGR").is_between(1, 5))
    problems += [
        Problem("SDTM-004", f"AE[row {row}].AETOXGR", f"expected a CTCAE grade 1..5, got {value}", value)
        for row, value in grades.select(ROW, "AETOXGR").head(_MAX_LISTED).iter_rows()
    ]
    duplicates = _duplicated(t["DM"], "USUBJID")
    problems += [
        Problem("SDTM-005", f"DM[row {row}].USUBJID", f"subject {value} appears more than once in DM", value)
        for row, value in duplicates.select(ROW, "USUBJID").head(_MAX_LISTED).iter_rows()
    ]
    return problems


def subject_rows_of(subject: pl.Series, dm_subject: pl.Series) -> Rows:
    """The row of ``dm_subject`` (0-based; subjects unique) holding each value of ``subject``, -1 when
    absent.

    A column that is DM's own subjects in DM's order (ADSL's) gives its positions at once. Other records
    usually come grouped by subject: each run of equal values is looked up once, then repeated (the runs
    found chunk by chunk: polars gathers each run's value from a column of several chunks by copying the
    values one by one, several times slower than from one chunk, and copying the column into one would
    cost as much again).
    The runs are found in DM by position when they are DM's subjects in DM's order, else through hashes of
    both columns with every match then compared as text
    (:func:`oligotrial.endpoints._subjects.hashed_subject_rows`); when that cannot decide (a hash
    collision, a subject twice in DM, columns that are not text), by binary search when DM is sorted, else
    by a join.
    """
    from oligotrial.endpoints._subjects import hashed_subject_rows  # compiled on first use

    if subject.is_empty():
        return np.zeros(0, dtype=np.int64)
    if subject.len() == dm_subject.len() and dm_subject.null_count() == 0 and subject.equals(dm_subject):
        return np.arange(subject.len(), dtype=np.int64)  # DM's own subjects in DM's order (ADSL)
    # the runs of equal values (null equal to null), chunk by chunk: a run across two chunks is two runs
    runs = pl.concat([chunk.rle() for chunk in subject.get_chunks()], rechunk=True).struct.unnest()
    values = runs["value"]
    lengths = runs["len"].to_numpy()
    found: Rows
    hashed: Rows | None
    if values.null_count() == 0 and dm_subject.null_count() == 0 and values.equals(dm_subject):
        found = np.arange(values.len(), dtype=np.int64)
    elif (hashed := hashed_subject_rows(values, dm_subject)) is not None:
        found = hashed
    elif values.null_count() == 0 and dm_subject.len() and dm_subject.is_sorted():
        at = np.minimum(dm_subject.search_sorted(values).to_numpy().astype(np.int64), dm_subject.len() - 1)
        hit = (dm_subject.gather(at) == values).to_numpy()
        found = np.where(hit, at, -1)
    else:
        index = dm_subject.to_frame("USUBJID").with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_S")
        )
        found = (
            values.to_frame("USUBJID")
            .join(index, on="USUBJID", how="left", maintain_order="left")["_S"]
            .fill_null(-1)
            .to_numpy()
            .astype(np.int64)
        )
    result: Rows = np.repeat(found, lengths)
    return result


def adsl_rows_of(study: Study, adsl_subjects: pl.Series, dm_rows: Rows) -> Rows:
    """The ADSL row (-1: none) of each record whose DM row (-1: none) is given, ``adsl_subjects`` being
    ADSL's USUBJID column: the DM rows themselves when ADSL holds DM's subjects in DM's order (as
    :func:`oligotrial.endpoints.adsl.derive_adsl` gives them), else through each subject's place in ADSL.
    """
    at = subject_rows_of(adsl_subjects, study.dm["USUBJID"])  # each ADSL row's DM row
    if at.shape[0] == study.dm.height and bool((at == np.arange(at.shape[0], dtype=np.int64)).all()):
        return dm_rows
    adsl_row = np.full(study.dm.height + 1, -1, dtype=np.int64)  # the last entry: not in DM
    adsl_row[at[at >= 0]] = np.flatnonzero(at >= 0)
    found: Rows = adsl_row[np.where(dm_rows >= 0, dm_rows, study.dm.height)]
    return found


def nullable_rows(rows: Rows) -> pl.Series:
    """Row numbers for a polars gather, null where a row is -1 (the gather then gives null there).

    Notes
    -----
    In polars' own index type (unsigned 32-bit) whenever the rows fit in it: a gather converts and
    bounds-checks signed indices first, every time, which costs about as much as the gather itself when
    one set of rows serves several columns.
    """
    valid = rows >= 0
    fits = not rows.shape[0] or int(rows.max()) < 1 << 32
    # cast by numpy: polars' checked cast of int64 to its index type costs more than the gathers it saves;
    # a -1 becomes some index, hidden by the null (numpy's ``where`` to clear it cost more than the cast)
    index = pl.Series(rows.astype(np.uint32 if fits else np.int64))
    if bool(valid.all()):
        return index
    return pl.select(pl.when(pl.Series(valid)).then(index)).to_series()


def at_rows(values: pl.Series, rows: Rows) -> pl.Series:
    """``values`` at ``rows`` (null where a row is -1), gathered from one chunk (see
    :func:`oligotrial.endpoints.adrs._records`)."""
    return values.rechunk().gather(nullable_rows(rows))


def _check_consistency(
    t: dict[str, pl.DataFrame], found: Mapping[str, Callable[[], Rows]]
) -> tuple[list[Problem], dict[str, Rows]]:
    """The subject-level rules; ``found`` gives, per domain other than DM, the DM row of every record's
    subject (:func:`subject_rows_of`; a function waiting for a lookup still running). Returns the problems
    and those rows, DM's own included.

    Notes
    -----
    The rules on DM and DS (SDTM-107, 102, 106, 103, 105; of the lookups, DS's only) are checked first,
    while the other lookups finish; the problems are listed in the rules' order all the same (SDTM-101,
    107, 102, 106, 103, 105, 104).
    """
    dm = t["DM"]
    by_subject = _subject_rules(t, found["DS"])
    problems: list[Problem] = []
    subject_rows = {"DM": np.arange(dm.height, dtype=np.int64)}
    for name, frame in t.items():
        if name == "DM":
            continue
        subject_rows[name] = rows = found[name]()
        absent = rows < 0
        if not absent.any():
            continue
        strangers = frame.select(ROW, "USUBJID").filter(pl.Series(absent))
        problems += [
            Problem(
                "SDTM-101",
                f"{name}[row {row}].USUBJID",
                f"subject {subject} in {name} is absent from DM",
                subject,
            )
            for row, subject in strangers.select(ROW, "USUBJID").head(_MAX_LISTED).iter_rows()
        ]
    problems += by_subject
    rs_rows = subject_rows["RS"]
    after = (
        t["RS"]
        .with_columns(at_rows(dm["DTHDTC"], rs_rows))
        .filter((pl.col("RSDTC") > pl.col("DTHDTC")) & pl.Series(rs_rows >= 0))
    )
    problems += [
        Problem(
            "SDTM-104", f"RS[row {row}].RSDTC", f"subject {s}: tumour assessment {a} after death {d}", str(a)
        )
        for s, row, a, d in after.select("USUBJID", ROW, "RSDTC", "DTHDTC").head(_MAX_LISTED).iter_rows()
    ]
    return problems, subject_rows


def _subject_rules(t: dict[str, pl.DataFrame], ds_rows: Callable[[], Rows]) -> list[Problem]:
    """The subject-level rules read from DM and DS only (SDTM-107, 102, 106, 103, 105, in that order);
    ``ds_rows`` gives the DM row of each DS record.

    Notes
    -----
    Each DM subject's randomization records are joined by DM row (an integer key, from the DS lookup)
    rather than by USUBJID text: the same pairs when DM's subjects are unique, as the code checks
    (``SDTM-005``), read before these rules, require; in DM's order, each subject's records in DS order.
    """
    problems: list[Problem] = []
    dm = t["DM"]
    is_rand = (pl.col("DSCAT") == "PROTOCOL MILESTONE") & (pl.col("DSDECOD") == "RANDOMIZED")
    randomization = t["DS"].select(is_rand.fill_null(False)).to_series().to_numpy()
    rand = t["DS"].filter(pl.Series(randomization))
    twice = _duplicated(rand, "USUBJID")
    problems += [
        Problem(
            "SDTM-107", f"DS[row {row}].DSDECOD", f"subject {subject}: randomized more than once", subject
        )
        for row, subject in twice.select(ROW, "USUBJID").head(_MAX_LISTED).iter_rows()
    ]
    key = "__DMROW"
    joined = (
        dm.with_columns(nullable_rows(np.arange(dm.height, dtype=np.int64)).alias(key))  # the key's type
        .join(
            rand.select(
                nullable_rows(ds_rows()[randomization]).alias(key),
                pl.col("DSSTDTC").alias("RANDDT"),
                pl.col(ROW).alias("DSROW"),
            ),
            on=key,
            how="left",
            maintain_order="left_right",
        )
        .drop(key)
    )
    early = joined.filter(pl.col("RANDDT") < pl.col("RFICDTC"))
    problems += [
        Problem(
            "SDTM-102",
            f"DS[row {row}].DSSTDTC",
            f"subject {s}: randomized {r} before informed consent {c} (DM.RFICDTC)",
            str(r),
        )
        for s, row, r, c in early.select("USUBJID", "DSROW", "RANDDT", "RFICDTC")
        .head(_MAX_LISTED)
        .iter_rows()
    ]
    arm_without = joined.filter(pl.col("ARMCD").is_not_null() != pl.col("RANDDT").is_not_null())
    problems += [
        Problem(
            "SDTM-106",
            f"DM[row {row}].ARMCD",
            f"subject {s}: ARMCD is {a!r} but the subject {'has no' if a else 'has a'} DS RANDOMIZED record",
            a,
        )
        for s, row, a in arm_without.select("USUBJID", ROW, "ARMCD").head(_MAX_LISTED).iter_rows()
    ]
    death_first = dm.filter(pl.col("DTHDTC") < pl.col("RFSTDTC"))
    problems += [
        Problem(
            "SDTM-103",
            f"DM[row {row}].DTHDTC",
            f"subject {s}: death {d} before the first dose {f} (RFSTDTC)",
            str(d),
        )
        for s, row, d, f in death_first.select("USUBJID", ROW, "DTHDTC", "RFSTDTC")
        .head(_MAX_LISTED)
        .iter_rows()
    ]
    flag = dm.filter((pl.col("DTHFL") == "Y") != pl.col("DTHDTC").is_not_null())
    problems += [
        Problem(
            "SDTM-105", f"DM[row {row}].DTHFL", f"subject {s}: DTHFL {fl!r} disagrees with DTHDTC {d}", fl
        )
        for s, row, fl, d in flag.select("USUBJID", ROW, "DTHFL", "DTHDTC").head(_MAX_LISTED).iter_rows()
    ]
    return problems


def derive_overall_responses(study: Study) -> pl.DataFrame:
    """RS overall responses as ``USUBJID RSDTC OVRLRESP RSSEQ SRCDOM`` (from RS, else from TU/TR through the
    RECIST engine, with SRCDOM TR); computed once per :class:`Study`."""
    return study.overall_responses


def _overall_responses(study: Study) -> pl.DataFrame:
    if study.rs is not None:
        rs = study.rs.filter(pl.col("RSTESTCD") == "OVRLRESP")
        seq = pl.col("RSSEQ") if "RSSEQ" in rs.columns else pl.lit(None, pl.Int64)
        return rs.select(
            "USUBJID",
            "RSDTC",
            pl.col("RSSTRESC").alias("OVRLRESP"),
            seq.alias("RSSEQ"),
            pl.lit("RS").alias("SRCDOM"),
        )
    assert study.tu is not None and study.tr is not None
    derived = derive_timepoint_responses(study.tu, study.tr)
    return derived.select(
        "USUBJID", "RSDTC", "OVRLRESP", pl.lit(None, pl.Int64).alias("RSSEQ"), pl.lit("TR").alias("SRCDOM")
    )
