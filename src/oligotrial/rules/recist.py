"""RECIST 1.1 response engine: lesions → time-point responses → best overall response.

Pure core (DESIGN.md section 1): SDTM-shaped polars tables in, SDTM/ADaM-shaped polars tables out, no I/O.
Every function works on whole studies at once (polars expressions and numpy matrices); nothing loops over
subjects in Python.

Sources: Eisenhauer EA et al., *New response evaluation criteria in solid tumours: revised RECIST
guideline (version 1.1)*, Eur J Cancer 2009;45:228–247 ("RECIST 1.1" below), sections 3–4, Tables 1–3;
PROTOCOL.md sections 5 and 6.

Input tables
------------
TU (tumour identification): ``USUBJID``, ``TULNKID``, ``TUORRES`` (``TARGET``, ``NON-TARGET``, ``NEW``),
``TULOC`` (the organ; ``LYMPH NODE`` marks a nodal lesion; ``TULOCDTL`` may name the node and is not used).

TR (tumour results): ``USUBJID``, ``TRLNKID``, ``TRTESTCD``, ``TRDTC`` and, as needed, ``TRSTRESN``,
``TRSTRESC``, ``TRSTAT``, ``TRBLFL``. ``LDIAM`` (longest diameter, mm) for non-nodal targets, ``LPERP``
(short axis, mm) for nodal targets, ``TUMSTATE`` for non-target and new lesions with ``TRSTRESC``
``PRESENT``, ``ABSENT`` or ``UNEQUIVOCAL PROGRESSION``. ``TRSTAT = NOT DONE`` marks a lesion not assessed.
New lesions may also carry ``LDIAM``/``LPERP`` (used by iRECIST).

Error codes (each problem names the subject, the lesion link id, the field and the rule)
---------------------------------------------------------------------------------------
RECIST-001 a required column is missing · RECIST-002 duplicate lesion id in TU · RECIST-003 unknown
TUORRES · RECIST-004 result for a lesion not in TU · RECIST-005 TRTESTCD does not fit the lesion ·
RECIST-006 TRDTC missing or not a date · RECIST-007 diameter negative or not a number · RECIST-008
unknown response code (TRSTRESC, TRSTAT) · RECIST-009 more than 5 target lesions · RECIST-010 more than 2
target lesions in one organ · RECIST-011 target not measurable at baseline · RECIST-012 new lesion present
at baseline · RECIST-013 result dated before baseline · RECIST-014 duplicate result · RECIST-015
non-target lesion not present at baseline · RECIST-016 several baseline dates flagged · RECIST-017 missing
subject or lesion id · RECIST-020 RS/DM column missing · RECIST-021 unknown overall response code ·
RECIST-022 RSDTC not a date · RECIST-023 RS subject not in DM · RECIST-024 RFSTDTC missing or not a date ·
RECIST-025 duplicate DM subject · RECIST-026 two responses on one date · RECIST-027 invalid setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.errors import Problem
from oligotrial.rules._recist_bor import PAD, Matrices, best_responses, build_matrices, to_dates
from oligotrial.rules._recist_fast import checked_timepoint_frame, fast_timepoint_frame
from oligotrial.rules._recist_input import SCALE, prepare, raise_if
from oligotrial.rules._recist_timepoint import (
    CR,
    NE,
    NEW_CODES,
    NN,
    NON_TARGET_CODES,
    PD,
    PR,
    SD,
    TARGET_CODES,
    overall_expr,
)

__all__ = [
    "MISSING",
    "RESPONSE_CODES",
    "best_overall_response_of",
    "check_recist_input",
    "check_response_settings",
    "compute_overall_response",
    "derive_best_overall_response",
    "derive_timepoint_responses",
    "to_rs_records",
]

#: Overall time-point response codes, best first (PROTOCOL.md section 6 order).
RESPONSE_CODES: tuple[str, ...] = (CR, PR, SD, NN, PD, NE)
#: Best overall response of a subject in DM without any assessment.
MISSING = "MISSING"

RS_COLUMNS = (
    "USUBJID",
    "RSDTC",
    "TRGRESP",
    "NTRGRESP",
    "NEWLIND",
    "OVRLRESP",
    "SOD",
    "BLSOD",
    "NADIR",
    "PCHGBL",
    "PCHGNAD",
)


def check_recist_input(tu: pl.DataFrame, tr: pl.DataFrame) -> None:
    """Check TU and TR against the baseline and data rules of RECIST 1.1; raise on any problem.

    Parameters
    ----------
    tu, tr
        SDTM-shaped tumour identification and tumour results (see the module docstring).

    Raises
    ------
    InputError
        One error listing every problem found (codes RECIST-001 to RECIST-017), each naming the subject,
        the lesion, the field and the rule.

    Notes
    -----
    - Baseline: an assessment is all results of a subject on one TRDTC date; the baseline is the date of
      the records flagged ``TRBLFL = Y`` when the column is given, otherwise the earliest date (RECIST 1.1
      section 3.2). A result dated before the baseline is an error (RECIST-013); without ``TRBLFL`` this
      cannot happen by construction.
    - Measurability at baseline (RECIST 1.1 section 3.1.1): a non-nodal target needs a longest diameter of
      at least 10 mm, a nodal target a short axis of at least 15 mm (RECIST-011). The 10 mm threshold
      assumes CT slices of at most 5 mm; slice thickness is not in TR and is not checked.
    - Selection (RECIST 1.1 section 4.2): at most 5 target lesions in total and 2 per organ, all lymph
      nodes counting as one organ ("LYMPH NODE" in TULOC). The 6th target in TU row order, or the 3rd in
      one organ, is reported (RECIST-009, RECIST-010).
    - Non-target lesions must be recorded ``PRESENT`` at baseline (RECIST-015); new lesions cannot be
      present at baseline (RECIST-012; RECIST 1.1 section 4.3.2: a new lesion appears on study).
    - A diameter is ``TRSTRESN`` (or a number in ``TRSTRESC``); ``TOO SMALL TO MEASURE`` means 5 mm and
      ``ABSENT`` 0 mm (RECIST 1.1 Appendix I, "target lesions that become too small to measure"). A
      negative diameter is an error (RECIST-007).
    """
    if fast_timepoint_frame(tu, tr) is None:
        prepare(tu, tr)


def compute_overall_response(
    target: Sequence[str] | npt.NDArray[np.str_],
    non_target: Sequence[str] | npt.NDArray[np.str_],
    new_lesion: Sequence[str] | npt.NDArray[np.str_],
) -> npt.NDArray[np.str_]:
    """Overall time-point response from target, non-target and new-lesion responses (vectorized).

    Parameters
    ----------
    target
        Target response per time point: ``CR``, ``PR``, ``SD``, ``PD``, ``NE``, or ``NA`` when the subject
        has no target lesion.
    non_target
        Non-target response: ``CR``, ``NON-CR/NON-PD``, ``PD``, ``NE``, or ``NA`` when there is none.
    new_lesion
        ``Y`` when an unequivocal new lesion is present, else ``N``.

    Returns
    -------
    numpy.ndarray
        ``CR``, ``PR``, ``SD``, ``NON-CR/NON-PD``, ``PD`` or ``NE`` per time point.

    Raises
    ------
    InputError
        RECIST-008 for an unknown code, naming its position.

    Notes
    -----
    RECIST 1.1 Table 1 (target lesions, with or without non-target lesions):

    - target PD, or non-target PD, or a new lesion → PD;
    - target CR and non-target CR (or none) → CR;
    - target CR and non-target non-CR/non-PD or not evaluated → PR;
    - target PR and non-target non-PD or not all evaluated → PR;
    - target SD and non-target non-PD or not all evaluated → SD;
    - target not all evaluated (NE) and non-target non-PD → NE.

    RECIST 1.1 Table 2 (non-target lesions only): CR → CR; non-CR/non-PD → NON-CR/NON-PD; not all
    evaluated → NE; unequivocal PD or a new lesion → PD. A subject with neither target nor non-target
    lesions (``NA``/``NA``) gets NE unless a new lesion makes it PD (not in the tables).
    """
    frame = pl.DataFrame(
        {
            "T": pl.Series(list(target), dtype=pl.Utf8),
            "NT": pl.Series(list(non_target), dtype=pl.Utf8),
            "NEW": pl.Series(list(new_lesion), dtype=pl.Utf8),
        }
    ).with_row_index("ROW")
    problems: list[Problem] = []
    for column, allowed in (("T", TARGET_CODES), ("NT", NON_TARGET_CODES), ("NEW", NEW_CODES)):
        for row, value in (
            frame.filter(~pl.col(column).is_in(allowed) | pl.col(column).is_null())
            .select("ROW", column)
            .iter_rows()
        ):
            problems.append(
                Problem(
                    "RECIST-008",
                    f"{column}[{row}]",
                    f"unknown response code {value!r}; expected one of {', '.join(allowed)}",
                    value=value,
                )
            )
    raise_if(problems)
    result = frame.select(overall_expr(pl.col("T"), pl.col("NT"), pl.col("NEW")).alias("R"))["R"]
    return np.asarray(result.to_list(), dtype=np.str_)


def derive_timepoint_responses(tu: pl.DataFrame, tr: pl.DataFrame) -> pl.DataFrame:
    """RS-shaped time-point responses for every post-baseline assessment of every subject.

    Parameters
    ----------
    tu, tr
        SDTM-shaped tumour identification and results (module docstring); checked by
        :func:`check_recist_input` first.

    Returns
    -------
    polars.DataFrame
        One row per subject and post-baseline assessment date, sorted by ``USUBJID`` and ``RSDTC``:
        ``USUBJID``, ``RSDTC`` (date), ``TRGRESP`` (CR, PR, SD, PD, NE, or NA without targets),
        ``NTRGRESP`` (CR, NON-CR/NON-PD, PD, NE, or NA without non-targets), ``NEWLIND`` (Y/N),
        ``OVRLRESP``, ``SOD`` (mm; null when a target was not assessed), ``BLSOD`` (baseline SOD, mm),
        ``NADIR`` (the reference nadir, mm), ``PCHGBL`` and ``PCHGNAD`` (percent change of SOD from
        baseline and from the nadir; null when SOD is null or the reference is 0).

    Raises
    ------
    InputError
        As :func:`check_recist_input`.

    Notes
    -----
    Sum of diameters (RECIST 1.1 section 4.3.1): longest diameters of non-nodal targets plus short axes
    of nodal targets; ``TOO SMALL TO MEASURE`` counts 5 mm and a vanished lesion 0 mm (Appendix I). A
    measured value below 5 mm is used as recorded ("if the radiologist is able to provide an actual
    measure, that should be recorded, even if it is below 5 mm", Appendix I).

    Nadir: the smallest SOD on study before the current assessment, baseline included (section 4.3.1,
    "taking as reference the smallest sum on study"). Only assessments with every target measured
    contribute. It never increases.

    Arithmetic: diameters are rounded to 0.01 mm and held as integers, so thresholds are exact
    (interpretation; no floating tolerance): PR is ``10·SOD ≤ 7·baseline`` (exactly −30.0 % is PR), PD is
    ``5·SOD ≥ 6·nadir`` (≥ +20 %) and ``SOD − nadir ≥ 5 mm``. The reported percentages are floats for
    display only.

    Target response (section 4.3.1), in this order of precedence:

    1. A target not assessed (missing or ``NOT DONE``): PD if the targets that were measured already
       sum to a PD (their sum is a lower bound of the SOD), otherwise NE (section 4.4.1 / Table 1 "not
       all evaluated").
    2. CR: every non-nodal target 0 mm and every nodal target < 10 mm short axis; SOD may then be > 0
       (section 4.3.1 note on lymph nodes). CR is checked before the sum rule, so growth among normal
       nodes below 10 mm is never PD (interpretation).
    3. PD: the sum rule above, or disease again after an earlier target CR (a non-nodal target > 0 mm or
       a node ≥ 10 mm after CR is "reappearance", PD whatever the sum; RECIST 1.1 Table 3 footnote and
       the RECIST 1.1 update, Schwartz et al., Eur J Cancer 2016;62:132–137).
    4. PR: SOD at least 30 % below baseline. 5. SD otherwise.

    Non-target response (section 4.3.2): PD if any non-target is ``UNEQUIVOCAL PROGRESSION``; else NE if
    any non-target was not assessed; else NON-CR/NON-PD if any is ``PRESENT``; else CR. For a nodal
    non-target, ``ABSENT`` is read as "normal size, < 10 mm short axis" (interpretation: TUMSTATE carries
    no size).

    New lesion (section 4.3.2): ``NEWLIND = Y`` when a NEW lesion is ``PRESENT`` or ``UNEQUIVOCAL
    PROGRESSION`` (or measured > 0 mm) at the assessment; RECIST 1.1 requires it to be unequivocal, which
    is the recorder's judgement. Overall response: :func:`compute_overall_response` (Tables 1 and 2).
    """
    frame, is_sorted = checked_timepoint_frame(tu, tr)
    return to_rs_records(frame, is_sorted=is_sorted)


def to_rs_records(frame: pl.DataFrame, *, is_sorted: bool = False) -> pl.DataFrame:
    """Public RS columns from the internal per-assessment frame (baseline rows dropped).

    ``is_sorted`` skips the final sort when the frame is already sorted by USUBJID and date.
    """
    sod = pl.when(pl.col("TARGET_COMPLETE")).then(pl.col("SOD_H"))

    def percent(reference: str) -> pl.Expr:
        ref = pl.col(reference)
        return pl.when(ref > 0).then((sod - ref).cast(pl.Float64) * 100.0 / ref.cast(pl.Float64))

    records = frame.filter(~pl.col("IS_BASELINE")).select(
        "USUBJID",
        pl.col("DATE").alias("RSDTC"),
        "TRGRESP",
        "NTRGRESP",
        "NEWLIND",
        "OVRLRESP",
        (sod / SCALE).round(2).alias("SOD"),
        (pl.col("BL_H") / SCALE).round(2).alias("BLSOD"),
        (pl.col("NADIR_H") / SCALE).round(2).alias("NADIR"),
        percent("BL_H").alias("PCHGBL"),
        percent("NADIR_H").alias("PCHGNAD"),
    )
    return records if is_sorted else records.sort("USUBJID", "RSDTC")


def check_response_settings(prefix: str, **settings: int) -> None:
    """Raise ``<prefix>-027`` when a day count or NE count is negative."""
    raise_if(
        Problem(f"{prefix}-027", name, f"must be a whole number >= 0, got {value}", value=value)
        for name, value in settings.items()
        if value < 0
    )


def derive_best_overall_response(
    rs: pl.DataFrame,
    dm: pl.DataFrame,
    *,
    confirmation_min_days: int,
    max_ne_between_confirmation: int,
    sd_min_days: int,
) -> pl.DataFrame:
    """Best overall response, unconfirmed and confirmed, for every subject in DM.

    Parameters
    ----------
    rs
        Time-point responses: ``USUBJID``, ``RSDTC``, ``OVRLRESP`` (wide, as written by
        :func:`derive_timepoint_responses`), or long SDTM RS with ``RSTESTCD = OVRLRESP`` and
        ``RSSTRESC``. Codes: CR, PR, SD, NON-CR/NON-PD, PD, NE.
    dm
        ``USUBJID`` and ``RFSTDTC``, the reference date the SD minimum is counted from.
    confirmation_min_days
        Minimum days between a response and the assessment confirming it (protocol: 28).
    max_ne_between_confirmation
        Maximum NE assessments between a response and its confirmation (protocol: 1).
    sd_min_days
        Minimum days from the reference date for SD (protocol: 42).

    Returns
    -------
    polars.DataFrame
        One row per DM subject, DM order: ``USUBJID``, ``BOR``, ``BOR_DATE``, ``CBOR``, ``CBOR_DATE``
        (dates; null when none), ``CRSP`` (Y/N: confirmed CR or PR), ``CRSP_DATE`` (the first assessment
        of the first confirming pair, CR or PR alike: where DoR starts; null for ``CRSP = N``), ``CB`` (Y/N:
        clinical benefit).
        Codes CR, PR, SD, NON-CR/NON-PD, PD, NE, and ``MISSING`` for a subject without assessments.

    Raises
    ------
    InputError
        RECIST-020 to RECIST-027, naming subject, field and rule.

    Notes
    -----
    Rules (RECIST 1.1 section 4.4 and Table 3; PROTOCOL.md section 6), applied in this order:

    1. After a CR, a later PR, SD or NON-CR/NON-PD is read as PD: "if a CR is truly met at the first
       time point, then any disease seen at a subsequent time point, even disease meeting PR criteria
       relative to baseline, makes the disease PD at that point in time" (Table 3, footnote a). This is
       the protocol's "no PR after a CR"; the alternative reading of the footnote (the first CR was
       really a PR) is not taken.
    2. Assessments after the first PD are ignored (section 4.4).
    3. SD, and NON-CR/NON-PD (interpretation: treated like SD), count only when at least
       ``sd_min_days`` days after the reference date (assessment date − RFSTDTC ≥ ``sd_min_days``),
       otherwise NE (section 4.4.1 / 4.6; PROTOCOL.md "SD at least once ≥ 6 weeks after the first dose").
    4. Unconfirmed BOR: the best response recorded, order CR > PR > SD > NON-CR/NON-PD > PD > NE >
       MISSING.
    5. Confirmed BOR: a CR is confirmed by a later CR at least ``confirmation_min_days`` after it; a PR by
       a later CR or PR at least that long after; between the two only CR/PR/NE (CR/NE for a CR) with at
       most ``max_ne_between_confirmation`` NE (section 4.4.1, Table 3; PROTOCOL.md section 6). An
       unconfirmed CR or PR counts as SD when it meets the SD minimum, otherwise NE (Table 3: "SD
       provided minimum criteria for SD duration met, otherwise NE/PD").
    6. Dates: the first assessment with the best code; for a confirmed CR/PR the first assessment of
       the confirming pair (the response date used by DoR).
    7. ``CRSP = Y`` when the confirmed BOR is CR or PR (ORR); ``CRSP_DATE`` is the first confirmed CR or
       PR (PR, PR, CR, CR: the first PR), the start of the duration of response (section 4.4.2). ``CB = Y`` when the confirmed BOR is CR,
       PR, SD or NON-CR/NON-PD (DCR; SD and NON-CR/NON-PD have met the SD minimum by rule 3).
    """
    check_response_settings(
        "RECIST",
        confirmation_min_days=confirmation_min_days,
        max_ne_between_confirmation=max_ne_between_confirmation,
        sd_min_days=sd_min_days,
    )
    m = build_matrices(rs, dm, RESPONSE_CODES, "RECIST")
    return best_overall_response_of(
        m,
        confirmation_min_days=confirmation_min_days,
        max_ne_between_confirmation=max_ne_between_confirmation,
        sd_min_days=sd_min_days,
    )


def best_overall_response_of(
    m: Matrices, *, confirmation_min_days: int, max_ne_between_confirmation: int, sd_min_days: int
) -> pl.DataFrame:
    """:func:`derive_best_overall_response` of responses already checked and scattered into matrices
    (codes in :data:`RESPONSE_CODES` order; ``oligotrial.rules._recist_bor``), with checked settings."""
    i_cr, i_pr, i_sd, i_nn = range(4)
    bor, bor_date, cbor, cbor_date, response_date = best_responses(
        m,
        confirmation_min_days=confirmation_min_days,
        max_ne_between_confirmation=max_ne_between_confirmation,
        sd_min_days=sd_min_days,
    )
    names = pl.Series([*RESPONSE_CODES, MISSING], dtype=pl.Utf8)
    yes_no = pl.Series(["N", "Y"], dtype=pl.Utf8)
    return pl.DataFrame(
        {
            "USUBJID": m.subjects,
            "BOR": names.gather(np.where(bor == PAD, len(RESPONSE_CODES), bor)),
            "BOR_DATE": to_dates(bor_date),
            "CBOR": names.gather(np.where(cbor == PAD, len(RESPONSE_CODES), cbor)),
            "CBOR_DATE": to_dates(cbor_date),
            "CRSP": yes_no.gather(np.isin(cbor, (i_cr, i_pr)).astype(np.int8)),
            "CRSP_DATE": to_dates(response_date),
            "CB": yes_no.gather(np.isin(cbor, (i_cr, i_pr, i_sd, i_nn)).astype(np.int8)),
        },
        schema={
            "USUBJID": pl.Utf8,
            "BOR": pl.Utf8,
            "BOR_DATE": pl.Date,
            "CBOR": pl.Utf8,
            "CBOR_DATE": pl.Date,
            "CRSP": pl.Utf8,
            "CRSP_DATE": pl.Date,
            "CB": pl.Utf8,
        },
    )
