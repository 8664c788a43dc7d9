"""The report's tables: pure functions from typed ADaM frames (:mod:`oligotrial.reports.data`) to records.

Nothing here renders or reads files, so every number of the report can be tested. A statistic that does not
exist (an empty arm, no events, a median not reached, follow-up shorter than a landmark) is an
:class:`Estimate` with ``value = None`` and a ``reason`` in words, never ``nan``.

Conventions
-----------
* Arms are the protocol's, control first; a subject's arm is ADSL/ADTTE ``TRT01P`` matched to the protocol's
  arm names (``INDUCTION ONLY`` for those enrolled but not randomized).
* Times are shown in months: ``AVAL`` (days) / ``protocol.days_per_month``.
* PFS and OS comparisons use the randomized population (``ITTFL = Y``). The stratified log-rank test and Cox
  model are stratified by the protocol's randomization strata other than the centre (``STRATnV``, n the
  stratum's position in the protocol; sparse centre strata would discard information); a missing stratum
  value forms its own level ``missing``. The hazard ratio is experimental versus control (Efron ties).
* RMST: up to ``tau`` = the smaller of the two arms' largest observed times (a common choice making the
  restricted mean estimable in both arms); difference experimental minus control, as ``survRM2::rmst2``.
* ORR (``CRSP``) and DCR (``CB``) by randomized arm, with Clopper-Pearson intervals; the difference is
  experimental minus control with the Miettinen-Nurminen interval; the "all enrolled" row is the protocol's
  induction-response population.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from oligotrial.errors import OligotrialError
from oligotrial.protocol.models import Protocol
from oligotrial.rules.radiotherapy import (
    RadiotherapyCourse,
    RadiotherapyPlan,
    check_radiotherapy_plan,
    compute_bed,
)
from oligotrial.stats import (
    KaplanMeier,
    compute_cox,
    compute_km,
    compute_km_at,
    compute_logrank,
    compute_rate_ci,
    compute_rate_difference,
    compute_rmst_difference,
)

__all__ = [
    "INDUCTION_ONLY",
    "IRAE_TERMS",
    "LANDMARK_MONTHS",
    "MIN_SUBGROUP_EVENTS",
    "RCCEP_TERMS",
    "REASON_NOT_RECORDED",
    "RT_TOXICITY_TERMS",
    "ArmInfo",
    "Consort",
    "Estimate",
    "ResponseSummary",
    "SubgroupRow",
    "SurvivalArm",
    "SurvivalSummary",
    "Table",
    "compute_baseline",
    "compute_best_change",
    "compute_consort",
    "compute_response",
    "compute_rt_compliance",
    "compute_safety",
    "compute_subgroups",
    "compute_survival",
    "compute_swimmer",
    "get_arms",
    "get_strata_columns",
    "get_strata_labels",
    "longest_swimmers",
    "screen_failure_reasons",
]

INDUCTION_ONLY = "INDUCTION ONLY"
LANDMARK_MONTHS = (6.0, 12.0, 24.0)
#: A subgroup hazard ratio is estimated only with at least this many events and one in each arm.
MIN_SUBGROUP_EVENTS = 5
#: Immune-related AEs by dictionary term when ADAE has no ``AEIRFL`` flag (PROTOCOL.md section 9).
IRAE_TERMS = (
    "pneumonitis",
    "hepatitis",
    "autoimmune hepatitis",
    "colitis",
    "hypothyroidism",
    "hyperthyroidism",
    "thyroiditis",
    "myocarditis",
    "nephritis",
    "hypophysitis",
    "adrenal insufficiency",
    "type 1 diabetes mellitus",
    "rash",
    "rash maculo-papular",
    "dermatitis",
    "pruritus",
    "immune-related",
)
#: Reactive cutaneous capillary endothelial proliferation (camrelizumab): matched in AETERM or AEDECOD.
RCCEP_TERMS = ("rccep", "capillary endothelial proliferation", "capillary hemangioma", "haemangioma")
#: Radiotherapy toxicities: matched in AEDECOD/AETERM, or any TEAE in the RADIOTHERAPY phase.
RT_TOXICITY_TERMS = ("radiation", "esophagitis", "oesophagitis", "radiation pneumonitis", "radiation skin")


@dataclass(frozen=True)
class Estimate:
    """A value with an optional interval, or its absence with the reason (``value is None``)."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.value is not None


def _absent(reason: str) -> Estimate:
    return Estimate(None, reason=reason)


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class Table:
    """A display table: a header, rows of text cells, notes under it."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArmInfo:
    """A protocol arm: ``code`` (ARMCD), ``name`` (ARM, as in TRT01P) and a short display ``label``."""

    code: str
    name: str
    label: str
    is_experimental: bool


def get_arms(protocol: Protocol) -> tuple[ArmInfo, ...]:
    """The protocol's arms, control first."""
    arms = sorted(protocol.arms, key=lambda a: a.id != "control")
    return tuple(
        ArmInfo(
            a.armcd,
            a.name,
            f"{'Control' if a.id == 'control' else 'Experimental'} ({a.armcd})",
            a.id != "control",
        )
        for a in arms
    )


def _with_arm(frame: pl.DataFrame, arms: Sequence[ArmInfo], column: str = "TRT01P") -> pl.DataFrame:
    """Add ``_ARM``: the protocol ARMCD of ``column`` (unknown texts kept as they are)."""
    mapping = {n: a.code for a in arms for n in (a.name, a.name.upper(), a.code)}
    if column not in frame.columns:
        return frame.with_columns(pl.lit(None, pl.Utf8).alias("_ARM"))
    return frame.with_columns(
        pl.col(column).replace_strict(mapping, default=pl.col(column), return_dtype=pl.Utf8).alias("_ARM")
    )


def get_strata_columns(protocol: Protocol, *, include_site: bool = False) -> tuple[str, ...]:
    """The ``STRATnV`` columns of the protocol's strata (without the centre unless ``include_site``)."""
    return tuple(
        f"STRAT{i}V"
        for i, s in enumerate(protocol.randomization.strata, start=1)
        if include_site or s.source != "site"
    )


def get_strata_labels(frame: pl.DataFrame, columns: Sequence[str]) -> list[str] | None:
    """One stratum label per row joining the values of ``columns`` (``missing`` for an empty value);
    ``None`` when none of the columns exists."""
    present = [c for c in columns if c in frame.columns]
    if not present:
        return None
    parts = [pl.col(c).cast(pl.Utf8).fill_null("missing").replace("", "missing") for c in present]
    labels: list[str] = frame.select(pl.concat_str(parts, separator="|").alias("s")).get_column("s").to_list()
    return labels


# --- time to event -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurvivalArm:
    """One arm of a time-to-event endpoint (times in months)."""

    arm: ArmInfo
    n: int
    events: int
    median: Estimate
    rates: tuple[tuple[float, Estimate], ...]
    curve: KaplanMeier | None
    censor_times: tuple[float, ...] = ()


@dataclass(frozen=True)
class SurvivalSummary:
    """A time-to-event endpoint compared between the arms."""

    paramcd: str
    title: str
    arms: tuple[SurvivalArm, ...]
    logrank: Estimate  # value: p; lower/upper unused
    logrank_chisq: float | None
    cox: Estimate  # value: HR with its 95% CI
    rmst: Estimate  # value: difference in months with its 95% CI
    rmst_tau: float | None
    strata: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _survival_frame(
    adtte: pl.DataFrame, paramcd: str, arms: Sequence[ArmInfo], days_per_month: float, *, randomized: bool
) -> pl.DataFrame:
    frame = _with_arm(adtte.filter(pl.col("PARAMCD") == paramcd), arms)
    if randomized and "ITTFL" in frame.columns:
        frame = frame.filter(pl.col("ITTFL") == "Y")
    frame = frame.filter(pl.col("_ARM").is_in([a.code for a in arms]) & pl.col("AVAL").is_not_null())
    return frame.with_columns(
        (pl.col("AVAL") / days_per_month).alias("_MONTHS"), (pl.col("CNSR") == 0).alias("_EVENT")
    )


def _reason(error: OligotrialError) -> str:
    return error.problems[0].message


def compute_survival(
    adtte: pl.DataFrame,
    paramcd: str,
    protocol: Protocol,
    *,
    title: str | None = None,
    randomized: bool = True,
    landmarks: Sequence[float] = LANDMARK_MONTHS,
) -> SurvivalSummary:
    """KM by arm with medians and landmark rates, stratified log-rank p, stratified Cox HR, RMST difference.

    Parameters
    ----------
    adtte
        Typed ADTTE.
    paramcd
        ``PFS``, ``OS``, ``DOR`` ...
    protocol
        Arms, strata and days per month.
    randomized
        Keep only ``ITTFL = Y`` records (the comparison population).
    landmarks
        Months at which survival is read off the curves.

    Notes
    -----
    The numbers are those of ``oligotrial stats km|logrank|cox`` on the same records with time
    ``AVAL / days_per_month``, event ``CNSR == 0``, group ARMCD and strata the joined ``STRATnV`` labels of
    :func:`get_strata_labels` (R ``survfit``, ``survdiff``, ``coxph`` with ``strata()``).
    """
    arms = get_arms(protocol)
    frame = _survival_frame(adtte, paramcd, arms, protocol.protocol.days_per_month, randomized=randomized)
    if title is None:
        titles = frame.get_column("PARAM").unique().to_list() if "PARAM" in frame.columns else []
        title = str(titles[0]) if titles else paramcd
    per_arm: list[SurvivalArm] = []
    curves: dict[str, KaplanMeier] = {}
    for arm in arms:
        sub = frame.filter(pl.col("_ARM") == arm.code)
        times = sub.get_column("_MONTHS").to_numpy().astype(np.float64)
        events = sub.get_column("_EVENT").to_numpy().astype(bool)
        if sub.height == 0:
            per_arm.append(
                SurvivalArm(
                    arm,
                    0,
                    0,
                    _absent("no subjects"),
                    tuple((t, _absent("no subjects")) for t in landmarks),
                    None,
                )
            )
            continue
        curve = compute_km(times, events)[0]
        curves[arm.code] = curve
        median = _median(curve)
        at = compute_km_at(curve, list(landmarks))
        rates = []
        for t, s, lo, hi in zip(landmarks, at.surv, at.lower, at.upper, strict=True):
            if math.isnan(s):
                rates.append((t, _absent(f"follow-up shorter than {t:g} months")))
            else:
                rates.append((t, Estimate(float(s), _finite(lo), _finite(hi))))
        per_arm.append(
            SurvivalArm(
                arm,
                sub.height,
                int(events.sum()),
                median,
                tuple(rates),
                curve,
                tuple(float(x) for x in np.sort(times[~events])),
            )
        )

    strata_columns = get_strata_columns(protocol)
    strata = get_strata_labels(frame, strata_columns)
    present = [a for a in per_arm if a.n > 0]
    both = len(present) == len(arms)
    total_events = sum(a.events for a in per_arm)
    times_all = frame.get_column("_MONTHS").to_numpy().astype(np.float64)
    events_all = frame.get_column("_EVENT").to_numpy().astype(bool)
    group = frame.get_column("_ARM").to_list()

    logrank, chisq = _absent("only one arm has subjects"), None
    if both and total_events == 0:
        logrank = _absent("no events")
    elif both:
        try:
            result = compute_logrank(times_all, events_all, group, strata)
            chisq = float(result.chisq)
            logrank = (
                Estimate(_finite(result.p)) if math.isfinite(result.p) else _absent("no events to compare")
            )
        except OligotrialError as error:
            logrank = _absent(_reason(error))

    experimental = next(a for a in arms if a.is_experimental)
    cox = _cox(times_all, events_all, group, strata, per_arm, experimental.code)

    rmst, tau = _absent("only one arm has subjects"), None
    if both:
        control_curve = curves[next(a.code for a in arms if not a.is_experimental)]
        exp_curve = curves[experimental.code]
        tau = float(min(control_curve.time[-1], exp_curve.time[-1]))
        if tau > 0:
            diff = compute_rmst_difference(exp_curve, control_curve, tau)
            rmst = Estimate(diff.estimate, _finite(diff.lower), _finite(diff.upper))
        else:
            rmst, tau = _absent("no follow-up time in one arm"), None
    strata_used = tuple(c for c in strata_columns if c in frame.columns)
    return SurvivalSummary(
        paramcd=paramcd,
        title=title,
        arms=tuple(per_arm),
        logrank=logrank,
        logrank_chisq=chisq,
        cox=cox,
        rmst=rmst,
        rmst_tau=tau,
        strata=strata_used,
    )


def _median(curve: KaplanMeier) -> Estimate:
    if math.isnan(curve.median):
        return Estimate(None, _finite(curve.median_lower), None, reason="not reached")
    return Estimate(curve.median, _finite(curve.median_lower), _finite(curve.median_upper))


def _cox(
    times: np.ndarray[Any, Any],
    events: np.ndarray[Any, Any],
    group: list[str],
    strata: list[str] | None,
    per_arm: Sequence[SurvivalArm],
    experimental: str,
) -> Estimate:
    if any(a.n == 0 for a in per_arm):
        return _absent("only one arm has subjects")
    if not events.any():
        return _absent("no events")
    if any(a.events == 0 for a in per_arm):
        return _absent("no events in one arm (the hazard ratio is infinite or zero)")
    x = np.array([g == experimental for g in group], dtype=np.float64)
    try:
        fit = compute_cox(times, events, x, strata, names=[f"ARM={experimental}"])
    except OligotrialError as error:
        return _absent(_reason(error))
    return Estimate(float(fit.hr[0]), _finite(float(fit.hr_lower[0])), _finite(float(fit.hr_upper[0])))


# --- responses ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseSummary:
    """A binary response by arm (rows: ``(label, responders, n, rate)``) and the difference between arms."""

    paramcd: str
    title: str
    rows: tuple[tuple[str, int, int, Estimate], ...]
    difference: Estimate


def _rate(events: int, n: int) -> Estimate:
    if n == 0:
        return _absent("no subjects")
    r = compute_rate_ci(events, n)
    return Estimate(r.estimate, r.lower, r.upper)


def compute_response(adrs: pl.DataFrame, protocol: Protocol, paramcd: str, title: str) -> ResponseSummary:
    """Responders (``AVALC = Y``) of ``paramcd`` (``CRSP`` for ORR, ``CB`` for DCR) by randomized arm and in all
    enrolled subjects, with Clopper-Pearson intervals; the difference experimental minus control with the
    Miettinen-Nurminen interval, as ``oligotrial stats rate`` and ``rate-diff``."""
    arms = get_arms(protocol)
    frame = _with_arm(adrs.filter(pl.col("PARAMCD") == paramcd), arms)
    rows: list[tuple[str, int, int, Estimate]] = []
    counts: dict[str, tuple[int, int]] = {}
    randomized = frame.filter(pl.col("ITTFL") == "Y") if "ITTFL" in frame.columns else frame
    for arm in arms:
        sub = randomized.filter(pl.col("_ARM") == arm.code)
        k, n = int((sub.get_column("AVALC") == "Y").sum()), sub.height
        counts[arm.code] = (k, n)
        rows.append((arm.label, k, n, _rate(k, n)))
    enrolled = frame.filter(pl.col("ENRLFL") == "Y") if "ENRLFL" in frame.columns else frame
    k, n = int((enrolled.get_column("AVALC") == "Y").sum()), enrolled.height
    rows.append(("All enrolled", k, n, _rate(k, n)))
    control = next(a for a in arms if not a.is_experimental)
    experimental = next(a for a in arms if a.is_experimental)
    (k1, n1), (k2, n2) = counts[experimental.code], counts[control.code]
    if n1 == 0 or n2 == 0:
        difference = _absent("only one arm has subjects")
    else:
        d = compute_rate_difference(k1, n1, k2, n2)
        difference = Estimate(d.estimate, d.lower, d.upper)
    return ResponseSummary(paramcd, title, tuple(rows), difference)


def compute_best_change(
    adrs: pl.DataFrame, adsl: pl.DataFrame, protocol: Protocol, adtr: pl.DataFrame | None = None
) -> pl.DataFrame | str:
    """Percent change of the sum of diameters from baseline of each ``OVR`` record, or why it is absent.

    Returns
    -------
    polars.DataFrame or str
        ``USUBJID _ARM ADT MONTHS PCHG`` (months since the first dose, ADSL ``TRTSDT``) with a row per
        assessment, or the reason the percent changes are unavailable (a string).

    Notes
    -----
    Read from ADTR ``SUMDIAM`` records when given, otherwise from the first of the ADRS ``OVR`` columns
    ``PCHG``, ``PCHGBL`` (the RECIST engine's name) or ``SOD`` with ``BASE`` (``100 (SOD - BASE) / BASE``).
    """
    has_adtr = adtr is not None and adtr.height > 0 and "PCHG" in adtr.columns
    ovr = (
        adtr.filter(pl.col("PARAMCD") == "SUMDIAM")
        if adtr is not None and has_adtr
        else adrs.filter(pl.col("PARAMCD") == "OVR")
    )
    if "PCHG" in ovr.columns:
        change = pl.col("PCHG")
    elif "PCHGBL" in ovr.columns:
        change = pl.col("PCHGBL")
    elif "SOD" in ovr.columns and "BASE" in ovr.columns:
        change = 100.0 * (pl.col("SOD") - pl.col("BASE")) / pl.col("BASE")
    else:
        return (
            "no ADTR and the ADRS OVR records carry no percent change of the sum of diameters (PCHG, PCHGBL, "
            "or SOD with BASE); derive ADaM from an SDTM study with tumour measurements (TU/TR)"
        )
    arms = get_arms(protocol)
    frame = (
        _with_arm(ovr, arms)
        .with_columns(change.alias("PCHG"))
        .filter(pl.col("PCHG").is_not_null() & pl.col("PCHG").is_finite())
    )
    if frame.height == 0:
        return "no OVR record has a percent change of the sum of diameters"
    starts = adsl.select("USUBJID", "TRTSDT") if "TRTSDT" in adsl.columns else None
    if starts is not None and "ADT" in frame.columns:
        frame = frame.join(starts, on="USUBJID", how="left").with_columns(
            ((pl.col("ADT") - pl.col("TRTSDT")).dt.total_days() / protocol.protocol.days_per_month).alias(
                "MONTHS"
            )
        )
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("MONTHS"))
    return frame.select("USUBJID", "_ARM", *(["ADT"] if "ADT" in frame.columns else []), "MONTHS", "PCHG")


def compute_swimmer(adsl: pl.DataFrame, adrs: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """Per treated subject: treatment duration and the times of first response, progression and death.

    Returns
    -------
    polars.DataFrame
        ``USUBJID _ARM DURATION RESPONSE PROGRESSION DEATH RTSTART RTEND`` in months from the first dose
        (``TRTSDT``); duration from ``TRTSDT`` to ``TRTEDT`` + 1 day; response = the first OVR CR or PR,
        progression the first OVR PD. Sorted by arm (the protocol's arms in order, then the subjects not
        randomized) and duration, longest first.
    """
    arms = get_arms(protocol)
    dpm = protocol.protocol.days_per_month
    needed = {"TRTSDT", "TRTEDT"}
    if not needed <= set(adsl.columns):
        return pl.DataFrame()
    subjects = _with_arm(adsl.filter(pl.col("TRTSDT").is_not_null()), arms)
    ovr = adrs.filter(pl.col("PARAMCD") == "OVR")
    first = (
        ovr.group_by("USUBJID").agg(
            pl.col("ADT").filter(pl.col("AVALC").is_in(["CR", "PR"])).min().alias("_RESP"),
            pl.col("ADT").filter(pl.col("AVALC") == "PD").min().alias("_PD"),
        )
        if "ADT" in ovr.columns
        else pl.DataFrame(schema={"USUBJID": pl.Utf8, "_RESP": pl.Date, "_PD": pl.Date})
    )
    frame = subjects.join(first, on="USUBJID", how="left")

    def months(column: str) -> pl.Expr:
        if column not in frame.columns:
            return pl.lit(None, pl.Float64)
        return (pl.col(column) - pl.col("TRTSDT")).dt.total_days() / dpm

    return (
        frame.select(
            "USUBJID",
            "_ARM",
            ((months("TRTEDT") + 1.0 / dpm).alias("DURATION")),
            months("_RESP").alias("RESPONSE"),
            months("_PD").alias("PROGRESSION"),
            months("DTHDT").alias("DEATH"),
            months("RTSDT").alias("RTSTART"),
            months("RTEDT").alias("RTEND"),
            pl.col("_ARM")
            .replace_strict({a.code: i for i, a in enumerate(arms)}, default=len(arms), return_dtype=pl.Int64)
            .alias("_GROUP"),
        )
        .sort("_GROUP", "DURATION", descending=[False, True], nulls_last=True)
        .drop("_GROUP")
    )


def longest_swimmers(swimmer: pl.DataFrame, limit: int) -> pl.DataFrame:
    """The ``limit`` rows of :func:`compute_swimmer` with the longest treatment durations, whatever their arm,
    in its order (by arm, then duration)."""
    if swimmer.height <= limit:
        return swimmer
    chosen = swimmer.with_row_index("_ROW").sort("DURATION", descending=True, nulls_last=True).head(limit)
    return chosen.sort("_ROW").drop("_ROW")


# --- CONSORT and baseline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consort:
    """Counts of the CONSORT flow; per-arm counts are keyed by ARMCD.

    ``treated`` counts the randomized subjects with study treatment on or after randomization (ADSL
    ``TRTEDT >= RANDDT``) or radiotherapy (``RTFL = Y``); ``discontinued`` the ``EOSSTT = DISCONTINUED``
    subjects with their ``DCSREAS``; ``analysed`` the randomized subjects with a PFS record;
    ``not_enrolled_reasons`` the subjects not enrolled per reason (:func:`screen_failure_reasons`, when given; a
    subject may fail several criteria).
    """

    screened: int
    not_enrolled: int
    enrolled: int
    induction_progression: int
    not_randomized_other: int
    not_randomized_reasons: tuple[tuple[str, int], ...]
    randomized: dict[str, int]
    treated: dict[str, int]
    radiotherapy: dict[str, int]
    discontinued: dict[str, int]
    discontinued_reasons: dict[str, tuple[tuple[str, int], ...]]
    analysed: dict[str, int]
    arms: tuple[ArmInfo, ...] = field(default=())
    not_enrolled_reasons: tuple[tuple[str, int], ...] = ()


REASON_NOT_RECORDED = "reason not recorded"
"""The reason counted for a subject whose reason (``DCSREAS``, screen failure) is missing."""


def _reasons(frame: pl.DataFrame, column: str) -> tuple[tuple[str, int], ...]:
    if frame.height == 0 or column not in frame.columns:
        return ()
    counts = (
        frame.with_columns(pl.col(column).fill_null(REASON_NOT_RECORDED))
        .group_by(column)
        .len()
        .sort(["len", column], descending=[True, False])
    )
    return tuple((str(r[column]), int(r["len"])) for r in counts.to_dicts())


def compute_consort(
    adsl: pl.DataFrame, adtte: pl.DataFrame, protocol: Protocol, screening: pl.DataFrame | None = None
) -> Consort:
    """The CONSORT counts: screened (ADSL subjects), enrolled (``ENRLFL``) and not (with their reasons, when
    ``screening`` gives them: :func:`screen_failure_reasons`), not randomized (progression during induction:
    ``INDRESP = PD``; other: ``DCSREAS``), randomized, treated, radiotherapy and discontinued by arm, analysed
    (PFS records)."""
    arms = get_arms(protocol)
    adsl = _with_arm(adsl, arms)
    enrolled = adsl.filter(pl.col("ENRLFL") == "Y")
    not_randomized = enrolled.filter(pl.col("ITTFL") != "Y")
    pd = (
        not_randomized.filter(pl.col("INDRESP") == "PD")
        if "INDRESP" in adsl.columns
        else not_randomized.clear()
    )
    others = not_randomized.join(pd.select("USUBJID"), on="USUBJID", how="anti")
    randomized = adsl.filter(pl.col("ITTFL") == "Y")
    pfs = adtte.filter(pl.col("PARAMCD") == "PFS")
    if "ITTFL" in pfs.columns:
        pfs = pfs.filter(pl.col("ITTFL") == "Y")
    analysed_ids = set(pfs.get_column("USUBJID").to_list())

    def per_arm(frame: pl.DataFrame) -> dict[str, int]:
        return {a.code: frame.filter(pl.col("_ARM") == a.code).height for a in arms}

    treated_expr = pl.lit(False)
    if {"TRTEDT", "RANDDT"} <= set(adsl.columns):
        treated_expr = treated_expr | (pl.col("TRTEDT") >= pl.col("RANDDT")).fill_null(False)
    if "RTFL" in adsl.columns:
        treated_expr = treated_expr | (pl.col("RTFL") == "Y").fill_null(False)
    discontinued = (
        randomized.filter(pl.col("EOSSTT") == "DISCONTINUED")
        if "EOSSTT" in adsl.columns
        else randomized.clear()
    )
    return Consort(
        screened=adsl.height,
        not_enrolled=adsl.height - enrolled.height,
        enrolled=enrolled.height,
        induction_progression=pd.height,
        not_randomized_other=others.height,
        not_randomized_reasons=_reasons(others, "DCSREAS"),
        randomized=per_arm(randomized),
        treated=per_arm(randomized.filter(treated_expr)),
        radiotherapy=per_arm(
            randomized.filter(pl.col("RTFL") == "Y") if "RTFL" in adsl.columns else randomized.clear()
        ),
        discontinued=per_arm(discontinued),
        discontinued_reasons={
            a.code: _reasons(discontinued.filter(pl.col("_ARM") == a.code), "DCSREAS") for a in arms
        },
        analysed=per_arm(randomized.filter(pl.col("USUBJID").is_in(list(analysed_ids)))),
        arms=arms,
        not_enrolled_reasons=()
        if screening is None
        else _not_enrolled_reasons(adsl.filter(pl.col("ENRLFL") != "Y"), screening),
    )


def screen_failure_reasons(ie: pl.DataFrame | None, ds: pl.DataFrame | None) -> pl.DataFrame | None:
    """Why each screen failure was not enrolled (``USUBJID``, ``REASON``), from SDTM: every eligibility
    criterion of IE (``not met: <inclusion criterion>``, ``met: <exclusion criterion>`` by ``IECAT``), else the
    reason stated in DS (a ``SCREEN FAILURE`` whose ``DSTERM`` is its own). ``None`` when neither is given."""
    if ie is None and ds is None:
        return None
    criteria = pl.DataFrame(schema={"USUBJID": pl.Utf8, "REASON": pl.Utf8})
    if ie is not None and ie.height:
        is_exclusion = pl.col("IECAT") == "EXCLUSION" if "IECAT" in ie.columns else pl.lit(False)
        prefix = pl.when(is_exclusion).then(pl.lit("met: ")).otherwise(pl.lit("not met: "))
        criteria = ie.select("USUBJID", (prefix + pl.col("IETEST")).alias("REASON"))
    stated = criteria.clear()
    if ds is not None and {"DSDECOD", "DSTERM"} <= set(ds.columns):
        stated = (
            ds.filter((pl.col("DSDECOD") == "SCREEN FAILURE") & (pl.col("DSTERM") != "SCREEN FAILURE"))
            .join(criteria, on="USUBJID", how="anti")
            .select("USUBJID", pl.col("DSTERM").alias("REASON"))
        )
    return pl.concat([criteria, stated]).unique()


def _not_enrolled_reasons(not_enrolled: pl.DataFrame, screening: pl.DataFrame) -> tuple[tuple[str, int], ...]:
    """Subjects per reason, most first; a subject with several counts under each, one with none as "reason
    not recorded"."""
    known = screening.join(not_enrolled.select("USUBJID"), on="USUBJID")
    unexplained = not_enrolled.join(known, on="USUBJID", how="anti").select(
        "USUBJID", pl.lit(None, pl.Utf8).alias("REASON")
    )
    return _reasons(pl.concat([known, unexplained]), "REASON")


def _pct(k: int, n: int) -> str:
    return f"{k} ({100.0 * k / n:.1f}%)" if n else f"{k}"


def _number(x: float) -> str:
    return f"{x:.1f}" if not float(x).is_integer() else f"{int(x)}"


def compute_baseline(adsl: pl.DataFrame, protocol: Protocol) -> tuple[Table, Table]:
    """Baseline characteristics by randomized arm, all randomized and not randomized (enrolled subjects), and
    the balance of the randomization strata (joined ``STRATnV`` levels, centre included) by arm."""
    arms = get_arms(protocol)
    enrolled = _with_arm(adsl.filter(pl.col("ENRLFL") == "Y"), arms)
    groups: list[tuple[str, pl.DataFrame]] = [
        (a.label, enrolled.filter((pl.col("ITTFL") == "Y") & (pl.col("_ARM") == a.code))) for a in arms
    ]
    groups.append(("All randomized", enrolled.filter(pl.col("ITTFL") == "Y")))
    groups.append(("Not randomized", enrolled.filter(pl.col("ITTFL") != "Y")))
    header = ("Characteristic", *(f"{name} (N={g.height})" for name, g in groups))
    rows: list[tuple[str, ...]] = []
    if "AGE" in enrolled.columns:
        cells = []
        for _, g in groups:
            ages = g.get_column("AGE").drop_nulls()
            cells.append(
                f"{_number(float(ages.median()))} ({_number(float(ages.min()))}–{_number(float(ages.max()))})"  # type: ignore[arg-type]
                if ages.len()
                else "—"
            )
        rows.append(("Age, years: median (range)", *cells))
    categorical: list[tuple[str, str]] = [("SEX", "Sex"), ("SITEID", "Centre")]
    if "HISTOL" in enrolled.columns:
        categorical.append(("HISTOL", "Histology"))
    categorical.append(("INDRESP", "Response to induction"))
    for i, stratum in enumerate(protocol.randomization.strata, start=1):
        if stratum.source != "site":
            categorical.append((f"STRAT{i}V", f"Stratum: {stratum.id.replace('_', ' ')}"))
    for column, label in categorical:
        if column not in enrolled.columns:
            continue
        values = enrolled.get_column(column).cast(pl.Utf8).fill_null("missing").unique().sort().to_list()
        rows.append((label, *("" for _ in groups)))
        for value in values:
            cells = []
            for _, g in groups:
                k = int((g.get_column(column).cast(pl.Utf8).fill_null("missing") == value).sum())
                cells.append(_pct(k, g.height))
            rows.append((f"  {value}", *cells))
    baseline = Table(
        "Baseline characteristics (enrolled subjects)",
        header,
        tuple(rows),
        ("n (%) of the column's subjects; age as median (range).",),
    )
    columns = get_strata_columns(protocol, include_site=True)
    randomized = enrolled.filter(pl.col("ITTFL") == "Y")
    labels = get_strata_labels(randomized, columns)
    strata_rows: list[tuple[str, ...]] = []
    if labels is not None:
        frame = randomized.with_columns(pl.Series("_S", labels, dtype=pl.Utf8))
        for level in sorted(set(labels)):
            cells = [
                str(frame.filter((pl.col("_S") == level) & (pl.col("_ARM") == a.code)).height) for a in arms
            ]
            strata_rows.append((level, *cells, str(frame.filter(pl.col("_S") == level).height)))
    names = [s.id.replace("_", " ") for s in protocol.randomization.strata]
    balance = Table(
        "Strata balance (randomized subjects)",
        ("Stratum (" + " | ".join(names) + ")", *(a.label for a in arms), "Total"),
        tuple(strata_rows),
        () if strata_rows else ("No stratification variables (STRATnV) in ADSL.",),
    )
    return baseline, balance


# --- subgroups ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubgroupRow:
    """The PFS hazard ratio (experimental vs control, unstratified Cox) in one subgroup."""

    variable: str
    level: str
    n: dict[str, int]
    events: dict[str, int]
    hr: Estimate


def compute_subgroups(
    adtte: pl.DataFrame,
    adsl: pl.DataFrame,
    protocol: Protocol,
    *,
    paramcd: str = "PFS",
    min_events: int = MIN_SUBGROUP_EVENTS,
) -> tuple[SubgroupRow, ...]:
    """Hazard ratios within the levels of the strata, histology (ADSL ``HISTOL`` when present), the number of
    metastatic organs and the response to induction.

    A subgroup with fewer than ``min_events`` events, or none in an arm, is "not estimable" (a hazard ratio
    from so few events is not informative); so is one where the Cox fit fails.
    """
    arms = get_arms(protocol)
    frame = _survival_frame(adtte, paramcd, arms, protocol.protocol.days_per_month, randomized=True)
    extra = [c for c in ("HISTOL", "INDRESP") if c in adsl.columns and c not in frame.columns]
    if extra:
        frame = frame.join(adsl.select("USUBJID", *extra), on="USUBJID", how="left")
    variables: list[tuple[str, str]] = [("_ALL", "All randomized")]
    for i, stratum in enumerate(protocol.randomization.strata, start=1):
        name = {
            "site": "Centre",
            "induction_response": "Response to induction",
            "metastatic_organ_count": "Metastatic organs",
            "histology": "Histology",
        }[stratum.source]
        variables.append((f"STRAT{i}V", name))
    if "HISTOL" in frame.columns and not any(n == "Histology" for _, n in variables):
        variables.append(("HISTOL", "Histology"))
    frame = frame.with_columns(pl.lit("all").alias("_ALL"))
    rows: list[SubgroupRow] = []
    experimental = next(a for a in arms if a.is_experimental)
    for column, name in variables:
        if column not in frame.columns:
            continue
        values = frame.get_column(column).cast(pl.Utf8).fill_null("missing")
        sub_frame = frame.with_columns(values.alias("_V"))
        for level in sorted(set(values.to_list())):
            sub = sub_frame.filter(pl.col("_V") == level)
            n = {a.code: sub.filter(pl.col("_ARM") == a.code).height for a in arms}
            ev = {a.code: int(sub.filter((pl.col("_ARM") == a.code) & pl.col("_EVENT")).height) for a in arms}
            total = sum(ev.values())
            if min(n.values()) == 0:
                hr = _absent("an arm has no subjects")
            elif total < min_events:
                hr = _absent(f"fewer than {min_events} events ({total})")
            elif min(ev.values()) == 0:
                hr = _absent("no events in one arm")
            else:
                times = sub.get_column("_MONTHS").to_numpy().astype(np.float64)
                events = sub.get_column("_EVENT").to_numpy().astype(bool)
                x = np.array(
                    [g == experimental.code for g in sub.get_column("_ARM").to_list()], dtype=np.float64
                )
                try:
                    fit = compute_cox(times, events, x)
                    hr = Estimate(
                        float(fit.hr[0]), _finite(float(fit.hr_lower[0])), _finite(float(fit.hr_upper[0]))
                    )
                except OligotrialError as error:
                    hr = _absent(_reason(error))
            rows.append(SubgroupRow(name, "all" if column == "_ALL" else level, n, ev, hr))
    return tuple(rows)


# --- safety ------------------------------------------------------------------------------------------------


def _matches(frame: pl.DataFrame, terms: Sequence[str]) -> pl.Expr:
    text = pl.lit("")
    for column in ("AEDECOD", "AETERM"):
        if column in frame.columns:
            text = pl.concat_str([text, pl.col(column).fill_null("").str.to_lowercase()], separator=" ")
    expr = pl.lit(False)
    for term in terms:
        expr = expr | text.str.contains(term, literal=True)
    return expr


def compute_safety(adae: pl.DataFrame, adsl: pl.DataFrame, protocol: Protocol) -> dict[str, Table]:
    """Treatment-emergent AEs (``TRTEMFL = Y``) in the safety population (``SAFFL = Y``), by arm.

    Returns
    -------
    dict of Table
        ``overview``, ``soc_term`` (any grade and grade >= 3 by SOC and term), ``phase`` (by ``APHASE``),
        ``serious``, ``immune`` (``AEIRFL = Y`` when ADAE has it, else the terms of :data:`IRAE_TERMS`),
        ``rccep`` (:data:`RCCEP_TERMS`), ``radiotherapy`` (:data:`RT_TOXICITY_TERMS` or phase
        ``RADIOTHERAPY``), ``deaths`` (ADSL ``DTHFL`` and grade 5 TEAEs).

    Notes
    -----
    A subject counts once per row (the worst grade for the grade >= 3 columns); percentages of the column's
    safety population. The arm is ADSL ``TRT01A`` (else ``TRT01P``): subjects never randomized form the
    "Not randomized" column (their AEs are all in induction).
    """
    arms = get_arms(protocol)
    severe = protocol.adverse_events.severe_grade
    arm_column = "TRT01A" if "TRT01A" in adsl.columns else "TRT01P"
    population = _with_arm(adsl.filter(pl.col("SAFFL") == "Y"), arms, arm_column)
    columns: list[tuple[str, list[str]]] = [(a.label, [a.code]) for a in arms]
    columns.append(("Not randomized", [INDUCTION_ONLY]))
    groups = []
    for label, codes in columns:
        ids = population.filter(pl.col("_ARM").is_in(codes)).get_column("USUBJID")
        groups.append((label, ids.to_list()))
    groups.append(("Total", population.get_column("USUBJID").to_list()))
    te = adae.filter(
        (pl.col("TRTEMFL") == "Y") & pl.col("USUBJID").is_in(population.get_column("USUBJID").implode())
    )
    grade = pl.col("ATOXGRN") if "ATOXGRN" in te.columns else pl.lit(None, pl.Int64)
    te = te.with_columns(grade.alias("_G"))
    header_any = tuple(f"{label} (N={len(ids)})" for label, ids in groups)

    def count(frame: pl.DataFrame, ids: list[str]) -> int:
        return frame.filter(pl.col("USUBJID").is_in(ids)).get_column("USUBJID").n_unique()

    def cells(frame: pl.DataFrame) -> tuple[str, ...]:
        return tuple(_pct(count(frame, ids), len(ids)) for _, ids in groups)

    def both(frame: pl.DataFrame) -> tuple[str, ...]:
        out: list[str] = []
        for _, ids in groups:
            out.append(_pct(count(frame, ids), len(ids)))
            out.append(_pct(count(frame.filter(pl.col("_G") >= severe), ids), len(ids)))
        return tuple(out)

    header_both = tuple(h for label in header_any for h in (f"{label} any grade", f"grade ≥{severe}"))
    serious = te.filter(pl.col("AESER") == "Y") if "AESER" in te.columns else te.clear()
    immune = (
        te.filter(pl.col("AEIRFL") == "Y") if "AEIRFL" in te.columns else te.filter(_matches(te, IRAE_TERMS))
    )
    rccep = te.filter(_matches(te, RCCEP_TERMS))
    rt_phase = (pl.col("APHASE") == "RADIOTHERAPY") if "APHASE" in te.columns else pl.lit(False)
    radiotherapy = te.filter(_matches(te, RT_TOXICITY_TERMS) | rt_phase)
    fatal = te.filter(pl.col("_G") == 5)

    overview = Table(
        "Treatment-emergent adverse events: overview (safety population)",
        ("Subjects with", *header_any),
        (
            ("any TEAE", *cells(te)),
            (f"grade ≥{severe} TEAE", *cells(te.filter(pl.col("_G") >= severe))),
            ("serious TEAE", *cells(serious)),
            ("immune-related TEAE", *cells(immune)),
            ("RCCEP", *cells(rccep)),
            ("radiotherapy toxicity", *cells(radiotherapy)),
            ("grade 5 (fatal) TEAE", *cells(fatal)),
        ),
        (f"CTCAE v{protocol.adverse_events.ctcae_version}; n (%) of subjects.",),
    )

    def by_term(frame: pl.DataFrame, title: str, empty: str) -> Table:
        rows: list[tuple[str, ...]] = []
        for soc in sorted(frame.get_column("AEBODSYS").fill_null("uncoded").unique().to_list()):
            in_soc = frame.filter(pl.col("AEBODSYS").fill_null("uncoded") == soc)
            rows.append((soc, *both(in_soc)))
            for term in sorted(in_soc.get_column("AEDECOD").fill_null("uncoded").unique().to_list()):
                rows.append(
                    (f"  {term}", *both(in_soc.filter(pl.col("AEDECOD").fill_null("uncoded") == term)))
                )
        return Table(
            title,
            ("System organ class / preferred term", *header_both),
            tuple(rows),
            () if rows else (empty,),
        )

    phases = []
    if "APHASE" in te.columns:
        order = ["INDUCTION", "RADIOTHERAPY", "MAINTENANCE", "FOLLOW-UP", "SCREENING"]
        present = te.get_column("APHASE").fill_null("unknown").unique().to_list()
        for phase in sorted(present, key=lambda p: (order.index(p) if p in order else len(order), p)):
            phases.append((phase, *both(te.filter(pl.col("APHASE").fill_null("unknown") == phase))))
    deaths_rows: list[tuple[str, ...]] = []
    dead = population.filter(pl.col("DTHFL") == "Y") if "DTHFL" in population.columns else population.clear()
    deaths_rows.append(
        (
            "deaths (any cause)",
            *(_pct(dead.filter(pl.col("USUBJID").is_in(ids)).height, len(ids)) for _, ids in groups),
        )
    )
    deaths_rows.append(("with a grade 5 TEAE", *cells(fatal)))
    for term in sorted(fatal.get_column("AEDECOD").fill_null("uncoded").unique().to_list()):
        deaths_rows.append(
            (f"  {term}", *cells(fatal.filter(pl.col("AEDECOD").fill_null("uncoded") == term)))
        )
    return {
        "overview": overview,
        "soc_term": by_term(
            te, "TEAEs by system organ class and preferred term", "No treatment-emergent AE."
        ),
        "phase": Table(
            "TEAEs by phase (subjects with any TEAE in the phase)",
            ("Phase", *header_both),
            tuple(phases),
            () if phases else ("No treatment-emergent AE.",),
        ),
        "serious": by_term(serious, "Serious TEAEs", "No serious treatment-emergent AE."),
        "immune": by_term(
            immune,
            "Immune-related TEAEs"
            + (
                ""
                if "AEIRFL" in te.columns
                else " (by term: pneumonitis, hepatitis, colitis, thyroid, rash ...)"
            ),
            "No immune-related treatment-emergent AE.",
        ),
        "rccep": by_term(
            rccep, "Reactive cutaneous capillary endothelial proliferation (RCCEP)", "No RCCEP reported."
        ),
        "radiotherapy": by_term(
            radiotherapy,
            "Radiotherapy toxicities (radiation terms or AEs in the radiotherapy phase)",
            "No radiotherapy toxicity reported.",
        ),
        "deaths": Table("Deaths (safety population)", ("", *header_any), tuple(deaths_rows)),
    }


# --- radiotherapy compliance -------------------------------------------------------------------------------


def _fractions(row: dict[str, Any]) -> int | None:
    for column in ("PRFRACN", "PRDOSFRQ", "PRNFRAC"):
        value = row.get(column)
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if number.is_integer() and number >= 1:
            return int(number)
    return None


def compute_rt_compliance(
    pr: pl.DataFrame | None, ex: pl.DataFrame | None, adsl: pl.DataFrame, protocol: Protocol
) -> tuple[Table, Table, tuple[float, ...]] | str:
    """Radiotherapy courses from SDTM PR, checked against the protocol, or why the section is unavailable.

    Returns
    -------
    (summary, courses, bed10) or str
        A summary table by arm, one row per course (site, technique, dose, BED10, EQD2, verdict, findings),
        the BED10 of every course; or the reason the section is unavailable.

    Notes
    -----
    PR variables read (one record per irradiated lesion/course), as ``oligotrial export sdtm`` writes them:
    ``USUBJID``; technique from ``PRDECOD`` or ``PRTRT`` (SBRT when either contains ``SBRT`` or
    ``STEREOTACTIC``, else conventional); ``PRDOSE`` dose per fraction (else ``PRDOSTOT`` / fractions) in
    ``PRDOSU`` (``Gy``, or ``cGy`` converted); the number of fractions from ``PRFRACN`` (sponsor-defined), else
    a numeric ``PRDOSFRQ`` or ``PRNFRAC``; ``PRLOC`` the site (a protocol primary site, in any case, makes the
    lesion the primary); ``PRLNKID`` or ``PRSEQ`` the lesion id; ``PRSTDTC``/``PRENDTC`` the dates. A record
    missing dose, fractions or start date is listed in the notes and skipped. Each subject's courses are checked
    by :func:`oligotrial.rules.radiotherapy.check_radiotherapy_plan`; the windows need the last induction dose
    (EX ``EPOCH = INDUCTION``) and the maintenance restart (the first EX dose after radiotherapy) from SDTM EX,
    and are not checked without EX.
    """
    if pr is None:
        return (
            "no radiotherapy courses: ADaM does not carry them; pass the SDTM folder with --sdtm so the PR "
            "domain (PRDOSE, PRFRACN, PRLOC, PRSTDTC, PRENDTC) can be read"
        )
    arms = get_arms(protocol)
    adsl_arm = _with_arm(adsl, arms).select("USUBJID", "_ARM")
    records = pr.join(adsl_arm, on="USUBJID", how="left").to_dicts()
    primary_sites = {s.lower() for s in protocol.population.primary_sites}
    induction_end: dict[str, date] = {}
    ex_dates: dict[str, list[date]] = {}
    if ex is not None and "EXSTDTC" in ex.columns:
        for row in ex.drop_nulls("EXSTDTC").to_dicts():
            ex_dates.setdefault(row["USUBJID"], []).append(row["EXSTDTC"])
            if row.get("EPOCH") == "INDUCTION":
                current = induction_end.get(row["USUBJID"])
                induction_end[row["USUBJID"]] = max(current, row["EXSTDTC"]) if current else row["EXSTDTC"]
    course_rows: list[tuple[str, ...]] = []
    beds: list[float] = []
    by_subject: dict[str, list[RadiotherapyCourse]] = {}
    problems: list[str] = []
    for index, row in enumerate(records, start=1):
        fractions = _fractions(row)
        dose = row.get("PRDOSE")
        if dose is None and row.get("PRDOSTOT") is not None and fractions:
            dose = float(row["PRDOSTOT"]) / fractions
        if dose is not None and str(row.get("PRDOSU") or "Gy").lower() == "cgy":
            dose = dose / 100.0
        start, end = row.get("PRSTDTC"), row.get("PRENDTC") or row.get("PRSTDTC")
        site = str(row.get("PRLOC") or "not recorded")
        if dose is None or fractions is None or start is None:
            problems.append(
                f"PR record {index} ({row['USUBJID']}): dose per fraction, number of fractions or start date missing"
            )
            continue
        technique = (
            "SBRT"
            if any(
                k in f"{row.get('PRDECOD') or ''} {row.get('PRTRT') or ''}".upper()
                for k in ("SBRT", "STEREOTACTIC")
            )
            else "conventional"
        )
        course = RadiotherapyCourse(
            lesion_id=str(row.get("PRLNKID") or row.get("PRSEQ") or index),
            lesion_type="primary" if site.lower() in primary_sites else "metastasis",
            organ=site,
            technique=technique,
            dose_per_fraction_gy=float(dose),
            fractions=fractions,
            start_date=start,
            end_date=max(end, start),
        )
        by_subject.setdefault(row["USUBJID"], []).append(course)
    verdicts: dict[str, str] = {}
    arm_of = {r["USUBJID"]: r["_ARM"] for r in adsl_arm.to_dicts()}
    for subject, courses in sorted(by_subject.items()):
        first_start = min(c.start_date for c in courses)
        last_end = max(c.end_date for c in courses)
        chemo_end = induction_end.get(subject)
        restart = min((d for d in ex_dates.get(subject, []) if d > last_end), default=None)
        plan = RadiotherapyPlan(
            chemo_immunotherapy_end=chemo_end or first_start,
            maintenance_restart=restart,
            courses=tuple(courses),
        )
        check = check_radiotherapy_plan(plan, protocol)
        windows = [f for f in check.windows if f.verdict != "compliant"] if chemo_end else []
        subject_verdict = max(
            [lesion.verdict for lesion in check.lesions] + [f.verdict for f in windows],
            key=["compliant", "advisory", "deviation"].index,
        )
        verdicts[subject] = subject_verdict
        for lesion, course in zip(check.lesions, courses, strict=True):
            beds.append(lesion.bed10_gy)
            findings = "; ".join(f.message for f in lesion.findings if f.verdict != "compliant")
            course_rows.append(
                (
                    subject,
                    str(arm_of.get(subject) or "—"),
                    course.organ,
                    lesion.lesion_type,
                    lesion.technique,
                    f"{lesion.dose_per_fraction_gy:g} Gy × {lesion.fractions}",
                    f"{lesion.total_dose_gy:.1f}",
                    f"{lesion.bed10_gy:.1f}",
                    f"{lesion.eqd2_10_gy:.1f}",
                    lesion.verdict,
                    findings or "—",
                )
            )
        for finding in windows:
            course_rows.append(
                (
                    subject,
                    str(arm_of.get(subject) or "—"),
                    "(windows)",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    finding.verdict,
                    finding.message,
                )
            )
    summary_rows: list[tuple[str, ...]] = []
    adsl_arm_frame = _with_arm(adsl, arms)
    for arm in arms:
        members = (
            adsl_arm_frame.filter((pl.col("ITTFL") == "Y") & (pl.col("_ARM") == arm.code))
            .get_column("USUBJID")
            .to_list()
        )
        irradiated = [s for s in members if s in by_subject]
        n_courses = sum(len(by_subject[s]) for s in irradiated)
        arm_beds = [b for s in irradiated for b in _beds(by_subject[s], protocol)]
        bed_text = f"{np.median(arm_beds):.1f} ({min(arm_beds):.1f}–{max(arm_beds):.1f})" if arm_beds else "—"
        summary_rows.append(
            (
                arm.label,
                str(len(members)),
                _pct(len(irradiated), len(members)),
                str(n_courses),
                bed_text,
                str(sum(1 for s in irradiated if verdicts[s] == "compliant")),
                str(sum(1 for s in irradiated if verdicts[s] == "advisory")),
                str(sum(1 for s in irradiated if verdicts[s] == "deviation")),
            )
        )
    notes = [
        "BED10 = n·d·(1 + d/10), EQD2 = BED/(1 + 2/10); the linear-quadratic model has no time factor and is "
        "debated above about 8–10 Gy per fraction.",
        "Advisory: 8 Gy × 3–4 SBRT is the protocol's schedule but below the BED10 > 60 Gy recommended for other "
        "schedules.",
    ]
    if ex is None:
        notes.append(
            "Timing windows not checked: no SDTM EX given (last induction dose, maintenance restart)."
        )
    notes.extend(problems)
    return (
        Table(
            "Radiotherapy compliance by arm (randomized subjects)",
            (
                "Arm",
                "Randomized",
                "Irradiated",
                "Courses",
                "BED10, Gy: median (range)",
                "Compliant",
                "Advisory",
                "Deviation",
            ),
            tuple(summary_rows),
            tuple(notes),
        ),
        Table(
            "Radiotherapy courses",
            (
                "Subject",
                "Arm",
                "Site",
                "Lesion",
                "Technique",
                "Schedule",
                "Total, Gy",
                "BED10, Gy",
                "EQD2, Gy",
                "Verdict",
                "Findings",
            ),
            tuple(course_rows),
            () if course_rows else ("The PR domain has no radiotherapy course.",),
        ),
        tuple(beds),
    )


def _beds(courses: Sequence[RadiotherapyCourse], protocol: Protocol) -> list[float]:
    """BED10 of each course (alpha/beta of the tumour from the protocol)."""
    ab = protocol.radiotherapy.alpha_beta_tumour_gy
    return [float(compute_bed(c.dose_per_fraction_gy, c.fractions, ab)) for c in courses]
