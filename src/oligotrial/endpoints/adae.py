"""ADAE: adverse events with the treatment-emergent flag, the CTCAE grade, the phase and the arm."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from oligotrial.endpoints.sdtm import Study
from oligotrial.protocol.models import Protocol

__all__ = ["ADAE_AE_VARIABLES", "derive_adae"]

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
        text), then ``SAFFL ASTDT AENDT ATOXGR ATOXGRN TRTEMFL APHASE TRTA``.

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
    restart = (
        study.ex.join(adsl.select("USUBJID", "RTEDT"), on="USUBJID")
        .filter(pl.col("RTEDT").is_not_null() & (pl.col("EXSTDTC") > pl.col("RTEDT")))
        .group_by("USUBJID")
        .agg(pl.col("EXSTDTC").min().alias("_RESTART"))
    )
    keys = adsl.select(
        "STUDYID", "USUBJID", "TRTSDT", "TRTEDT", "RANDDT", "RTSDT", "RTEDT", "TRT01A", "SAFFL"
    )
    carried = [c for c in ADAE_AE_VARIABLES if c in study.ae.columns]
    ae = study.ae.select(carried).join(keys, on="USUBJID", how="left").join(restart, on="USUBJID", how="left")
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
    return (
        ae.with_columns(
            start.alias("ASTDT"),
            end.alias("AENDT"),
            pl.col("AETOXGR").cast(pl.Utf8).alias("ATOXGR"),
            pl.col("AETOXGR").cast(pl.Int64).alias("ATOXGRN"),
            pl.when(emergent).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TRTEMFL"),
            phase.alias("APHASE"),
        )
        .with_columns(
            pl.when(pl.col("APHASE").is_in(["SCREENING", "INDUCTION"]) | pl.col("RANDDT").is_null())
            .then(pl.lit("INDUCTION ONLY"))
            .otherwise(pl.col("TRT01A"))
            .alias("TRTA")
        )
        .with_columns(pl.col(c).dt.to_string("%Y-%m-%d") for c in ("AESTDTC", "AEENDTC") if c in carried)
        .select(
            "STUDYID", *carried, "SAFFL", "ASTDT", "AENDT", "ATOXGR", "ATOXGRN", "TRTEMFL", "APHASE", "TRTA"
        )
        .sort("USUBJID", "ASTDT")
    )
