"""Aggregate reports: counts and estimates only, never subject-level rows (what DSMB members may see).

Who sees what (:func:`aggregate_report`, every role holding ``read_aggregate``):

* ``outcomes`` scope, study-wide statisticians and DSMB members: enrollment by site (table and monthly
  cumulative series), CONSORT counts, Kaplan-Meier summaries of PFS and OS by arm, response (ORR, DCR, best
  overall response) and adverse-event summaries by arm. Comparative results by arm during the trial belong to
  the DSMB and the unblinded trial statistician (ICH E9 section 4.5; FDA guidance on data monitoring
  committees, 2006, section 6.3), so no other role gets them.
* ``study`` scope, other study-wide ``read_aggregate`` holders (the administrator, a study-wide monitor or data
  manager): enrollment by site, the table and the monthly series, which are operational, not comparative.
* ``site`` scope, users whose ``read_aggregate`` is held at given sites: the enrollment table of those sites
  only, counted in the database as before (no analysis derivation).

The analysis path is the one of the analysis report: SDTM from the database
(:func:`oligotrial.exports.sdtm.derive_sdtm`), ADaM (:func:`oligotrial.endpoints.derive_adam`), the typed
frames of :func:`oligotrial.reports.data.prepare_adam` and the tables of :mod:`oligotrial.reports.tables`.
The SDTM derivation needs ``export`` study-wide; DSMB members do not hold it (they never receive datasets), so
the service derives under an internal system actor holding the statistician's role, whose ``export`` audit
entry names the requesting user in its source, and returns only aggregates. Each call of a study-wide view
is audited once (action ``view``, table ``aggregate_report``) with the sections returned.

Derived ADaM is cached per database engine and protocol, keyed on the position and hash of the last audit
entry that records a change (every write appends one; ``export`` and ``view`` entries change nothing), so any
new write invalidates it and the Kaplan-Meier images of a page do not derive again.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from sqlalchemy import Engine, func, select

from oligotrial.errors import ConflictError, InputError, PermissionDeniedError, Problem
from oligotrial.protocol.models import Protocol
from oligotrial.services._context import (
    Actor,
    Edc,
    Permission,
    Role,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services.data import SUBJECT_STATUSES, readable_sites
from oligotrial.services.randomization import current_protocol
from oligotrial.services.views import (
    AdverseEventSummary,
    AeGroupCounts,
    AeSocRow,
    AggregateReport,
    ArmView,
    ConsortCounts,
    EnrollmentMonth,
    EnrollmentReport,
    EstimateView,
    ResponseGroup,
    ResponseSummaryView,
    SiteEnrollmentSeries,
    SurvivalArmView,
    SurvivalLandmark,
    SurvivalView,
)
from oligotrial.store.tables import GENESIS_HASH, AuditEntry, Site, Subject

if TYPE_CHECKING:
    from oligotrial.reports.data import ReportInputs
    from oligotrial.reports.tables import ArmInfo, Estimate, SurvivalSummary

# The analysis path (endpoints, exports.sdtm, reports.tables and through them scipy.stats) is imported when a
# study-wide report is first asked for, not when the server starts.

__all__ = [
    "CACHE_SECONDS",
    "SURVIVAL_ENDPOINTS",
    "aggregate_report",
    "aggregate_scope",
    "enrollment_over_time",
    "enrollment_report",
    "survival_curves",
]

#: Time-to-event endpoints shown by arm (ADTTE PARAMCD).
SURVIVAL_ENDPOINTS = ("PFS", "OS")
#: A cached derivation older than this is derived again even when no write happened (bounds memory use).
CACHE_SECONDS = 600.0
#: Audit actions that record no change of the trial's data (they never invalidate the cache).
_READ_ACTIONS = ("export", "view")
_ANALYSIS_ROLES = frozenset({Role.STATISTICIAN, Role.DSMB_MEMBER})
_BOR_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")

Scope = Literal["site", "study", "outcomes"]


def enrollment_report(edc: Edc, actor: Actor) -> list[EnrollmentReport]:
    """Subjects per site and status, over the sites of the actor's ``read_aggregate`` roles."""
    sites = readable_sites(actor, Permission.READ_AGGREGATE)
    with read_transaction(edc) as session:
        site_stmt: Any = select(Site.id, Site.code).order_by(Site.code)
        count_stmt: Any = select(Subject.site_id, Subject.status, func.count()).group_by(
            Subject.site_id, Subject.status
        )
        if sites is not None:
            site_stmt = site_stmt.where(Site.id.in_(sites))
            count_stmt = count_stmt.where(Subject.site_id.in_(sites))
        by_site = {
            sid: (code, dict.fromkeys(SUBJECT_STATUSES, 0)) for sid, code in session.execute(site_stmt).all()
        }
        for site_id, status, n in session.execute(count_stmt).all():
            by_site[site_id][1][status] = int(n)
        return [
            EnrollmentReport(site=code, by_status=counts, total=sum(counts.values()))
            for code, counts in by_site.values()
        ]


def aggregate_scope(actor: Actor) -> Scope:
    """``outcomes``, ``study`` or ``site``: what :func:`aggregate_report` shows the actor (module notes).

    Raises
    ------
    PermissionDeniedError
        ``AUTH-100`` the actor holds ``read_aggregate`` nowhere.
    """
    sites = readable_sites(actor, Permission.READ_AGGREGATE)
    if any(role in _ANALYSIS_ROLES and site is None for role, site in actor.assignments):
        return "outcomes"
    return "study" if sites is None else "site"


def _require(actor: Actor, scopes: Sequence[Scope], message: str) -> None:
    if aggregate_scope(actor) not in scopes:
        raise PermissionDeniedError(Problem("AUTH-101", "", message))


# --- the derivation and its cache --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Derived:
    version: tuple[int, str]
    protocol: tuple[str, str]
    inputs: ReportInputs
    held_back: int
    at: float


_cache: weakref.WeakKeyDictionary[Engine, _Derived] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _data_version(edc: Edc) -> tuple[int, str]:
    """Position and hash of the last audit entry recording a change (``(0, genesis)`` when none)."""
    with read_transaction(edc) as session:
        row = session.execute(
            select(AuditEntry.id, AuditEntry.hash)
            .where(AuditEntry.action.not_in(_READ_ACTIONS))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def _derive(edc: Edc, actor: Actor, protocol: Protocol) -> tuple[ReportInputs, int]:
    """SDTM from the database, ADaM from SDTM, typed as the analysis report reads them."""
    system = Actor(
        None,
        "system",
        "System (aggregate reports)",
        frozenset({(Role.STATISTICIAN, None)}),
        source=f"aggregate report for {actor.username} ({actor.source})"[:128],
    )
    from oligotrial.endpoints import derive_adam
    from oligotrial.exports.sdtm import derive_sdtm
    from oligotrial.reports.data import prepare_adam

    tables, problems = derive_sdtm(edc, system, protocol=protocol)
    adam = derive_adam(tables, protocol)
    return replace(prepare_adam(adam.as_dict()), ie=tables["IE"], ds=tables["DS"]), len(problems)


def _analysis_inputs(edc: Edc, actor: Actor, protocol: Protocol) -> tuple[ReportInputs, int, int]:
    """The typed ADaM of the database now (cached until the next write): inputs, held back, data version.

    The version is read before deriving, so a write landing during the derivation leaves an entry under an
    older version, which the next call does not reuse.
    """
    version = _data_version(edc)
    key = (protocol.protocol.id, protocol.protocol.version)
    with _cache_lock:
        cached = _cache.get(edc.engine)
    if (
        cached is not None
        and cached.version == version
        and cached.protocol == key
        and time.monotonic() - cached.at < CACHE_SECONDS
    ):
        return cached.inputs, cached.held_back, version[0]
    inputs, held_back = _derive(edc, actor, protocol)
    with _cache_lock:
        _cache[edc.engine] = _Derived(version, key, inputs, held_back, time.monotonic())
    return inputs, held_back, version[0]


def _audit_view(edc: Edc, actor: Actor, record: str, new: dict[str, Any]) -> None:
    with write_transaction(edc) as session:
        write_audit(session, actor, "view", "aggregate_report", record, site_id=None, new=new)


# --- aggregates --------------------------------------------------------------------------------------------


def _estimate(e: Estimate) -> EstimateView:
    return EstimateView(value=e.value, lower=e.lower, upper=e.upper, reason=e.reason)


def _arm_codes(frame: pl.DataFrame, arms: Sequence[ArmInfo], column: str) -> pl.DataFrame:
    """``_ARM``: the ARMCD of the arm name (as in the protocol or upper case, as SDTM ``ARM``) or code in
    ``column``; other texts (``INDUCTION ONLY``) kept, as :mod:`oligotrial.reports.tables` matches arms."""
    mapping = {n: a.code for a in arms for n in (a.name, a.name.upper(), a.code)}
    if column not in frame.columns:
        return frame.with_columns(pl.lit(None, pl.Utf8).alias("_ARM"))
    return frame.with_columns(
        pl.col(column).replace_strict(mapping, default=pl.col(column), return_dtype=pl.Utf8).alias("_ARM")
    )


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def _enrollment_series(adsl: pl.DataFrame, sites: Sequence[str]) -> list[SiteEnrollmentSeries]:
    """Monthly cumulative counts of enrolled (``ENRLDT``) and randomized (``RANDDT``) subjects per site, from
    the month of the first enrollment to the month of the last enrollment or randomization."""
    enrolled = adsl.filter(pl.col("ENRLDT").is_not_null()).select("SITEID", "ENRLDT")
    randomized = adsl.filter(pl.col("RANDDT").is_not_null()).select("SITEID", "RANDDT")
    dates = enrolled.get_column("ENRLDT").to_list() + randomized.get_column("RANDDT").to_list()
    if enrolled.height == 0:
        return [SiteEnrollmentSeries(site=site, months=[]) for site in sites]
    months = [_month(min(dates))]
    last = _month(max(dates))
    while months[-1] < last:
        months.append(_next_month(months[-1]))
    series = []
    for site in sites:
        enrolled_months = [_month(d) for d in enrolled.filter(pl.col("SITEID") == site)["ENRLDT"].to_list()]
        randomized_months = [
            _month(d) for d in randomized.filter(pl.col("SITEID") == site)["RANDDT"].to_list()
        ]
        series.append(
            SiteEnrollmentSeries(
                site=site,
                months=[
                    EnrollmentMonth(
                        month=m,
                        enrolled=sum(1 for e in enrolled_months if e <= m),
                        randomized=sum(1 for r in randomized_months if r <= m),
                    )
                    for m in months
                ],
            )
        )
    return series


def _survival_view(summary: SurvivalSummary) -> SurvivalView:
    return SurvivalView(
        paramcd=summary.paramcd,
        arms=[
            SurvivalArmView(
                arm=a.arm.code,
                n=a.n,
                events=a.events,
                median=_estimate(a.median),
                landmarks=[SurvivalLandmark(months=t, survival=_estimate(e)) for t, e in a.rates],
            )
            for a in summary.arms
        ],
        logrank_p=_estimate(summary.logrank),
        hazard_ratio=_estimate(summary.cox),
    )


def _response(adrs: pl.DataFrame, protocol: Protocol, arms: Sequence[ArmInfo]) -> ResponseSummaryView:
    """ORR (``CRSP``) and DCR (``CB``) by :func:`~oligotrial.reports.tables.compute_response` (randomized arms,
    then all enrolled), and the confirmed best overall responses (``CBOR``) of the same subjects."""
    from oligotrial.reports.tables import compute_response

    orr = compute_response(adrs, protocol, "CRSP", "ORR")
    dcr = compute_response(adrs, protocol, "CB", "DCR")
    cbor = _arm_codes(adrs.filter(pl.col("PARAMCD") == "CBOR"), arms, "TRT01P")
    populations = [
        (arm.code, cbor.filter((pl.col("ITTFL") == "Y") & (pl.col("_ARM") == arm.code))) for arm in arms
    ]
    populations.append(("ALL", cbor.filter(pl.col("ENRLFL") == "Y")))
    # every group has the same levels (a table's columns): the standard ones, then any other found (MISSING)
    found = {code: frame.get_column("AVALC").fill_null("NE").to_list() for code, frame in populations}
    others = sorted({v for values in found.values() for v in values} - set(_BOR_ORDER))
    groups = []
    for (code, _), (_, k_orr, n, rate_orr), (_, k_dcr, _n, rate_dcr) in zip(
        populations, orr.rows, dcr.rows, strict=True
    ):
        best = {level: found[code].count(level) for level in (*_BOR_ORDER, *others)}
        groups.append(
            ResponseGroup(
                group=code,
                n=n,
                orr_responders=k_orr,
                orr=_estimate(rate_orr),
                dcr_responders=k_dcr,
                dcr=_estimate(rate_dcr),
                best_response=best,
            )
        )
    return ResponseSummaryView(
        groups=groups, orr_difference=_estimate(orr.difference), dcr_difference=_estimate(dcr.difference)
    )


def _adverse_events(
    adae: pl.DataFrame, adsl: pl.DataFrame, protocol: Protocol, arms: Sequence[ArmInfo]
) -> AdverseEventSummary:
    """Subjects with treatment-emergent AEs in the safety population, by actual arm.

    Notes
    -----
    The populations and arms of :func:`oligotrial.reports.tables.compute_safety`: ``TRTEMFL = Y`` AEs of
    ``SAFFL = Y`` subjects; the arm is ADSL ``TRT01A`` (else ``TRT01P``), subjects never randomized form
    ``NOT_RANDOMIZED``; ``TOTAL`` is every safety subject. A subject counts once per row: severe is a grade at
    or above the protocol's ``severe_grade`` (CTCAE grade 3), serious ``AESER = Y``; by system organ class a
    subject counts in the row of their worst grade in that class.
    """
    from oligotrial.reports.tables import INDUCTION_ONLY

    severe = protocol.adverse_events.severe_grade
    arm_column = "TRT01A" if "TRT01A" in adsl.columns else "TRT01P"
    population = _arm_codes(adsl.filter(pl.col("SAFFL") == "Y"), arms, arm_column)
    groups: list[tuple[str, list[str]]] = [
        (a.code, population.filter(pl.col("_ARM") == a.code)["USUBJID"].to_list()) for a in arms
    ]
    groups.append(
        ("NOT_RANDOMIZED", population.filter(pl.col("_ARM") == INDUCTION_ONLY)["USUBJID"].to_list())
    )
    groups.append(("TOTAL", population["USUBJID"].to_list()))
    te = adae.filter((pl.col("TRTEMFL") == "Y") & pl.col("USUBJID").is_in(population["USUBJID"].implode()))
    grade = pl.col("ATOXGRN") if "ATOXGRN" in te.columns else pl.lit(None, pl.Int64)
    serious = (pl.col("AESER") == "Y") if "AESER" in te.columns else pl.lit(False)
    te = te.with_columns(
        grade.alias("_G"),
        serious.fill_null(False).alias("_SER"),
        pl.col("AEBODSYS").fill_null("uncoded").alias("_SOC"),
    )

    def subjects(frame: pl.DataFrame, ids: list[str]) -> int:
        return frame.filter(pl.col("USUBJID").is_in(ids))["USUBJID"].n_unique()

    counts = [
        AeGroupCounts(
            group=code,
            n=len(ids),
            any_ae=subjects(te, ids),
            severe=subjects(te.filter(pl.col("_G") >= severe), ids),
            serious=subjects(te.filter(pl.col("_SER")), ids),
        )
        for code, ids in groups
    ]
    worst = te.group_by("_SOC", "USUBJID").agg(pl.col("_G").max().alias("_W"))
    rows: list[AeSocRow] = []
    for soc in sorted(worst["_SOC"].unique().to_list()):
        in_soc = worst.filter(pl.col("_SOC") == soc)
        rows.append(AeSocRow(soc=soc, grade=None, counts={c: subjects(in_soc, ids) for c, ids in groups}))
        grades = sorted(g for g in in_soc["_W"].unique().to_list() if g is not None)
        for g in grades:
            at_grade = in_soc.filter(pl.col("_W") == g)
            rows.append(AeSocRow(soc=soc, grade=g, counts={c: subjects(at_grade, ids) for c, ids in groups}))
    return AdverseEventSummary(severe_grade=severe, groups=counts, by_soc=rows)


def _consort(inputs: ReportInputs, protocol: Protocol) -> ConsortCounts:
    from oligotrial.reports.tables import REASON_NOT_RECORDED, compute_consort, screen_failure_reasons

    consort = compute_consort(
        inputs.adsl, inputs.adtte, protocol, screen_failure_reasons(inputs.ie, inputs.ds)
    )
    return ConsortCounts(
        screened=consort.screened,
        not_enrolled=consort.not_enrolled,
        not_enrolled_reasons=[
            (None if reason == REASON_NOT_RECORDED else reason, n)
            for reason, n in consort.not_enrolled_reasons
        ],
        enrolled=consort.enrolled,
        induction_progression=consort.induction_progression,
        not_randomized_other=consort.not_randomized_other,
        randomized=consort.randomized,
        treated=consort.treated,
        radiotherapy=consort.radiotherapy,
        discontinued=consort.discontinued,
        analysed=consort.analysed,
    )


def aggregate_report(edc: Edc, actor: Actor, *, protocol: Protocol | None = None) -> AggregateReport:
    """The aggregate report the actor may see (scopes in the module notes), derived once from the database.

    Returns
    -------
    AggregateReport
        Enrollment by site always; for study-wide roles the monthly cumulative enrollment by site; for
        statisticians and DSMB members also CONSORT counts, PFS and OS by arm, responses and AEs by arm. When
        the analysis datasets cannot be derived (a record the SDTM checks refuse), ``analysis_error`` holds
        the problem code and only enrollment is shown.

    Raises
    ------
    PermissionDeniedError
        ``AUTH-100`` the actor holds ``read_aggregate`` nowhere.

    Notes
    -----
    Counts only: no subject identifier leaves this function. The ADaM datasets are derived at most once per
    call (none when the cache of the module notes holds the current data). A study-wide view is audited as
    one ``view`` entry of ``aggregate_report``.
    """
    scope = aggregate_scope(actor)
    enrollment = enrollment_report(edc, actor)
    if scope == "site":
        return AggregateReport(scope="site", enrollment=enrollment)
    from oligotrial.reports.tables import compute_survival, get_arms

    protocol = protocol or current_protocol()
    arms = get_arms(protocol)
    try:
        inputs, held_back, version = _analysis_inputs(edc, actor, protocol)
    except (InputError, ConflictError) as error:
        _audit_view(edc, actor, "page", {"scope": scope, "sections": ["enrollment"], "error": error.code})
        return AggregateReport(scope=scope, enrollment=enrollment, analysis_error=error.code)
    report: dict[str, Any] = {
        "scope": scope,
        "enrollment": enrollment,
        "enrollment_over_time": _enrollment_series(inputs.adsl, [row.site for row in enrollment]),
        "held_back": held_back,
        "data_version": version,
    }
    if scope == "outcomes":
        report |= {
            "arms": [ArmView(code=a.code, name=a.name, is_experimental=a.is_experimental) for a in arms],
            "consort": _consort(inputs, protocol),
            "survival": [
                _survival_view(compute_survival(inputs.adtte, paramcd, protocol))
                for paramcd in SURVIVAL_ENDPOINTS
            ],
            "response": _response(inputs.adrs, protocol, arms),
            "adverse_events": _adverse_events(inputs.adae, inputs.adsl, protocol, arms),
        }
    sections = [
        k
        for k in ("enrollment_over_time", "consort", "survival", "response", "adverse_events")
        if k in report
    ]
    _audit_view(
        edc, actor, "page", {"scope": scope, "sections": ["enrollment", *sections], "data_version": version}
    )
    return AggregateReport(**report)


def survival_curves(
    edc: Edc, actor: Actor, paramcd: str, *, protocol: Protocol | None = None, title: str | None = None
) -> SurvivalSummary:
    """The Kaplan-Meier summary of ``paramcd`` (``PFS`` or ``OS``) by arm with its curves, for a figure.

    Raises
    ------
    InputError
        ``REPORT-101`` an endpoint other than those of :data:`SURVIVAL_ENDPOINTS`.
    PermissionDeniedError
        ``AUTH-100``/``AUTH-101`` not a study-wide statistician or DSMB member.

    Notes
    -----
    Aggregate: curve steps at event times, numbers at risk and censoring times, as any published Kaplan-Meier
    figure shows them. Audited as one ``view`` entry (``figure:<paramcd>``).
    """
    if paramcd not in SURVIVAL_ENDPOINTS:
        raise InputError.single(
            "REPORT-101", "endpoint", f"expected one of {', '.join(SURVIVAL_ENDPOINTS)}", paramcd
        )
    _require(actor, ("outcomes",), "survival curves by arm are for study-wide statisticians and DSMB members")
    from oligotrial.reports.tables import compute_survival

    protocol = protocol or current_protocol()
    inputs, _held_back, version = _analysis_inputs(edc, actor, protocol)
    summary = compute_survival(inputs.adtte, paramcd, protocol, title=title)
    _audit_view(edc, actor, f"figure:{paramcd}", {"data_version": version})
    return summary


def enrollment_over_time(
    edc: Edc, actor: Actor, *, protocol: Protocol | None = None
) -> list[SiteEnrollmentSeries]:
    """Monthly cumulative enrolled and randomized subjects per site, for study-wide aggregate readers.

    Raises
    ------
    PermissionDeniedError
        ``AUTH-100``/``AUTH-101`` the actor's ``read_aggregate`` is limited to given sites.
    """
    _require(actor, ("study", "outcomes"), "the enrollment of every site is for study-wide roles")
    protocol = protocol or current_protocol()
    sites = [row.site for row in enrollment_report(edc, actor)]
    inputs, _held_back, version = _analysis_inputs(edc, actor, protocol)
    _audit_view(edc, actor, "figure:enrollment", {"data_version": version})
    return _enrollment_series(inputs.adsl, sites)
