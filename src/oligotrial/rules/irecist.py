"""iRECIST response engine (exploratory, anti-PD-1 trial): time-point responses and iBOR.

Pure core; same inputs as :mod:`oligotrial.rules.recist` (SDTM-shaped TU/TR polars tables, DM), whole
studies at once: the per-assessment RECIST 1.1 quantities come from the same polars pipeline, and the
iRECIST state (unconfirmed progression, its reference values, the reset) is carried as numpy vectors
over all subjects, one assessment column at a time.

Source: Seymour L et al., *iRECIST: guidelines for response criteria for use in trials testing
immunotherapeutics*, Lancet Oncol 2017;18:e143–e152 ("iRECIST" below), Tables 2 and 3; PROTOCOL.md
section 7.

Error codes: those of :mod:`oligotrial.rules.recist` for TU/TR (RECIST-nnn), and IRECIST-020 to
IRECIST-027 for RS/DM (same meanings as RECIST-020 to RECIST-027), IRECIST-030 for a confirmation window
that is not ``0 <= min <= max`` whole days.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.errors import InputError, Problem
from oligotrial.rules._recist_bor import PAD, best, build_matrices, to_dates, truncate_after
from oligotrial.rules._recist_fast import checked_timepoint_frame
from oligotrial.rules._recist_input import SCALE
from oligotrial.rules._recist_timepoint import CR, NE, NN, PD, PR, SD
from oligotrial.rules.recist import RESPONSE_CODES, check_response_settings, to_rs_records

__all__ = [
    "IRESPONSE_CODES",
    "derive_irecist_best_overall_response",
    "derive_irecist_timepoint_responses",
]

ICR, IPR, ISD, INN, IUPD, ICPD, INE = "iCR", "iPR", "iSD", "NON-iCR/NON-iUPD", "iUPD", "iCPD", "iNE"
#: iRECIST time-point codes, in the order used for iBOR (best first; iCPD is reported over the iUPD it
#: confirms).
IRESPONSE_CODES: tuple[str, ...] = (ICR, IPR, ISD, INN, ICPD, IUPD, INE)
_FROM_RECIST = {CR: ICR, PR: IPR, SD: ISD, NN: INN, PD: IUPD, NE: INE}
MISSING = "MISSING"
_WINDOW_NAMES = ("EARLY", "IN WINDOW", "LATE")
_EARLY, _IN_WINDOW, _LATE, _NO_WINDOW = 0, 1, 2, 3


def _check_window(window: tuple[int, int]) -> tuple[int, int]:
    """The confirmation window as two whole days, ``0 <= min <= max`` (else ``IRECIST-030``)."""
    low, high = window
    if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
        raise InputError(
            Problem(
                "IRECIST-030",
                "confirmation_window_days",
                "the iUPD confirmation window must be two whole days with 0 <= min <= max",
                value=window,
            )
        )
    return low, high


def derive_irecist_timepoint_responses(
    tu: pl.DataFrame,
    tr: pl.DataFrame,
    *,
    confirmation_window_days: tuple[int, int],
) -> pl.DataFrame:
    """iRECIST time-point responses beside the RECIST 1.1 ones, for every post-baseline assessment.

    Parameters
    ----------
    tu, tr
        As :func:`oligotrial.rules.recist.derive_timepoint_responses`; NEW lesions may carry LDIAM/LPERP
        measurements (new measurable lesions).
    confirmation_window_days
        ``(min, max)`` days after the iUPD within which the confirming assessment is expected (protocol
        ``response.irecist.confirmation_window_days``: 28 to 56, iRECIST's "4–8 weeks").

    Returns
    -------
    polars.DataFrame
        The RECIST 1.1 RS columns plus ``IOVRLRESP`` (iCR, iPR, iSD, NON-iCR/NON-iUPD, iUPD, iCPD, iNE;
        null after iCPD, when iRECIST assessment ends), ``IUPDDTC`` (on iUPD and iCPD rows: the date of
        the iUPD that opened the current unconfirmed progression, the progression date once confirmed)
        ``NEWSOD`` (sum of the new target lesions, mm) and ``ICONFWIN`` (on assessments while an iUPD is
        pending: ``EARLY``, ``IN WINDOW`` or ``LATE`` against ``confirmation_window_days`` counted from
        the iUPD that opened the episode; null elsewhere).

    Notes
    -----
    - Without a pending iUPD the response is the RECIST 1.1 response with an "i" prefix; RECIST 1.1 PD
      is iUPD (iRECIST Table 2, first column; PROTOCOL.md section 7).
    - New lesions (iRECIST "new lesions"): measured NEW lesions that are measurable when first measured
      (≥ 10 mm, nodes ≥ 15 mm short axis) are new target lesions, at most 5 and 2 per organ, chosen in
      order of first measurement then link id (interpretation of "up to five, two per organ"); their
      sum is kept apart and never added to the SOD. Other NEW lesions are new non-target lesions.
    - With a pending iUPD, the next assessment is iCPD when any of the following holds (iRECIST
      Table 2, second column): the target SOD is ≥ 5 mm above the SOD at the iUPD (needs every target
      measured at the iUPD; the current sum may be partial, a lower bound); the targets newly meet the
      RECIST 1.1 PD criterion when they did not at the iUPD; any non-target lesion is recorded
      ``UNEQUIVOCAL PROGRESSION`` (interpretation: at the confirming assessment that code records a
      further increase, which "does not need to meet RECIST 1.1 criteria for unequivocal
      progression"); the new-target sum is ≥ 5 mm above its value at the iUPD; a new non-target lesion
      is recorded ``UNEQUIVOCAL PROGRESSION``; or another new lesion has appeared since the iUPD.
      The reference values are those of the first iUPD of the pending episode, so small increases
      accumulate (interpretation).
    - Otherwise, when RECIST 1.1 alone would give CR, PR, SD or NON-CR/NON-PD, the response is iCR, iPR,
      iSD or NON-iCR/NON-iUPD and the pending iUPD is cleared: "the bar resets", a new iUPD must occur
      and be confirmed (iRECIST; PROTOCOL.md section 7). Else iUPD stays pending: the time point is
      iUPD (still progressed, no further increase) or iNE (not evaluable).
    - Confirmation is sought at every later assessment while the iUPD is pending, not only at the next
      one (iRECIST Table 3 example 7: iUPD, iUPD, iCPD).
    - The confirmation window ("the next assessment … no less than 4 weeks and no more than 8 weeks
      later", iRECIST; PROTOCOL.md section 7), counted from the iUPD that opened the episode: an
      assessment earlier than its minimum neither confirms nor resets (too early to tell
      pseudoprogression from progression; interpretation): it is iUPD, or iNE when RECIST 1.1 alone is
      NE, and the episode stays pending with its reference values. An assessment later than the maximum
      confirms or resets as usual (a late scan is a visit-window deviation, found by the schedule
      module, not a reason to lose the assessment; interpretation) and is marked ``LATE``.
    - The progression date of an iCPD is the date of the iUPD it confirms (``IUPDDTC``).
    """
    window_min, window_max = _check_window(confirmation_window_days)
    frame = checked_timepoint_frame(tu, tr)[0].filter(~pl.col("IS_BASELINE")).sort("USUBJID", "DATE")
    frame = frame.with_columns(COL=pl.int_range(0, pl.len()).over("USUBJID"))
    subjects = frame["USUBJID"].unique(maintain_order=True)
    row = frame["USUBJID"].rank("dense").cast(pl.Int64).to_numpy() - 1
    col = frame["COL"].to_numpy()
    shape = (len(subjects), int(col.max()) + 1 if col.size else 0)

    def matrix(values: pl.Series, fill: int) -> npt.NDArray[np.int64]:
        out = np.full(shape, fill, dtype=np.int64)
        out[row, col] = values.fill_null(fill).cast(pl.Int64).to_numpy()
        return out

    code_index = {c: i for i, c in enumerate(RESPONSE_CODES)}
    recist = matrix(frame["OVRLRESP"].replace_strict(code_index, return_dtype=pl.Int64), PAD)
    sod = matrix(frame["SOD_H"], 0)
    complete = matrix(frame["TARGET_COMPLETE"], 0).astype(bool)
    target_pd = matrix(frame["TRGRESP"] == PD, 0).astype(bool)
    nt_up = matrix(frame["NT_UP"], 0).astype(bool)
    new_count = matrix(frame["NEW_COUNT"], 0)
    new_sum = matrix(frame["NEWT_SUM_H"], 0)
    new_nt_up = matrix(frame["NEW_NT_UP"], 0).astype(bool)
    date = matrix(frame["DATE"].cast(pl.Int64), 0)

    i_codes = {c: i for i, c in enumerate(IRESPONSE_CODES)}
    to_i = np.asarray([i_codes[_FROM_RECIST[c]] for c in RESPONSE_CODES], dtype=np.int64)
    reset_codes = [code_index[c] for c in (CR, PR, SD, NN)]
    n = shape[0]
    out = np.full(shape, PAD, dtype=np.int64)
    upd_date = np.full(shape, -1, dtype=np.int64)
    window = np.full(shape, _NO_WINDOW, dtype=np.int64)
    pending = np.zeros(n, dtype=bool)
    stopped = np.zeros(n, dtype=bool)
    ref_sod = np.zeros(n, dtype=np.int64)
    ref_complete = np.zeros(n, dtype=bool)
    ref_target_pd = np.zeros(n, dtype=bool)
    ref_count = np.zeros(n, dtype=np.int64)
    ref_new_sum = np.zeros(n, dtype=np.int64)
    ref_date = np.full(n, -1, dtype=np.int64)
    for c in range(shape[1]):
        r = recist[:, c]
        valid = (r != PAD) & ~stopped
        plain = valid & ~pending
        result = np.where(valid, to_i[np.where(r == PAD, 0, r)], PAD)
        further = (
            (ref_complete & (sod[:, c] - ref_sod >= 5 * SCALE))
            | (target_pd[:, c] & ~ref_target_pd)
            | nt_up[:, c]
            | (new_sum[:, c] - ref_new_sum >= 5 * SCALE)
            | new_nt_up[:, c]
            | (new_count[:, c] > ref_count)
        )
        was_pending = valid & pending
        days = date[:, c] - ref_date
        early = was_pending & (days < window_min)
        window[:, c] = np.where(
            was_pending, np.where(early, _EARLY, np.where(days > window_max, _LATE, _IN_WINDOW)), _NO_WINDOW
        )
        judged = was_pending & ~early
        confirm = judged & further
        reset = judged & ~further & np.isin(r, reset_codes)
        result = np.where(confirm, i_codes[ICPD], result)
        result = np.where(early, np.where(r == code_index[NE], i_codes[INE], i_codes[IUPD]), result)
        start = plain & (r == code_index[PD])
        ref_sod = np.where(start, sod[:, c], ref_sod)
        ref_complete = np.where(start, complete[:, c], ref_complete)
        ref_target_pd = np.where(start, target_pd[:, c], ref_target_pd)
        ref_count = np.where(start, new_count[:, c], ref_count)
        ref_new_sum = np.where(start, new_sum[:, c], ref_new_sum)
        ref_date = np.where(start, date[:, c], ref_date)
        pending = (pending | start) & ~reset & ~confirm
        stopped |= confirm
        in_episode = np.isin(result, (i_codes[IUPD], i_codes[ICPD]))
        upd_date[:, c] = np.where(in_episode, ref_date, -1)
        out[:, c] = result

    names = np.asarray([*IRESPONSE_CODES, None], dtype=object)
    flat_codes = out[row, col]
    iresp = pl.Series(
        "IOVRLRESP",
        names[np.where(flat_codes == PAD, len(IRESPONSE_CODES), flat_codes)].tolist(),
        dtype=pl.Utf8,
    )
    window_names = np.asarray([*_WINDOW_NAMES, None], dtype=object)
    frame = frame.with_columns(
        iresp,
        to_dates(upd_date[row, col]).alias("IUPDDTC"),
        (pl.col("NEWT_SUM_H") / SCALE).round(2).alias("NEWSOD"),
        pl.Series("ICONFWIN", window_names[window[row, col]].tolist(), dtype=pl.Utf8),
    )
    extra = frame.select(
        "USUBJID", pl.col("DATE").alias("RSDTC"), "IOVRLRESP", "IUPDDTC", "NEWSOD", "ICONFWIN"
    )
    return to_rs_records(frame.with_columns(IS_BASELINE=pl.lit(False))).join(
        extra, on=["USUBJID", "RSDTC"], how="left"
    )


def derive_irecist_best_overall_response(
    rs: pl.DataFrame,
    dm: pl.DataFrame,
    *,
    sd_min_days: int,
) -> pl.DataFrame:
    """iRECIST best overall response (iBOR) and the confirmed progression date, per DM subject.

    Parameters
    ----------
    rs
        ``USUBJID``, ``RSDTC``, ``IOVRLRESP`` (or long RS with ``RSTESTCD = IOVRLRESP``); empty
        responses (after iCPD) are ignored.
    dm
        ``USUBJID``, ``RFSTDTC``.
    sd_min_days
        Minimum days from the reference date for iSD and NON-iCR/NON-iUPD (protocol: 42).

    Returns
    -------
    polars.DataFrame
        ``USUBJID``, ``IBOR`` (iCR, iPR, iSD, NON-iCR/NON-iUPD, iCPD, iUPD, iNE, or MISSING), ``IBOR_DATE``
        (first assessment with that response), ``IPD_DATE`` (date of the iUPD confirmed by the first
        iCPD; null without iCPD), DM order.

    Raises
    ------
    InputError
        IRECIST-020 to IRECIST-027 (as RECIST-020 to RECIST-027).

    Notes
    -----
    - iBOR is the best time-point response, order iCR > iPR > iSD > NON-iCR/NON-iUPD > iCPD > iUPD >
      iNE; assessments after the first iCPD are ignored; an iCPD is reported rather than the iUPD it
      confirms (iRECIST Table 3: "iUPD, iCPD" → iCPD; "iUPD, NE, NE, NE, NE" → iUPD).
    - Responses before an iUPD that was later reset still count: "iUPD, iPR, iCR" → iCR (Table 3
      example 2).
    - Confirmation of iCR/iPR is not applied: Table 3 "assumes a randomised study in which
      confirmation of complete response or partial response is not required". The protocol's ORR uses
      the confirmed RECIST 1.1 BOR (:func:`oligotrial.rules.recist.derive_best_overall_response`).
    - iSD and NON-iCR/NON-iUPD count only from ``sd_min_days`` after the reference date, else iNE (as
      RECIST 1.1; interpretation, iRECIST keeps the RECIST 1.1 rules it does not change).
    - ``IPD_DATE``: the iUPD opening the episode the iCPD confirms, that is the first iUPD after the
      last iCR/iPR/iSD/NON-iCR/NON-iUPD before the iCPD (iRECIST: "the date of progression is the date
      iUPD was first documented"); an iCPD without an earlier iUPD is its own date.
    """
    check_response_settings("IRECIST", sd_min_days=sd_min_days)
    if "IOVRLRESP" in rs.columns:
        rs = rs.filter(pl.col("IOVRLRESP").is_not_null())
    m = build_matrices(rs, dm, IRESPONSE_CODES, "IRECIST", response_column="IOVRLRESP")
    i = {c: k for k, c in enumerate(IRESPONSE_CODES)}
    code = truncate_after(m.code, m.code == i[ICPD])
    code = np.where(np.isin(code, (i[ISD], i[INN])) & (m.day < sd_min_days), i[INE], code)
    ibor, ibor_date = best(code, tuple(range(len(IRESPONSE_CODES))), m.date)

    episode_start = np.full(code.shape[0], -1, dtype=np.int64)
    pd_date = np.full(code.shape[0], -1, dtype=np.int64)
    for c in range(code.shape[1]):
        k = code[:, c]
        episode_start = np.where(np.isin(k, (i[ICR], i[IPR], i[ISD], i[INN])), -1, episode_start)
        opening = (k == i[IUPD]) & (episode_start < 0)
        episode_start = np.where(opening, m.date[:, c], episode_start)
        confirm = k == i[ICPD]
        pd_date = np.where(confirm, np.where(episode_start >= 0, episode_start, m.date[:, c]), pd_date)
    names = np.asarray([*IRESPONSE_CODES, MISSING], dtype=object)
    return pl.DataFrame(
        {
            "USUBJID": m.subjects,
            "IBOR": names[np.where(ibor == PAD, len(IRESPONSE_CODES), ibor)].tolist(),
            "IBOR_DATE": to_dates(ibor_date),
            "IPD_DATE": to_dates(pd_date),
        },
        schema={"USUBJID": pl.Utf8, "IBOR": pl.Utf8, "IBOR_DATE": pl.Date, "IPD_DATE": pl.Date},
    )
