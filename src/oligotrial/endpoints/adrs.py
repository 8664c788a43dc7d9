"""ADRS: time-point responses (OVR) and the subject-level responses BOR, CBOR, CRSP and CB."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial._days import dates_of
from oligotrial.endpoints._best import best_overall_response
from oligotrial.endpoints.sdtm import Study, adsl_rows_of, derive_overall_responses, nullable_rows
from oligotrial.protocol.models import Protocol

__all__ = ["ADRS_PARAMS", "derive_adrs"]

Ints = npt.NDArray[np.int64]
Params = npt.NDArray[np.int8]  # a record's parameter: its place in ORDER

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
#: The subject-level parameters: (PARAMCD, the column of the BOR engine holding AVALC, the one holding the
#: date, whether ADT is kept only for ``Y``).
_SUBJECT_LEVEL = (
    ("BOR", "BOR", "BOR_DATE", False),
    ("CBOR", "CBOR", "CBOR_DATE", False),
    ("CRSP", "CRSP", "CRSP_DATE", True),
    ("CB", "CB", "CBOR_DATE", True),
)
_KEYS = ("STUDYID", "USUBJID", "ITTFL", "TRT01P")  # gathered per record from ADSL
_COLUMNS = (
    "STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVALC", "ADT", "ENRLFL", "ITTFL", "TRT01P", "SRCDOM", "SRCVAR",
    "SRCSEQ",
)  # fmt: skip
_SRCVAR = {"RS": "RSSTRESC", "TR": "TRSTRESC"}
#: A day after every date: the sort offset of a null ADT (nulls last).
_NULL_DAY = np.iinfo(np.int64).max


def derive_adrs(
    study: Study,
    adsl: pl.DataFrame,
    protocol: Protocol,
    *,
    confirmation_min_days: int | None = None,
    max_ne_between_confirmation: int | None = None,
    sd_min_days: int | None = None,
    on_responders: Callable[[pl.DataFrame], object] | None = None,
) -> pl.DataFrame:
    """Derive ADRS for all enrolled subjects.

    Parameters
    ----------
    study, adsl
        The checked SDTM study and its ADSL.
    protocol
        Supplies the confirmation interval, the NE allowance and the SD minimum (``response`` section);
        the keyword arguments override them.
    on_responders
        Called, as soon as they are known and before the records are built, with the confirmed responders
        (:func:`oligotrial.endpoints.adtte.confirmed_responders` of the result, in ADSL order), so that
        DoR can be derived while ADRS is finished.

    Returns
    -------
    polars.DataFrame
        ``STUDYID USUBJID PARAMCD PARAM AVALC ADT ENRLFL ITTFL TRT01P SRCDOM SRCVAR SRCSEQ``: one OVR record per
        assessment and one BOR, CBOR, CRSP and CB record per enrolled subject, sorted by USUBJID, parameter
        (OVR, BOR, CBOR, CRSP, CB) and ADT (nulls last), ties in input order.

    Notes
    -----
    Responses are those of RS (``RSTESTCD = OVRLRESP``) or, without RS, of the RECIST engine on TU/TR.
    BOR and CBOR follow :func:`oligotrial.rules.recist.derive_best_overall_response`, with the SD minimum
    counted from the protocol's ``response.sd_min_reference`` (first dose: ADSL TRTSDT; randomization:
    RANDDT). ``ADT`` of BOR/CBOR is the date of the assessment that decided it (for a confirmed CR/PR, the
    first of the confirming pair); ``ADT`` of CRSP is the date of the first confirmed response, CR or PR
    (PR, PR, CR, CR: the first PR), where DoR starts; ``SRCSEQ`` is that assessment's RSSEQ (SRCDOM, SRCVAR
    and SRCSEQ are null when no assessment decided it, as for CRSP N; a subject with two identical records
    on that date gets one record per source record). CRSP is ``Y`` for a confirmed CR or PR (ORR); CB is
    ``Y`` for CR, PR, SD or NON-CR/NON-PD meeting the SD minimum (DCR).

    The records are built as integer columns (ADSL row, parameter, date, source row) and ordered by one
    stable argsort of a packed key; each text column is then one gather, from ADSL, from the five-entry
    parameter table or from the responses.
    """
    settings = protocol.response
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
    reference = "TRTSDT" if settings.sd_min_reference == "first_dose" else "RANDDT"
    responses = derive_overall_responses(study)
    enrolled = (adsl["ENRLFL"] == "Y").fill_null(False).to_numpy()
    # the responses of enrolled subjects, in input order, with each one's ADSL row
    owner = adsl_rows_of(study, adsl["USUBJID"], study.overall_response_subjects)
    keep = np.append(enrolled, False)[owner]  # owner -1 (not in ADSL): the appended False
    everything = bool(keep.all())
    kept = np.arange(owner.shape[0], dtype=np.int64) if everything else np.flatnonzero(keep)
    owner_kept = owner if everything else owner[kept]  # the ADSL row of each kept response
    reported = responses if everything else responses[kept]
    coded = study.coded_responses if everything else study.coded_responses[kept]
    with_reference = enrolled & adsl[reference].is_not_null().to_numpy()
    dm = adsl.select("USUBJID", pl.col(reference).alias("RFSTDTC")).filter(pl.Series(with_reference))
    best_rows = np.flatnonzero(with_reference)  # the ADSL row of each BOR-engine record (DM order)
    position = np.full(adsl.height, -1, dtype=np.int64)  # ADSL row -> row of ``dm``
    position[best_rows] = np.arange(best_rows.shape[0], dtype=np.int64)
    best = best_overall_response(
        reported.select("USUBJID", "RSDTC", "OVRLRESP"),
        position[owner_kept],
        dm,
        coded=coded,
        **settings_used,
    )

    ovr_days = _days(reported["RSDTC"])
    part_days = []  # per subject-level parameter, in ``_SUBJECT_LEVEL``'s order (ORDER's after OVR)
    for _, value, day, is_flag in _SUBJECT_LEVEL:
        days = _days(best[day])
        if is_flag:
            days = np.where((best[value] == "Y").fill_null(False).to_numpy(), days, _NULL_DAY)
        part_days.append(days)
    if on_responders is not None:
        crsp_days = part_days[ORDER["CRSP"] - 1]
        on_responders(_responders(adsl, best, best_rows, crsp_days, owner_kept, ovr_days))

    rank = np.full(adsl.height, -1, dtype=np.int64)  # each enrolled subject's place in USUBJID order
    enrolled_rows = np.flatnonzero(enrolled)
    rank[enrolled_rows] = adsl["USUBJID"].gather(enrolled_rows).rank("dense").cast(pl.Int64).to_numpy() - 1

    all_days = np.concatenate([ovr_days, *part_days])
    packing = _DayOffsets(all_days)
    offsets = np.split(
        packing.offsets(all_days), np.cumsum([d.shape[0] for d in (ovr_days, *part_days)])[:-1]
    )
    ovr_rank = rank[owner_kept]
    ovr_key = packing.key(ovr_rank, ORDER["OVR"], offsets[0])
    ovr_order = np.argsort(ovr_key, kind="stable")
    ovr_sorted = ovr_key[ovr_order]

    # per part: the BOR-engine record of each ADRS record and the response behind its ADT (-1: none)
    subject = [owner_kept]
    ranks = [ovr_rank]
    parameter = [np.full(kept.shape[0], ORDER["OVR"], dtype=np.int8)]  # five parameters: one byte each
    source = [kept if everything else np.arange(kept.shape[0], dtype=np.int64)]  # each OVR record's response
    avalc = [reported["OVRLRESP"]]
    days_of = [ovr_days]
    offsets_of = [offsets[0]]
    best_rank = rank[best_rows]
    for (paramcd, value, _, _), days, offset in zip(_SUBJECT_LEVEL, part_days, offsets[1:], strict=True):
        query = packing.key(best_rank, ORDER["OVR"], offset)
        record, found = _matches(ovr_sorted, query, days != _NULL_DAY)
        expanded = record.shape[0] != best_rows.shape[0]
        subject.append(best_rows[record] if expanded else best_rows)
        ranks.append(best_rank[record] if expanded else best_rank)
        parameter.append(np.full(record.shape[0], ORDER[paramcd], dtype=np.int8))
        behind = ovr_order[np.maximum(found, 0)] if ovr_order.size else -1  # no response at all: none
        source.append(np.where(found >= 0, behind, -1))
        avalc.append(best[value].gather(record) if expanded else best[value])
        days_of.append(days[record] if expanded else days)
        offsets_of.append(offset[record] if expanded else offset)
    parameter_all = np.concatenate(parameter)
    order = _record_order(ovr_order, ranks, parameter_all, offsets_of, packing)
    return _records(
        adsl,
        reported,
        order,
        np.concatenate(subject),
        parameter_all,
        np.concatenate(source),
        avalc,
        days_of,
    )


def _responders(
    adsl: pl.DataFrame, best: pl.DataFrame, best_rows: Ints, crsp_days: Ints, owner: Ints, ovr_days: Ints
) -> pl.DataFrame:
    """``USUBJID STARTDT``: the CRSP records with AVALC ``Y`` and their ADT, in ADSL order, as the records
    built after it will hold them (:func:`oligotrial.endpoints.adtte.confirmed_responders` of the result)
    but known before them.

    Notes
    -----
    A subject with identical responses on the date of its first confirmed response has one CRSP record per
    such response (as every ADRS record with a source), counted here from each response's ADSL row
    (``owner``, never -1: the responses of enrolled subjects) and date (``ovr_days``); ``crsp_days`` is
    each BOR-engine record's CRSP ADT.
    """
    yes = (best["CRSP"] == "Y").fill_null(False).to_numpy()
    rows = best_rows[yes]
    day = crsp_days[yes]
    first_response = np.full(adsl.height, _NULL_DAY, dtype=np.int64)  # per ADSL row
    first_response[rows] = day
    on_it = first_response[owner] == ovr_days
    records = np.maximum(np.bincount(owner[on_it], minlength=adsl.height)[rows], 1)
    if bool((records > 1).any()):
        rows, day = np.repeat(rows, records), np.repeat(day, records)
    return pl.DataFrame(
        [adsl["USUBJID"].gather(rows), pl.Series("STARTDT", day, dtype=pl.Int64).cast(pl.Date)]
    )


def _days(dates: pl.Series) -> Ints:
    """Days since 1970, ``_NULL_DAY`` for null."""
    days: Ints = dates.cast(pl.Int64).fill_null(_NULL_DAY).to_numpy().astype(np.int64, copy=False)
    return days


class _DayOffsets:
    """The packed sort key (subject's rank, parameter, date; a null date last) in one int64: dates become
    offsets from the earliest, or dense codes when the offsets would not fit."""

    def __init__(self, days: Ints) -> None:
        known = days != _NULL_DAY
        any_known = bool(known.any())
        self.low = int(days.min()) if any_known else 0  # a null day is above every known one
        self.span = (int(days.max(where=known, initial=self.low)) - self.low + 2) if any_known else 1
        self.codes: Ints | None = None
        if self.span * len(ORDER) * (days.shape[0] + 1) >= 1 << 62:  # ranks are below the record count
            self.codes = np.unique(days[known])
            self.span = self.codes.shape[0] + 1

    def offsets(self, days: Ints) -> Ints:
        """Each day's place in the key (a null day last)."""
        offset: Ints = days - self.low if self.codes is None else np.searchsorted(self.codes, days)
        offset[days == _NULL_DAY] = self.span - 1
        return offset

    def key(self, rank: Ints, parameter: Params | int, offsets: Ints) -> Ints:
        """The packed key of (rank, parameter, day) from the days' :meth:`offsets`."""
        key: Ints = rank * len(ORDER)  # then in place: no temporary per operation
        key += parameter
        key *= self.span
        key += offsets
        return key


def _record_order(
    ovr_order: Ints, ranks: list[Ints], parameter: Params, offsets: list[Ints], packing: _DayOffsets
) -> Ints:
    """The records' order by subject's rank, parameter and date (nulls last), ties in input order: the
    records of every part concatenated, OVR first (``ovr_order`` its own order by rank and date).

    Notes
    -----
    The order of one stable argsort of the packed keys; when the subject-level parts come in rank order
    (ADSL in USUBJID order), a merge of the parts gives it without a sort
    (:func:`oligotrial.endpoints._kernels.merge_by_rank`).
    """
    from oligotrial.endpoints._kernels import merge_by_rank  # compiled on first use

    rest = ranks[1:]
    heads = np.zeros(len(rest) + 1, dtype=np.int64)
    heads[1:] = np.cumsum([part.shape[0] for part in rest])
    order = np.empty(ranks[0].shape[0] + int(heads[-1]), dtype=np.int64)
    if merge_by_rank(ovr_order, ranks[0], np.concatenate(rest), heads, order):
        return order
    merged: Ints = np.argsort(
        packing.key(np.concatenate(ranks), parameter, np.concatenate(offsets)), kind="stable"
    )
    return merged


def _matches(ordered: Ints, query: Ints, wanted: npt.NDArray[np.bool_]) -> tuple[Ints, Ints]:
    """For each ``query`` (``wanted`` ones only), its equal entries of the sorted ``ordered``.

    Returns the query of each match and the match's position in ``ordered``: one pair per match, in
    query order, and ``(query, -1)`` for a query with none (or not wanted).
    """
    from oligotrial.endpoints._kernels import match_runs  # compiled on first use

    low = np.empty(query.shape[0], dtype=np.int64)
    count = np.empty(query.shape[0], dtype=np.int64)
    match_runs(
        np.ascontiguousarray(ordered, dtype=np.int64),
        np.ascontiguousarray(query, dtype=np.int64),
        np.ascontiguousarray(wanted, dtype=np.bool_),
        low,
        count,
    )
    if not (count > 1).any():  # the usual case: at most one match per query
        return np.arange(query.shape[0], dtype=np.int64), low
    # two records of one subject on one date: one ADRS record per source record
    repeat = np.maximum(count, 1)
    record = np.repeat(np.arange(query.shape[0], dtype=np.int64), repeat)
    first = np.cumsum(repeat) - repeat
    step = np.arange(record.shape[0], dtype=np.int64) - first[record]
    found = np.where(count[record] > 0, low[record] + step, -1).astype(np.int64)
    return record, found


def _records(
    adsl: pl.DataFrame,
    reported: pl.DataFrame,
    order: Ints,
    subject: Ints,
    parameter: Params,
    source: Ints,
    avalc: list[pl.Series],
    days: list[Ints],
) -> pl.DataFrame:
    """The ADRS frame: every column gathered once in the final ``order``.

    Notes
    -----
    ADSL's columns are one gather of ADSL's rows (polars checks the positions once for all of them); the
    others are the expressions of one ``select`` over the records' positions (parameter, AVALC's place,
    source row) and their dates, so that polars gathers them side by side on its own threads. The
    responses of one study share one SRCDOM (RS, or TR when the RECIST engine derived them), so SRCDOM
    and SRCVAR are then that constant wherever a record has a source record (null elsewhere) rather than
    two gathers; the positions are unsigned 32-bit, polars' own index type (cast by numpy), so that no
    gather converts them. Every column is gathered from one chunk: from a column of several (RS as a CSV
    reader hands it over, AVALC's parts concatenated) polars copies each value one by one, text included,
    which costs several times the copy into one chunk and the gather from it.
    """
    index = np.uint32 if order.shape[0] < 1 << 32 else np.uint64  # cast by numpy: polars' cast checks
    rows = pl.Series("subject", subject[order].astype(index))
    day = np.concatenate(days)[order]
    positions = pl.DataFrame(
        [
            pl.Series("parameter", parameter[order].astype(index)),
            pl.Series("avalc", order.astype(index)),
            nullable_rows(source[order]).alias("source"),
        ]
    )
    has_source = pl.col("source").is_not_null()
    srcdom = reported["SRCDOM"]
    domain = srcdom[0] if srcdom.len() and srcdom.null_count() == 0 else None
    if domain is not None and (srcdom == domain).all():
        sources = [
            pl.when(has_source).then(pl.lit(domain, pl.Utf8)).alias("SRCDOM"),
            pl.when(has_source).then(pl.lit(_SRCVAR.get(domain), pl.Utf8)).alias("SRCVAR"),
        ]
    else:
        srcvar = reported.select(
            pl.col("SRCDOM").replace_strict(_SRCVAR, default=None, return_dtype=pl.Utf8)
        ).to_series()
        sources = [_gather(srcdom, "source").alias("SRCDOM"), _gather(srcvar, "source").alias("SRCVAR")]
    columns = positions.select(
        _gather(pl.Series("PARAMCD", list(ADRS_PARAMS), dtype=pl.Utf8), "parameter"),
        _gather(pl.Series("PARAM", list(ADRS_PARAMS.values()), dtype=pl.Utf8), "parameter"),
        _gather(pl.concat(avalc, rechunk=True).alias("AVALC"), "avalc"),
        dates_of("ADT", day, day != _NULL_DAY),
        pl.lit("Y").alias("ENRLFL"),  # every record is an enrolled subject's
        *sources,
        _gather(reported["RSSEQ"].rechunk().alias("SRCSEQ"), "source"),
    )
    # ADSL's columns gathered as a frame: the positions checked once for all of them, and a column of one
    # value (STUDYID, :func:`derive_adsl`) kept as that value
    keys = adsl.select(_KEYS).rechunk().gather(rows)
    return pl.concat([keys, columns], how="horizontal").select(_COLUMNS)


def _gather(values: pl.Series, positions: str) -> pl.Expr:
    """``values`` at the positions of the column ``positions``, named as ``values``."""
    return pl.lit(values).gather(pl.col(positions)).alias(values.name)
