"""Per-assessment RECIST 1.1 quantities over whole studies (private; public API in ``recist``).

One polars pipeline: targets x assessments, non-targets x assessments and new lesions are each aggregated
per (USUBJID, date) and joined on the subject's assessments. The rules are documented in
:func:`oligotrial.rules.recist.derive_timepoint_responses`.
"""

from __future__ import annotations

import polars as pl

from oligotrial.rules._recist_input import (
    MEASURABLE_MM,
    MEASURABLE_NODE_MM,
    NEW,
    NON_TARGET,
    NORMAL_NODE_MM,
    PRESENT,
    SCALE,
    TARGET,
    UNEQUIVOCAL,
    Prepared,
)

CR, PR, SD, NN, PD, NE, NA = "CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "NA"
TARGET_CODES = (CR, PR, SD, PD, NE, NA)
NON_TARGET_CODES = (CR, NN, PD, NE, NA)
NEW_CODES = ("Y", "N")
KEYS = ["USUBJID", "DATE"]


def overall_expr(target: pl.Expr, non_target: pl.Expr, new: pl.Expr) -> pl.Expr:
    """Overall time-point response from RECIST 1.1 Table 1 (targets) and Table 2 (non-targets only)."""
    table2 = (
        pl.when(non_target == CR)
        .then(pl.lit(CR))
        .when(non_target == NN)
        .then(pl.lit(NN))
        .otherwise(pl.lit(NE))
    )
    return (
        pl.when((target == PD) | (non_target == PD) | (new == "Y"))
        .then(pl.lit(PD))
        .when(target == NA)
        .then(table2)
        .when(target == NE)
        .then(pl.lit(NE))
        .when(target == CR)
        .then(pl.when(non_target.is_in([CR, NA])).then(pl.lit(CR)).otherwise(pl.lit(PR)))
        .when(target == PR)
        .then(pl.lit(PR))
        .when(target == SD)
        .then(pl.lit(SD))
        .otherwise(pl.lit(None, pl.Utf8))
    )


def _target_frame(prep: Prepared) -> pl.DataFrame:
    targets = prep.lesions.filter(pl.col("ROLE") == TARGET).select("USUBJID", "LNKID", "IS_NODE")
    values = prep.results.filter(pl.col("ROLE") == TARGET).select("USUBJID", "LNKID", "DATE", "MM")
    grid = (
        targets.join(prep.visits, on="USUBJID", how="inner")
        .join(values, on=["USUBJID", "LNKID", "DATE"], how="left")
        .with_columns(
            # a lesion that keeps a CR from being reached: non-nodal > 0 mm, or a node >= 10 mm short axis
            DISEASE=pl.when(pl.col("IS_NODE"))
            .then(pl.col("MM") >= NORMAL_NODE_MM * SCALE)
            .otherwise(pl.col("MM") > 0)
        )
    )
    per_visit = (
        grid.group_by(KEYS)
        .agg(
            N_MISSING=pl.col("MM").is_null().sum(),
            SOD_H=pl.col("MM").sum(),
            ANY_DISEASE=pl.col("DISEASE").any(),
            IS_BASELINE=pl.col("IS_BASELINE").first(),
        )
        .sort(KEYS)
    )
    complete = pl.col("N_MISSING") == 0
    big = pl.lit(2**62, pl.Int64)
    per_visit = per_visit.with_columns(
        IS_CR=complete & ~pl.col("ANY_DISEASE"),
        BL_H=pl.col("SOD_H").first().over("USUBJID"),
        NADIR_H=pl.when(pl.col("IS_BASELINE"))
        .then(pl.col("SOD_H"))
        .otherwise(pl.when(complete).then(pl.col("SOD_H")).otherwise(big).cum_min().shift(1).over("USUBJID")),
    ).with_columns(
        HAD_CR=pl.col("IS_CR").cast(pl.Int8).cum_max().shift(1, fill_value=0).over("USUBJID") == 1,
    )
    sod, nadir, baseline = pl.col("SOD_H"), pl.col("NADIR_H"), pl.col("BL_H")
    # integer arithmetic: +20 % over nadir is 5*SOD >= 6*nadir; -30 % from baseline is 10*SOD <= 7*baseline
    sum_pd = (5 * sod >= 6 * nadir) & (sod - nadir >= 5 * SCALE)
    reappeared = pl.col("HAD_CR") & pl.col("ANY_DISEASE").fill_null(False)
    response = (
        pl.when(pl.col("IS_BASELINE"))
        .then(pl.lit(None, pl.Utf8))
        .when(~complete)
        .then(pl.when(sum_pd | reappeared).then(pl.lit(PD)).otherwise(pl.lit(NE)))
        .when(pl.col("IS_CR"))
        .then(pl.lit(CR))
        .when(sum_pd | reappeared)
        .then(pl.lit(PD))
        .when(10 * sod <= 7 * baseline)
        .then(pl.lit(PR))
        .otherwise(pl.lit(SD))
    )
    return per_visit.with_columns(TRGRESP=response, TARGET_COMPLETE=complete).select(
        *KEYS, "TRGRESP", "SOD_H", "TARGET_COMPLETE", "BL_H", "NADIR_H"
    )


def _non_target_frame(prep: Prepared) -> pl.DataFrame:
    non_targets = prep.lesions.filter(pl.col("ROLE") == NON_TARGET).select("USUBJID", "LNKID")
    states = prep.results.filter(pl.col("ROLE") == NON_TARGET).select("USUBJID", "LNKID", "DATE", "STATE")
    grid = non_targets.join(prep.visits, on="USUBJID", how="inner").join(
        states, on=["USUBJID", "LNKID", "DATE"], how="left"
    )
    per_visit = grid.group_by(KEYS).agg(
        NT_UP=(pl.col("STATE") == UNEQUIVOCAL).any(),
        NT_MISSING=pl.col("STATE").is_null().sum(),
        NT_PRESENT=(pl.col("STATE") == PRESENT).any(),
    )
    response = (
        pl.when(pl.col("NT_UP"))
        .then(pl.lit(PD))
        .when(pl.col("NT_MISSING") > 0)
        .then(pl.lit(NE))
        .when(pl.col("NT_PRESENT"))
        .then(pl.lit(NN))
        .otherwise(pl.lit(CR))
    )
    return per_visit.with_columns(NTRGRESP=response).select(*KEYS, "NTRGRESP", "NT_UP")


def _new_lesion_frame(prep: Prepared) -> pl.DataFrame:
    """New lesions per assessment: presence, cumulative count, and the iRECIST new-target sum."""
    new = prep.results.filter(pl.col("ROLE") == NEW)
    per_lesion = new.group_by(["USUBJID", "LNKID", "DATE"]).agg(
        PRESENT=(pl.col("STATE").is_in([PRESENT, UNEQUIVOCAL]) | (pl.col("MM") > 0)).any(),
        UP=(pl.col("STATE") == UNEQUIVOCAL).any(),
        MM=pl.col("MM").max(),
        IS_NODE=pl.col("IS_NODE").first(),
        ORGAN=pl.col("ORGAN").first(),
    )
    first_seen = (
        per_lesion.filter(pl.col("PRESENT")).group_by(["USUBJID", "LNKID"]).agg(FIRST=pl.col("DATE").min())
    )
    # iRECIST new target lesions: measurable at first measurement, first 5 in order of appearance, 2 per organ
    first_measure = (
        per_lesion.filter(pl.col("MM").is_not_null())
        .sort("USUBJID", "DATE", "LNKID")
        .group_by(["USUBJID", "LNKID"], maintain_order=True)
        .agg(
            pl.col("DATE").first().alias("FIRST_MEASURED"),
            pl.col("MM").first().alias("FIRST_MM"),
            pl.col("IS_NODE").first(),
            pl.col("ORGAN").first(),
        )
        .filter(
            pl.col("FIRST_MM")
            >= pl.when(pl.col("IS_NODE")).then(MEASURABLE_NODE_MM * SCALE).otherwise(MEASURABLE_MM * SCALE)
        )
        .sort("USUBJID", "FIRST_MEASURED", "LNKID")
        .with_columns(N_ORGAN=pl.int_range(1, pl.len() + 1).over("USUBJID", "ORGAN"))
        .filter(pl.col("N_ORGAN") <= 2)
        .with_columns(N_ALL=pl.int_range(1, pl.len() + 1).over("USUBJID"))
        .filter(pl.col("N_ALL") <= 5)
        .select("USUBJID", "LNKID", IS_NEW_TARGET=pl.lit(True))
    )
    per_lesion = per_lesion.join(first_measure, on=["USUBJID", "LNKID"], how="left").with_columns(
        pl.col("IS_NEW_TARGET").fill_null(False)
    )
    per_visit = per_lesion.group_by(KEYS).agg(
        NEW_PRESENT=pl.col("PRESENT").any(),
        NEWT_SUM_H=pl.when(pl.col("IS_NEW_TARGET")).then(pl.col("MM")).sum(),
        NEW_NT_UP=(pl.col("UP") & ~pl.col("IS_NEW_TARGET")).any(),
    )
    appearing = first_seen.group_by(["USUBJID", "FIRST"]).agg(N_APPEARING=pl.len())
    visits = prep.visits.select(KEYS)
    return (
        visits.join(per_visit, on=KEYS, how="left")
        .join(appearing, left_on=KEYS, right_on=["USUBJID", "FIRST"], how="left")
        .sort(KEYS)
        .with_columns(
            NEWLIND=pl.when(pl.col("NEW_PRESENT").fill_null(False)).then(pl.lit("Y")).otherwise(pl.lit("N")),
            NEW_COUNT=pl.col("N_APPEARING").fill_null(0).cum_sum().over("USUBJID"),
            NEWT_SUM_H=pl.col("NEWT_SUM_H").fill_null(0),
            NEW_NT_UP=pl.col("NEW_NT_UP").fill_null(False),
        )
        .select(*KEYS, "NEWLIND", "NEW_COUNT", "NEWT_SUM_H", "NEW_NT_UP")
    )


def timepoint_frame(prep: Prepared) -> pl.DataFrame:
    """All assessments (baseline included) with responses and the internal quantities iRECIST needs."""
    frame = (
        prep.visits.join(_target_frame(prep), on=KEYS, how="left")
        .join(_non_target_frame(prep), on=KEYS, how="left")
        .join(_new_lesion_frame(prep), on=KEYS, how="left")
        .sort(KEYS)
    )
    has_targets = pl.col("BL_H").is_not_null()
    frame = frame.with_columns(
        TRGRESP=pl.when(pl.col("IS_BASELINE"))
        .then(pl.lit(None, pl.Utf8))
        .otherwise(pl.col("TRGRESP").fill_null(pl.lit(NA))),
        NTRGRESP=pl.when(pl.col("IS_BASELINE"))
        .then(pl.lit(None, pl.Utf8))
        .otherwise(pl.col("NTRGRESP").fill_null(pl.lit(NA))),
        NT_UP=pl.col("NT_UP").fill_null(False),
        HAS_TARGETS=has_targets,
    )
    return frame.with_columns(
        OVRLRESP=pl.when(pl.col("IS_BASELINE"))
        .then(pl.lit(None, pl.Utf8))
        .otherwise(overall_expr(pl.col("TRGRESP"), pl.col("NTRGRESP"), pl.col("NEWLIND")))
    )
