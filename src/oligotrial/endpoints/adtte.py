"""ADTTE: time-to-event parameters (PFS, OS, PFS from enrollment, DoR) from event and censoring sources
declared in the protocol file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.endpoints.sdtm import Study, derive_overall_responses, subject_rows_of
from oligotrial.protocol.models import CensorSource, Protocol, TimeToEventEndpoint

__all__ = ["Assessments", "assessment_lookups", "derive_adtte"]

_ORIGIN_COLUMN = {"randomization": "RANDDT", "enrollment": "ENRLDT"}
_POPULATION_FLAG = {"ITT": "ITTFL", "ENROLLED": "ENRLFL", "SAFETY": "SAFFL"}
_OUTPUT = ("ADT", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ")
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
    # sorted and coded once: every per-subject "first" and "last" below reads this order
    assessments = Assessments.of(derive_overall_responses(study), adsl)
    baseline = _subjects_with_baseline(study, adsl)
    strata = [c for c in adsl.columns if c.startswith("STRAT")]
    carried = ["TRT01P", "TRT01A", "ITTFL", "ENRLFL", *strata]
    # the baseline flag and the ADSL variables every record carries, joined once for all endpoints
    with_baseline = adsl.join(baseline, on="USUBJID", how="left", maintain_order="left").with_columns(
        pl.col("_HASBL").fill_null(baseline.is_empty()),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_I"),  # the ADSL row
    )
    frames = []
    for endpoint in protocol.endpoints:
        if not isinstance(endpoint, TimeToEventEndpoint):
            continue
        subjects = _population(endpoint, with_baseline, adrs, carried)
        frames.append(_derive_parameter(endpoint, subjects, assessments, protocol, carried))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="vertical_relaxed").select(
        "STUDYID", "USUBJID", "PARAMCD", "PARAM", "STARTDT", "ADT", "AVAL", "AVALU", "CNSR", "EVNTDESC",
        "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ", "TRT01P", "TRT01A", "ITTFL", "ENRLFL", *strata,
    )  # fmt: skip


def _subjects_with_baseline(study: Study, adsl: pl.DataFrame) -> pl.DataFrame:
    """USUBJID with ``_HASBL`` true for subjects that have a baseline tumour assessment. Empty when the study
    has neither TR nor TU (then every subject is taken to have a baseline)."""
    if study.tr is not None:
        # a TR record on or before the first dose: the subject's earliest TR date decides (any record when
        # there is no first dose)
        from oligotrial.endpoints._kernels import NEVER

        rows = study.subject_rows_in("TR", study.tr)
        days = _tr_dates(study.tr["TRDTC"]).cast(pl.Int64).fill_null(NEVER).to_numpy()
        known = rows >= 0
        first = np.full(study.dm.height, NEVER, dtype=np.int64)
        np.minimum.at(first, rows[known], days[known])
        any_tr = np.zeros(study.dm.height, dtype=np.bool_)
        any_tr[rows[known]] = True
        at = subject_rows_of(adsl["USUBJID"], study.dm["USUBJID"])
        first_dose = adsl["TRTSDT"].cast(pl.Int64)
        no_dose = first_dose.is_null().to_numpy()
        on_or_before = first[at] <= first_dose.fill_null(NEVER).to_numpy()
        return adsl.select("USUBJID").with_columns(
            pl.Series("_HASBL", (at >= 0) & any_tr[at] & (no_dose | on_or_before))
        )
    if study.tu is not None:
        found = study.tu.select("USUBJID")
    else:
        return pl.DataFrame(schema={"USUBJID": pl.Utf8, "_HASBL": pl.Boolean})
    has = found.select("USUBJID").unique().with_columns(pl.lit(True).alias("_HASBL"))
    return (
        adsl.select("USUBJID")
        .join(has, on="USUBJID", how="left")
        .with_columns(pl.col("_HASBL").fill_null(False))
    )


def _tr_dates(text: pl.Series) -> pl.Series:
    """TR dates (the date part of TRDTC; unparseable: null), with the format polars infers from the first
    value (``str.to_date`` without a format).

    Notes
    -----
    Parsing with an explicit format is several times faster than with an inferred one. When every value is
    an ISO 8601 date (the SDTM convention, SDTMIG 3.4 section 4.4.1) the inferred format is ``%Y-%m-%d``, so
    the explicit parse gives the same dates; otherwise the inferring parse decides, as before.
    """
    day = text.cast(pl.Utf8).str.slice(0, 10)
    iso = day.str.to_date("%Y-%m-%d", strict=False)
    if iso.null_count() == day.null_count():
        return iso.alias("TRDTC")
    return day.str.to_date(strict=False).alias("TRDTC")


def _population(
    endpoint: TimeToEventEndpoint, adsl: pl.DataFrame, adrs: pl.DataFrame, carried: list[str]
) -> pl.DataFrame:
    if endpoint.origin == "first_response":
        response = adrs.filter((pl.col("PARAMCD") == "CRSP") & (pl.col("AVALC") == "Y")).select(
            "USUBJID", pl.col("ADT").alias("STARTDT")
        )
        subjects = adsl.join(response, on="USUBJID")
        origin_var = ("ADRS", "ADT")
    else:
        column = _ORIGIN_COLUMN[endpoint.origin]
        subjects = adsl.with_columns(pl.col(column).alias("STARTDT"))
        origin_var = ("ADSL", column)
    if endpoint.population in _POPULATION_FLAG:
        subjects = subjects.filter(pl.col(_POPULATION_FLAG[endpoint.population]) == "Y")
    return subjects.filter(pl.col("STARTDT").is_not_null()).select(
        "STUDYID",
        "USUBJID",
        "STARTDT",
        "TRTSDT",
        "DTHDT",
        "NATSDT",
        "LSTALVDT",
        "_HASBL",
        "_I",
        *carried,
        pl.lit(origin_var[0]).alias("_ORIGDOM"),
        pl.lit(origin_var[1]).alias("_ORIGVAR"),
    )


@dataclass(frozen=True)
class _Outcome:
    """One way a subject's record is decided: a condition and the value of each output column."""

    when: pl.Expr
    values: dict[str, pl.Expr]


def _censored(
    source: CensorSource, date: str, srcdom: pl.Expr, srcvar: pl.Expr, srcseq: pl.Expr
) -> dict[str, pl.Expr]:
    return {
        "ADT": pl.col(date),
        "CNSR": pl.lit(source.cnsr),
        "EVNTDESC": pl.lit(None, pl.Utf8),
        "CNSDTDSC": pl.lit(source.description),
        "SRCDOM": srcdom,
        "SRCVAR": srcvar,
        "SRCSEQ": srcseq,
    }


@dataclass(frozen=True)
class Assessments:
    """The overall responses sorted by subject and date, coded once for every endpoint: each subject's
    row segment (``heads``: offsets, the number of rows last) and its ADSL row (``adsl_row``, -1 when
    absent), and per row the date (days since 1970), PD and adequate (not NE) flags."""

    records: pl.DataFrame
    heads: Ints
    adsl_row: Ints
    date: Ints
    is_pd: npt.NDArray[np.bool_]
    adequate: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, responses: pl.DataFrame, adsl: pl.DataFrame) -> Assessments:
        """``responses`` as ``USUBJID RSDTC OVRLRESP RSSEQ SRCDOM``; ``adsl`` gives the row numbers."""
        from oligotrial.endpoints._kernels import BEFORE_ALL

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
        flags = records.select(
            pl.col("RSDTC").cast(pl.Int64).fill_null(BEFORE_ALL).alias("date"),
            (pl.col("OVRLRESP") == "PD").fill_null(False).alias("pd"),
            (pl.col("OVRLRESP") != "NE").fill_null(False).alias("adequate"),
        )
        return cls(
            records=records.select("RSDTC", "RSSEQ", "SRCDOM"),
            heads=np.append(starts, records.height).astype(np.int64),
            adsl_row=adsl_row.astype(np.int64),
            date=flags["date"].to_numpy(),
            is_pd=flags["pd"].to_numpy(),
            adequate=flags["adequate"].to_numpy(),
        )


def assessment_lookups(
    assessments: Assessments, subjects: pl.DataFrame, progression: bool, death: bool
) -> pl.DataFrame:
    """Per row of ``subjects`` (``_I`` its ADSL row, ``STARTDT DTHDT NATSDT``): the first PD on or after
    the origin (``_PD``), the last adequate assessment (``_LAST``), the last on or before the new therapy
    (``_PRENAT``) and the last before the event (``_PREEVT``: the earliest of the first PD and DTHDT, each
    when an event source), each with its ``SEQ`` and ``DOM``; null where there is none.

    Notes
    -----
    One compiled pass over the sorted assessments
    (:func:`oligotrial.endpoints._kernels.scan_assessments`), then one gather per column; the rules are
    those of :func:`derive_adtte` (PROTOCOL.md section 5).
    """
    from oligotrial.endpoints._kernels import BEFORE_ALL, NEVER, scan_assessments

    n_adsl = int(max(assessments.adsl_row.max(initial=-1), subjects["_I"].max() or 0)) + 1
    population_row = np.full(n_adsl, -1, dtype=np.int64)
    population_row[subjects["_I"].to_numpy()] = np.arange(subjects.height, dtype=np.int64)
    known = assessments.adsl_row >= 0
    owner = np.where(known, population_row[np.where(known, assessments.adsl_row, 0)], -1)
    days = subjects.select(
        pl.col("STARTDT").cast(pl.Int64).alias("origin"),
        (pl.col("DTHDT").cast(pl.Int64) if death else pl.lit(None, pl.Int64)).fill_null(NEVER).alias("death"),
        pl.col("NATSDT").cast(pl.Int64).fill_null(BEFORE_ALL).alias("nat"),
    )
    found = scan_assessments(
        assessments.heads,
        owner.astype(np.int64),
        assessments.date,
        assessments.is_pd,
        assessments.adequate,
        days["origin"].to_numpy().astype(np.int64),
        days["death"].to_numpy().astype(np.int64),
        days["nat"].to_numpy().astype(np.int64),
        progression,
    )
    columns = []
    for column, name in enumerate(("_PD", "_LAST", "_PRENAT", "_PREEVT")):
        rows = pl.Series(found[:, column], dtype=pl.Int64)
        rows = pl.select(pl.when(rows >= 0).then(rows)).to_series()
        columns += assessments.records.select(
            pl.col("RSDTC").gather(rows).alias(name),
            pl.col("RSSEQ").gather(rows).alias(f"{name}SEQ"),
            pl.col("SRCDOM").gather(rows).alias(f"{name}DOM"),
        ).get_columns()
    return pl.DataFrame(columns)


def _derive_parameter(
    endpoint: TimeToEventEndpoint,
    subjects: pl.DataFrame,
    assessments: Assessments,
    protocol: Protocol,
    carried: list[str],
) -> pl.DataFrame:
    """One endpoint's records, with the ADSL variables ``carried``."""
    listed = {e.source: e for e in endpoint.events}
    found = assessment_lookups(assessments, subjects, "progression" in listed, "death" in listed)
    frame = subjects.hstack(found)
    if "progression" not in listed:
        frame = frame.with_columns(pl.lit(None, pl.Date).alias("_PD"))
    death = pl.col("DTHDT") if "death" in listed else pl.lit(None, pl.Date)
    frame = frame.with_columns(pl.min_horizontal("_PD", death).alias("_EVENT"))
    frame = frame.with_columns(
        pl.when(pl.col("_PD").is_not_null() & (pl.col("_PD") == pl.col("_EVENT")))
        .then(pl.lit("progression"))
        .when(pl.col("_EVENT").is_not_null())
        .then(pl.lit("death"))
        .alias("_KIND")
    )
    last_seen = pl.coalesce("_PREEVT", "STARTDT")
    frame = frame.with_columns(
        _period_setting(last_seen, protocol, "interval_days").alias("_GAPLIMIT"),
        _period_setting(last_seen, protocol, "window_days").alias("_GAPWINDOW"),
    )

    def at_origin(source: CensorSource) -> dict[str, pl.Expr]:
        return _censored(source, "STARTDT", pl.col("_ORIGDOM"), pl.col("_ORIGVAR"), pl.lit(None, pl.Int64))

    def at_assessment(source: CensorSource, name: str) -> dict[str, pl.Expr]:
        """Censored at assessment ``name`` when there is one, else at the origin."""
        found = pl.col(name).is_not_null()
        return {
            "ADT": pl.coalesce(name, "STARTDT"),
            "CNSR": pl.lit(source.cnsr),
            "EVNTDESC": pl.lit(None, pl.Utf8),
            "CNSDTDSC": pl.lit(source.description),
            "SRCDOM": pl.when(found).then(pl.col(f"{name}DOM")).otherwise(pl.col("_ORIGDOM")),
            "SRCVAR": pl.when(found).then(pl.lit("RSDTC")).otherwise(pl.col("_ORIGVAR")),
            "SRCSEQ": pl.when(found).then(pl.col(f"{name}SEQ")),
        }

    outcomes: list[_Outcome] = []
    has_event = pl.col("_EVENT").is_not_null()
    if source := endpoint.censor_source("no_baseline_assessment"):
        outcomes.append(_Outcome(~pl.col("_HASBL"), at_origin(source)))
    if source := endpoint.censor_source("new_anticancer_therapy"):
        starts = pl.col("NATSDT").is_not_null() & (pl.col("NATSDT") >= pl.col("STARTDT"))
        outcomes.append(
            _Outcome(
                starts & (~has_event | (pl.col("NATSDT") < pl.col("_EVENT"))),
                at_assessment(source, "_PRENAT"),
            )
        )
    if source := endpoint.censor_source("missed_assessments"):
        assert source.count is not None
        gap = (pl.col("_EVENT") - pl.coalesce("_PREEVT", "STARTDT")).dt.total_days()
        outcomes.append(
            _Outcome(
                has_event & (gap > source.count * pl.col("_GAPLIMIT") + pl.col("_GAPWINDOW")),
                at_assessment(source, "_PREEVT"),
            )
        )
    if source := endpoint.censor_source("death_before_first_assessment"):
        outcomes.append(
            _Outcome((pl.col("_KIND") == "death") & pl.col("_PREEVT").is_null(), at_origin(source))
        )
    event_desc = {kind: pl.lit(e.description) for kind, e in listed.items()}
    is_pd = pl.col("_KIND") == "progression"
    outcomes.append(
        _Outcome(
            has_event,
            {
                "ADT": pl.col("_EVENT"),
                "CNSR": pl.lit(0),
                "EVNTDESC": pl.when(is_pd)
                .then(event_desc.get("progression"))
                .otherwise(event_desc.get("death")),
                "CNSDTDSC": pl.lit(None, pl.Utf8),
                "SRCDOM": pl.when(is_pd).then(pl.col("_PDDOM")).otherwise(pl.lit("DM")),
                "SRCVAR": pl.when(is_pd).then(pl.lit("RSDTC")).otherwise(pl.lit("DTHDTC")),
                "SRCSEQ": pl.when(is_pd).then(pl.col("_PDSEQ")),
            },
        )
    )
    if source := endpoint.censor_source("last_known_alive"):
        values = _censored(source, "LSTALVDT", pl.lit("ADSL"), pl.lit("LSTALVDT"), pl.lit(None, pl.Int64))
        values["ADT"] = pl.max_horizontal("LSTALVDT", "STARTDT")
        outcomes.append(_Outcome(pl.lit(True), values))
    if source := endpoint.censor_source("last_adequate_assessment"):
        outcomes.append(_Outcome(pl.col("_LAST").is_not_null(), at_assessment(source, "_LAST")))
    if source := endpoint.censor_source("origin"):
        outcomes.append(_Outcome(pl.lit(True), at_origin(source)))

    decided = frame.with_columns(_decide(outcomes, column).alias(column) for column in _OUTPUT)
    return decided.select(
        "STUDYID",
        "USUBJID",
        pl.lit(endpoint.paramcd).alias("PARAMCD"),
        pl.lit(endpoint.param).alias("PARAM"),
        "STARTDT",
        "ADT",
        ((pl.col("ADT") - pl.col("STARTDT")).dt.total_days() + 1).cast(pl.Float64).alias("AVAL"),
        pl.lit("DAYS").alias("AVALU"),
        pl.col("CNSR").cast(pl.Int64),
        "EVNTDESC",
        "CNSDTDSC",
        "SRCDOM",
        "SRCVAR",
        pl.col("SRCSEQ").cast(pl.Int64),
        *carried,
    )


def _decide(outcomes: list[_Outcome], column: str) -> pl.Expr:
    """The value of ``column`` from the first outcome whose condition holds."""
    chain: Any = pl.when(outcomes[0].when).then(outcomes[0].values[column])
    for outcome in outcomes[1:]:
        chain = chain.when(outcome.when).then(outcome.values[column])
    result: pl.Expr = chain.otherwise(None)
    return result


def _period_setting(day: pl.Expr, protocol: Protocol, name: str) -> pl.Expr:
    """A setting (``interval_days`` or ``window_days``) of the assessment period in force on ``day``: the
    first period of ``assessments.periods`` whose end (first dose + ``until_months``) is on or after it,
    else the last period."""
    periods = protocol.assessments.periods
    first, *rest = periods
    chain: Any = pl.when(day <= pl.col("TRTSDT").dt.offset_by(f"{first.until_months}mo")).then(
        getattr(first, name)
    )
    for period in rest:
        chain = chain.when(day <= pl.col("TRTSDT").dt.offset_by(f"{period.until_months}mo")).then(
            getattr(period, name)
        )
    result: pl.Expr = chain.otherwise(getattr(periods[-1], name))
    return result
