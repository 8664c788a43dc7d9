"""ADTTE: time-to-event parameters (PFS, OS, PFS from enrollment, DoR) from event and censoring sources
declared in the protocol file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from oligotrial.endpoints.sdtm import Study, derive_overall_responses
from oligotrial.protocol.models import CensorSource, Protocol, TimeToEventEndpoint

__all__ = ["derive_adtte"]

_ORIGIN_COLUMN = {"randomization": "RANDDT", "enrollment": "ENRLDT"}
_POPULATION_FLAG = {"ITT": "ITTFL", "ENROLLED": "ENRLFL", "SAFETY": "SAFFL"}
_OUTPUT = ("ADT", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ")
#: A day after every date (days since 1970): "no event".
_NEVER = np.iinfo(np.int64).max
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
    # sorted once by subject and date: every per-subject "first" and "last" below reads this order
    responses = derive_overall_responses(study).sort("USUBJID", "RSDTC", maintain_order=True)
    baseline = _subjects_with_baseline(study, adsl)
    strata = [c for c in adsl.columns if c.startswith("STRAT")]
    frames = []
    for endpoint in protocol.endpoints:
        if not isinstance(endpoint, TimeToEventEndpoint):
            continue
        subjects = (
            _population(endpoint, adsl, adrs)
            .join(baseline, on="USUBJID", how="left")
            .with_columns(pl.col("_HASBL").fill_null(baseline.is_empty()))
        )
        frame = _derive_parameter(endpoint, subjects, responses, protocol)
        frames.append(
            frame.join(adsl.select("USUBJID", "TRT01P", "TRT01A", "ITTFL", "ENRLFL", *strata), on="USUBJID")
        )
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
        first = (
            study.tr.select(
                "USUBJID", pl.col("TRDTC").cast(pl.Utf8).str.slice(0, 10).str.to_date(strict=False)
            )
            .group_by("USUBJID")
            .agg(pl.col("TRDTC").min().alias("_FIRSTTR"), pl.lit(True).alias("_ANYTR"))
        )
        return (
            adsl.select("USUBJID", "TRTSDT")
            .join(first, on="USUBJID", how="left")
            .select(
                "USUBJID",
                (
                    pl.col("_ANYTR").is_not_null()
                    & (pl.col("TRTSDT").is_null() | (pl.col("_FIRSTTR") <= pl.col("TRTSDT"))).fill_null(False)
                ).alias("_HASBL"),
            )
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


def _population(endpoint: TimeToEventEndpoint, adsl: pl.DataFrame, adrs: pl.DataFrame) -> pl.DataFrame:
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


def _per_subject(assessments: pl.DataFrame, progression: bool, death: bool) -> pl.DataFrame:
    """Per subject of ``assessments`` (sorted by USUBJID and RSDTC): the first PD (``_PD``), the last
    adequate assessment (``_LAST``), the last on or before the new therapy (``_PRENAT``) and the last before
    the event (``_PREEVT``: the earliest of the first PD and DTHDT, each when listed), each with its ``SEQ``
    and ``DOM``.

    One pass of numpy segment reductions over the sorted rows (row positions: the lowest PD, the highest
    qualifying), then one gather of the records found.
    """
    n = assessments.height
    subject = assessments["USUBJID"]
    start = subject.ne_missing(subject.shift(1)).fill_null(True).to_numpy()
    heads = np.flatnonzero(start)
    row = np.arange(n, dtype=np.int64)
    date = assessments["RSDTC"].cast(pl.Int64).to_numpy()
    flags = assessments.select(
        (pl.col("OVRLRESP") == "PD").fill_null(False).alias("pd"),
        pl.col("_ADEQUATE").fill_null(False).alias("adequate"),
        (pl.col("RSDTC") <= pl.col("NATSDT")).fill_null(False).alias("prenat"),
        pl.col("DTHDT").cast(pl.Int64).fill_null(_NEVER).alias("death"),
    )
    adequate = flags["adequate"].to_numpy()
    found: dict[str, Ints] = {}
    if n:
        first_pd = np.minimum.reduceat(np.where(flags["pd"].to_numpy(), row, n), heads)
        found["_PD"] = np.where(first_pd < n, first_pd, -1)
        # the event per subject (the earliest listed source), repeated over the subject's rows
        event = np.full(heads.shape[0], _NEVER, dtype=np.int64)
        if progression:
            event = np.where(first_pd < n, date[np.minimum(first_pd, n - 1)], event)
        if death:
            event = np.minimum(event, flags["death"].to_numpy()[heads])
        event_row = np.repeat(event, np.diff(heads, append=n))
        for name, condition in (
            ("_LAST", adequate),
            ("_PRENAT", adequate & flags["prenat"].to_numpy()),
            ("_PREEVT", adequate & (event_row != _NEVER) & (date < event_row)),
        ):
            found[name] = np.maximum.reduceat(np.where(condition, row, -1), heads)
    records = assessments.select("RSDTC", "RSSEQ", "SRCDOM")
    columns = [subject.gather(heads)]
    for name in ("_PD", "_LAST", "_PRENAT", "_PREEVT"):
        index = pl.Series(found.get(name, np.zeros(0, dtype=np.int64)), dtype=pl.Int64)
        index = pl.select(pl.when(index >= 0).then(index)).to_series()
        columns += records.select(
            pl.col("RSDTC").gather(index).alias(name),
            pl.col("RSSEQ").gather(index).alias(f"{name}SEQ"),
            pl.col("SRCDOM").gather(index).alias(f"{name}DOM"),
        ).get_columns()
    return pl.DataFrame(columns)


def _derive_parameter(
    endpoint: TimeToEventEndpoint, subjects: pl.DataFrame, responses: pl.DataFrame, protocol: Protocol
) -> pl.DataFrame:
    """One endpoint's records; ``responses`` sorted by USUBJID and RSDTC."""
    assessments = (
        responses.join(
            subjects.select("USUBJID", "STARTDT", "DTHDT", "NATSDT"), on="USUBJID", maintain_order="left"
        )
        .filter(pl.col("RSDTC") >= pl.col("STARTDT"))
        .with_columns((pl.col("OVRLRESP") != "NE").alias("_ADEQUATE"))
    )
    listed = {e.source: e for e in endpoint.events}
    per_subject = _per_subject(assessments, "progression" in listed, "death" in listed)
    frame = subjects.join(per_subject, on="USUBJID", how="left", maintain_order="left")
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
