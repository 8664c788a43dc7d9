"""SDTM from the EDC database: what was captured, as the domains the analysis path reads.

:func:`derive_sdtm` builds DM (+ SUPPDM), DS, IE, EX, PR, CM, AE (+ SUPPAE), TU, TR, RS, SV, DV and the trial
design domains TS, TA, TE, TV from the protocol; :func:`export_sdtm` writes them with
:func:`oligotrial.exports.datasets.write_datasets` (CSV or SAS XPORT v5, all or nothing). The export is one
audited transaction by a study-wide role holding ``export`` (statisticians; the command line acts as one).

Conventions (SDTMIG 3.4, and those :mod:`oligotrial.endpoints.sdtm` reads):

* ``USUBJID`` = ``<STUDYID>-<subject code>``; dates are ISO 8601 text.
* DM: ``RFICDTC`` consent; ``RFSTDTC``/``RFXSTDTC`` first dose, ``RFXENDTC`` last dose, ``RFENDTC`` the end of
  participation (disposition, else death); ``ARMCD``/``ACTARMCD`` from the randomization (null before it,
  ``ARMNRS`` ``SCREEN FAILURE`` or ``NOT ASSIGNED``); ``DTHDTC``/``DTHFL`` from the death form. SUPPDM: the
  baseline disease of the eligibility form, as ADSL reads it (``HISTOL`` histology, ``ECOG`` performance
  status, ``METORGN``/``METLESN`` the metastatic organs and lesions counted as the eligibility rules and the
  randomization's stratum count them).
* DS: ``PROTOCOL MILESTONE`` ``INFORMED CONSENT OBTAINED``, ``ENROLLED``, ``RANDOMIZED``; ``DISPOSITION EVENT``
  ``SCREEN FAILURE`` (``DSTERM`` the reason stated on the screen-failure form, if any) and the disposition
  form's term.
* IE: the eligibility criteria a screen failure names (``IETESTCD`` the protocol's criterion id without
  punctuation, ``IETEST`` its text, ``IECAT`` INCLUSION or EXCLUSION, ``IEORRES`` N or Y).
* EX: one record per agent given on a dose form (``EPOCH`` INDUCTION or MAINTENANCE; ``EXADJ`` a reduction
  reason). PR: one record per radiotherapy course (``PRDOSE`` Gy per fraction, ``PRDOSTOT`` total Gy,
  ``PRFRACN`` fractions). CM: ``SUBSEQUENT ANTICANCER THERAPY``. AE: CTCAE term, grade (``AETOXGR``), system
  organ class (``AEBODSYS``: of the protocol's expected toxicity, else of the loaded CTCAE term), seriousness
  flags, overall relation (``AEREL``: RELATED when any treatment is related or possibly related), action,
  outcome; per-treatment relations in SUPPAE.
* TU/TR: :func:`oligotrial.services.workflow.derive_tumour_tables`; RS: the RECIST engine's ``OVRLRESP``,
  ``TRGRESP``, ``NTRGRESP`` per post-baseline date (``RSEVAL`` INVESTIGATOR). A subject whose lesions break a
  RECIST rule gets no RS records until the queries are resolved (listed in the export summary).
* SV: the dated visits (screening, enrollment, doses, assessments, end of treatment, follow-up).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import Problem
from oligotrial.exports.datasets import DatasetFormat, write_datasets
from oligotrial.protocol import Protocol
from oligotrial.protocol.models import Criterion, sdtm_test_code
from oligotrial.rules.ctcae import term_key
from oligotrial.rules.eligibility import parse_candidate
from oligotrial.rules.schedule import derive_calendar
from oligotrial.services._context import Actor, Edc, Permission, write_audit, write_transaction
from oligotrial.services.workflow import derive_recist_by_subject, derive_tumour_tables
from oligotrial.services.workflow._store import default_protocol
from oligotrial.services.workflow._trial import radiotherapy_courses, randomizations
from oligotrial.services.workflow.forms import (
    FORM_MODELS,
    EligibilityForm,
    ScreenFailureForm,
    TumourAssessmentForm,
)
from oligotrial.store.tables import CtcaeTermRow, Event, Form, Site, Subject

__all__ = ["SDTM_DOMAINS", "SDTM_LABELS", "derive_sdtm", "export_sdtm"]

SDTM_LABELS = {
    "DM": "Demographics",
    "SUPPDM": "Supplemental Qualifiers for DM",
    "DS": "Disposition",
    "IE": "Inclusion/Exclusion Criteria Not Met",
    "EX": "Exposure",
    "PR": "Procedures",
    "CM": "Concomitant Medications",
    "AE": "Adverse Events",
    "SUPPAE": "Supplemental Qualifiers for AE",
    "TU": "Tumor/Lesion Identification",
    "TR": "Tumor/Lesion Results",
    "RS": "Disease Response",
    "SV": "Subject Visits",
    "DV": "Protocol Deviations",
    "TS": "Trial Summary",
    "TA": "Trial Arms",
    "TE": "Trial Elements",
    "TV": "Trial Visits",
}
SDTM_DOMAINS = tuple(SDTM_LABELS)

S, N, F = pl.Utf8, pl.Int64, pl.Float64
_SUPP = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG"]
_COLUMNS: dict[str, dict[str, Any]] = {
    "DM": dict.fromkeys(
        [
            "STUDYID",
            "DOMAIN",
            "USUBJID",
            "SUBJID",
            "SITEID",
            "RFSTDTC",
            "RFENDTC",
            "RFXSTDTC",
            "RFXENDTC",
            "RFICDTC",
            "DTHDTC",
            "DTHFL",
            "AGEU",
            "SEX",
            "ARMCD",
            "ARM",
            "ACTARMCD",
            "ACTARM",
            "ARMNRS",
        ],
        S,
    )
    | {"AGE": N},
    "DS": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "DSSEQ": N}
    | dict.fromkeys(["DSTERM", "DSDECOD", "DSCAT", "EPOCH", "DSSTDTC"], S),
    "IE": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "IESEQ": N}
    | dict.fromkeys(["IETESTCD", "IETEST", "IECAT", "IEORRES", "IESTRESC", "VISIT", "IEDTC"], S),
    "EX": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "EXSEQ": N}
    | dict.fromkeys(["EXTRT", "EXCAT"], S)
    | {"EXDOSE": F}
    | dict.fromkeys(["EXDOSU", "EXROUTE", "EXADJ", "EPOCH", "VISIT", "EXSTDTC", "EXENDTC"], S),
    "PR": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "PRSEQ": N}
    | dict.fromkeys(["PRTRT", "PRDECOD", "PRLNKID", "PRLOC"], S)
    | {"PRDOSE": F, "PRDOSTOT": F, "PRFRACN": N}
    | dict.fromkeys(["PRDOSU", "PRSTDTC", "PRENDTC"], S),
    "CM": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "CMSEQ": N}
    | dict.fromkeys(["CMTRT", "CMCAT", "CMSCAT", "CMSTDTC", "CMENDTC"], S),
    "AE": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "AESEQ": N}
    | dict.fromkeys(["AESPID", "AETERM", "AEDECOD", "AEBODSYS"], S)
    | {"AETOXGR": N}
    | dict.fromkeys(
        [
            "AESER",
            "AESDTH",
            "AESLIFE",
            "AESHOSP",
            "AESDISAB",
            "AESCONG",
            "AESMIE",
            "AEREL",
            "AEACN",
            "AEOUT",
            "AESTDTC",
            "AEENDTC",
        ],
        S,
    ),
    "SUPPDM": dict.fromkeys(_SUPP, S),
    "SUPPAE": dict.fromkeys(_SUPP, S),
    "RS": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "RSSEQ": N}
    | dict.fromkeys(["RSTESTCD", "RSTEST", "RSCAT", "RSORRES", "RSSTRESC", "RSEVAL", "RSDTC"], S),
    "SV": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "VISITNUM": N}
    | dict.fromkeys(["VISIT", "SVSTDTC", "SVENDTC"], S),
    "DV": {**dict.fromkeys(["STUDYID", "DOMAIN", "USUBJID"], S), "DVSEQ": N}
    | dict.fromkeys(["DVTERM", "DVDECOD", "DVCAT", "DVSTDTC"], S),
    "TS": {**dict.fromkeys(["STUDYID", "DOMAIN"], S), "TSSEQ": N}
    | dict.fromkeys(["TSPARMCD", "TSPARM", "TSVAL"], S),
    "TA": dict.fromkeys(["STUDYID", "DOMAIN", "ARMCD", "ARM"], S)
    | {"TAETORD": N}
    | dict.fromkeys(["ETCD", "ELEMENT", "EPOCH"], S),
    "TE": dict.fromkeys(["STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"], S),
    "TV": {**dict.fromkeys(["STUDYID", "DOMAIN"], S), "VISITNUM": N}
    | dict.fromkeys(["VISIT", "ARMCD", "TVSTRL"], S)
    | {"VISITDY": N},
}
_RELATED = {"related", "possibly related"}
_SERIOUS = {
    "death": "AESDTH",
    "life-threatening": "AESLIFE",
    "hospitalization": "AESHOSP",
    "persistent or significant disability": "AESDISAB",
    "congenital anomaly": "AESCONG",
    "important medical event": "AESMIE",
}
_VISIT_PREFIXES = ("SCREENING", "ENROLLMENT", "C", "M", "TUMOUR.", "EOT", "FU.")


def _frame(domain: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = _COLUMNS[domain]
    return pl.DataFrame([{k: row.get(k) for k in schema} for row in rows], schema=schema, orient="row")


def _iso(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _load(session: Session) -> Any:
    stmt = (
        select(Subject, Site.code, Event.event_code, Event.event_date, Form.form_code, Form.item_values)
        .join(Site, Site.id == Subject.site_id)
        .outerjoin(Event, Event.subject_id == Subject.id)
        .outerjoin(Form, Form.event_id == Event.id)
        .order_by(Subject.id, Event.event_code, Form.form_code)
    )
    return session.execute(stmt).all()


def derive_sdtm(
    edc: Edc, actor: Actor, *, protocol: Protocol | None = None
) -> tuple[dict[str, pl.DataFrame], list[Problem]]:
    """Every domain from the database, and the problems that kept records out (RECIST queries open).

    Raises
    ------
    PermissionDeniedError
        The actor does not hold ``export`` study-wide.
    """
    protocol = protocol or default_protocol()
    actor.require(Permission.EXPORT)
    with write_transaction(edc) as session:
        tables, problems = _build(session, protocol)
        write_audit(
            session,
            actor,
            "export",
            "sdtm",
            protocol.protocol.id,
            site_id=None,
            new={"domains": {name: frame.height for name, frame in tables.items()}},
        )
        return tables, problems


def export_sdtm(
    edc: Edc,
    actor: Actor,
    folder: Path,
    formats: Iterable[DatasetFormat] = ("csv",),
    *,
    protocol: Protocol | None = None,
) -> dict[str, Any]:
    """Write the SDTM domains into ``folder``; returns the files, record counts and problems.

    With XPORT, every dataset and variable is described by the XPORT metadata table
    (:func:`oligotrial.exports.xpt.load_metadata`), so nothing is left out; a variable without a description
    is refused (``XPT-003``, by :func:`oligotrial.exports.datasets.write_datasets`) and nothing is written.
    """
    tables, problems = derive_sdtm(edc, actor, protocol=protocol)
    written = write_datasets(tables, folder, list(formats))
    return {
        "files": [str(p) for p in written],
        "records": {name: frame.height for name, frame in tables.items()},
        "problems": [p.to_dict() for p in problems],
    }


def _build(session: Session, protocol: Protocol) -> tuple[dict[str, pl.DataFrame], list[Problem]]:
    studyid = protocol.protocol.id
    subjects: dict[int, dict[str, Any]] = {}
    for subject, site, event_code, event_date, form_code, values in _load(session):
        entry = subjects.setdefault(subject.id, {"subject": subject, "site": site, "forms": {}, "events": {}})
        if event_code is not None:
            entry["events"][event_code] = event_date
        if form_code is not None:
            entry["forms"].setdefault(form_code, []).append((event_code, values))
    randomized = randomizations(session, subjects)
    courses = radiotherapy_courses(session, subjects)
    arms: dict[str, Any] = {arm.id: arm for arm in protocol.arms}
    agents = {agent.id: agent for agent in protocol.agents}
    criteria = {criterion.id: criterion for criterion in protocol.population.criteria}
    soc = {term_key(t.term): t.soc for t in protocol.adverse_events.expected_toxicities}
    soc.update({key: name for key, name in session.execute(select(CtcaeTermRow.term_key, CtcaeTermRow.soc))})
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in _COLUMNS}
    problems: list[Problem] = []
    tumour_of = {  # every subject's tumour assessments, for one run of the RECIST engine over them all
        f"{studyid}-{entry['subject'].code}": [
            TumourAssessmentForm.model_validate(values) for _, values in entry["forms"].get("TUMOUR", [])
        ]
        for entry in subjects.values()
    }
    tu, tr = derive_tumour_tables((usubjid, form) for usubjid, done in tumour_of.items() for form in done)
    recist = derive_recist_by_subject(tumour_of, (tu, tr))
    for sid, entry in subjects.items():
        subject, forms = entry["subject"], entry["forms"]
        usubjid = f"{studyid}-{subject.code}"
        base = {"STUDYID": studyid, "USUBJID": usubjid}

        def models(code: str, forms: dict[str, Any] = forms) -> list[tuple[str, Any]]:
            model = FORM_MODELS.get(code)
            return [(event, model.model_validate(v) if model else v) for event, v in forms.get(code, [])]

        elig = next((m for _, m in models("ELIG")), None)
        enrolled = next((v for _, v in models("ENROLL")), None)
        doses = sorted((m for _, m in models("DOSE")), key=lambda d: (d.date, d.phase, d.cycle))
        death = next((m for _, m in models("DEATH")), None)
        disposition = next((m for _, m in models("DISPOSITION")), None)
        screen_failure = next((m for _, m in models("SCRFAIL")), None)
        rand = randomized.get(sid)
        arm = arms.get(rand[1]) if rand else None
        age = elig.age if elig is not None else None
        if elig is not None and age is None and elig.birth_date is not None:
            day, born = elig.screening_date, elig.birth_date
            age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        first = doses[0].date if doses else None
        last = doses[-1].date if doses else None
        end = disposition.date if disposition else death.date if death else None
        rows["DM"].append(
            {
                **base,
                "DOMAIN": "DM",
                "SUBJID": subject.code,
                "SITEID": entry["site"],
                "RFSTDTC": _iso(first),
                "RFENDTC": _iso(end),
                "RFXSTDTC": _iso(first),
                "RFXENDTC": _iso(last),
                "RFICDTC": _iso(elig.consent_date) if elig else None,
                "DTHDTC": _iso(death.date) if death else None,
                "DTHFL": "Y" if death else None,
                "AGE": age,
                "AGEU": "YEARS" if age is not None else None,
                "SEX": elig.sex if elig else None,
                "ARMCD": arm.armcd if arm else None,
                "ARM": arm.name.upper() if arm else None,
                "ACTARMCD": arm.armcd if arm else None,
                "ACTARM": arm.name.upper() if arm else None,
                "ARMNRS": None
                if arm
                else "SCREEN FAILURE"
                if subject.status == "screen_failed"
                else "NOT ASSIGNED",
            }
        )
        if elig is not None:
            rows["SUPPDM"] += _baseline_qualifiers(base, elig, protocol)
        ds = rows["DS"]

        def disposition_row(
            term: str,
            category: str,
            day: Any,
            epoch: str,
            verbatim: str | None = None,
            ds: list[dict[str, Any]] = ds,
            base: Any = base,
        ) -> None:
            ds.append(
                {
                    **base,
                    "DOMAIN": "DS",
                    "DSTERM": verbatim or term,
                    "DSDECOD": term,
                    "DSCAT": category,
                    "EPOCH": epoch,
                    "DSSTDTC": _iso(day),
                }
            )

        if elig is not None and elig.consent_date is not None:
            disposition_row("INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", elig.consent_date, "SCREENING")
        if screen_failure is not None:
            disposition_row(
                "SCREEN FAILURE", "DISPOSITION EVENT", screen_failure.date, "SCREENING", screen_failure.reason
            )
            rows["IE"] += _criteria_not_met(base, screen_failure, criteria)
        if enrolled is not None:
            disposition_row("ENROLLED", "PROTOCOL MILESTONE", enrolled["enrollment_date"], "SCREENING")
        if rand is not None:
            disposition_row("RANDOMIZED", "PROTOCOL MILESTONE", rand[0], "INDUCTION")
        if disposition is not None:
            disposition_row(disposition.reason, "DISPOSITION EVENT", disposition.date, "FOLLOW-UP")
        for dose in doses:
            for given in dose.agents:
                agent = agents.get(given.agent)
                name = (
                    dose.regimen_name if given.agent == "other_chemotherapy" and dose.regimen_name else None
                )
                rows["EX"].append(
                    {
                        **base,
                        "DOMAIN": "EX",
                        "EXTRT": (name or (agent.name if agent else given.agent)).upper(),
                        "EXCAT": agent.kind.upper() if agent else None,
                        "EXDOSE": float(given.dose),
                        "EXDOSU": given.unit,
                        "EXROUTE": "INTRAVENOUS",
                        "EXADJ": given.reduction_reason,
                        "EPOCH": dose.phase.upper(),
                        "VISIT": f"C{dose.cycle}D1" if dose.phase == "induction" else f"M{dose.cycle:02d}",
                        "EXSTDTC": _iso(dose.date),
                        "EXENDTC": _iso(dose.date),
                    }
                )
        for course in courses.get(sid, []):
            per_fraction, fractions = course.get("dose_per_fraction_gy"), course.get("fractions")
            total = float(per_fraction) * int(fractions) if per_fraction and fractions else None
            rows["PR"].append(
                {
                    **base,
                    "DOMAIN": "PR",
                    "PRTRT": "RADIOTHERAPY",
                    "PRDECOD": str(course.get("technique", "")).upper() or None,
                    "PRLNKID": course.get("lesion_id"),
                    "PRLOC": str(course.get("organ", "")).upper() or None,
                    "PRDOSE": float(per_fraction) if per_fraction else None,
                    "PRDOSTOT": total,
                    "PRFRACN": int(fractions) if fractions else None,
                    "PRDOSU": "Gy",
                    "PRSTDTC": course.get("start_date"),
                    "PRENDTC": course.get("end_date"),
                }
            )
        for _, therapy in models("NEWTHERAPY"):
            rows["CM"].append(
                {
                    **base,
                    "DOMAIN": "CM",
                    "CMTRT": therapy.therapy.upper(),
                    "CMCAT": "SUBSEQUENT ANTICANCER THERAPY",
                    "CMSCAT": therapy.category.upper(),
                    "CMSTDTC": _iso(therapy.start_date),
                    "CMENDTC": _iso(therapy.end_date),
                }
            )
        for event, ae in models("AE"):
            related = any(r in _RELATED for r in ae.relation.values())
            term = f"{ae.term}: {ae.specify}" if ae.specify else ae.term
            rows["AE"].append(
                {
                    **base,
                    "DOMAIN": "AE",
                    "AETERM": term.upper(),
                    "AEDECOD": ae.term.upper(),
                    "AEBODSYS": (soc.get(term_key(ae.term)) or "").upper() or None,
                    "AETOXGR": ae.grade,
                    "AESER": "Y" if ae.serious else "N",
                    **{flag: "Y" if c in ae.seriousness_criteria else "N" for c, flag in _SERIOUS.items()},
                    "AEREL": "RELATED" if related else "NOT RELATED",
                    "AEACN": ae.action_taken.upper(),
                    "AEOUT": ae.outcome.upper(),
                    "AESTDTC": _iso(ae.start_date),
                    "AEENDTC": _iso(ae.end_date),
                    "AESPID": event,
                }
            )
            for n, (treatment, relation) in enumerate(sorted(ae.relation.items()), 1):
                rows["SUPPAE"].append(
                    {
                        "STUDYID": studyid,
                        "RDOMAIN": "AE",
                        "USUBJID": usubjid,
                        "IDVAR": "AESPID",
                        "IDVARVAL": event,
                        "QNAM": f"AEREL{n}",
                        "QLABEL": f"Relationship to {treatment}"[:40],
                        "QVAL": relation.upper(),
                        "QORIG": "CRF",
                    }
                )
        for _, deviation in models("DEVIATION"):
            rows["DV"].append(
                {
                    **base,
                    "DOMAIN": "DV",
                    "DVTERM": deviation.description,
                    "DVDECOD": deviation.category.upper(),
                    "DVCAT": "MAJOR" if deviation.is_major else "MINOR",
                    "DVSTDTC": _iso(deviation.date),
                }
            )
        derived, found = recist[usubjid]
        problems += found
        for day in sorted(derived):
            values = derived[day]
            if values.get("baseline"):
                continue
            for code, test in (
                ("TRGRESP", "Target Response"),
                ("NTRGRESP", "Non-target Response"),
                ("OVRLRESP", "Overall Response"),
            ):
                rows["RS"].append(
                    {
                        **base,
                        "DOMAIN": "RS",
                        "RSTESTCD": code,
                        "RSTEST": test,
                        "RSCAT": "RECIST 1.1",
                        "RSORRES": values[code],
                        "RSSTRESC": values[code],
                        "RSEVAL": "INVESTIGATOR",
                        "RSDTC": day,
                    }
                )
        visits = sorted(
            (day, code)
            for code, day in entry["events"].items()
            if day is not None and code.startswith(_VISIT_PREFIXES) and not code.startswith("M.")
        )
        for n, (day, code) in enumerate(visits, 1):
            rows["SV"].append(
                {
                    **base,
                    "DOMAIN": "SV",
                    "VISITNUM": n,
                    "VISIT": code,
                    "SVSTDTC": _iso(day),
                    "SVENDTC": _iso(day),
                }
            )
    for name in ("DS", "IE", "EX", "PR", "CM", "AE", "RS", "DV"):
        counters: dict[str, int] = {}
        for row in rows[name]:
            counters[row["USUBJID"]] = counters.get(row["USUBJID"], 0) + 1
            row[f"{name}SEQ"] = counters[row["USUBJID"]]
    prefix = pl.lit(studyid).alias("STUDYID")
    tables = {
        name: _frame(name, rows[name])
        for name in ("DM", "SUPPDM", "DS", "IE", "EX", "PR", "CM", "AE", "SUPPAE")
    }
    tables["TU"] = tu.select(prefix, pl.lit("TU").alias("DOMAIN"), pl.all())
    tables["TR"] = tr.select(prefix, pl.lit("TR").alias("DOMAIN"), pl.all())
    tables["RS"] = _frame("RS", rows["RS"])
    tables["SV"] = _frame("SV", rows["SV"])
    tables["DV"] = _frame("DV", rows["DV"])
    tables.update(_trial_design(protocol))
    return tables, problems


def _criteria_not_met(
    base: dict[str, Any], failure: ScreenFailureForm, criteria: dict[str, Criterion]
) -> list[dict[str, Any]]:
    """IE: one record per eligibility criterion the screen failure names (an inclusion criterion not met,
    ``IEORRES`` N; an exclusion criterion met, Y), coded by :func:`~oligotrial.protocol.models.sdtm_test_code`."""
    found = []
    for criterion_id in failure.criteria_not_met:
        criterion = criteria.get(criterion_id)
        is_exclusion = criterion is not None and criterion.kind == "exclusion"
        answer = "Y" if is_exclusion else "N"
        found.append(
            {
                **base,
                "DOMAIN": "IE",
                "IETESTCD": sdtm_test_code(criterion_id),
                "IETEST": (criterion.text if criterion is not None else criterion_id)[:200],
                "IECAT": "EXCLUSION" if is_exclusion else "INCLUSION",
                "IEORRES": answer,
                "IESTRESC": answer,
                "VISIT": "SCREENING",
                "IEDTC": _iso(failure.date),
            }
        )
    return found


def _baseline_qualifiers(
    base: dict[str, Any], elig: EligibilityForm, protocol: Protocol
) -> list[dict[str, Any]]:
    """SUPPDM rows of one subject's eligibility form: histology and ECOG as entered, the metastatic organ and
    lesion counts as the eligibility rules count them (all distant lymph nodes one organ)."""
    candidate = parse_candidate(elig.candidate(), protocol)
    qualifiers = (
        ("HISTOL", "Histology", elig.histology, "CRF"),
        ("ECOG", "Baseline ECOG Performance Status", elig.ecog, "CRF"),
        ("METORGN", "Number of Metastatic Organs", candidate.metastatic_organ_count, "DERIVED"),
        ("METLESN", "Number of Metastatic Lesions", candidate.metastatic_lesion_count, "DERIVED"),
    )
    return [
        {**base, "RDOMAIN": "DM", "QNAM": qnam, "QLABEL": label, "QVAL": str(value), "QORIG": origin}
        for qnam, label, value, origin in qualifiers
        if value is not None
    ]


def _trial_design(protocol: Protocol) -> dict[str, pl.DataFrame]:
    """TS, TA, TE, TV from the protocol (SDTMIG 3.4 section 7)."""
    studyid = protocol.protocol.id
    info = protocol.protocol
    base = {"STUDYID": studyid}
    summary = [
        ("TITLE", "Trial Title", " ".join(info.title.split())),
        ("TPHASE", "Trial Phase Classification", f"PHASE {info.phase} TRIAL"),
        ("STYPE", "Study Type", "INTERVENTIONAL"),
        ("TBLIND", "Trial Blinding Schema", "OPEN LABEL"),
        ("RANDOM", "Trial is Randomized", "Y"),
        ("NARMS", "Planned Number of Arms", str(len(protocol.arms))),
        ("PLANSUB", "Planned Number of Subjects", str(info.planned_enrollment)),
        ("INDIC", "Trial Disease/Condition Indication", info.condition.upper()),
        ("TRT", "Investigational Therapy or Treatment", protocol.maintenance.agent.upper()),
        ("PROTVER", "Protocol Version", info.version),
        ("MAXDUR", "Maximum Duration of Treatment", f"P{protocol.maintenance.max_duration_months}M"),
    ]
    ts = [
        {**base, "DOMAIN": "TS", "TSSEQ": 1, "TSPARMCD": code, "TSPARM": name, "TSVAL": value}
        for code, name, value in summary
    ]
    cycle_days = protocol.induction.cycles * protocol.induction.cycle_length_days
    elements = {
        "SCRN": ("SCREENING", "Informed consent", "First induction dose", "P28D"),
        "IND": (
            "INDUCTION CHEMO-IMMUNOTHERAPY",
            "First induction dose",
            "Post-induction assessment",
            f"P{cycle_days}D",
        ),
        "RT": ("RADIOTHERAPY", "First radiotherapy fraction", "Last radiotherapy fraction", None),
        "MAINT": ("CAMRELIZUMAB MAINTENANCE", "First maintenance dose", "End of treatment", None),
        "FU": (
            "FOLLOW-UP",
            "End of treatment",
            "End of study",
            f"P{protocol.follow_up.survival_duration_months}M",
        ),
    }
    te = [
        {**base, "DOMAIN": "TE", "ETCD": code, "ELEMENT": e, "TESTRL": s, "TEENRL": n, "TEDUR": d}
        for code, (e, s, n, d) in elements.items()
    ]
    ta = []
    epochs = {
        "SCRN": "SCREENING",
        "IND": "INDUCTION",
        "RT": "RADIOTHERAPY",
        "MAINT": "MAINTENANCE",
        "FU": "FOLLOW-UP",
    }
    for arm in protocol.arms:
        order = ["SCRN", "IND", *(["RT"] if arm.radiotherapy else []), "MAINT", "FU"]
        ta += [
            {
                **base,
                "DOMAIN": "TA",
                "ARMCD": arm.armcd,
                "ARM": arm.name.upper(),
                "TAETORD": n,
                "ETCD": code,
                "ELEMENT": elements[code][0],
                "EPOCH": epochs[code],
            }
            for n, code in enumerate(order, 1)
        ]
    origin = date(2000, 1, 3)
    control = next(a for a in protocol.arms if not a.radiotherapy)
    planned = derive_calendar(protocol, origin, randomized=origin.replace(month=3, day=27), arm=control.id)
    tv = [
        {
            **base,
            "DOMAIN": "TV",
            "VISITNUM": n,
            "VISIT": event.id,
            "ARMCD": control.armcd if event.phase in ("maintenance",) else None,
            "TVSTRL": event.label,
            "VISITDY": (event.target - origin).days + 1 if event.target else None,
        }
        for n, event in enumerate(planned, 1)
        if event.kind
        in (
            "imaging",
            "induction dose",
            "assessment",
            "maintenance dose",
            "end of treatment",
            "survival follow-up",
        )
    ]
    for n, row in enumerate(ts, 1):
        row["TSSEQ"] = n
    return {"TS": _frame("TS", ts), "TA": _frame("TA", ta), "TE": _frame("TE", te), "TV": _frame("TV", tv)}
