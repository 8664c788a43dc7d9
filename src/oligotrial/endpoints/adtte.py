"""ADTTE: time-to-event parameters (PFS, OS, PFS from enrollment, DoR) from event and censoring sources
declared in the protocol file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from oligotrial.endpoints.sdtm import Study, derive_overall_responses
from oligotrial.protocol.models import CensorSource, Protocol, TimeToEventEndpoint

__all__ = ["derive_adtte"]

_ORIGIN_COLUMN = {"randomization": "RANDDT", "enrollment": "ENRLDT"}
_POPULATION_FLAG = {"ITT": "ITTFL", "ENROLLED": "ENRLFL", "SAFETY": "SAFFL"}
_OUTPUT = ("ADT", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ")


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
    responses = derive_overall_responses(study)
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
        tr = study.tr.select(
            "USUBJID", pl.col("TRDTC").cast(pl.Utf8).str.slice(0, 10).str.to_date(strict=False)
        )
        first = adsl.select("USUBJID", "TRTSDT")
        found = tr.join(first, on="USUBJID").filter(
            pl.col("TRTSDT").is_null() | (pl.col("TRDTC") <= pl.col("TRTSDT"))
        )
    elif study.tu is not None:
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


def _last_adequate(assessments: pl.DataFrame, before: pl.Expr, name: str) -> pl.DataFrame:
    """The last adequate assessment satisfying ``before``, per subject: ``<name>``, ``<name>SEQ``, ``<name>DOM``."""
    return (
        assessments.filter(pl.col("_ADEQUATE") & before)
        .sort("RSDTC")
        .group_by("USUBJID")
        .agg(
            pl.col("RSDTC").last().alias(name),
            pl.col("RSSEQ").last().alias(f"{name}SEQ"),
            pl.col("SRCDOM").last().alias(f"{name}DOM"),
        )
    )


def _derive_parameter(
    endpoint: TimeToEventEndpoint, subjects: pl.DataFrame, responses: pl.DataFrame, protocol: Protocol
) -> pl.DataFrame:
    assessments = (
        responses.join(subjects.select("USUBJID", "STARTDT", "DTHDT", "NATSDT"), on="USUBJID")
        .filter(pl.col("RSDTC") >= pl.col("STARTDT"))
        .with_columns((pl.col("OVRLRESP") != "NE").alias("_ADEQUATE"))
    )
    listed = {e.source: e for e in endpoint.events}
    progression = (
        assessments.filter(pl.col("OVRLRESP") == "PD")
        .sort("RSDTC")
        .group_by("USUBJID")
        .agg(
            pl.col("RSDTC").first().alias("_PD"),
            pl.col("RSSEQ").first().alias("_PDSEQ"),
            pl.col("SRCDOM").first().alias("_PDDOM"),
        )
    )
    frame = subjects.join(progression, on="USUBJID", how="left")
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
    with_event = assessments.join(frame.select("USUBJID", "_EVENT"), on="USUBJID")
    frame = (
        frame.join(_last_adequate(assessments, pl.lit(True), "_LAST"), on="USUBJID", how="left")
        .join(
            _last_adequate(assessments, pl.col("RSDTC") <= pl.col("NATSDT"), "_PRENAT"),
            on="USUBJID",
            how="left",
        )
        .join(
            _last_adequate(with_event, pl.col("RSDTC") < pl.col("_EVENT"), "_PREEVT"),
            on="USUBJID",
            how="left",
        )
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
