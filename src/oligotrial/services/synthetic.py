"""Load synthetic subjects into the EDC through the services a site uses.

:func:`load_synthetic_subjects` takes the per-subject records of
:func:`oligotrial.simulation.generate_subjects` and replays them as the trial's staff would: the administrator
creates the sites and the accounts, the statistician stores the randomization list, and a research
coordinator at each subject's site enters the subject's records one service call at a time (eligibility and
enrollment, tumour assessments with their lesions, doses, randomization, radiotherapy courses, adverse events,
new therapy, end of treatment, follow-up, death, disposition). Nothing is written to the database any other
way, so every record is checked, audited and queried exactly as a site's would be (DESIGN.md section 1).

Notes
-----
*Dates.* The generated calendar is kept and placed so that its data cut-off is the day of the load: every
generated date is moved by the same whole number of days (the load day minus the generated cut-off), so
that the whole trial lies in the past, as a trial's records do at a data cut-off. Enrollment is spread over
the generated accrual period, each subject is randomized on its generated day (the randomization service's
``randomized_at``, an in-process back-dating that the audit entry marks as retrospective; noon of that day at
the site) and the follow-up runs up to the cut-off. Intervals *and* the calendar are therefore the generated
ones (PFS, OS and every ``AVAL`` match the generator's; dates match it up to the common shift), and no record
is dated after the load day.

*Allocation.* The arms are those of the generated trial (its records, radiotherapy included, depend on
them), so the statistician uploads them as the concealed list (``upload_randomization_list``: one stratum's
positions in the order its subjects are randomized) instead of generating a list from a seed, whose arms
would contradict the records (the radiotherapy service would refuse the courses of a subject it allocated
to control, ``RT-020``). The list's content hash and the allocations are audited as usual.

*Inputs a site has and the generator does not.* Laboratory values at screening (normal values, so that the
eligibility rules decide on the generated items), the method of imaging (CT), relations of adverse events
(``possibly related`` to the treatments the protocol lists for the toxicity and the subject received),
action taken and seriousness criterion (``hospitalization`` for a serious event), and a name for the
``OTHER`` regimen. The generator writes ``DOSE`` as the unit of ``other_chemotherapy``; the dose form knows
``mg``, ``mg/m2``, ``mg/kg`` and ``AUC`` only, so such a dose is entered in ``mg``.

*Screen failures.* A generated subject screened and not enrolled (DM ``ARMNRS`` ``SCREEN FAILURE``) is
entered as its eligibility form only, with the metastatic lesions the generator keeps in ``truth`` (a site
records no imaging for such a subject); the eligibility rules find the failed criterion, and the screen
failure is recorded on the screening day.

*Refusals and queries.* A record a service refuses (an ``OligotrialError``) stops that subject's replay; the
refusal is reported (:attr:`SyntheticLoadSummary.refusals`) and the next subject is loaded. An edit check
that fires (e.g. a dose outside its window) raises its query as it would for a site; the summary counts them.

*Monitoring* (``monitoring=True``). After the replay the study monitor works through the trial as on a
monitoring visit, through the same services and with the same rule for every load of the same subjects (the
enrolled subjects numbered 1, 2, ... in load order): every form of each subject numbered 1, 5, 9, ... is
source-data verified; each subject numbered 2, 8, 14, ... gets a query on its first adverse event's grade
(else its first dose's date), which the site's coordinator answers for 2, 14, 26, ... and the monitor then
closes for 2, 26, 50, ...: the query workflow in each of its states, as a trial in progress has it.
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oligotrial.errors import ConflictError, OligotrialError, Problem
from oligotrial.protocol import Protocol
from oligotrial.services import admin
from oligotrial.services._context import Actor, Edc, Role
from oligotrial.services.auth import authenticate, login
from oligotrial.services.data import create_subject, list_forms, verify_form
from oligotrial.services.database import init_database, open_edc
from oligotrial.services.queries import answer_query, close_query, raise_query
from oligotrial.services.radiotherapy import record_maintenance_restart, record_radiotherapy_course
from oligotrial.services.randomization import randomize_subject, upload_randomization_list
from oligotrial.services.workflow import (
    enroll_subject,
    record_adverse_event,
    record_death,
    record_disposition,
    record_dose,
    record_end_of_treatment,
    record_follow_up,
    record_new_therapy,
    record_screen_failure,
    record_tumour_assessment,
    save_eligibility,
)
from oligotrial.settings import Settings
from oligotrial.simulation import SubjectRecords
from oligotrial.store.engine import create_engine
from oligotrial.store.migrate import is_empty_database

__all__ = [
    "SyntheticLoadSummary",
    "SyntheticLogin",
    "SyntheticRefusal",
    "load_synthetic_subjects",
    "open_synthetic_database",
]

ProgressCallback = Callable[[int, int, str], None]
"""``(subjects done, subjects in all, USUBJID just loaded)``."""

_NORMAL_LABS: dict[str, Any] = {
    "anc": 3.5,
    "platelets": 220,
    "haemoglobin": 130,
    "creatinine_clearance": 90,
    "bilirubin": {"value": 10, "uln": 21},
    "ast": {"value": 25, "uln": 40},
    "alt": {"value": 24, "uln": 40},
}
_UNITS = ("mg", "mg/m2", "mg/kg", "AUC")
_OTHER_REGIMEN_NAME = "other standard first-line regimen (synthetic)"
_MAX_REFUSALS = 50


@dataclass(frozen=True)
class SyntheticLogin:
    """An account the loader created: user name, password, role and site (``None``: study-wide)."""

    username: str
    password: str
    role: str
    site: str | None


@dataclass(frozen=True)
class SyntheticRefusal:
    """A record a service refused: the subject (generated USUBJID and EDC code), the step and the problems."""

    usubjid: str
    subject: str | None
    step: str
    date: str | None
    problems: list[dict[str, Any]]


@dataclass
class SyntheticLoadSummary:
    """What :func:`load_synthetic_subjects` did (JSON-ready with :func:`dataclasses.asdict`)."""

    subjects: int = 0
    enrolled: int = 0
    screen_failed: int = 0
    randomized: int = 0
    arms: dict[str, int] = field(default_factory=dict)
    sites: list[str] = field(default_factory=list)
    logins: list[SyntheticLogin] = field(default_factory=list)
    subject_codes: dict[str, str] = field(default_factory=dict)
    service_calls: dict[str, int] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    monitoring: dict[str, int] = field(default_factory=dict)
    """With ``monitoring=True``: forms verified, queries raised, answered and closed by the monitoring pass."""
    refusals: list[SyntheticRefusal] = field(default_factory=list)
    refused_subjects: int = 0
    load_date: str | None = None
    """The day of the load, on which the generated data cut-off is placed (every record is on or before it)."""
    seconds: float = 0.0


def _password(username: str) -> str:
    while True:
        candidate = secrets.token_urlsafe(12)
        if username.lower() not in candidate.lower():
            return candidate


def open_synthetic_database(
    settings: Settings,
    protocol: Protocol,
    *,
    admin_username: str = "admin",
    admin_password: str | None = None,
    source: str = "synth",
) -> tuple[Edc, SyntheticLogin | None]:
    """Open the EDC at ``settings.database_url`` for a synthetic load, creating it first when it is empty.

    Notes
    -----
    An empty database (no table at all) is initialized as ``oligotrial init`` does, with the administrator
    ``admin_username`` (password ``admin_password``, else a generated one, returned as a login). A database
    that holds tables must already be current (``CONF-012`` otherwise: run ``oligotrial init``) and of this
    protocol.
    """
    engine = create_engine(
        settings.database_url, pool_size=1, busy_timeout_seconds=settings.db_busy_timeout_seconds
    )
    try:
        is_empty = is_empty_database(engine)
    finally:
        engine.dispose()
    created = None
    if is_empty:
        password = admin_password or _password(admin_username)
        init_database(settings, protocol, admin_username, password, source=source)
        created = SyntheticLogin(admin_username, password, Role.ADMINISTRATOR.value, None)
    return open_edc(settings, pool_size=1), created


# -- reading the generated records -------------------------------------------------------------------------


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(str(text)[:10])


def _first(rows: list[dict[str, Any]], **match: str) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


@dataclass
class _Plan:
    """One subject's records in the shape of the service calls, dates already moved (cut-off on the load
    day)."""

    usubjid: str
    site: str
    eligibility: dict[str, Any]
    enrollment: date
    regimen: str
    response: str | None
    organ_count: int
    arm: str | None
    stratum: dict[str, str]
    steps: list[tuple[date, int, str, Any]]


_ORDER = {
    "assessment": 0,
    "dose": 1,
    "randomization": 2,
    "radiotherapy": 3,
    "maintenance_restart": 4,
    "adverse_event": 5,
    "new_therapy": 6,
    "end_of_treatment": 7,
    "follow_up": 8,
    "death": 9,
    "disposition": 10,
}


def _plan(record: SubjectRecords, protocol: Protocol, load_date: date, site_codes: dict[str, str]) -> _Plan:
    rows = record.rows
    truth = record.truth
    dm = rows["DM"][0]
    supp = {r["QNAM"]: r["QVAL"] for r in rows.get("SUPPDM", [])}
    if dm.get("ARMNRS") == "SCREEN FAILURE":
        return _screen_failure_plan(record, supp, load_date, site_codes)
    first_dose = _day(dm["RFSTDTC"])
    assert first_dose is not None
    origin = first_dose - timedelta(days=int(truth["first_dose"]))
    shift = load_date - (origin + timedelta(days=int(truth["cutoff"])))

    def moved(text: str | None) -> date | None:
        value = _day(text)
        return None if value is None else value + shift

    def at(text: str | None) -> date:
        value = moved(text)
        assert value is not None
        return value

    steps: list[tuple[date, int, str, Any]] = []

    def add(day: date, step: str, payload: Any) -> None:
        steps.append((day, _ORDER[step], step, payload))

    # lesions: TU (identification) and TR (results per date)
    lesions = {r["TULNKID"]: r for r in rows.get("TU", [])}
    targets = [r for r in rows.get("TU", []) if r["TUORRES"] == "TARGET"]
    by_date: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for r in rows.get("TR", []):
        by_date[at(r["TRDTC"])].append(r)
    for day in sorted(by_date):
        entered = []
        for r in by_date[day]:
            tu = lesions[r["TRLNKID"]]
            lesion: dict[str, Any] = {
                "lesion_id": r["TRLNKID"],
                "role": "target" if tu["TUORRES"] == "TARGET" else "non-target",
                "organ": str(tu["TULOC"]).lower(),
            }
            if r["TRTESTCD"] == "LDIAM":
                lesion["diameter_mm"] = float(r["TRSTRESN"])
            else:
                lesion["state"] = str(r.get("TRSTRESC") or "PRESENT").lower()
            entered.append(lesion)
        add(day, "assessment", {"date": day.isoformat(), "method": "CT", "lesions": entered})
    # doses: one form per date and phase
    regimen = supp.get("REGIMEN", protocol.induction.regimens[0].id)
    grouped: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows.get("EX", []):
        grouped[(at(r["EXSTDTC"]), str(r["EPOCH"]).lower())].append(r)
    counts: Counter[str] = Counter()
    induction_dates: list[date] = []
    maintenance_dates: list[date] = []
    for (day, phase), given in sorted(grouped.items()):
        counts[phase] += 1
        agents = []
        for r in given:
            unit = r["EXDOSU"] if r["EXDOSU"] in _UNITS else "mg"
            amount = float(r["EXDOSE"])
            agents.append(
                {"agent": str(r["EXTRT"]).lower(), "dose": amount, "unit": unit, "planned_dose": amount}
            )
        values: dict[str, Any] = {
            "phase": phase,
            "cycle": counts[phase],
            "date": day.isoformat(),
            "agents": agents,
        }
        if phase == "induction":
            values["regimen"] = regimen
            induction_dates.append(day)
            if any(r.requires_name for r in protocol.induction.regimens if r.id == regimen):
                values["regimen_name"] = _OTHER_REGIMEN_NAME
        else:
            maintenance_dates.append(day)
        add(day, "dose", values)
    # randomization: on its generated day, the day after the end-of-induction assessment
    arm = truth.get("arm")
    response = {"CR/PR": "PR", "SD": "SD"}.get(supp.get("INDRESP", ""))
    organ_count = int(supp.get("METORGN", len({t["TULOC"] for t in targets}) or 1))
    rand = _first(rows.get("DS", []), DSDECOD="RANDOMIZED")
    if rand is not None:
        day = at(rand["DSSTDTC"])
        add(day, "randomization", day)
    # radiotherapy courses (entered when they end) and the restart of camrelizumab after them
    courses = rows.get("PR", [])
    for r in courses:
        where = str(r["PRLOC"])
        per_fraction = float(r["PRDOSE"])
        target = next((t for t in targets if t["TULOC"] == where), None)
        other = next((t for t in lesions.values() if t["TULOC"] == where), None)
        is_primary = target is None
        lesion_id = str((target or other or {"TULNKID": "P1"})["TULNKID"])
        course = {
            "lesion_id": lesion_id,
            "lesion_type": "primary" if is_primary else "metastasis",
            "organ": where.lower(),
            "technique": "SBRT"
            if per_fraction >= protocol.radiotherapy.sbrt.dose_per_fraction_gy
            else "conventional",
            "dose_per_fraction_gy": per_fraction,
            "fractions": int(r["PRFRACN"]),
            "start_date": at(r["PRSTDTC"]).isoformat(),
            "end_date": at(r["PRENDTC"]).isoformat(),
        }
        chemo_end = max(induction_dates) if induction_dates else None
        add(at(r["PRENDTC"]), "radiotherapy", (course, chemo_end))
    if courses and maintenance_dates:
        add(min(maintenance_dates), "maintenance_restart", min(maintenance_dates))
    # adverse events
    received = {str(r["EXTRT"]).lower() for r in rows.get("EX", [])}
    if courses:
        received.add("radiotherapy")
    toxicities = {t.term: t for t in protocol.adverse_events.expected_toxicities}
    for r in rows.get("AE", []):
        term = str(r["AEDECOD"])
        tox = toxicities.get(term)
        related = [a for a in (tox.agents if tox else ()) if a in received] or ["camrelizumab"]
        grade = int(r["AETOXGR"])
        end = moved(r.get("AEENDTC"))
        serious = r.get("AESER") == "Y"
        values = {
            "term": term,
            "grade": grade,
            "start_date": at(r["AESTDTC"]).isoformat(),
            "end_date": None if end is None else end.isoformat(),
            "serious": serious,
            "seriousness_criteria": ["hospitalization"] if serious else [],
            "relation": dict.fromkeys(related, "possibly related"),
            "action_taken": "drug interrupted" if grade >= 3 else "dose not changed",
            "outcome": "fatal"
            if grade == 5
            else "recovered/resolved"
            if end is not None
            else "not recovered/not resolved",
        }
        if r.get("AETERM") and r["AETERM"] != term:
            values["specify"] = str(r["AETERM"])
        add(at(r["AESTDTC"]), "adverse_event", values)
    # new anticancer therapy
    for r in rows.get("CM", []):
        therapy = {
            "therapy": str(r["CMTRT"]).lower(),
            "category": "systemic",
            "start_date": at(r["CMSTDTC"]).isoformat(),
        }
        add(at(r["CMSTDTC"]), "new_therapy", therapy)
    # end of treatment: progression seen, or the protocol's maximum duration, before the cut-off
    last_dose = max([*induction_dates, *maintenance_dates], default=None)
    seen = truth.get("progression_seen")
    max_day = int(truth["first_dose"]) + round(
        protocol.maintenance.max_duration_months * protocol.protocol.days_per_month
    )
    stop: tuple[int, str] | None = None
    if seen is not None:
        stop = (int(seen), "progression")
    elif max_day <= int(truth["cutoff"]) and all(
        d is None or d > max_day for d in (truth.get("death"), truth.get("lost"))
    ):
        stop = (max_day, "end of treatment at 24 months")
    if stop is not None and last_dose is not None:
        day = origin + timedelta(days=stop[0]) + shift
        add(
            max(day, last_dose),
            "end_of_treatment",
            {
                "date": max(day, last_dose).isoformat(),
                "last_dose_date": last_dose.isoformat(),
                "reason": stop[1],
            },
        )
    # survival follow-up contacts
    for r in rows.get("SV", []):
        visit = str(r["VISIT"])
        if visit.startswith("SURVIVAL FOLLOW-UP") or visit == "DATA CUT-OFF CONTACT":
            day = at(r["SVSTDTC"])
            add(day, "follow_up", {"date": day.isoformat(), "status": "alive", "method": "telephone"})
    # death and disposition
    death = moved(dm.get("DTHDTC"))
    if death is not None:
        progressed = truth.get("progression") is not None and int(truth["progression"]) <= int(truth["death"])
        cause = "disease progression" if progressed else "unknown"
        add(death, "death", {"date": death.isoformat(), "cause": cause})
    for r in rows.get("DS", []):
        if r.get("DSCAT") == "DISPOSITION EVENT":
            day = at(r["DSSTDTC"])
            add(day, "disposition", {"date": day.isoformat(), "reason": r["DSDECOD"]})
    eligibility = _eligibility(dm, supp, at(dm["RFICDTC"]), [(t["TULNKID"], t["TULOC"]) for t in targets])
    enrolled = _first(rows.get("DS", []), DSDECOD="ENROLLED")
    enrollment = at(enrolled["DSSTDTC"]) if enrolled else first_dose + shift
    stratum = _stratum(protocol, site_codes[str(dm["SITEID"])], response, organ_count)
    steps.sort(key=lambda s: (s[0], s[1]))
    return _Plan(
        record.usubjid,
        site_codes[str(dm["SITEID"])],
        eligibility,
        enrollment,
        regimen,
        response,
        organ_count,
        arm,
        stratum,
        steps,
    )


def _eligibility(
    dm: dict[str, Any], supp: dict[str, Any], consent: date, lesions: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """The eligibility form: DM, SUPPDM and the metastatic ``(lesion id, organ)`` pairs, screened on the day
    of consent (with the values the generator does not provide: see the module notes)."""
    return {
        "screening_date": consent.isoformat(),
        "sex": dm.get("SEX"),
        "age": int(dm["AGE"]) if dm.get("AGE") is not None else None,
        "diagnosis": "esophageal cancer",
        "histology": supp.get("HISTOL"),
        "disease_setting": "metastatic",
        "primary_site": "esophagus",
        "metastatic_lesions": [
            {"organ": str(organ).lower(), "lesion_id": lesion} for lesion, organ in lesions
        ],
        "measurable_disease": bool(lesions),
        "ecog": int(supp["ECOG"]) if "ECOG" in supp else None,
        "labs": _NORMAL_LABS,
        "prior_systemic_therapy": False,
        "consent_date": consent.isoformat(),
        "first_procedure_date": consent.isoformat(),
    }


def _screen_failure_plan(
    record: SubjectRecords, supp: dict[str, Any], load_date: date, site_codes: dict[str, str]
) -> _Plan:
    """A subject screened and not enrolled (DM ``ARMNRS`` ``SCREEN FAILURE``): the eligibility form only, with
    the lesions the generator keeps in ``truth``, dated as the enrolled subjects' records are (the cut-off
    moved to the day of the load)."""
    dm = record.rows["DM"][0]
    screened = load_date - timedelta(days=int(record.truth["cutoff"]) - int(record.truth["screening"]))
    lesions = [(str(lesion), str(organ)) for lesion, organ in record.truth["lesions"]]
    site = site_codes[str(dm["SITEID"])]
    eligibility = _eligibility(dm, supp, screened, lesions)
    return _Plan(record.usubjid, site, eligibility, screened, "", None, len(lesions), None, {}, [])


def _stratum(protocol: Protocol, site: str, response: str | None, organ_count: int) -> dict[str, str]:
    covariates: dict[str, Any] = {
        "site": site,
        "induction_response": response,
        "metastatic_organ_count": organ_count,
    }
    levels: dict[str, str] = {}
    for stratum in protocol.randomization.strata:
        value = covariates.get(stratum.source)
        if stratum.levels is None:
            levels[stratum.id] = str(value)
        else:
            levels[stratum.id] = next(
                (name for name, members in stratum.levels.items() if value in members), ""
            )
    return levels


# -- the load ------------------------------------------------------------------------------------------------


def _site_code(siteid: str) -> str:
    digits = "".join(ch for ch in siteid if ch.isdigit())
    return f"CN{int(digits):02d}" if digits else siteid.upper()[:12]


def _allocation_csv(plans: Sequence[_Plan], protocol: Protocol) -> str:
    factors = [s.id for s in protocol.randomization.strata]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["position", "arm", *factors])
    positions: Counter[tuple[str, ...]] = Counter()
    for plan in plans:
        if plan.arm is None or not any(step == "randomization" for _, _, step, _ in plan.steps):
            continue
        key = tuple(plan.stratum[f] for f in factors)
        positions[key] += 1
        writer.writerow([positions[key], plan.arm, *key])
    return out.getvalue()


def load_synthetic_subjects(
    edc: Edc,
    subjects: Sequence[SubjectRecords],
    *,
    protocol: Protocol,
    progress: ProgressCallback | None = None,
    sites: int | None = None,
    password: str | None = None,
    source: str = "synth",
    monitoring: bool = False,
) -> SyntheticLoadSummary:
    """Create the sites and staff of a synthetic trial and replay each subject through the EDC services.

    Parameters
    ----------
    edc
        An initialized EDC (:func:`open_synthetic_database` or :func:`oligotrial.services.open_edc`) that
        holds no site yet.
    subjects
        :func:`oligotrial.simulation.generate_subjects` output.
    protocol
        The protocol the records were generated for (and the database was created for).
    progress
        Called after each subject with ``(done, total, usubjid)``.
    sites
        Number of sites to create (``CN01`` ...); default: the sites the subjects name. A site without a
        subject still gets its staff.
    password
        Password of every account created; default: a generated password per account (returned in
        :attr:`SyntheticLoadSummary.logins`).
    monitoring
        Then verify forms and raise, answer and close queries as the monitor and the sites would (module
        notes, *Monitoring*).

    Returns
    -------
    SyntheticLoadSummary
        Counts, the accounts created (with passwords), the map from generated USUBJID to EDC subject code,
        the service calls made, the edit-check queries raised and the records refused.

    Notes
    -----
    Staff: per site ``coordinator.<site>`` (research coordinator, who enters the data) and
    ``investigator.<site>``; study-wide ``statistician``, ``monitor``, ``datamanager`` and ``dsmb``. Sites are
    ``CN01``, ``CN02``, ... for the generator's ``001``, ``002``, .... Each subject is replayed by its site's
    coordinator, logged in through :func:`oligotrial.services.auth.login`: eligibility, then enrollment (or
    screen failure when the form is not eligible), then every other record in date order (same day:
    assessment, dose, randomization, radiotherapy, maintenance restart, AE, new therapy, end of treatment,
    follow-up, death, disposition). See the module notes for the dates, the allocation list and the values
    the generator does not provide.

    Raises
    ------
    ConflictError
        ``SIM-041`` the database already holds sites (load into a new database).
    """
    started = time.perf_counter()
    system = Actor.system(source)
    summary = SyntheticLoadSummary()
    if admin.list_sites(edc, system):
        raise ConflictError(
            Problem(
                "SIM-041",
                "database",
                "the database already holds sites; load synthetic subjects into a new database",
            )
        )
    siteids = sorted(
        {str(r.rows["DM"][0]["SITEID"]) for r in subjects} | {f"{i + 1:03d}" for i in range(sites or 0)}
    )
    site_codes = {s: _site_code(s) for s in siteids}
    logins: list[SyntheticLogin] = []

    def account(username: str, role: Role, site: str | None, full_name: str) -> None:
        secret = password or _password(username)
        admin.create_user(edc, system, username, secret, full_name, roles=[(role, site)])
        logins.append(SyntheticLogin(username, secret, role.value, site))

    for code in site_codes.values():
        admin.create_site(edc, system, code, f"Synthetic site {code}")
        summary.sites.append(code)
    for code in site_codes.values():
        account(
            f"coordinator.{code.lower()}", Role.RESEARCH_COORDINATOR, code, f"Research coordinator {code}"
        )
        account(f"investigator.{code.lower()}", Role.INVESTIGATOR, code, f"Investigator {code}")
    account("statistician", Role.STATISTICIAN, None, "Trial statistician")
    account("monitor", Role.MONITOR, None, "Clinical monitor")
    account("datamanager", Role.DATA_MANAGER, None, "Data manager")
    account("dsmb", Role.DSMB_MEMBER, None, "DSMB member")
    summary.logins = logins
    secrets_by_user = {item.username: item.password for item in logins}

    def actor_for(username: str) -> Actor:
        token = login(edc, username, secrets_by_user[username], source).access_token
        return authenticate(edc, token, source)

    load_date = datetime.now(UTC).date()
    summary.load_date = load_date.isoformat()
    plans = [_plan(r, protocol, load_date, site_codes) for r in subjects]
    allocation = _allocation_csv(plans, protocol)
    if allocation.count("\n") > 1:
        upload_randomization_list(
            edc,
            actor_for("statistician"),
            allocation,
            file_name="synthetic-allocation.csv",
            protocol=protocol,
        )
    coordinators = {code: actor_for(f"coordinator.{code.lower()}") for code in site_codes.values()}
    total = len(plans)
    enrolled: list[tuple[str, str]] = []  # (site, subject code) in load order
    for done, plan in enumerate(plans, start=1):
        before = summary.enrolled
        _replay(edc, coordinators[plan.site], plan, protocol, summary)
        if summary.enrolled > before:
            enrolled.append((plan.site, summary.subject_codes[plan.usubjid]))
        if progress is not None:
            progress(done, total, plan.usubjid)
    if monitoring:
        _monitoring_visit(edc, actor_for("monitor"), coordinators, enrolled, summary)
    summary.seconds = time.perf_counter() - started
    return summary


_QUERY_TEXT = {
    ("AE", "grade"): "Please confirm the grade against the laboratory report or the clinical notes.",
    ("DOSE", "date"): "Please confirm the administration date against the infusion record.",
}
_ANSWER_TEXT = "Checked against the source documents: correct as entered."
_CLOSE_TEXT = "Answer accepted."


def _monitoring_visit(
    edc: Edc,
    monitor: Actor,
    coordinators: dict[str, Actor],
    enrolled: Sequence[tuple[str, str]],
    summary: SyntheticLoadSummary,
) -> None:
    """The monitor's pass over the enrolled subjects (``(site, code)`` in load order; module notes,
    *Monitoring*): source-data verification of every form of one subject in four, a query on one in six,
    answered by the site for one in twelve and closed by the monitor for one in twenty-four."""
    counts = Counter[str]()
    for number, (site, code) in enumerate(enrolled, start=1):
        if number % 4 != 1 and number % 6 != 2:
            continue
        forms = list_forms(edc, monitor, code)
        if number % 4 == 1:
            for form in forms:
                verify_form(edc, monitor, form.id, form.version)
                counts["forms verified"] += 1
        if number % 6 != 2:
            continue
        target = next(
            (
                (form, item)
                for (form_code, item) in _QUERY_TEXT
                for form in forms
                if form.form_code == form_code
            ),
            None,
        )
        if target is None:
            continue
        form, item = target
        query = raise_query(edc, monitor, form.id, item, _QUERY_TEXT[(form.form_code, item)])
        counts["queries raised"] += 1
        if number % 12 == 2:
            answer_query(edc, coordinators[site], query.id, _ANSWER_TEXT)
            counts["queries answered"] += 1
            if number % 24 == 2:
                close_query(edc, monitor, query.id, _CLOSE_TEXT)
                counts["queries closed"] += 1
    summary.monitoring = dict(counts)


def _dated(day: date, time_zone: str) -> datetime:
    """Noon of a past day at the site (``time_zone``), in UTC: the moment a replayed randomization is dated,
    or now if that is later."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(time_zone))
    return min(noon.astimezone(UTC), datetime.now(UTC))


def _replay(edc: Edc, actor: Actor, plan: _Plan, protocol: Protocol, summary: SyntheticLoadSummary) -> None:
    summary.subjects += 1
    code: str | None = None
    step, day = "create subject", None

    def note(view: Any) -> None:
        for query in getattr(view, "open_queries", []) or []:
            key = str(query.get("check_code") or query.get("item"))
            summary.queries[key] = summary.queries.get(key, 0) + 1

    try:
        code = create_subject(edc, actor, plan.site).code
        summary.subject_codes[plan.usubjid] = code
        step, day = "eligibility", plan.eligibility["screening_date"]
        view = save_eligibility(edc, actor, code, plan.eligibility, protocol=protocol)
        summary.service_calls["save_eligibility"] = summary.service_calls.get("save_eligibility", 0) + 1
        if view.derived.get("verdict") != "eligible":
            step = "screen failure"
            record_screen_failure(edc, actor, code, date.fromisoformat(day), protocol=protocol)
            summary.screen_failed += 1
            return
        step, day = "enrollment", plan.enrollment.isoformat()
        enroll_subject(edc, actor, code, plan.enrollment, protocol=protocol)
        summary.service_calls["enroll_subject"] = summary.service_calls.get("enroll_subject", 0) + 1
        summary.enrolled += 1
        for when, _, step, payload in plan.steps:
            day = when.isoformat()
            if step == "assessment":
                note(record_tumour_assessment(edc, actor, code, payload, protocol=protocol))
            elif step == "dose":
                note(record_dose(edc, actor, code, payload, protocol=protocol))
            elif step == "randomization":
                allocation = randomize_subject(
                    edc,
                    actor,
                    code,
                    induction_response=plan.response,
                    metastatic_organ_count=plan.organ_count,
                    randomized_at=_dated(payload, edc.settings.default_site_time_zone),
                    protocol=protocol,
                )
                summary.randomized += 1
                summary.arms[allocation.arm] = summary.arms.get(allocation.arm, 0) + 1
            elif step == "radiotherapy":
                course, chemo_end = payload
                record_radiotherapy_course(
                    edc, actor, code, course, chemo_immunotherapy_end=chemo_end, protocol=protocol
                )
            elif step == "maintenance_restart":
                record_maintenance_restart(edc, actor, code, payload, protocol=protocol)
            elif step == "adverse_event":
                note(record_adverse_event(edc, actor, code, payload, protocol=protocol))
            elif step == "new_therapy":
                note(record_new_therapy(edc, actor, code, payload, protocol=protocol))
            elif step == "end_of_treatment":
                note(record_end_of_treatment(edc, actor, code, payload, protocol=protocol))
            elif step == "follow_up":
                note(record_follow_up(edc, actor, code, payload, protocol=protocol))
            elif step == "death":
                note(record_death(edc, actor, code, payload, protocol=protocol))
            elif step == "disposition":
                note(record_disposition(edc, actor, code, payload, protocol=protocol))
            summary.service_calls[step] = summary.service_calls.get(step, 0) + 1
    except OligotrialError as error:
        summary.refused_subjects += 1
        if len(summary.refusals) < _MAX_REFUSALS:
            summary.refusals.append(
                SyntheticRefusal(plan.usubjid, code, step, day, [p.to_dict() for p in error.problems])
            )
