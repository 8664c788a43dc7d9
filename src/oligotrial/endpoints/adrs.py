"""ADRS: time-point responses (OVR) and the subject-level responses BOR, CBOR, CRSP and CB."""

from __future__ import annotations

import polars as pl

from oligotrial.endpoints.sdtm import Study, derive_overall_responses
from oligotrial.protocol.models import Protocol
from oligotrial.rules.recist import derive_best_overall_response

__all__ = ["ADRS_PARAMS", "derive_adrs"]

#: PARAMCD -> PARAM of ADRS.
ADRS_PARAMS: dict[str, str] = {
    "OVR": "Overall Response by Investigator (RECIST 1.1)",
    "BOR": "Best Overall Response, Unconfirmed (RECIST 1.1)",
    "CBOR": "Best Overall Response, Confirmed (RECIST 1.1)",
    "CRSP": "Confirmed Response (CR or PR)",
    "CB": "Clinical Benefit (CR, PR or SD)",
}


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
    responses = derive_overall_responses(study).join(keys, on="USUBJID")
    srcvar = pl.when(pl.col("SRCDOM") == "RS").then(pl.lit("RSSTRESC")).otherwise(pl.lit("TRSTRESC"))
    ovr = responses.select(
        *keys.columns,
        pl.lit("OVR").alias("PARAMCD"),
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
    source = responses.select(
        "USUBJID", pl.col("RSDTC").alias("ADT"), pl.col("RSSEQ").alias("SRCSEQ"), "SRCDOM"
    )
    best = best.join(keys, on="USUBJID")  # every subject of ``best`` is enrolled
    subject_level = pl.concat(
        [
            best.select(
                *keys.columns,
                pl.lit(paramcd).alias("PARAMCD"),
                pl.col(value).alias("AVALC"),
                (pl.when(pl.col(value) == "Y").then(pl.col(day)) if is_flag else pl.col(day)).alias("ADT"),
            )
            for paramcd, value, day, is_flag in (
                ("BOR", "BOR", "BOR_DATE", False),
                ("CBOR", "CBOR", "CBOR_DATE", False),
                ("CRSP", "CRSP", "CRSP_DATE", True),
                ("CB", "CB", "CBOR_DATE", True),
            )
        ]
    ).join(source, on=["USUBJID", "ADT"], how="left")  # the assessment behind ADT, one lookup for all four
    subject_level = subject_level.with_columns(
        pl.when(pl.col("SRCDOM") == "RS")
        .then(pl.lit("RSSTRESC"))
        .when(pl.col("SRCDOM") == "TR")
        .then(pl.lit("TRSTRESC"))
        .alias("SRCVAR")
    )
    order = {code: n for n, code in enumerate(ADRS_PARAMS)}
    adrs = pl.concat([ovr, subject_level], how="diagonal_relaxed")
    return (
        adrs.with_columns(
            pl.col("PARAMCD").replace_strict(ADRS_PARAMS, return_dtype=pl.Utf8).alias("PARAM"),
            pl.col("PARAMCD").replace_strict(order, return_dtype=pl.Int64).alias("_ORDER"),
        )
        .sort("USUBJID", "_ORDER", "ADT", nulls_last=True)
        .select(
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
    )
