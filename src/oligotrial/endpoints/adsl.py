"""ADSL: one record per subject with the dates, flags, arms and strata every other analysis dataset uses."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from oligotrial.endpoints.sdtm import SUBSEQUENT_THERAPY, Study, derive_overall_responses
from oligotrial.protocol.models import Protocol
from oligotrial.rules.recist import derive_best_overall_response

__all__ = ["SUPPDM_QUALIFIERS", "derive_adsl", "derive_induction_cutoff"]


def derive_induction_cutoff(adsl: pl.DataFrame, protocol: Protocol) -> pl.Expr:
    """The last day of the induction response window of each subject: the randomization date when
    randomized, otherwise the first dose + cycles x cycle length + the first assessment window."""
    induction = protocol.induction
    days = induction.cycles * induction.cycle_length_days + protocol.assessments.periods[0].window_days
    return pl.coalesce(pl.col("RANDDT"), pl.col("TRTSDT") + timedelta(days=days))


def derive_adsl(study: Study, protocol: Protocol) -> pl.DataFrame:
    """Derive ADSL from the SDTM study.

    Returns
    -------
    polars.DataFrame
        One row per DM subject: ``STUDYID USUBJID SITEID AGE SEX ARMCD ARM ACTARMCD ACTARM TRT01P TRT01A
        RFICDT ENRLDT RANDDT TRTSDT TRTEDT RTSDT RTEDT NATSDT ENRLFL ITTFL SAFFL RTFL INDRESP INDBOR DTHFL DTHDT
        LSTALVDT EOSSTT DCSREAS EOSDT`` and one ``STRATnV`` per protocol stratum (as derived from the data).

    Notes
    -----
    * ``RANDDT``: DS ``RANDOMIZED`` milestone. ``TRTSDT``/``TRTEDT``: first/last EX dose (start, or end
      when given), else DM RFSTDTC/RFXENDTC. ``ENRLDT``: DS ``ENROLLED`` milestone, else ``TRTSDT``.
    * ``ENRLFL`` enrolled (ENRLDT known); ``ITTFL`` randomized; ``SAFFL`` received any study treatment (an EX
      record); ``RTFL`` received radiotherapy (a PR record; ``RTSDT``/``RTEDT`` its first start, last end).
    * ``TRT01P``/``TRT01A``: DM ARM/ACTARM once randomized, ``INDUCTION ONLY`` for a subject enrolled but not
      randomized.
    * ``INDRESP``: the last RECIST overall response on or before the induction cutoff
      (:func:`derive_induction_cutoff`); ``INDBOR``: the best (unconfirmed) response up to that day.
    * ``NATSDT``: the first start of a subsequent anticancer therapy (CM).
    * ``LSTALVDT``: the latest date the subject is known alive: the latest of all dates in DM, DS, EX, PR, CM,
      RS, AE and SV, never after death (as admiral's ``derive_vars_extreme_event``).
    * ``EOSSTT``: the latest DS disposition event: ``COMPLETED``, else ``DISCONTINUED`` with ``DCSREAS``;
      none: ``ONGOING``.
    * ``HISTOL``, ``ECOGBL``, ``METORGN``, ``METLESN``: histology, baseline ECOG and the metastatic organ and
      lesion counts of the eligibility record, from SUPPDM (QNAM HISTOL, ECOG, METORGN, METLESN).
    * Strata (``STRATnV``, n in protocol order): site = SITEID; induction response and metastatic organ count
      (SUPPDM METORGN, else counted from TU baseline lesions outside the primary sites) mapped through the
      protocol's levels; histology as recorded.
    """
    dm = study.dm
    studyid = pl.col("STUDYID") if "STUDYID" in dm.columns else pl.lit(protocol.protocol.id)
    optional = [
        pl.col(c) if c in dm.columns else pl.lit(None, pl.Utf8).alias(c) for c in ("SEX", "ARM", "ACTARM")
    ]
    age = pl.col("AGE") if "AGE" in dm.columns else pl.lit(None, pl.Int64).alias("AGE")
    base = dm.select(
        studyid.alias("STUDYID"),
        "USUBJID",
        "SITEID",
        age,
        *optional,
        "ARMCD",
        "ACTARMCD",
        pl.col("RFICDTC").alias("RFICDT"),
        pl.col("RFSTDTC").alias("_RFSTDT"),
        (pl.col("RFXENDTC") if "RFXENDTC" in dm.columns else pl.lit(None, pl.Date)).alias("_RFXENDT"),
        pl.col("DTHFL"),
        pl.col("DTHDTC").alias("DTHDT"),
    )
    ex = study.ex.select(
        "USUBJID",
        pl.col("EXSTDTC").alias("start"),
        (pl.coalesce("EXENDTC", "EXSTDTC") if "EXENDTC" in study.ex.columns else pl.col("EXSTDTC")).alias(
            "end"
        ),
    )
    treated = ex.group_by("USUBJID").agg(
        pl.col("start").min().alias("_EXSTART"), pl.col("end").max().alias("_EXEND")
    )
    milestones = study.ds.filter(pl.col("DSCAT") == "PROTOCOL MILESTONE")
    randomized = milestones.filter(pl.col("DSDECOD") == "RANDOMIZED").select(
        "USUBJID", pl.col("DSSTDTC").alias("RANDDT")
    )
    enrolled = (
        milestones.filter(pl.col("DSDECOD") == "ENROLLED")
        .group_by("USUBJID")
        .agg(pl.col("DSSTDTC").min().alias("_ENRL"))
    )
    pr = study.pr
    pr_end = pl.coalesce("PRENDTC", "PRSTDTC") if "PRENDTC" in pr.columns else pl.col("PRSTDTC")
    radiotherapy = pr.group_by("USUBJID").agg(
        pl.col("PRSTDTC").min().alias("RTSDT"), pr_end.max().alias("RTEDT")
    )
    therapy = (
        study.cm.filter(pl.col("CMCAT") == SUBSEQUENT_THERAPY)
        .group_by("USUBJID")
        .agg(pl.col("CMSTDTC").min().alias("NATSDT"))
    )
    adsl = (
        base.join(treated, on="USUBJID", how="left")
        .join(randomized, on="USUBJID", how="left")
        .join(enrolled, on="USUBJID", how="left")
        .join(radiotherapy, on="USUBJID", how="left")
        .join(therapy, on="USUBJID", how="left")
        .with_columns(
            pl.coalesce("_EXSTART", "_RFSTDT").alias("TRTSDT"),
            pl.coalesce("_EXEND", "_RFXENDT", "_EXSTART", "_RFSTDT").alias("TRTEDT"),
        )
        .with_columns(pl.coalesce("_ENRL", "TRTSDT").alias("ENRLDT"))
        .with_columns(
            _flag(pl.col("ENRLDT").is_not_null()).alias("ENRLFL"),
            _flag(pl.col("RANDDT").is_not_null()).alias("ITTFL"),
            _flag(pl.col("_EXSTART").is_not_null()).alias("SAFFL"),
            _flag(pl.col("RTSDT").is_not_null()).alias("RTFL"),
            pl.when(pl.col("RANDDT").is_not_null())
            .then(pl.col("ARM"))
            .when(pl.col("ENRLDT").is_not_null())
            .then(pl.lit("INDUCTION ONLY"))
            .alias("TRT01P"),
            pl.when(pl.col("RANDDT").is_not_null())
            .then(pl.col("ACTARM"))
            .when(pl.col("_EXSTART").is_not_null())
            .then(pl.lit("INDUCTION ONLY"))
            .alias("TRT01A"),
        )
    )
    adsl = _with_induction_response(adsl, study, protocol)
    adsl = adsl.join(_last_alive(study), on="USUBJID", how="left").with_columns(
        pl.when(pl.col("DTHDT").is_not_null() & (pl.col("LSTALVDT") > pl.col("DTHDT")))
        .then(pl.col("DTHDT"))
        .otherwise(pl.col("LSTALVDT"))
        .alias("LSTALVDT")
    )
    adsl = adsl.join(_end_of_study(study), on="USUBJID", how="left").with_columns(
        pl.col("EOSSTT").fill_null("ONGOING")
    )
    adsl = adsl.join(_baseline_qualifiers(study), on="USUBJID", how="left")
    adsl = _with_strata(adsl, study, protocol)
    columns = [
        "STUDYID", "USUBJID", "SITEID", "AGE", "SEX", "HISTOL", "ECOGBL", "METORGN", "METLESN",
        "ARMCD", "ARM", "ACTARMCD", "ACTARM", "TRT01P", "TRT01A",
        "RFICDT", "ENRLDT", "RANDDT", "TRTSDT", "TRTEDT", "RTSDT", "RTEDT", "NATSDT", "ENRLFL", "ITTFL", "SAFFL",
        "RTFL", "INDRESP", "INDBOR", "DTHFL", "DTHDT", "LSTALVDT", "EOSSTT", "DCSREAS", "EOSDT",
    ]  # fmt: skip
    strata = [c for c in adsl.columns if c.startswith("STRAT")]
    return adsl.select(*columns, *strata)


def _flag(condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(pl.lit("Y")).otherwise(pl.lit("N"))


def _with_induction_response(adsl: pl.DataFrame, study: Study, protocol: Protocol) -> pl.DataFrame:
    rs = derive_overall_responses(study)
    cutoff = adsl.select("USUBJID", derive_induction_cutoff(adsl, protocol).alias("_CUT"), "TRTSDT")
    induction = rs.join(cutoff, on="USUBJID").filter(pl.col("RSDTC") <= pl.col("_CUT"))
    last = induction.sort("RSDTC").group_by("USUBJID").agg(pl.col("OVRLRESP").last().alias("INDRESP"))
    dm = cutoff.select("USUBJID", pl.col("TRTSDT").alias("RFSTDTC")).filter(pl.col("RFSTDTC").is_not_null())
    settings = protocol.response
    best = derive_best_overall_response(
        induction.select("USUBJID", "RSDTC", "OVRLRESP"),
        dm,
        confirmation_min_days=settings.confirmation_min_days,
        max_ne_between_confirmation=settings.max_ne_between_confirmation,
        sd_min_days=settings.sd_min_days,
    ).select("USUBJID", pl.col("BOR").alias("INDBOR"))
    return adsl.join(last, on="USUBJID", how="left").join(best, on="USUBJID", how="left")


def _last_alive(study: Study) -> pl.DataFrame:
    sources = [
        (study.dm, ("RFICDTC", "RFSTDTC", "RFXENDTC")),
        (study.ds, ("DSSTDTC",)),
        (study.ex, ("EXSTDTC", "EXENDTC")),
        (study.pr, ("PRSTDTC", "PRENDTC")),
        (study.cm, ("CMSTDTC",)),
        (study.ae, ("AESTDTC", "AEENDTC")),
        (study.sv, ("SVSTDTC",)),
    ]
    if study.rs is not None:
        sources.append((study.rs, ("RSDTC",)))
    frames = [
        frame.select("USUBJID", pl.col(column).alias("date"))
        for frame, columns in sources
        for column in columns
        if column in frame.columns
    ]
    dates = pl.concat([f.with_columns(pl.col("date").cast(pl.Date)) for f in frames])
    return dates.group_by("USUBJID").agg(pl.col("date").max().alias("LSTALVDT"))


def _end_of_study(study: Study) -> pl.DataFrame:
    events = study.ds.filter(pl.col("DSCAT") == "DISPOSITION EVENT").sort("DSSTDTC")
    last = events.group_by("USUBJID").agg(pl.col("DSDECOD").last(), pl.col("DSSTDTC").last().alias("EOSDT"))
    return last.select(
        "USUBJID",
        pl.when(pl.col("DSDECOD") == "COMPLETED")
        .then(pl.lit("COMPLETED"))
        .otherwise(pl.lit("DISCONTINUED"))
        .alias("EOSSTT"),
        pl.when(pl.col("DSDECOD") != "COMPLETED").then(pl.col("DSDECOD")).alias("DCSREAS"),
        "EOSDT",
    )


#: SUPPDM qualifiers ADSL reads (QNAM -> ADSL variable): baseline disease from the eligibility record.
SUPPDM_QUALIFIERS = {"HISTOL": "HISTOL", "ECOG": "ECOGBL", "METORGN": "METORGN", "METLESN": "METLESN"}


def _baseline_qualifiers(study: Study) -> pl.DataFrame:
    """Histology, baseline ECOG and metastatic organ/lesion counts from SUPPDM (null when absent)."""
    wide = (
        study.suppdm.filter(pl.col("QNAM").is_in(list(SUPPDM_QUALIFIERS)))
        .group_by("USUBJID", "QNAM")
        .agg(pl.col("QVAL").first())
        .pivot("QNAM", index="USUBJID", values="QVAL")
        if study.suppdm.height
        else pl.DataFrame(schema={"USUBJID": pl.Utf8})
    )
    for qnam in SUPPDM_QUALIFIERS:
        if qnam not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Utf8).alias(qnam))
    return wide.select(
        "USUBJID",
        pl.col("HISTOL").cast(pl.Utf8),
        pl.col("ECOG").cast(pl.Int64, strict=False).alias("ECOGBL"),
        pl.col("METORGN").cast(pl.Int64, strict=False),
        pl.col("METLESN").cast(pl.Int64, strict=False),
    )


def _with_strata(adsl: pl.DataFrame, study: Study, protocol: Protocol) -> pl.DataFrame:
    organs = _metastatic_organ_count(study, protocol)
    adsl = adsl.join(organs, on="USUBJID", how="left").with_columns(
        pl.coalesce(pl.col("METORGN"), pl.col("_ORGANS")).alias("_ORGANS")
    )
    columns = []
    for n, stratum in enumerate(protocol.randomization.strata, 1):
        source = {
            "site": pl.col("SITEID"),
            "induction_response": pl.col("INDRESP"),
            "metastatic_organ_count": pl.col("_ORGANS").cast(pl.Utf8),
            "histology": pl.col("HISTOL"),
        }[stratum.source]
        if stratum.levels:
            mapping = {str(value): label for label, values in stratum.levels.items() for value in values}
            source = source.replace_strict(mapping, default=None, return_dtype=pl.Utf8)
        columns.append(source.alias(f"STRAT{n}V"))
    return adsl.with_columns(columns).drop("_ORGANS")


def _metastatic_organ_count(study: Study, protocol: Protocol) -> pl.DataFrame:
    if study.tu is None:
        return pl.DataFrame({"USUBJID": [], "_ORGANS": []}, schema={"USUBJID": pl.Utf8, "_ORGANS": pl.Int64})
    primary = [site.upper() for site in protocol.population.primary_sites]
    lesions = study.tu.filter(
        pl.col("TUORRES").str.to_uppercase().is_in(["TARGET", "NON-TARGET"])
        & ~pl.col("TULOC").str.to_uppercase().is_in(primary)
    )
    return lesions.group_by("USUBJID").agg(
        pl.col("TULOC").str.to_uppercase().n_unique().cast(pl.Int64).alias("_ORGANS")
    )
