"""ADSL: one record per subject with the dates, flags, arms and strata every other analysis dataset uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial._days import dates_of
from oligotrial.endpoints._best import best_overall_response
from oligotrial.endpoints._parallel import start
from oligotrial.endpoints.sdtm import (
    SUBSEQUENT_THERAPY,
    Study,
    at_rows,
    derive_overall_responses,
)
from oligotrial.protocol.models import Protocol

__all__ = ["SUPPDM_QUALIFIERS", "derive_adsl", "derive_adsl_parts", "derive_induction_cutoff"]

#: Before every date (days since 1970): "no date".
_NONE = np.iinfo(np.int64).min
Ints = npt.NDArray[np.int64]


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
    adsl, induction_bor = derive_adsl_parts(study, protocol)
    return adsl.with_columns(induction_bor())


def derive_adsl_parts(
    study: Study, protocol: Protocol, on_dates: Callable[[pl.DataFrame], object] | None = None
) -> tuple[pl.DataFrame, Callable[[], pl.Series]]:
    """ADSL in two parts: the dataset with ``INDBOR`` null, and a function giving ``INDBOR`` (the best
    overall response evaluation, the one costly part). :func:`derive_adsl` is the first part with the
    second's column; other datasets can be derived from the first part while the second runs (none of
    them reads ``INDBOR``).

    ``on_dates``, when given, is called as soon as the dates, flags and arms are known (one row per
    subject, in the order of the result, with ``STUDYID USUBJID`` and the ``ENRLFL ITTFL SAFFL TRT01P
    TRT01A RANDDT TRTSDT ...`` of the result; not yet the induction response, the last known alive date,
    the end of study or the strata), so that ADRS, which reads nothing else, can start.
    """
    # the per-subject parts that read the study only, side by side on the pool while the dates are derived
    last_alive = start(partial(_last_alive, study))
    end_of_study = start(partial(_end_of_study, study))
    qualifiers = start(partial(_baseline_qualifiers, study))
    organs = start(partial(_metastatic_organ_count, study, protocol))
    dm = study.dm
    studyid = _study_id(dm, protocol)
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
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_DMROW"),
    )
    # per-subject first/last dates: scatters over each record's DM row (base is in DM order)
    ex_end = pl.coalesce("EXENDTC", "EXSTDTC") if "EXENDTC" in study.ex.columns else pl.col("EXSTDTC")
    pr_end = pl.coalesce("PRENDTC", "PRSTDTC") if "PRENDTC" in study.pr.columns else pl.col("PRSTDTC")
    milestone = pl.col("DSCAT") == "PROTOCOL MILESTONE"
    adsl = (
        base.with_columns(
            _extreme(study, "EX", pl.col("EXSTDTC"), None, first=True).alias("_EXSTART"),
            _extreme(study, "EX", ex_end, None, first=False).alias("_EXEND"),
            _extreme(
                study, "DS", pl.col("DSSTDTC"), milestone & (pl.col("DSDECOD") == "RANDOMIZED"), first=False
            ).alias("RANDDT"),
            _extreme(
                study, "DS", pl.col("DSSTDTC"), milestone & (pl.col("DSDECOD") == "ENROLLED"), first=True
            ).alias("_ENRL"),
            _extreme(study, "PR", pl.col("PRSTDTC"), None, first=True).alias("RTSDT"),
            _extreme(study, "PR", pr_end, None, first=False).alias("RTEDT"),
            _extreme(study, "CM", pl.col("CMSTDTC"), pl.col("CMCAT") == SUBSEQUENT_THERAPY, first=True).alias(
                "NATSDT"
            ),
        )
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
    if on_dates is not None:
        on_dates(adsl)
    adsl, induction = _with_induction_response(adsl, study, protocol)
    adsl = adsl.with_columns(last_alive.result().gather(adsl["_DMROW"])).with_columns(
        pl.when(pl.col("DTHDT").is_not_null() & (pl.col("LSTALVDT") > pl.col("DTHDT")))
        .then(pl.col("DTHDT"))
        .otherwise(pl.col("LSTALVDT"))
        .alias("LSTALVDT")
    )
    adsl = adsl.join(end_of_study.result(), on="USUBJID", how="left", maintain_order="left").with_columns(
        pl.col("EOSSTT").fill_null("ONGOING")
    )
    adsl = adsl.join(qualifiers.result(), on="USUBJID", how="left", maintain_order="left")
    adsl = _with_strata(adsl, organs.result(), protocol)
    columns = [
        "STUDYID", "USUBJID", "SITEID", "AGE", "SEX", "HISTOL", "ECOGBL", "METORGN", "METLESN",
        "ARMCD", "ARM", "ACTARMCD", "ACTARM", "TRT01P", "TRT01A",
        "RFICDT", "ENRLDT", "RANDDT", "TRTSDT", "TRTEDT", "RTSDT", "RTEDT", "NATSDT", "ENRLFL", "ITTFL", "SAFFL",
        "RTFL", "INDRESP", "INDBOR", "DTHFL", "DTHDT", "LSTALVDT", "EOSSTT", "DCSREAS", "EOSDT",
    ]  # fmt: skip
    strata = [c for c in adsl.columns if c.startswith("STRAT")]
    return adsl.with_columns(pl.lit(None, pl.Utf8).alias("INDBOR")).select(*columns, *strata), induction


def _study_id(dm: pl.DataFrame, protocol: Protocol) -> pl.Expr:
    """ADSL's STUDYID: DM's, or the protocol's id when DM has none.

    Notes
    -----
    A study has one STUDYID, so it is then one value for the whole column (polars keeps such a column as
    the value and its length), and so it stays in every dataset whose records are gathered from ADSL's:
    no text per record to write into memory.
    """
    if "STUDYID" not in dm.columns:
        return pl.lit(protocol.protocol.id)
    column = dm["STUDYID"]
    first = column[0] if column.len() else None
    if first is not None and column.null_count() == 0 and bool((column == first).all()):
        return pl.lit(first, column.dtype)
    return pl.col("STUDYID")


def _extreme(study: Study, domain: str, date: pl.Expr, where: pl.Expr | None, *, first: bool) -> pl.Series:
    """Per DM subject (DM order), the first (or last) non-null ``date`` among its ``domain`` records that
    meet ``where``; null when there is none. One minimum (maximum) scatter over the records' DM rows
    (``Study.subject_rows``): a group-by and a join without hashing USUBJID again."""
    from oligotrial.endpoints._kernels import extremes_at  # compiled on first use

    frame = {"EX": study.ex, "DS": study.ds, "PR": study.pr, "CM": study.cm}[domain]
    rows = study.subject_rows_in(domain, frame)
    none = np.iinfo(np.int64).max if first else _NONE  # no date: never an extreme
    value = date.cast(pl.Date).cast(pl.Int64)
    if where is not None:
        value = pl.when(where.fill_null(False)).then(value)
    days = frame.select(value.fill_null(none)).to_series().to_numpy()
    found = np.full(study.dm.height, none, dtype=np.int64)
    extremes_at(found, rows, days, lowest=first)  # records without a subject (-1) are skipped
    return dates_of("", found, found != none)


def _flag(condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(pl.lit("Y")).otherwise(pl.lit("N"))


def _with_induction_response(
    adsl: pl.DataFrame, study: Study, protocol: Protocol
) -> tuple[pl.DataFrame, Callable[[], pl.Series]]:
    """``adsl`` with ``INDRESP``, and the function giving ``INDBOR`` per ``adsl`` row."""
    rs = derive_overall_responses(study)
    cutoff = adsl.select("USUBJID", derive_induction_cutoff(adsl, protocol).alias("_CUT"), "TRTSDT", "_DMROW")
    # each response's subject by DM row: the cutoff and the last response up to it without a join
    cut = np.full(study.dm.height, _NONE, dtype=np.int64)
    cut[cutoff["_DMROW"].to_numpy()] = cutoff["_CUT"].cast(pl.Int64).fill_null(_NONE).to_numpy()
    rows = study.overall_response_subjects
    day = rs["RSDTC"].cast(pl.Int64).fill_null(_NONE).to_numpy()
    keep = (rows >= 0) & (day != _NONE)
    keep[keep] = day[keep] <= cut[rows[keep]]
    induction = rs.filter(pl.Series(keep))
    induction_coded = study.coded_responses.filter(pl.Series(keep))
    last = _last_per_subject(rows[keep], day[keep], study.dm.height)
    indresp = at_rows(induction["OVRLRESP"], last).alias("INDRESP")
    treated = cutoff["TRTSDT"].is_not_null().to_numpy()
    settings = protocol.response

    def induction_bor() -> pl.Series:
        """The best (unconfirmed) response up to the cutoff, per ``adsl`` row (null without a first dose)."""
        dm = cutoff.select("USUBJID", pl.col("TRTSDT").alias("RFSTDTC")).filter(pl.Series(treated))
        position = np.full(study.dm.height, -1, dtype=np.int64)  # DM row -> row of ``dm``
        position[cutoff["_DMROW"].to_numpy()[treated]] = np.arange(int(treated.sum()), dtype=np.int64)
        best = best_overall_response(
            induction.select("USUBJID", "RSDTC", "OVRLRESP"),
            position[rows[keep]],
            dm,
            coded=induction_coded,
            confirmation_min_days=settings.confirmation_min_days,
            max_ne_between_confirmation=settings.max_ne_between_confirmation,
            sd_min_days=settings.sd_min_days,
        )  # one record per ``dm`` row, in its order
        at = np.full(treated.shape[0], -1, dtype=np.int64)
        at[treated] = np.arange(int(treated.sum()), dtype=np.int64)
        return at_rows(best["BOR"], at).alias("INDBOR")

    return adsl.with_columns(indresp.gather(adsl["_DMROW"])), induction_bor


def _last_per_subject(rows: npt.NDArray[np.int64], day: npt.NDArray[np.int64], subjects: int) -> Ints:
    """Per subject (``rows``: each record's subject, 0..subjects-1), the position of its record with the
    latest ``day`` (the last such record on a tie); -1 when it has none."""
    from oligotrial.endpoints._kernels import extremes_at  # compiled on first use

    if not rows.size:
        return np.full(subjects, -1, dtype=np.int64)
    position = np.arange(rows.size, dtype=np.int64)
    key = (day - day.min()) * rows.size + position  # latest day first, then the later record
    best = np.full(subjects, -1, dtype=np.int64)
    extremes_at(best, rows, key, lowest=False)
    return np.where(best >= 0, best % rows.size, -1)


def _last_alive(study: Study) -> pl.Series:
    """The latest date of each DM subject (DM order) in DM, DS, EX, PR, CM, RS, AE and SV; null when none.

    One maximum scatter per date column over the DM row of each record (``Study.subject_rows``).
    """
    from oligotrial.endpoints._kernels import extremes_at  # compiled on first use

    sources = [
        ("DM", study.dm, ("RFICDTC", "RFSTDTC", "RFXENDTC")),
        ("DS", study.ds, ("DSSTDTC",)),
        ("EX", study.ex, ("EXSTDTC", "EXENDTC")),
        ("PR", study.pr, ("PRSTDTC", "PRENDTC")),
        ("CM", study.cm, ("CMSTDTC",)),
        ("AE", study.ae, ("AESTDTC", "AEENDTC")),
        ("SV", study.sv, ("SVSTDTC",)),
    ]
    if study.rs is not None:
        sources.append(("RS", study.rs, ("RSDTC",)))
    latest = np.full(study.dm.height, _NONE, dtype=np.int64)
    for domain, frame, columns in sources:
        rows = study.subject_rows_in(domain, frame)
        for column in columns:
            if column not in frame.columns:
                continue
            days = frame[column].cast(pl.Date).cast(pl.Int64).fill_null(_NONE).to_numpy()
            extremes_at(latest, rows, days, lowest=False)  # records without a subject (-1) are skipped
    return dates_of("LSTALVDT", latest, latest != _NONE)


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


def _with_strata(adsl: pl.DataFrame, organs: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """``adsl`` with one ``STRATnV`` per protocol stratum; ``organs`` the metastatic organ counts
    (:func:`_metastatic_organ_count`)."""
    adsl = adsl.join(organs, on="USUBJID", how="left", maintain_order="left").with_columns(
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
