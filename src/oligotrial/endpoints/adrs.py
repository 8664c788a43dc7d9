"""ADRS: time-point responses (OVR) and the subject-level responses BOR, CBOR, CRSP and CB."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.endpoints.sdtm import Study, derive_overall_responses
from oligotrial.protocol.models import Protocol
from oligotrial.rules.recist import derive_best_overall_response

__all__ = ["ADRS_PARAMS", "derive_adrs"]

Ints = npt.NDArray[np.int64]

#: PARAMCD -> PARAM of ADRS.
ADRS_PARAMS: dict[str, str] = {
    "OVR": "Overall Response by Investigator (RECIST 1.1)",
    "BOR": "Best Overall Response, Unconfirmed (RECIST 1.1)",
    "CBOR": "Best Overall Response, Confirmed (RECIST 1.1)",
    "CRSP": "Confirmed Response (CR or PR)",
    "CB": "Clinical Benefit (CR, PR or SD)",
}
#: PARAMCD -> its place among a subject's records (OVR first, then BOR, CBOR, CRSP, CB).
ORDER = {code: n for n, code in enumerate(ADRS_PARAMS)}


def derive_adrs(
    study: Study,
    adsl: pl.DataFrame,
    protocol: Protocol,
    *,
    confirmation_min_days: int | None = None,
    max_ne_between_confirmation: int | None = None,
    sd_min_days: int | None = None,
) -> pl.DataFrame:
    """Derive ADRS for all enrolled subjects.

    Parameters
    ----------
    study, adsl
        The checked SDTM study and its ADSL.
    protocol
        Supplies the confirmation interval, the NE allowance and the SD minimum (``response`` section);
        the keyword arguments override them.

    Returns
    -------
    polars.DataFrame
        ``STUDYID USUBJID PARAMCD PARAM AVALC ADT ENRLFL ITTFL TRT01P SRCDOM SRCVAR SRCSEQ``: one OVR record per
        assessment and one BOR, CBOR, CRSP and CB record per enrolled subject.

    Notes
    -----
    Responses are those of RS (``RSTESTCD = OVRLRESP``) or, without RS, of the RECIST engine on TU/TR.
    BOR and CBOR follow :func:`oligotrial.rules.recist.derive_best_overall_response`, with the SD minimum
    counted from the protocol's ``response.sd_min_reference`` (first dose: ADSL TRTSDT; randomization:
    RANDDT). ``ADT`` of BOR/CBOR is the date of the assessment that decided it (for a confirmed CR/PR, the
    first of the confirming pair); ``ADT`` of CRSP is the date of the first confirmed response, CR or PR
    (PR, PR, CR, CR: the first PR), where DoR starts; ``SRCSEQ`` is that assessment's RSSEQ (SRCDOM, SRCVAR
    and SRCSEQ are null when no assessment decided it, as for CRSP N). CRSP is ``Y`` for a confirmed CR or
    PR (ORR); CB is ``Y`` for CR, PR, SD or NON-CR/NON-PD
    meeting the SD minimum (DCR).
    """
    settings = protocol.response
    enrolled = adsl.filter(pl.col("ENRLFL") == "Y")
    keys = enrolled.select("STUDYID", "USUBJID", "ENRLFL", "ITTFL", "TRT01P")
    # each subject's place in USUBJID order, for the final sort on one integer key
    ranked = keys.with_columns(pl.col("USUBJID").rank("dense").cast(pl.Int64).alias("_RANK"))
    responses = derive_overall_responses(study).join(ranked, on="USUBJID")
    srcvar = pl.when(pl.col("SRCDOM") == "RS").then(pl.lit("RSSTRESC")).otherwise(pl.lit("TRSTRESC"))
    ovr = responses.select(
        *keys.columns,
        "_RANK",
        pl.lit("OVR").alias("PARAMCD"),
        pl.lit(ADRS_PARAMS["OVR"]).alias("PARAM"),
        pl.lit(ORDER["OVR"], pl.Int64).alias("_ORDER"),
        pl.col("OVRLRESP").alias("AVALC"),
        pl.col("RSDTC").alias("ADT"),
        "SRCDOM",
        srcvar.alias("SRCVAR"),
        pl.col("RSSEQ").alias("SRCSEQ"),
    )
    reference = "TRTSDT" if settings.sd_min_reference == "first_dose" else "RANDDT"
    dm = enrolled.select("USUBJID", pl.col(reference).alias("RFSTDTC")).filter(
        pl.col("RFSTDTC").is_not_null()
    )
    settings_used = {
        "confirmation_min_days": (
            settings.confirmation_min_days if confirmation_min_days is None else confirmation_min_days
        ),
        "max_ne_between_confirmation": (
            settings.max_ne_between_confirmation
            if max_ne_between_confirmation is None
            else max_ne_between_confirmation
        ),
        "sd_min_days": settings.sd_min_days if sd_min_days is None else sd_min_days,
    }
    best = derive_best_overall_response(responses.select("USUBJID", "RSDTC", "OVRLRESP"), dm, **settings_used)
    best = best.join(ranked, on="USUBJID")  # every subject of ``best`` is enrolled
    rows = _assessment_rows(responses, best)
    parts = []
    for paramcd, value, day, is_flag in (
        ("BOR", "BOR", "BOR_DATE", False),
        ("CBOR", "CBOR", "CBOR_DATE", False),
        ("CRSP", "CRSP", "CRSP_DATE", True),
        ("CB", "CB", "CBOR_DATE", True),
    ):
        adt = pl.when(pl.col(value) == "Y").then(pl.col(day)) if is_flag else pl.col(day)
        part = best.select(
            *keys.columns,
            "_RANK",
            pl.lit(paramcd).alias("PARAMCD"),
            pl.lit(ADRS_PARAMS[paramcd]).alias("PARAM"),
            pl.lit(ORDER[paramcd], pl.Int64).alias("_ORDER"),
            pl.col(value).alias("AVALC"),
            adt.alias("ADT"),
        )
        if rows is None:
            parts.append(part)
            continue
        # the assessment behind ADT: its row, found by date (none when ADT is null)
        index = pl.Series(np.where(part["ADT"].is_null().to_numpy(), -1, rows[day]), dtype=pl.Int64)
        index = pl.select(pl.when(index >= 0).then(index)).to_series()
        parts.append(
            part.with_columns(
                responses["RSSEQ"].gather(index).alias("SRCSEQ"),
                responses["SRCDOM"].gather(index).alias("SRCDOM"),
            )
        )
    subject_level = pl.concat(parts)
    if rows is None:  # the general lookup (two records on one date): a join on subject and date
        source = responses.select(
            "USUBJID", pl.col("RSDTC").alias("ADT"), pl.col("RSSEQ").alias("SRCSEQ"), "SRCDOM"
        )
        subject_level = subject_level.join(source, on=["USUBJID", "ADT"], how="left")
    subject_level = subject_level.with_columns(
        pl.when(pl.col("SRCDOM") == "RS")
        .then(pl.lit("RSSTRESC"))
        .when(pl.col("SRCDOM") == "TR")
        .then(pl.lit("TRSTRESC"))
        .alias("SRCVAR")
    )
    adrs = pl.concat([ovr, subject_level], how="diagonal_relaxed")
    return _sorted(adrs, len(ORDER)).select(
        "STUDYID",
        "USUBJID",
        "PARAMCD",
        "PARAM",
        "AVALC",
        "ADT",
        "ENRLFL",
        "ITTFL",
        "TRT01P",
        "SRCDOM",
        "SRCVAR",
        "SRCSEQ",
    )


def _sorted(adrs: pl.DataFrame, orders: int) -> pl.DataFrame:
    """``adrs`` sorted by subject (``_RANK``: its place in USUBJID order), ``_ORDER`` and ``ADT`` (nulls
    last): one argsort of a packed integer key and one gather, instead of a sort on text, when the key
    fits in 63 bits (else the plain sort)."""
    if adrs.is_empty():
        return adrs
    day = adrs["ADT"].cast(pl.Int64)
    low, high = _bounds(day)
    span = high - low + 2  # the last offset is for a null ADT: last
    subjects = int(adrs["_RANK"].to_numpy().max()) + 1
    if subjects * orders * span >= 1 << 62:
        return adrs.sort("_RANK", "_ORDER", "ADT", nulls_last=True)
    offset = (day - low).fill_null(span - 1).to_numpy()
    key = (adrs["_RANK"].to_numpy() * orders + adrs["_ORDER"].to_numpy()) * span + offset
    return adrs.rechunk()[np.argsort(key, kind="stable")]  # a gather from one chunk is many times faster


def _assessment_rows(responses: pl.DataFrame, best: pl.DataFrame) -> dict[str, Ints] | None:
    """For each date column of ``best`` (``BOR_DATE CBOR_DATE CRSP_DATE``), the row of ``responses`` of
    that subject (``_RANK``) on that date, -1 when there is none; ``None`` when a subject has two records
    on one date or a record without a date (the caller then joins on subject and date)."""
    day = responses["RSDTC"].cast(pl.Int64)
    if day.null_count() or responses.is_empty():
        return None
    low, high = _bounds(day)
    span = high - low + 1
    subjects = int(responses["_RANK"].to_numpy().max()) + 1
    if subjects * span >= 1 << 62:
        return None
    key = responses["_RANK"].to_numpy() * span + (day.to_numpy() - low)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    if (ordered[1:] == ordered[:-1]).any():
        return None
    rank = best["_RANK"].to_numpy()
    found: dict[str, Ints] = {}
    for column in ("BOR_DATE", "CBOR_DATE", "CRSP_DATE"):
        wanted = best[column].cast(pl.Int64)
        inside = wanted.is_between(low, high).fill_null(False).to_numpy()
        query = rank * span + (wanted.fill_null(low).to_numpy() - low)
        at = np.minimum(np.searchsorted(ordered, query), ordered.shape[0] - 1)
        hit = inside & (ordered[at] == query)
        found[column] = np.where(hit, order[at], -1)
    return found


def _bounds(day: pl.Series) -> tuple[int, int]:
    """The smallest and largest non-null value (0, 0 when there is none)."""
    values = day.drop_nulls().to_numpy()
    return (int(values.min()), int(values.max())) if values.size else (0, 0)
