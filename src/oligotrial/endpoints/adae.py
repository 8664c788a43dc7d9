"""ADAE: adverse events with the treatment-emergent flag, the CTCAE grade, the phase and the arm."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial._days import dates_of
from oligotrial.endpoints.sdtm import Study, adsl_rows_of, nullable_rows, subject_rows_of
from oligotrial.protocol.models import Protocol

__all__ = ["ADAE_AE_VARIABLES", "derive_adae"]

Ints = npt.NDArray[np.int64]

#: The AE variables ADAE carries over from SDTM, when present.
ADAE_AE_VARIABLES = (
    "USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AESTDTC", "AEENDTC", "AETOXGR", "AESER", "AEREL",
    "AEACN", "AEOUT",
)  # fmt: skip


def derive_adae(study: Study, adsl: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """Derive ADAE.

    Returns
    -------
    polars.DataFrame
        ``STUDYID``, the AE variables of :data:`ADAE_AE_VARIABLES` present in SDTM AE (dates as ISO 8601
        text), then ``SAFFL ASTDT AENDT ATOXGR ATOXGRN TRTEMFL APHASE TRTA``; sorted by USUBJID and ASTDT (a
        null date first), ties in input order.

    Notes
    -----
    * ``TRTEMFL = Y`` when the AE starts on or after the first dose (ADSL TRTSDT) and at most
      ``adverse_events.reporting_days_after_last_treatment`` days after the last (TRTEDT) (PROTOCOL.md
      section 9: "treatment-emergent: starts on or after the first dose and within the reporting window").
    * ``APHASE`` by the start date: ``SCREENING`` before the first dose; ``FOLLOW-UP`` after the last dose;
      ``INDUCTION`` before randomization (or never randomized); in the radiotherapy arm ``RADIOTHERAPY`` from
      randomization until the first dose after the end of radiotherapy; otherwise ``MAINTENANCE``.
    * ``TRTA``: ``INDUCTION ONLY`` in screening and induction, ADSL TRT01A afterwards.
    * ``ATOXGR``/``ATOXGRN``: the CTCAE grade as recorded (AETOXGR), as text and number.
    """
    window = timedelta(days=protocol.adverse_events.reporting_days_after_last_treatment)
    keys = adsl.select(
        "STUDYID", "TRTSDT", "TRTEDT", "RANDDT", "RTSDT", "RTEDT", "TRT01A", "SAFFL"
    ).with_columns(_restart(study, adsl))
    # each AE's ADSL row through its DM row (found by the checks): a gather instead of a join
    rows = study.subject_rows_in("AE", study.ae)
    carried = [c for c in ADAE_AE_VARIABLES if c in study.ae.columns]
    ae = study.ae.select(carried)
    keys_at = adsl_rows_of(study, adsl["USUBJID"], rows)
    sortable, order = _record_order(study, rows, study.ae["AESTDTC"])
    if order is not None:  # the records in their final order, each column gathered once, from one chunk
        ae = ae.rechunk().gather(
            pl.Series(order.astype(np.uint32 if order.shape[0] < 1 << 32 else np.uint64))
        )
        keys_at = keys_at[order]
    # frames gathered whole: polars checks the positions once for every column
    ae = ae.with_columns(keys.rechunk().gather(nullable_rows(keys_at)).get_columns())
    end = pl.col("AEENDTC") if "AEENDTC" in ae.columns else pl.lit(None, pl.Date)
    start = pl.col("AESTDTC")
    phase = (
        pl.when(pl.col("TRTSDT").is_null() | (start < pl.col("TRTSDT")))
        .then(pl.lit("SCREENING"))
        .when(start > pl.col("TRTEDT"))
        .then(pl.lit("FOLLOW-UP"))
        .when(pl.col("RANDDT").is_null() | (start < pl.col("RANDDT")))
        .then(pl.lit("INDUCTION"))
        .when(pl.col("RTSDT").is_not_null() & (pl.col("_RESTART").is_null() | (start < pl.col("_RESTART"))))
        .then(pl.lit("RADIOTHERAPY"))
        .otherwise(pl.lit("MAINTENANCE"))
    )
    emergent = (start >= pl.col("TRTSDT")) & (start <= pl.col("TRTEDT") + window)
    adae = (
        ae.with_columns(
            start.alias("ASTDT"),
            end.alias("AENDT"),
            pl.col("AETOXGR").cast(pl.Utf8).alias("ATOXGR"),
            pl.col("AETOXGR").cast(pl.Int64).alias("ATOXGRN"),
            pl.when(emergent).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TRTEMFL"),
            phase.alias("APHASE"),
        )
        .with_columns(
            pl.when(
                (pl.col("APHASE") == "SCREENING")
                | (pl.col("APHASE") == "INDUCTION")
                | pl.col("RANDDT").is_null()
            )
            .then(pl.lit("INDUCTION ONLY"))
            .otherwise(pl.col("TRT01A"))
            .alias("TRTA")
        )
        .with_columns(
            pl.col(c).map_batches(_iso_text, return_dtype=pl.Utf8)
            for c in ("AESTDTC", "AEENDTC")
            if c in carried
        )
        .select(
            "STUDYID", *carried, "SAFFL", "ASTDT", "AENDT", "ATOXGR", "ATOXGRN", "TRTEMFL", "APHASE", "TRTA"
        )
    )
    return adae if sortable else adae.sort("USUBJID", "ASTDT", maintain_order=True)


def _record_order(study: Study, rows: Ints, start: pl.Series) -> tuple[bool, Ints | None]:
    """The order of the AE records by subject (USUBJID) and start date (a null date first), ties in input
    order, by a stable sort of one integer key (the subject's place in USUBJID order, then the day).

    Returns whether the key could be built (not when a record has no DM subject, or the key would not fit
    in 64 bits: the caller then sorts by the text), and the order (``None``: the records are in order).

    Notes
    -----
    The subject's place is :attr:`~oligotrial.endpoints.sdtm.Study.subject_ranks` (polars' order of the
    text), so the order is that of ``sort("USUBJID", "ASTDT", maintain_order=True)`` without comparing
    text.
    """
    if rows.shape[0] == 0:
        return True, None
    if bool((rows < 0).any()):
        return False, None
    days = start.cast(pl.Int64)
    low, high = days.min(), days.max()
    if not isinstance(low, int) or not isinstance(high, int):  # every date null
        low = high = 0
    span = high - low + 2  # place 0: a null date, first
    if span * (study.dm.height + 1) >= 1 << 62:
        return False, None
    key: Ints = study.subject_ranks[rows] * span
    key += days.fill_null(low - 1).to_numpy()
    key -= low - 1
    if bool((key[1:] >= key[:-1]).all()):
        return True, None
    order: Ints = np.argsort(key, kind="stable")
    return True, order


def _restart(study: Study, adsl: pl.DataFrame) -> pl.Series:
    """Per ADSL row, the first EX dose after the end of radiotherapy (``_RESTART``; null without
    radiotherapy or such a dose): one minimum scatter over the doses' DM rows."""
    from oligotrial.endpoints._kernels import extremes_at  # compiled on first use

    never = np.iinfo(np.int64).max
    at = subject_rows_of(adsl["USUBJID"], study.dm["USUBJID"])
    rt_end = np.full(study.dm.height, never, dtype=np.int64)  # no radiotherapy: no dose is after it
    rt_end[at[at >= 0]] = adsl["RTEDT"].cast(pl.Int64).fill_null(never).to_numpy()[at >= 0]
    rows = study.subject_rows_in("EX", study.ex)
    dose = study.ex["EXSTDTC"].cast(pl.Int64).fill_null(never).to_numpy()
    after = (rows >= 0) & (dose != never)
    after[after] = dose[after] > rt_end[rows[after]]
    first = np.full(study.dm.height, never, dtype=np.int64)
    extremes_at(first, rows[after], dose[after], lowest=True)
    restart = np.where(at >= 0, first[np.maximum(at, 0)], never)
    return dates_of("_RESTART", restart, restart != never)


def _iso_text(dates: pl.Series) -> pl.Series:
    """``dates.dt.to_string("%Y-%m-%d")``, each day of the dates' span formatted once and then gathered.

    Notes
    -----
    The text of every date is that of polars' ``%Y-%m-%d`` formatting (ISO 8601, SDTMIG 3.4 section 4.4.1),
    computed for the days from the earliest to the latest date (a few thousand in a trial) instead of for
    each of the records; when the span is longer than the column, each record is formatted instead.
    """
    days = dates.cast(pl.Int32)
    low, high = days.min(), days.max()
    if not isinstance(low, int) or not isinstance(high, int) or high - low >= dates.len():
        return dates.dt.to_string("%Y-%m-%d")
    span = pl.Series(np.arange(low, high + 1, dtype=np.int32)).cast(pl.Date).dt.to_string("%Y-%m-%d")
    return span.gather(days - low).alias(dates.name)
