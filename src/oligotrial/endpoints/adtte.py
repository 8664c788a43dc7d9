"""ADTTE: time-to-event parameters (PFS, OS, PFS from enrollment, DoR) from event and censoring sources
declared in the protocol file."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial._days import dates_of
from oligotrial.endpoints._parallel import Offered, offer, run_here
from oligotrial.endpoints.sdtm import (
    Study,
    adsl_rows_of,
    derive_overall_responses,
    nullable_rows,
    subject_rows_of,
)
from oligotrial.protocol.models import Protocol, TimeToEventEndpoint

__all__ = ["Assessments", "assessment_rows", "confirmed_responders", "derive_adtte", "derive_adtte_from"]

_ORIGIN_COLUMN = {"randomization": "RANDDT", "enrollment": "ENRLDT"}
_POPULATION_FLAG = {"ITT": "ITTFL", "ENROLLED": "ENRLFL", "SAFETY": "SAFFL"}
Ints = npt.NDArray[np.int64]


def derive_adtte(study: Study, adsl: pl.DataFrame, adrs: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """Derive every time-to-event endpoint of the protocol.

    Returns
    -------
    polars.DataFrame
        ``STUDYID USUBJID PARAMCD PARAM STARTDT ADT AVAL AVALU CNSR EVNTDESC CNSDTDSC SRCDOM SRCVAR SRCSEQ``
        plus ``TRT01P TRT01A ITTFL ENRLFL`` and the ADSL strata, one record per subject of each endpoint's
        population.

    Notes
    -----
    Per subject, from the origin (``STARTDT``: randomization, enrollment, or the response date ADRS CRSP
    ``ADT`` for DoR), with *adequate* meaning an overall response other than NE on or after the origin, the
    first listed rule that applies decides (PROTOCOL.md section 5; FDA, *Clinical Trial Endpoints for the
    Approval of Cancer Drugs and Biologics*, 2018, Table; pharmaverse admiral ``derive_param_tte``):

    1. ``no_baseline_assessment``: no tumour assessment at baseline (no TR record on or before the first dose;
       without TR, no TU record; without either, every subject is taken to have one): censored at the origin.
    2. ``new_anticancer_therapy``: a subsequent anticancer therapy (ADSL NATSDT) starting on or after the
       origin and before the event (or with no event): censored at the last adequate assessment on or before
       its start (the origin when there is none).
    3. ``missed_assessments`` (``count`` k): the event follows the last adequate assessment before it (the
       origin when there is none) by more than k x the assessment interval in force at that assessment
       (from the first dose, ``assessments.periods``) + the window: censored at that assessment (or origin).
    4. ``death_before_first_assessment``: the event is a death with no adequate assessment between the origin
       and the death: censored at the origin. Not listed (the default), such a death is an event.
    5. An event: the earliest of the listed event sources, ``progression`` (the first PD on or after the
       origin) or ``death``; on the same day progression wins. An event on the day a censoring reason would
       start (e.g. new therapy on the day of PD) stays an event.
    6. No event: ``last_known_alive`` (ADSL LSTALVDT, not before the origin), or ``last_adequate_assessment``,
       else ``origin``.

    ``AVAL = ADT - STARTDT + 1`` days. ``SRCDOM/SRCVAR/SRCSEQ`` name the record behind ``ADT``: RS (or TR)
    for assessments, DM DTHDTC for deaths, ADSL for origins and the last known alive date.
    """
    return derive_adtte_from(study, adsl, lambda: confirmed_responders(adrs), protocol)


def confirmed_responders(adrs: pl.DataFrame) -> pl.DataFrame:
    """``USUBJID STARTDT``: the ADRS CRSP ``Y`` records and their ADT, the first confirmed response (DoR's
    origin), one row per such record."""
    return adrs.filter((pl.col("PARAMCD") == "CRSP") & (pl.col("AVALC") == "Y")).select(
        "USUBJID", pl.col("ADT").alias("STARTDT")
    )


def derive_adtte_from(
    study: Study, adsl: pl.DataFrame, responders: Callable[[], pl.DataFrame], protocol: Protocol
) -> pl.DataFrame:
    """:func:`derive_adtte` with :func:`confirmed_responders` given by a function, called only for an
    endpoint that starts at the first response (DoR), after every other endpoint is derived: ADRS may still
    be derived meanwhile."""
    # sorted and coded once: every per-subject "first" and "last" below reads this order
    owners = adsl_rows_of(study, adsl["USUBJID"], study.overall_response_subjects)
    assessments = Assessments.of(derive_overall_responses(study), adsl, owners)
    baseline, aligned = _subjects_with_baseline(study, adsl)
    strata = [c for c in adsl.columns if c.startswith("STRAT")]
    carried = ["TRT01P", "TRT01A", "ITTFL", "ENRLFL", *strata]
    # the baseline flag and the ADSL variables every record carries, joined once for all endpoints (only
    # the variables read below: the rest of ADSL is not copied per endpoint)
    read = ["STUDYID", "USUBJID", "TRTSDT", "DTHDT", "NATSDT", "LSTALVDT", *carried]
    read += [c for c in (*_ORIGIN_COLUMN.values(), *_POPULATION_FLAG.values()) if c in adsl.columns]
    selected = adsl.select(list(dict.fromkeys(read)))
    if aligned:  # one flag per ADSL row, in ADSL order: the join would only put it back in place
        selected = selected.with_columns(baseline["_HASBL"])
    else:
        selected = selected.join(baseline, on="USUBJID", how="left", maintain_order="left")
    with_baseline = selected.with_columns(
        pl.col("_HASBL").fill_null(baseline.is_empty()),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_I"),  # the ADSL row
        *_period_ends(selected["TRTSDT"], protocol),
    )
    endpoints = [e for e in protocol.endpoints if isinstance(e, TimeToEventEndpoint)]
    if not endpoints:
        return pl.DataFrame()

    def derive(endpoint: TimeToEventEndpoint) -> pl.DataFrame:
        source = responders() if endpoint.origin == "first_response" else None
        subjects = _population(endpoint, with_baseline, source, carried)
        return _derive_parameter(endpoint, subjects, assessments, protocol, carried)

    # the endpoints that do not read ADRS first (``responders`` may come from a part still running), each
    # but the first offered to a free worker of the pool; this thread then runs every part no worker has
    # started (rather than wait for one a worker is running) and the results are read in that order, so
    # the first error in it is the one raised
    ordered = sorted(enumerate(endpoints), key=lambda item: item[1].origin == "first_response")
    parts = [
        (n, None if k == 0 or endpoint.origin == "first_response" else offer(partial(derive, endpoint)))
        for k, (n, endpoint) in enumerate(ordered)
    ]
    frames: dict[int, pl.DataFrame] = {}
    pending: list[tuple[int, Offered[pl.DataFrame] | Future[pl.DataFrame]]] = []
    for k, (n, part) in enumerate(parts):
        if k == 0:
            frames[n] = derive(endpoints[n])  # its error at once, before any other part's
        elif part is None:
            pending.append((n, run_here(partial(derive, endpoints[n]))))
        else:
            part.run_if_unclaimed()
            pending.append((n, part))
    for n, done in pending:
        frames[n] = done.result()
    return pl.concat([frames[n] for n in range(len(endpoints))], how="vertical_relaxed").select(
        "STUDYID", "USUBJID", "PARAMCD", "PARAM", "STARTDT", "ADT", "AVAL", "AVALU", "CNSR", "EVNTDESC",
        "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ", "TRT01P", "TRT01A", "ITTFL", "ENRLFL", *strata,
    )  # fmt: skip


def _subjects_with_baseline(study: Study, adsl: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """USUBJID with ``_HASBL`` true for subjects that have a baseline tumour assessment, and whether that
    frame is ADSL's subjects row for row (from TR). Empty when the study has neither TR nor TU (then every
    subject is taken to have a baseline)."""
    if study.tr is not None:
        # a TR record on or before the first dose: the subject's earliest TR date decides (any record when
        # there is no first dose)
        from oligotrial.endpoints._kernels import NEVER

        first, any_tr = study.first_tumour_results
        at = subject_rows_of(adsl["USUBJID"], study.dm["USUBJID"])
        first_dose = adsl["TRTSDT"].cast(pl.Int64)
        no_dose = first_dose.is_null().to_numpy()
        on_or_before = first[at] <= first_dose.fill_null(NEVER).to_numpy()
        flags = adsl.select("USUBJID").with_columns(
            pl.Series("_HASBL", (at >= 0) & any_tr[at] & (no_dose | on_or_before))
        )
        return flags, True
    if study.tu is not None:
        found = study.tu.select("USUBJID")
    else:
        return pl.DataFrame(schema={"USUBJID": pl.Utf8, "_HASBL": pl.Boolean}), False
    has = found.select("USUBJID").unique().with_columns(pl.lit(True).alias("_HASBL"))
    joined = (
        adsl.select("USUBJID")
        .join(has, on="USUBJID", how="left")
        .with_columns(pl.col("_HASBL").fill_null(False))
    )
    return joined, False


def _population(
    endpoint: TimeToEventEndpoint, adsl: pl.DataFrame, responders: pl.DataFrame | None, carried: list[str]
) -> pl.DataFrame:
    columns = [
        "STUDYID",
        "USUBJID",
        "STARTDT",
        "TRTSDT",
        "DTHDT",
        "NATSDT",
        "LSTALVDT",
        "_HASBL",
        "_I",
        *(c for c in adsl.columns if c.startswith("_PERIODEND")),
        *carried,
    ]
    flag = _POPULATION_FLAG.get(endpoint.population)
    if endpoint.origin == "first_response":
        assert responders is not None
        read = [c for c in dict.fromkeys([*columns, *([flag] if flag else [])]) if c != "STARTDT"]
        # only the columns read below: the join gathers fewer
        subjects = adsl.select(read).join(responders, on="USUBJID", maintain_order="left")
    else:
        column = _ORIGIN_COLUMN[endpoint.origin]
        subjects = adsl.with_columns(pl.col(column).alias("STARTDT"))
    keep = pl.col("STARTDT").is_not_null()
    if flag is not None:
        keep = (pl.col(flag) == "Y") & keep  # one filter (one copy of the columns)
    return subjects.filter(keep).select(columns)


@dataclass(frozen=True)
class Assessments:
    """The overall responses sorted by subject and date, coded once for every endpoint: each subject's
    row segment (``heads``: offsets, the number of rows last) and its ADSL row (``adsl_row``, -1 when
    absent), and per row the date (days since 1970), PD and adequate (not NE) flags; ``domain`` is the SRCDOM
    all of them share (one study's responses come from RS, or all from the RECIST engine on TR), else None."""

    records: pl.DataFrame
    domain: str | None  # the SRCDOM of every record, when they share one (else None)
    heads: Ints
    adsl_row: Ints
    date: Ints
    is_pd: npt.NDArray[np.bool_]
    adequate: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, responses: pl.DataFrame, adsl: pl.DataFrame, owners: Ints | None = None) -> Assessments:
        """``responses`` as ``USUBJID RSDTC OVRLRESP RSSEQ SRCDOM``; ``adsl`` gives the row numbers, or
        ``owners`` gives each response's ADSL row (-1 when absent) directly: the responses are then put in
        (ADSL row, date) order by one integer sort instead of a sort on USUBJID text and a join. Either way,
        each subject's records are in date order (a null date first), ties in input order."""
        from oligotrial.endpoints._kernels import BEFORE_ALL

        if owners is None:
            records = responses.sort("USUBJID", "RSDTC", maintain_order=True)
            subject = records["USUBJID"]
            starts = np.flatnonzero(subject.ne_missing(subject.shift(1)).fill_null(True).to_numpy())
            index = adsl.select("USUBJID", pl.int_range(pl.len(), dtype=pl.Int64).alias("_I"))
            adsl_row = (
                subject.gather(starts)
                .to_frame()
                .join(index, on="USUBJID", how="left", maintain_order="left")["_I"]
                .fill_null(-1)
                .to_numpy()
            )
        else:
            order = _owner_date_order(owners, responses["RSDTC"].cast(pl.Int64))
            records = responses if order is None else responses[order]
            owner = owners if order is None else owners[order]
            starts = np.flatnonzero(np.diff(owner, prepend=-2))
            adsl_row = owner[starts]
        flags = records.select(
            pl.col("RSDTC").cast(pl.Int64).fill_null(BEFORE_ALL).alias("date"),
            (pl.col("OVRLRESP") == "PD").fill_null(False).alias("pd"),
            (pl.col("OVRLRESP") != "NE").fill_null(False).alias("adequate"),
        )
        domains = records["SRCDOM"]
        shared = domains[0] if domains.len() and domains.null_count() == 0 else None
        return cls(
            # gathered per endpoint, so in one chunk (see :func:`oligotrial.endpoints.adrs._records`)
            records=records.select("RSDTC", "RSSEQ", "SRCDOM").rechunk(),
            domain=shared if shared is not None and bool((domains == shared).all()) else None,
            heads=np.append(starts, records.height).astype(np.int64),
            adsl_row=adsl_row.astype(np.int64),
            date=flags["date"].to_numpy(),
            is_pd=flags["pd"].to_numpy(),
            adequate=flags["adequate"].to_numpy(),
        )


def _owner_date_order(owner: Ints, day: pl.Series) -> Ints | None:
    """The stable order of (owner, day, a null day first) as positions; ``None`` when already in it."""
    known = day.drop_nulls().to_numpy()
    low = int(known.min()) if known.size else 0
    span = (int(known.max()) - low + 2) if known.size else 1
    offset = day.cast(pl.Int64).fill_null(low - 1).to_numpy() - (low - 1)  # a null day: 0
    if (int(owner.max(initial=-1)) + 2) * span < 1 << 62:
        key = (owner + 1) * span + offset
        if key.size < 2 or bool((key[1:] >= key[:-1]).all()):
            return None
        order: Ints = np.argsort(key, kind="stable")
        return order
    order = np.lexsort((offset, owner))  # stable too
    return None if bool((order == np.arange(order.size)).all()) else order


def assessment_rows(assessments: Assessments, subjects: pl.DataFrame, progression: bool, death: bool) -> Ints:
    """Per row of ``subjects`` (``_I`` its ADSL row, ``STARTDT DTHDT NATSDT``): the rows of
    ``assessments.records`` of the first PD on or after the origin, the last adequate assessment, the last on
    or before the new therapy and the last before the event (the earliest of the first PD and DTHDT, each
    when an event source), as ``(subjects, 4)`` row numbers, -1 where there is none.

    Notes
    -----
    One compiled pass over the sorted assessments
    (:func:`oligotrial.endpoints._kernels.scan_assessments`); the rules are those of :func:`derive_adtte`
    (PROTOCOL.md section 5).
    """
    from oligotrial.endpoints._kernels import BEFORE_ALL, NEVER, scan_assessments

    n_adsl = int(max(assessments.adsl_row.max(initial=-1), subjects["_I"].max() or 0)) + 1
    population_row = np.full(n_adsl, -1, dtype=np.int64)
    population_row[subjects["_I"].to_numpy()] = np.arange(subjects.height, dtype=np.int64)
    known = assessments.adsl_row >= 0
    owner = np.where(known, population_row[np.where(known, assessments.adsl_row, 0)], -1)
    found: Ints = scan_assessments(
        assessments.heads,
        owner.astype(np.int64),
        assessments.date,
        assessments.is_pd,
        assessments.adequate,
        _days(subjects["STARTDT"], NEVER),
        _days(subjects["DTHDT"], NEVER) if death else np.full(subjects.height, NEVER, dtype=np.int64),
        _days(subjects["NATSDT"], BEFORE_ALL),
        progression,
    )
    return found


def _days(dates: pl.Series, null: int) -> Ints:
    """Days since 1970 as int64, ``null`` for a null date."""
    days: Ints = dates.cast(pl.Int64).fill_null(null).to_numpy().astype(np.int64, copy=False)
    return days


class _Records:
    """One endpoint's records as integer columns: the date (``NEVER`` for none), CNSR (-1 for none), the
    assessment behind the date (-1 for none), and codes into a small table of texts (-1 for null) for
    EVNTDESC, CNSDTDSC, SRCDOM and SRCVAR (SRCDOM -1 with an assessment: the assessment's own)."""

    def __init__(self, n: int) -> None:
        from oligotrial.endpoints._kernels import NEVER

        self.texts: list[str] = []
        self.adt = np.full(n, NEVER, dtype=np.int64)
        self.cnsr = np.full(n, -1, dtype=np.int64)
        self.row = np.full(n, -1, dtype=np.int64)
        self.text = {c: np.full(n, -1, dtype=np.int64) for c in ("EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR")}

    def code(self, text: str | None) -> int:
        """The code of ``text`` in the table (-1 for None)."""
        if text is None:
            return -1
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text)


def _derive_parameter(
    endpoint: TimeToEventEndpoint,
    subjects: pl.DataFrame,
    assessments: Assessments,
    protocol: Protocol,
    carried: list[str],
) -> pl.DataFrame:
    """One endpoint's records, with the ADSL variables ``carried``: the first outcome that applies, in the
    order of :func:`derive_adtte`'s Notes, decides each subject's record (none applies: all null).

    Notes
    -----
    The outcomes are tried subject by subject in one compiled pass
    (:func:`oligotrial.endpoints._kernels.decide_outcomes`), after the one that finds each subject's
    assessments (:func:`assessment_rows`).
    """
    from oligotrial.endpoints import _kernels as k

    listed = {e.source: e for e in endpoint.events}
    rows = assessment_rows(assessments, subjects, "progression" in listed, "death" in listed)
    n = subjects.height
    records = _Records(n)
    origin_dom, origin_var = ("ADRS", "ADT") if endpoint.origin == "first_response" else ("ADSL", None)
    if origin_var is None:
        origin_var = _ORIGIN_COLUMN[endpoint.origin]
    codes = np.full(9, -1, dtype=np.int64)
    codes[k.CODE_ORIGIN_DOMAIN] = records.code(origin_dom)
    codes[k.CODE_ORIGIN_VARIABLE] = records.code(origin_var)
    codes[k.CODE_ASSESSMENT_VARIABLE] = records.code("RSDTC")
    codes[k.CODE_PROGRESSION] = records.code(
        listed["progression"].description if "progression" in listed else None
    )
    codes[k.CODE_DEATH] = records.code(listed["death"].description if "death" in listed else None)
    codes[k.CODE_DEATH_DOMAIN] = records.code("DM")
    codes[k.CODE_DEATH_VARIABLE] = records.code("DTHDTC")
    codes[k.CODE_ALIVE_DOMAIN] = records.code("ADSL")
    codes[k.CODE_ALIVE_VARIABLE] = records.code("LSTALVDT")
    steps: list[tuple[int, int, int]] = []  # (kind, CNSR, CNSDTDSC code) in the order they are tried
    missed_count = 0
    for kind, name in (
        (k.NO_BASELINE, "no_baseline_assessment"),
        (k.NEW_THERAPY, "new_anticancer_therapy"),
        (k.MISSED, "missed_assessments"),
        (k.DEATH_BEFORE_FIRST, "death_before_first_assessment"),
        (k.EVENT, None),
        (k.LAST_KNOWN_ALIVE, "last_known_alive"),
        (k.LAST_ADEQUATE, "last_adequate_assessment"),
        (k.ORIGIN, "origin"),
    ):
        source = endpoint.censor_source(name) if name is not None else None
        if source is not None:
            steps.append((kind, source.cnsr, records.code(source.description)))
            missed_count = source.count or missed_count
        elif name is None:  # the event: its CNSR and descriptions are the kernel's own
            steps.append((kind, 0, -1))
    kinds = [step[0] for step in steps]
    periods = protocol.assessments.periods
    none = np.full(n, k.NEVER, dtype=np.int64)
    k.decide_outcomes(
        np.array(kinds, dtype=np.int64),
        np.array([step[1] for step in steps], dtype=np.int64),
        np.array([step[2] for step in steps], dtype=np.int64),
        codes,
        missed_count,
        np.ascontiguousarray(rows),
        assessments.date if assessments.date.size else np.zeros(1, dtype=np.int64),
        _days(subjects["STARTDT"], k.NEVER),
        _days(subjects["DTHDT"], k.NEVER) if "death" in listed else none,
        _days(subjects["NATSDT"], k.NEVER) if k.NEW_THERAPY in kinds else none,
        _days(subjects["LSTALVDT"], k.NEVER) if k.LAST_KNOWN_ALIVE in kinds else none,
        subjects["_HASBL"].to_numpy() if k.NO_BASELINE in kinds else np.ones(n, dtype=np.bool_),
        _period_ends_of(subjects, len(periods)) if k.MISSED in kinds else np.zeros((n, 0), dtype=np.int64),
        np.array([p.interval_days for p in periods], dtype=np.int64),
        np.array([p.window_days for p in periods], dtype=np.int64),
        "progression" in listed,
        records.adt,
        records.cnsr,
        records.row,
        records.text["EVNTDESC"],
        records.text["CNSDTDSC"],
        records.text["SRCDOM"],
        records.text["SRCVAR"],
    )
    return _as_frame(endpoint, subjects, assessments, records, carried)


def _as_frame(
    endpoint: TimeToEventEndpoint,
    subjects: pl.DataFrame,
    assessments: Assessments,
    records: _Records,
    carried: list[str],
) -> pl.DataFrame:
    """The endpoint's ADTTE frame from its integer records: each text column one gather from the small
    table of texts (SRCDOM of an assessment from the assessment's record)."""
    from oligotrial.endpoints._kernels import NEVER

    row = nullable_rows(records.row)
    domain = records.text["SRCDOM"]
    own = (records.row >= 0) & (domain < 0)  # SRCDOM from the assessment's record
    own_dom: pl.Series | None = None
    if assessments.domain is not None:  # one domain for every assessment: a text of the table
        domain[own] = records.code(assessments.domain)
    elif own.any():
        own_dom = assessments.records["SRCDOM"].gather(row)
    texts = pl.Series(records.texts, dtype=pl.Utf8)
    cnsr = pl.Series(records.cnsr, dtype=pl.Int64)
    codes = {column: nullable_rows(code) for column, code in records.text.items()}
    srcdom = texts.gather(codes["SRCDOM"])
    if own_dom is not None:
        srcdom = pl.select(pl.when(pl.Series(own)).then(own_dom).otherwise(srcdom)).to_series()
    return subjects.select(
        "STUDYID",
        "USUBJID",
        pl.lit(endpoint.paramcd).alias("PARAMCD"),
        pl.lit(endpoint.param).alias("PARAM"),
        "STARTDT",
        dates_of("ADT", records.adt, records.adt != NEVER),
        *carried,
    ).with_columns(
        ((pl.col("ADT") - pl.col("STARTDT")).dt.total_days() + 1).cast(pl.Float64).alias("AVAL"),
        pl.lit("DAYS").alias("AVALU"),
        pl.when(cnsr >= 0).then(cnsr).alias("CNSR"),
        texts.gather(codes["EVNTDESC"]).alias("EVNTDESC"),
        texts.gather(codes["CNSDTDSC"]).alias("CNSDTDSC"),
        srcdom.alias("SRCDOM"),
        texts.gather(codes["SRCVAR"]).alias("SRCVAR"),
        assessments.records["RSSEQ"].gather(row).cast(pl.Int64).alias("SRCSEQ"),
    )


def _period_ends(first_dose: pl.Series, protocol: Protocol) -> list[pl.Series]:
    """Per subject, the last day of each assessment period (``_PERIODENDk``: the first dose ``first_dose`` +
    ``until_months`` of period k, calendar months), computed once for every endpoint.

    Notes
    -----
    polars' ``dt.offset_by`` of each day from the earliest to the latest first dose (a trial's doses span a
    few thousand days), then gathered per subject: the same dates as offsetting each subject's own (each
    is a function of the date alone), for fewer calendar computations; when the span is longer than the
    column, each subject's date is offset instead.
    """
    periods = protocol.assessments.periods
    days = first_dose.cast(pl.Int32)
    low, high = days.min(), days.max()
    if not isinstance(low, int) or not isinstance(high, int) or high - low >= first_dose.len():
        return [
            first_dose.dt.offset_by(f"{period.until_months}mo").alias(f"_PERIODEND{k}")
            for k, period in enumerate(periods)
        ]
    span = pl.Series(np.arange(low, high + 1, dtype=np.int32)).cast(pl.Date)
    at = days - low  # null without a first dose: a null end
    return [
        span.dt.offset_by(f"{period.until_months}mo").gather(at).alias(f"_PERIODEND{k}")
        for k, period in enumerate(periods)
    ]


def _period_ends_of(subjects: pl.DataFrame, periods: int) -> Ints:
    """``(subjects, periods)``: the last day of each assessment period (``_PERIODENDk``, :func:`_period_ends`)
    in days since 1970, ``NEVER`` where there is none (no first dose)."""
    from oligotrial.endpoints._kernels import NEVER

    ends = np.empty((subjects.height, periods), dtype=np.int64)
    for k in range(periods):
        ends[:, k] = _days(subjects[f"_PERIODEND{k}"], NEVER)
    return ends
