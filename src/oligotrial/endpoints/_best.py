"""The best overall response of ADSL and ADRS, from responses whose subjects are already known (private).

:func:`oligotrial.rules.recist.derive_best_overall_response` finds each record's subject by its USUBJID
text and codes the response text before it scatters the records into matrices. ADSL and ADRS already know
each record's subject (its DM row, found by the SDTM checks), so valid input is coded here from that, in a
few integer passes, and goes to the same matrices and rules; anything the coded path does not accept
(an unknown or padded code, a missing date or reference date, a subject outside the reference table)
goes to ``derive_best_overall_response`` itself, which gives the result or raises its coded problems.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.rules._recist_bor import coded_matrices
from oligotrial.rules.recist import (
    RESPONSE_CODES,
    best_overall_response_of,
    check_response_settings,
    derive_best_overall_response,
)

__all__ = ["best_overall_response", "code_responses"]

#: Response code -> its index in RESPONSE_CODES (the order of the BOR matrices).
_CODE = {code: n for n, code in enumerate(RESPONSE_CODES)}


def code_responses(responses: pl.DataFrame) -> pl.DataFrame:
    """``code date`` per response: the index of OVRLRESP in ``RESPONSE_CODES`` (``len(RESPONSE_CODES)`` for
    a null or unknown code, which the coded path refuses) and RSDTC in days since 1970.

    Notes
    -----
    The codes of RECIST 1.1 (``oligotrial.rules.recist.RESPONSE_CODES``); computed once per study
    (``Study.coded_responses``) for ADSL's induction response and ADRS. One comparison per code (six):
    ``replace_strict`` with this default gives the same codes but hashes every cell, at twice the cost.
    """
    code = pl.lit(len(RESPONSE_CODES), pl.Int8)  # null or unknown
    for text, n in reversed(_CODE.items()):
        code = pl.when(pl.col("OVRLRESP") == text).then(pl.lit(n, pl.Int8)).otherwise(code)
    return responses.select(code.alias("code"), pl.col("RSDTC").cast(pl.Int32).alias("date"))


def best_overall_response(
    responses: pl.DataFrame,
    subject: npt.NDArray[np.int64],
    dm: pl.DataFrame,
    *,
    coded: pl.DataFrame | None = None,
    confirmation_min_days: int,
    max_ne_between_confirmation: int,
    sd_min_days: int,
) -> pl.DataFrame:
    """``derive_best_overall_response(responses, dm, ...)``, given each record's subject.

    Parameters
    ----------
    responses
        ``USUBJID RSDTC OVRLRESP`` (RSDTC a date).
    subject
        Per record, its row of ``dm`` (-1 when it has none).
    dm
        ``USUBJID RFSTDTC`` (RFSTDTC a date): the subjects evaluated, one row each, and their reference
        dates.
    coded
        :func:`code_responses` of ``responses`` when already known (else computed here).

    Notes
    -----
    The rules and the result are those of :func:`oligotrial.rules.recist.derive_best_overall_response`
    (RECIST 1.1 section 4.4 and Table 3; PROTOCOL.md section 6): the same matrices
    (:func:`oligotrial.rules._recist_bor.coded_matrices`) and the same evaluation
    (:func:`oligotrial.rules.recist.best_overall_response_of`); only the subject lookup and the coding of
    the response text are skipped for input that needs neither.
    """
    settings = {
        "confirmation_min_days": confirmation_min_days,
        "max_ne_between_confirmation": max_ne_between_confirmation,
        "sd_min_days": sd_min_days,
    }
    check_response_settings("RECIST", **settings)
    names = dm["USUBJID"].cast(pl.Utf8).str.strip_chars()
    if coded is None:
        coded = code_responses(responses)
    usable = names.null_count() == 0 and names.n_unique() == dm.height and coded["date"].null_count() == 0
    matrices = (
        coded_matrices(
            subject.astype(np.int64, copy=False),
            coded["date"].to_numpy(),
            coded["code"].to_numpy(),
            dm["RFSTDTC"].cast(pl.Int32),
            names,
            len(RESPONSE_CODES),
        )
        if usable and responses.height
        else None
    )
    if matrices is None:
        return derive_best_overall_response(responses, dm, **settings)
    return best_overall_response_of(matrices, **settings)
