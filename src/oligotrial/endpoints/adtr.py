"""ADTR: the sum of diameters of the target lesions at each assessment, with its change from baseline."""

from __future__ import annotations

import polars as pl

from oligotrial.endpoints.sdtm import Study
from oligotrial.rules.recist import derive_timepoint_responses

__all__ = ["ADTR_COLUMNS", "derive_adtr"]

ADTR_COLUMNS = (
    "STUDYID", "USUBJID", "PARAMCD", "PARAM", "ADT", "AVAL", "BASE", "CHG", "PCHG", "NADIR", "PCHGNAD",
    "ENRLFL", "TRT01P", "SRCDOM",
)  # fmt: skip


def derive_adtr(study: Study, adsl: pl.DataFrame) -> pl.DataFrame:
    """One ``SUMDIAM`` record per post-baseline assessment with all targets measured.

    Returns
    -------
    polars.DataFrame
        :data:`ADTR_COLUMNS`: ``AVAL`` the sum of diameters (mm), ``BASE`` its baseline value, ``CHG`` and
        ``PCHG`` the change and percent change from baseline, ``NADIR`` the smallest earlier sum (baseline
        included) and ``PCHGNAD`` the percent change from it. Empty when the study has no TU/TR (responses
        given as RS only).

    Notes
    -----
    Sums, nadirs and percent changes are those of the RECIST engine
    (:func:`oligotrial.rules.recist.derive_timepoint_responses`, RECIST 1.1 section 4.3.1); an assessment
    with a target not measured has no sum and no record. The waterfall and spider plots of the report read
    ``PCHG``.
    """
    empty = pl.DataFrame(schema={c: pl.Utf8 for c in ADTR_COLUMNS}).with_columns(
        pl.col("ADT").cast(pl.Date),
        *(pl.col(c).cast(pl.Float64) for c in ("AVAL", "BASE", "CHG", "PCHG", "NADIR", "PCHGNAD")),
    )
    if study.tu is None or study.tr is None:
        return empty
    responses = derive_timepoint_responses(study.tu, study.tr).filter(pl.col("SOD").is_not_null())
    keys = adsl.select("STUDYID", "USUBJID", "ENRLFL", "TRT01P")
    return (
        responses.join(keys, on="USUBJID")
        .select(
            "STUDYID",
            "USUBJID",
            pl.lit("SUMDIAM").alias("PARAMCD"),
            pl.lit("Sum of Diameters of Target Lesions (mm)").alias("PARAM"),
            pl.col("RSDTC").alias("ADT"),
            pl.col("SOD").alias("AVAL"),
            pl.col("BLSOD").alias("BASE"),
            (pl.col("SOD") - pl.col("BLSOD")).alias("CHG"),
            pl.col("PCHGBL").alias("PCHG"),
            "NADIR",
            "PCHGNAD",
            "ENRLFL",
            "TRT01P",
            pl.lit("TR").alias("SRCDOM"),
        )
        .sort("USUBJID", "ADT")
    )
