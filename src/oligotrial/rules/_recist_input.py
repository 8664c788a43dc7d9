"""Normalization and checks of SDTM-shaped TU/TR tables for the RECIST 1.1 engine (private).

Every check is a polars expression over the whole table; the rows that break a rule become
:class:`~oligotrial.errors.Problem` records naming the rule code, the subject (USUBJID), the lesion (link
id), the field and the value. The codes are listed in :mod:`oligotrial.rules.recist`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from oligotrial.errors import InputError, Problem

TARGET = "TARGET"
NON_TARGET = "NON-TARGET"
NEW = "NEW"
LESION_ROLES = (TARGET, NON_TARGET, NEW)
NODE_LOCATION = "LYMPH NODE"

LDIAM = "LDIAM"
LPERP = "LPERP"
TUMSTATE = "TUMSTATE"

PRESENT = "PRESENT"
ABSENT = "ABSENT"
UNEQUIVOCAL = "UNEQUIVOCAL PROGRESSION"
STATES = (PRESENT, ABSENT, UNEQUIVOCAL)
TOO_SMALL = "TOO SMALL TO MEASURE"
NOT_DONE = "NOT DONE"

#: Measurements are held as integers in hundredths of a millimetre (see ``recist`` Notes).
SCALE = 100
TOO_SMALL_MM = 5
#: Largest diameter (mm) taken as a measurement: beyond it (or NaN, infinite) RECIST-007.
MAX_MM = 1e9
MEASURABLE_MM = 10
MEASURABLE_NODE_MM = 15
NORMAL_NODE_MM = 10

TU_COLUMNS = ("USUBJID", "TULNKID", "TUORRES", "TULOC")
TR_COLUMNS = ("USUBJID", "TRLNKID", "TRTESTCD", "TRDTC")
MAX_PROBLEMS_PER_RULE = 200


@dataclass(frozen=True)
class Prepared:
    """Checked, normalized inputs.

    ``lesions``: USUBJID, LNKID, ROLE, IS_NODE, ORGAN. ``results``: USUBJID, LNKID, DATE, ROLE, IS_NODE,
    ORGAN, MM (Int64 hundredths of a mm, null when not assessed), STATE (null when not assessed or a
    measurement). ``visits``: USUBJID, DATE, IS_BASELINE, sorted by subject and date.
    """

    lesions: pl.DataFrame
    results: pl.DataFrame
    visits: pl.DataFrame


def _upper(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Utf8).str.strip_chars().str.to_uppercase()


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Utf8).str.strip_chars()


def as_date(frame: pl.DataFrame, column: str) -> pl.Expr:
    """ISO 8601 date (a datetime keeps its date part); anything else becomes null."""
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    return (
        pl.col(column).cast(pl.Utf8).str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    )


def as_number(frame: pl.DataFrame, column: str) -> tuple[pl.Expr, pl.Expr]:
    """The column as Float64 and as text (the text is null when the column is already numeric)."""
    if frame.schema[column].is_numeric():
        return pl.col(column).cast(pl.Float64), pl.lit(None, pl.Utf8)
    text = _text(column)
    return text.cast(pl.Float64, strict=False), text


def require_columns(frame: pl.DataFrame, columns: Sequence[str], table: str, code: str) -> None:
    """Raise when columns are missing; nothing else can be checked without them."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            [
                Problem(
                    code,
                    f"{table}.{c}",
                    f"the {table} table has no column {c}; expected columns {', '.join(columns)}",
                    value=None,
                )
                for c in missing
            ]
        )


def problems_from(
    rows: pl.DataFrame,
    code: str,
    table: str,
    field: str,
    message: str,
    lesion_column: str | None = "LNKID",
    value_column: str | None = None,
) -> list[Problem]:
    """Turn offending rows into problems; ``message`` may use ``{value}`` and any column name."""
    problems: list[Problem] = []
    for row in rows.head(MAX_PROBLEMS_PER_RULE).iter_rows(named=True):
        keys = [f"USUBJID={row.get('USUBJID')}"]
        if lesion_column is not None:
            keys.append(f"{'TULNKID' if table == 'TU' else 'TRLNKID'}={row.get(lesion_column)}")
        if row.get("DATE") is not None:
            keys.append(f"TRDTC={row['DATE']}")
        value = row.get(value_column) if value_column else None
        problems.append(
            Problem(
                code=code,
                field=f"{table}[{', '.join(keys)}].{field}",
                message=message.format(value=value, **row),
                value=value,
            )
        )
    if rows.height > MAX_PROBLEMS_PER_RULE:
        problems.append(
            Problem(code, f"{table}.{field}", f"... and {rows.height - MAX_PROBLEMS_PER_RULE} more rows")
        )
    return problems


def raise_if(problems: Iterable[Problem]) -> None:
    found = list(problems)
    if found:
        raise InputError(found)


def prepare(tu: pl.DataFrame, tr: pl.DataFrame) -> Prepared:
    """Check and normalize TU and TR; raise one :class:`InputError` listing every problem found."""
    require_columns(tu, TU_COLUMNS, "TU", "RECIST-001")
    require_columns(tr, TR_COLUMNS, "TR", "RECIST-001")
    lesions, problems = _prepare_lesions(tu)
    results, result_problems = _prepare_results(tr, lesions)
    problems += result_problems
    raise_if(problems)
    visits, results, visit_problems = _baseline(results)
    raise_if(visit_problems)
    raise_if(_baseline_checks(lesions, results, visits))
    return Prepared(lesions=lesions, results=results, visits=visits)


def _prepare_lesions(tu: pl.DataFrame) -> tuple[pl.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    lesions = tu.with_row_index("ROW").select(
        "ROW",
        _text("USUBJID").alias("USUBJID"),
        _text("TULNKID").alias("LNKID"),
        _upper("TUORRES").alias("ROLE"),
        _upper("TULOC").alias("TULOC"),
    )
    missing_id = lesions.filter(pl.col("USUBJID").is_null() | pl.col("LNKID").is_null())
    problems += problems_from(
        missing_id,
        "RECIST-017",
        "TU",
        "TULNKID",
        "every lesion needs a subject (USUBJID) and a link id (TULNKID); row {ROW} has none",
    )
    lesions = lesions.filter(pl.col("USUBJID").is_not_null() & pl.col("LNKID").is_not_null())
    duplicated = lesions.filter(pl.len().over("USUBJID", "LNKID") > 1).unique(
        ["USUBJID", "LNKID"], keep="first", maintain_order=True
    )
    problems += problems_from(
        duplicated,
        "RECIST-002",
        "TU",
        "TULNKID",
        "lesion id {LNKID} is identified more than once for this subject; a link id must be unique "
        "within a subject (SDTM TU)",
        value_column="LNKID",
    )
    bad_role = lesions.filter(~pl.col("ROLE").is_in(LESION_ROLES) | pl.col("ROLE").is_null())
    problems += problems_from(
        bad_role,
        "RECIST-003",
        "TU",
        "TUORRES",
        f"unknown lesion category {{value!r}}; expected one of {', '.join(LESION_ROLES)}",
        value_column="ROLE",
    )
    lesions = lesions.unique(["USUBJID", "LNKID"], keep="first", maintain_order=True).with_columns(
        IS_NODE=pl.col("TULOC") == NODE_LOCATION,
        ORGAN=pl.col("TULOC").fill_null("UNKNOWN"),
    )
    targets = lesions.filter(pl.col("ROLE") == TARGET).with_columns(
        N_TARGET=pl.int_range(1, pl.len() + 1).over("USUBJID"),
        N_ORGAN=pl.int_range(1, pl.len() + 1).over("USUBJID", "ORGAN"),
    )
    problems += problems_from(
        targets.filter(pl.col("N_TARGET") > 5),
        "RECIST-009",
        "TU",
        "TUORRES",
        "target lesion number {N_TARGET} of this subject: at most 5 target lesions in total "
        "(RECIST 1.1 section 4.2); record it as NON-TARGET",
        value_column="ROLE",
    )
    problems += problems_from(
        targets.filter(pl.col("N_ORGAN") > 2),
        "RECIST-010",
        "TU",
        "TULOC",
        "target lesion number {N_ORGAN} in organ {value}: at most 2 target lesions per organ, all lymph "
        "nodes counting as one organ (RECIST 1.1 section 4.2); record it as NON-TARGET",
        value_column="ORGAN",
    )
    return lesions.select("USUBJID", "LNKID", "ROLE", "IS_NODE", "ORGAN"), problems


def _number(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)


def _prepare_results(tr: pl.DataFrame, lesions: pl.DataFrame) -> tuple[pl.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    optional: dict[str, pl.Expr] = {
        "TRSTRESC": _upper("TRSTRESC") if "TRSTRESC" in tr.columns else pl.lit(None, pl.Utf8),
        "TRSTAT": _upper("TRSTAT") if "TRSTAT" in tr.columns else pl.lit(None, pl.Utf8),
        "TRBLFL": _upper("TRBLFL") if "TRBLFL" in tr.columns else pl.lit(None, pl.Utf8),
    }
    number, number_text = (
        as_number(tr, "TRSTRESN")
        if "TRSTRESN" in tr.columns
        else (pl.lit(None, pl.Float64), pl.lit(None, pl.Utf8))
    )
    results = tr.with_row_index("ROW").select(
        "ROW",
        _text("USUBJID").alias("USUBJID"),
        _text("TRLNKID").alias("LNKID"),
        _upper("TRTESTCD").alias("TEST"),
        (pl.col("TRDTC") if tr.schema["TRDTC"] == pl.Utf8 else pl.lit(None, pl.Utf8)).alias("TRDTC"),
        as_date(tr, "TRDTC").alias("DATE"),
        number.alias("NUM"),
        number_text.alias("TRSTRESN_TEXT"),
        *(expr.alias(name) for name, expr in optional.items()),
    )
    results = results.with_columns(
        NUM_C=pl.when(pl.col("NUM").is_null()).then(pl.col("TRSTRESC").cast(pl.Float64, strict=False)),
    )
    problems += problems_from(
        results.filter(pl.col("USUBJID").is_null() | pl.col("LNKID").is_null()),
        "RECIST-017",
        "TR",
        "TRLNKID",
        "every result needs a subject (USUBJID) and a link id (TRLNKID); row {ROW} has none",
    )
    results = results.filter(pl.col("USUBJID").is_not_null() & pl.col("LNKID").is_not_null())
    problems += problems_from(
        results.filter(pl.col("DATE").is_null()),
        "RECIST-006",
        "TR",
        "TRDTC",
        "the assessment date is missing or not an ISO 8601 date (YYYY-MM-DD): {value!r}",
        value_column="TRDTC",
    )
    results = results.join(lesions, on=["USUBJID", "LNKID"], how="left")
    problems += problems_from(
        results.filter(pl.col("ROLE").is_null()),
        "RECIST-004",
        "TR",
        "TRLNKID",
        "result for lesion {LNKID}, which is not identified in TU for this subject; add it to TU or "
        "correct the link id",
        value_column="LNKID",
    )
    results = results.filter(pl.col("ROLE").is_not_null())
    expected_test = (
        pl.when(pl.col("ROLE") == TARGET)
        .then(pl.when(pl.col("IS_NODE")).then(pl.lit(LPERP)).otherwise(pl.lit(LDIAM)))
        .when(pl.col("ROLE") == NON_TARGET)
        .then(pl.lit(TUMSTATE))
        .otherwise(pl.lit(None, pl.Utf8))
    )
    test_ok = (
        pl.when(pl.col("ROLE") == NEW)
        .then(pl.col("TEST").is_in([TUMSTATE, LDIAM, LPERP]))
        .otherwise(pl.col("TEST") == expected_test)
    )
    results = results.with_columns(EXPECTED=expected_test, TEST_OK=test_ok.fill_null(False))
    problems += problems_from(
        results.filter(~pl.col("TEST_OK")),
        "RECIST-005",
        "TR",
        "TRTESTCD",
        "test {value!r} does not fit a {ROLE} lesion (nodal: {IS_NODE}); expected LDIAM (longest "
        "diameter) for a non-nodal target, LPERP (short axis) for a nodal target, TUMSTATE for "
        "non-target and new lesions (RECIST 1.1 sections 3.1 and 4.3)",
        value_column="TEST",
    )
    bad_stat = results.filter(pl.col("TRSTAT").is_not_null() & (pl.col("TRSTAT") != NOT_DONE))
    problems += problems_from(
        bad_stat,
        "RECIST-008",
        "TR",
        "TRSTAT",
        f"unknown status {{value!r}}; expected {NOT_DONE} or empty",
        value_column="TRSTAT",
    )
    not_done = pl.col("TRSTAT") == NOT_DONE
    is_measure = pl.col("TEST").is_in([LDIAM, LPERP])
    number = pl.coalesce(pl.col("NUM"), pl.col("NUM_C"))
    results = results.with_columns(
        MM_FLOAT=pl.when(not_done.fill_null(False))
        .then(pl.lit(None, pl.Float64))
        .when(number.is_not_null())
        .then(number)
        .when(pl.col("TRSTRESC") == TOO_SMALL)
        .then(pl.lit(float(TOO_SMALL_MM)))
        .when(pl.col("TRSTRESC") == ABSENT)
        .then(pl.lit(0.0))
        .otherwise(pl.lit(None, pl.Float64))
    )
    measures = results.filter(is_measure & pl.col("TEST_OK"))
    problems += problems_from(
        measures.filter(pl.col("TRSTRESN_TEXT").is_not_null() & pl.col("NUM").is_null()),
        "RECIST-007",
        "TR",
        "TRSTRESN",
        "the diameter {value!r} is not a number of millimetres",
        value_column="TRSTRESN_TEXT",
    )
    problems += problems_from(
        measures.filter(pl.col("MM_FLOAT").is_nan() | (pl.col("MM_FLOAT").abs() > MAX_MM)),
        "RECIST-007",
        "TR",
        "TRSTRESN",
        f"the diameter {{value}} mm is not a finite size up to {MAX_MM:.0e} mm; give the measured diameter",
        value_column="MM_FLOAT",
    )
    problems += problems_from(
        measures.filter(pl.col("MM_FLOAT") < 0),
        "RECIST-007",
        "TR",
        "TRSTRESN",
        "a diameter cannot be negative ({value} mm); record 0 for a vanished lesion (RECIST 1.1 Appendix I)",
        value_column="MM_FLOAT",
    )
    problems += problems_from(
        measures.filter(
            pl.col("MM_FLOAT").is_null() & ~not_done.fill_null(False) & pl.col("TRSTRESN_TEXT").is_null()
        ),
        "RECIST-008",
        "TR",
        "TRSTRESC",
        f"no diameter and no known code ({{value!r}}); give TRSTRESN in mm, TRSTRESC {TOO_SMALL} "
        f"(5 mm) or {ABSENT} (0 mm), or TRSTAT {NOT_DONE}",
        value_column="TRSTRESC",
    )
    states = results.filter((pl.col("TEST") == TUMSTATE) & pl.col("TEST_OK") & ~not_done.fill_null(False))
    problems += problems_from(
        states.filter(~pl.col("TRSTRESC").is_in(STATES) | pl.col("TRSTRESC").is_null()),
        "RECIST-008",
        "TR",
        "TRSTRESC",
        f"unknown response code {{value!r}} for TUMSTATE; expected one of {', '.join(STATES)}, or "
        f"TRSTAT {NOT_DONE}",
        value_column="TRSTRESC",
    )
    duplicated = results.filter(pl.len().over("USUBJID", "LNKID", "TEST", "DATE") > 1).unique(
        ["USUBJID", "LNKID", "TEST", "DATE"], keep="first", maintain_order=True
    )
    problems += problems_from(
        duplicated.filter(pl.col("DATE").is_not_null()),
        "RECIST-014",
        "TR",
        "TRTESTCD",
        "more than one {value} result for this lesion on one date; keep one result per lesion, test and date",
        value_column="TEST",
    )
    results = results.with_columns(
        MM=pl.when(is_measure & (pl.col("MM_FLOAT").abs() <= MAX_MM)).then(  # else RECIST-007 above
            (pl.col("MM_FLOAT") * SCALE).round(0).cast(pl.Int64)
        ),
        STATE=pl.when((pl.col("TEST") == TUMSTATE) & ~not_done.fill_null(False)).then(pl.col("TRSTRESC")),
    )
    return (
        results.select(
            "ROW", "USUBJID", "LNKID", "DATE", "ROLE", "IS_NODE", "ORGAN", "TEST", "MM", "STATE", "TRBLFL"
        ),
        problems,
    )


def _baseline(results: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[Problem]]:
    """Baseline date per subject: the date of records flagged TRBLFL = Y, else the earliest date."""
    problems: list[Problem] = []
    flagged = (
        results.filter(pl.col("TRBLFL") == "Y")
        .group_by("USUBJID")
        .agg(BASE_FLAG=pl.col("DATE").min(), N_FLAG=pl.col("DATE").n_unique())
    )
    problems += problems_from(
        flagged.filter(pl.col("N_FLAG") > 1),
        "RECIST-016",
        "TR",
        "TRBLFL",
        "records on {N_FLAG} different dates are flagged as baseline; flag one assessment",
        lesion_column=None,
        value_column="N_FLAG",
    )
    first = results.group_by("USUBJID").agg(FIRST=pl.col("DATE").min())
    base = first.join(flagged, on="USUBJID", how="left").select(
        "USUBJID", BASE=pl.coalesce("BASE_FLAG", "FIRST")
    )
    results = results.join(base, on="USUBJID", how="left")
    problems += problems_from(
        results.filter(pl.col("DATE") < pl.col("BASE")),
        "RECIST-013",
        "TR",
        "TRDTC",
        "measurement dated {value} is before the baseline assessment of {BASE}; correct the date or "
        "the baseline flag (RECIST 1.1 section 3.2: baseline is the first assessment)",
        value_column="DATE",
    )
    visits = (
        results.select("USUBJID", "DATE", "BASE")
        .unique(["USUBJID", "DATE"])
        .with_columns(IS_BASELINE=pl.col("DATE") == pl.col("BASE"))
        .drop("BASE")
        .sort("USUBJID", "DATE")
    )
    return visits, results.with_columns(IS_BASELINE=pl.col("DATE") == pl.col("BASE")).drop("BASE"), problems


def _baseline_checks(lesions: pl.DataFrame, results: pl.DataFrame, visits: pl.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    at_baseline = results.filter(pl.col("IS_BASELINE"))
    baseline_dates = visits.filter(pl.col("IS_BASELINE")).select("USUBJID", BASE="DATE")
    targets = (
        lesions.filter(pl.col("ROLE") == TARGET)
        .join(baseline_dates, on="USUBJID", how="left")
        .join(at_baseline.select("USUBJID", "LNKID", "MM"), on=["USUBJID", "LNKID"], how="left")
        .with_columns(
            THRESHOLD=pl.when(pl.col("IS_NODE"))
            .then(MEASURABLE_NODE_MM * SCALE)
            .otherwise(MEASURABLE_MM * SCALE),
            VALUE_MM=(pl.col("MM") / SCALE).round(2),
        )
    )
    problems += problems_from(
        targets.filter(pl.col("MM").is_null() | (pl.col("MM") < pl.col("THRESHOLD"))),
        "RECIST-011",
        "TR",
        "TRSTRESN",
        "target lesion not measurable at baseline ({value} mm on {BASE}); a target needs a longest "
        "diameter >= 10 mm, or a short axis >= 15 mm for a lymph node (RECIST 1.1 section 3.1.1); "
        "record it as NON-TARGET",
        value_column="VALUE_MM",
    )
    non_targets = (
        lesions.filter(pl.col("ROLE") == NON_TARGET)
        .join(baseline_dates, on="USUBJID", how="left")
        .join(at_baseline.select("USUBJID", "LNKID", "STATE"), on=["USUBJID", "LNKID"], how="left")
    )
    problems += problems_from(
        non_targets.filter(pl.col("STATE").is_null() | (pl.col("STATE") != PRESENT)),
        "RECIST-015",
        "TR",
        "TRSTRESC",
        f"a non-target lesion must be assessed {PRESENT} at baseline ({{BASE}}); got {{value!r}} "
        "(RECIST 1.1 section 4.2)",
        value_column="STATE",
    )
    new_at_baseline = at_baseline.filter(
        (pl.col("ROLE") == NEW)
        & (pl.col("STATE").is_in([PRESENT, UNEQUIVOCAL]).fill_null(False) | (pl.col("MM").fill_null(0) > 0))
    )
    problems += problems_from(
        new_at_baseline,
        "RECIST-012",
        "TR",
        "TRSTRESC",
        "a NEW lesion is recorded present at the baseline assessment; a lesion present at baseline is "
        "a target or non-target lesion, not new (RECIST 1.1 section 4.3.2)",
        value_column="LNKID",
    )
    return problems
