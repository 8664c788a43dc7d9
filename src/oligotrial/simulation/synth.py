"""Patient-level synthetic data: complete subject histories from the trial model, as SDTM-shaped records.

The same model as the design simulation (:mod:`oligotrial.simulation.model`, one replicate) decides who
enrolls when, who progresses during induction, who is randomized to which arm, and when each patient
progresses, dies or is lost; this module adds what a site would record around those facts: eligibility
data, doses, radiotherapy courses, lesion measurements whose RECIST responses follow the progression times,
adverse events with CTCAE terms and grades, subsequent therapy, visits and dispositions.

Output is one :class:`SubjectRecords` per subject (its rows per SDTM domain), so that a loader can replay a
subject through the EDC services one record at a time; :func:`derive_sdtm_tables` stacks them into SDTM
tables (DM, SUPPDM, DS, IE, EX, PR, CM, TU, TR, RS, AE, SV) that ``oligotrial adam`` accepts. RS is derived
from TU/TR by the RECIST engine (:func:`oligotrial.rules.recist.derive_timepoint_responses`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from oligotrial.protocol.models import Arm, Protocol, RangeCriterion, sdtm_test_code
from oligotrial.rules.recist import derive_timepoint_responses
from oligotrial.simulation.model import build_trials, compile_model, draw_trials
from oligotrial.simulation.scenario import SampleSize, Scenario, Sites

__all__ = ["DOMAIN_ORDER", "SubjectRecords", "derive_sdtm_tables", "generate_subjects"]

DOMAIN_ORDER = ("DM", "SUPPDM", "DS", "IE", "EX", "PR", "CM", "TU", "TR", "RS", "AE", "SV")
_ORGANS = ("LUNG", "LIVER", "ADRENAL GLAND", "SOFT TISSUE", "KIDNEY", "SPLEEN")
_GRADES = np.array([0.5, 0.3, 0.15, 0.05])
_CHEMO_DOSES = {
    "paclitaxel": (175.0, "mg/m2"),
    "cisplatin": (75.0, "mg/m2"),
    "carboplatin": (5.0, "AUC"),
    "fluorouracil": (750.0, "mg/m2"),
    "other_chemotherapy": (1.0, "DOSE"),
}
_SUBSEQUENT = ("DOCETAXEL", "IRINOTECAN", "NIVOLUMAB", "ANLOTINIB")


@dataclass
class SubjectRecords:
    """One subject's records: ``rows[domain]`` is a list of SDTM-shaped rows (text values), in the order
    a site would enter them; ``truth`` keeps the generated facts (days from the study start) that the rows
    were derived from, for tests and for a services loader."""

    usubjid: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)

    def add(self, domain: str, **values: Any) -> None:
        self.rows.setdefault(domain, []).append(values)


def _iso(start: date, day: int | None) -> str | None:
    return None if day is None else (start + timedelta(days=int(day))).isoformat()


def generate_subjects(
    protocol: Protocol,
    scenario: Scenario,
    subjects: int,
    sites: int,
    rng: np.random.Generator,
    *,
    start: date = date(2026, 1, 1),
    cutoff_months: float | None = None,
    study_id: str | None = None,
    screen_failures: int = 0,
) -> list[SubjectRecords]:
    """Generate ``subjects`` enrolled subjects at ``sites`` sites, and ``screen_failures`` screened subjects who
    were not enrolled.

    Parameters
    ----------
    protocol, scenario
        The trial and the simulation settings (the scenario's sample size and site count are replaced by
        ``subjects`` and ``sites``).
    rng
        All randomness comes from it, in a fixed order.
    start
        Calendar date of time 0 (the first possible enrollment).
    cutoff_months
        Data cut-off after ``start``; default: the scenario's analysis time (its calendar time, or the time
        of its PFS event count, at most three quarters of the randomized subjects), and at least one month
        after the last randomization, so that every subject asked for is enrolled.
    screen_failures
        Subjects screened and found not eligible, each for one criterion: an ECOG performance status or a
        count of metastatic organs one above the protocol's inclusion maximum (2, 4). Each is screened on a day drawn uniformly
        over the enrollment period, at a site drawn uniformly, and placed in the result before the first
        subject enrolled after that day. Their draws come after all the others', so the enrolled subjects do
        not depend on this number.

    Notes
    -----
    Time line of a subject (days from the first dose ``F``, which is the enrollment day): consent 3–14
    days before, baseline imaging 1–7 days before; induction doses on days 0, 21, ... of each cycle;
    tumour assessments every ``interval_days`` of the protocol's periods, until progression is seen, death,
    loss to follow-up, the cut-off or the end of the schedule. Progression during induction happens on a
    uniform day of it. The end-of-induction assessment is 0–3 days after the end of the last cycle (the others
    -3 to +3 days around their day), and randomization the day after it. PFS and OS from
    the model are turned into the progression and death days; progression is *seen* at the first
    assessment on or after it, where every target lesion is 30 % plus 5 mm above its nadir (RECIST PD);
    before it, lesions sit at 45–65 % of baseline for induction responders (PR, confirmed) and 85–100 % for
    the others (SD), from the first assessment on. The experimental arm gets SBRT (8 Gy x 3–5) to one
    metastatic lesion 7–21 days after randomization, and with probability one half conventional
    radiotherapy of the primary (2 Gy x 20), then camrelizumab again 7–28 days after the last course.
    Maintenance is every ``interval_days`` until progression is seen, death, loss, cut-off or the protocol's
    maximum duration. Adverse events: a Poisson number (mean 3) per treated subject, terms drawn among the
    protocol's expected toxicities of the agents the subject received, grades 1–4 with probabilities
    0.5/0.3/0.15/0.05.
    """
    model_scenario = scenario.model_copy(
        update={
            "sample_size": SampleSize(enrolled=subjects),
            "sites": Sites(count=sites),
        }
    )
    model = compile_model(protocol, model_scenario)
    batch = build_trials(model, draw_trials(model, 1, rng))
    dpm = protocol.protocol.days_per_month
    arms: dict[str, Arm] = {a.id: a for a in protocol.arms}
    study = study_id or protocol.protocol.id
    randomized = np.isfinite(batch.randomization[0])
    observable = batch.pfs[0] <= batch.dropout[0]
    event_time = np.sort(np.where(randomized & observable, batch.randomization[0] + batch.pfs[0], np.inf))
    if cutoff_months is None:
        analysis = scenario.analysis
        if analysis.calendar_months is not None:
            cutoff_months = analysis.calendar_months
        else:
            target = min(analysis.events or 1, max(1, int(0.75 * randomized.sum())))
            finite = event_time[np.isfinite(event_time)]
            cutoff_months = float(finite[min(target, finite.size) - 1]) if finite.size else 24.0
            last_randomized = batch.randomization[0][randomized]
            if last_randomized.size:
                cutoff_months = max(cutoff_months, float(last_randomized.max()) + 1.0)
    cutoff = math.floor(cutoff_months * dpm)
    induction_days = protocol.induction.cycles * protocol.induction.cycle_length_days
    periods = protocol.assessments.periods
    schedule: list[int] = []
    day, limit = 0, 0
    for period in periods:
        limit = round(period.until_months * dpm)
        while day + period.interval_days <= limit:
            day += period.interval_days
            schedule.append(day)
    end_of_induction = min(offset for offset in schedule if offset >= induction_days)
    max_treatment = round(protocol.maintenance.max_duration_months * dpm)
    regimens = protocol.induction.regimens
    toxicities = protocol.adverse_events.expected_toxicities
    records: list[SubjectRecords] = []
    for j in range(subjects):
        usubjid = f"{study}-{int(batch.site[0, j]) + 1:03d}-{j + 1:04d}"
        rec = SubjectRecords(usubjid)
        first = math.floor(batch.entry[0, j] * dpm)
        if first > cutoff:
            break
        consent = first - int(rng.integers(3, 15))
        baseline = first - int(rng.integers(1, 8))
        regimen = regimens[int(rng.integers(0, len(regimens)))]
        is_rand = bool(randomized[j])
        arm_id = ("experimental" if batch.arm[0, j] == 1 else "control") if is_rand else None
        # the end-of-induction assessment: on or after the end of the last cycle, inside its window
        post_induction = first + end_of_induction + int(rng.integers(0, 4))
        rand_day = post_induction + 1 if is_rand else None
        if is_rand:
            assert rand_day is not None
            pfs_day = rand_day + max(1, round(batch.pfs[0, j] * dpm))
            progression = pfs_day if bool(batch.is_progression[0, j]) else None
            os_value = batch.os[0, j]
            death: int | None = rand_day + max(1, round(os_value * dpm)) if np.isfinite(os_value) else None
            if progression is not None and death is not None and death <= progression:
                death = progression + 1
            dropout_value = batch.dropout[0, j]
            lost = rand_day + round(dropout_value * dpm) if np.isfinite(dropout_value) else None
        else:
            progression = first + int(rng.integers(1, induction_days))
            after = model.death_after.invert(rng.standard_exponential(1), np.zeros(1, dtype=np.int64))[0]
            death = progression + max(1, round(after * dpm)) if np.isfinite(after) else None
            lost = None
        if death is not None and lost is not None and lost < death:
            death = None
        if death is not None and death > cutoff:
            death = None
        if lost is not None and lost > cutoff:
            lost = None
        end_follow = min(d for d in (death, lost, cutoff) if d is not None)
        # tumour assessments and the day progression is seen
        n_organs = 1 if bool(batch.is_single_organ[0, j]) else int(rng.integers(2, 4))
        organs = list(rng.choice(len(_ORGANS), n_organs, replace=False))
        lesions: list[tuple[str, str, float]] = []
        for organ in organs:
            for _ in range(int(rng.integers(1, 3))):
                if len(lesions) < 5:
                    lesions.append((f"T{len(lesions) + 1:02d}", _ORGANS[organ], float(rng.uniform(12, 45))))
        is_responder = bool(batch.is_responder[0, j]) if is_rand else bool(rng.random() < 0.4)
        factors = (
            rng.uniform(0.45, 0.65, len(lesions)) if is_responder else rng.uniform(0.85, 1.0, len(lesions))
        )
        seen: int | None = None
        assessments: list[int] = []
        for offset in schedule:
            day = post_induction if offset == end_of_induction else first + offset + int(rng.integers(-3, 4))
            if day > end_follow or (seen is not None):
                break
            assessments.append(day)
            if progression is not None and day >= progression:
                seen = day
        rec.truth = {
            "first_dose": first,
            "randomization": rand_day,
            "arm": arm_id,
            "progression": progression,
            "progression_seen": seen,
            "death": death,
            "lost": lost,
            "cutoff": cutoff,
            "is_responder": is_responder,
        }
        # treatment
        doses: list[tuple[str, int, float, str, str]] = []
        stop_treatment = min(d for d in (seen, death, lost, cutoff, first + max_treatment) if d is not None)
        for cycle in range(protocol.induction.cycles):
            day = first + cycle * protocol.induction.cycle_length_days
            if day > stop_treatment:
                break
            doses.append(("CAMRELIZUMAB", day, protocol.induction.immunotherapy.dose_mg, "mg", "INDUCTION"))
            for agent in regimen.agents:
                amount, unit = _CHEMO_DOSES.get(agent, (1.0, "DOSE"))
                doses.append((agent.upper(), day, amount, unit, "INDUCTION"))
        last_induction = first + (protocol.induction.cycles - 1) * protocol.induction.cycle_length_days
        courses: list[tuple[str, float, int, int, int]] = []
        maintenance_start: int | None = None
        if is_rand and rand_day is not None:
            arm = arms[arm_id or "control"]
            if arm.radiotherapy:
                rt_start = rand_day + int(rng.integers(7, 22))
                fractions = int(rng.integers(3, 6))
                courses.append((lesions[0][1], 8.0, fractions, rt_start, rt_start + 2 * (fractions - 1)))
                if rng.random() < 0.5:
                    courses.append(("ESOPHAGUS", 2.0, 20, rt_start, rt_start + 27))
                courses = [c for c in courses if c[3] <= stop_treatment]
                rt_end = max((c[4] for c in courses), default=rand_day)
                maintenance_start = rt_end + int(rng.integers(7, 29))
            else:
                delay = (
                    arm.maintenance_start_days_after_last_induction_dose or protocol.maintenance.interval_days
                )
                maintenance_start = max(last_induction + delay, rand_day)
            day = maintenance_start
            while day <= stop_treatment:
                doses.append(("CAMRELIZUMAB", day, protocol.maintenance.dose_mg, "mg", "MAINTENANCE"))
                day += protocol.maintenance.interval_days
        last_dose = max(d[1] for d in doses)
        last_treatment = max([last_dose, *(c[4] for c in courses)])
        # DM, SUPPDM
        armcd = arms[arm_id].armcd if arm_id else None
        armname = arms[arm_id].name if arm_id else None
        rec.add(
            "DM",
            STUDYID=study,
            USUBJID=usubjid,
            SUBJID=f"{j + 1:04d}",
            SITEID=f"{int(batch.site[0, j]) + 1:03d}",
            AGE=str(int(rng.integers(35, 80))),
            AGEU="YEARS",
            SEX="M" if rng.random() < 0.75 else "F",
            ARMCD=armcd,
            ARM=armname,
            ACTARMCD=armcd,
            ACTARM=armname,
            RFICDTC=_iso(start, consent),
            RFSTDTC=_iso(start, first),
            RFXENDTC=_iso(start, last_dose),
            DTHDTC=_iso(start, death),
            DTHFL="Y" if death is not None else None,
        )
        histology = protocol.population.histologies[0 if rng.random() < 0.85 else -1]
        for qnam, qval in (
            ("HISTOL", histology),
            ("ECOG", str(int(rng.random() < 0.4))),
            ("METORGN", str(n_organs)),
            ("METLESN", str(len(lesions))),
            ("REGIMEN", regimen.id),
            ("INDRESP", "CR/PR" if is_responder else "SD"),
        ):
            rec.add("SUPPDM", STUDYID=study, USUBJID=usubjid, RDOMAIN="DM", QNAM=qnam, QVAL=qval)
        # DS
        rec.add(
            "DS", USUBJID=usubjid, DSCAT="PROTOCOL MILESTONE", DSDECOD="ENROLLED", DSSTDTC=_iso(start, first)
        )
        if rand_day is not None:
            rec.add(
                "DS",
                USUBJID=usubjid,
                DSCAT="PROTOCOL MILESTONE",
                DSDECOD="RANDOMIZED",
                DSSTDTC=_iso(start, rand_day),
            )
        if death is not None:
            rec.add(
                "DS", USUBJID=usubjid, DSCAT="DISPOSITION EVENT", DSDECOD="DEATH", DSSTDTC=_iso(start, death)
            )
        elif lost is not None:
            rec.add(
                "DS",
                USUBJID=usubjid,
                DSCAT="DISPOSITION EVENT",
                DSDECOD="LOST TO FOLLOW-UP",
                DSSTDTC=_iso(start, lost),
            )
        for treatment, day, amount, unit, epoch in doses:
            rec.add(
                "EX",
                USUBJID=usubjid,
                EXTRT=treatment,
                EXDOSE=f"{amount:g}",
                EXDOSU=unit,
                EXSTDTC=_iso(start, day),
                EXENDTC=_iso(start, day),
                EPOCH=epoch,
            )
        for site_name, per_fraction, fractions, course_start, course_end in courses:
            rec.add(
                "PR",
                USUBJID=usubjid,
                PRTRT="RADIOTHERAPY",
                PRLOC=site_name,
                PRDOSE=f"{per_fraction:g}",
                PRDOSU="Gy",
                PRDOSTOT=f"{per_fraction * fractions:g}",
                PRFRACN=str(fractions),
                PRSTDTC=_iso(start, course_start),
                PRENDTC=_iso(start, course_end),
            )
        if seen is not None and rng.random() < 0.6:
            therapy_day = seen + int(rng.integers(14, 43))
            if therapy_day < end_follow:
                rec.add(
                    "CM",
                    USUBJID=usubjid,
                    CMTRT=_SUBSEQUENT[int(rng.integers(0, len(_SUBSEQUENT)))],
                    CMCAT="SUBSEQUENT ANTICANCER THERAPY",
                    CMSTDTC=_iso(start, therapy_day),
                )
        # TU, TR
        for link, organ, _ in lesions:
            rec.add("TU", USUBJID=usubjid, TULNKID=link, TUORRES="TARGET", TULOC=organ)
        rec.add("TU", USUBJID=usubjid, TULNKID="NT01", TUORRES="NON-TARGET", TULOC="ESOPHAGUS")
        nadir = [size for _, _, size in lesions]
        for index, day in enumerate([baseline, *assessments]):
            for k, (link, _, size) in enumerate(lesions):
                if index == 0:
                    value = size
                elif seen is not None and day == seen:
                    value = nadir[k] * 1.3 + 5.0
                else:
                    value = size * float(factors[k])
                    nadir[k] = min(nadir[k], value)
                rec.add(
                    "TR",
                    USUBJID=usubjid,
                    TRLNKID=link,
                    TRTESTCD="LDIAM",
                    TRSTRESN=f"{round(value, 1):g}",
                    TRDTC=_iso(start, day),
                )
            rec.add(
                "TR",
                USUBJID=usubjid,
                TRLNKID="NT01",
                TRTESTCD="TUMSTATE",
                TRSTRESC="PRESENT",
                TRDTC=_iso(start, day),
            )
        # AE
        received = {agent for agent in regimen.agents} | {"camrelizumab"}
        if courses:
            received.add("radiotherapy")
        terms = [t for t in toxicities if set(t.agents) & received]
        ae_end = min(last_treatment + protocol.adverse_events.reporting_days_after_last_treatment, end_follow)
        for _ in range(int(rng.poisson(3.0))):
            if not terms or ae_end <= first:
                break
            tox = terms[int(rng.integers(0, len(terms)))]
            onset = int(rng.integers(first, ae_end + 1))
            grade = int(rng.choice(4, p=_GRADES)) + 1
            resolved = onset + int(rng.integers(3, 41))
            rec.add(
                "AE",
                USUBJID=usubjid,
                AETERM=tox.specify or tox.term,
                AEDECOD=tox.term,
                AEBODSYS=tox.soc,
                AESTDTC=_iso(start, onset),
                AEENDTC=_iso(start, resolved) if resolved <= end_follow else None,
                AETOXGR=str(grade),
                AESER="Y" if grade >= 3 and rng.random() < 0.4 else "N",
            )
        # SV: screening, cycle visits, assessments, survival follow-up after treatment
        visits = [("SCREENING", consent)]
        visits += [
            (f"CYCLE {c + 1} DAY 1", d[1])
            for c, d in enumerate(x for x in doses if x[4] == "INDUCTION" and x[0] == "CAMRELIZUMAB")
        ]
        visits += [(f"TUMOUR ASSESSMENT {k + 1}", d) for k, d in enumerate(assessments)]
        day = last_treatment + protocol.follow_up.survival_interval_days
        k = 1
        while day < end_follow:
            visits.append((f"SURVIVAL FOLLOW-UP {k}", day))
            day += protocol.follow_up.survival_interval_days
            k += 1
        if death is None and lost is None:
            visits.append(("DATA CUT-OFF CONTACT", cutoff))
        for name, day in visits:
            rec.add("SV", USUBJID=usubjid, VISIT=name, SVSTDTC=_iso(start, day))
        records.append(rec)
    if screen_failures:
        failures_rng = np.random.default_rng(int(rng.integers(2**63)))
        last_day = max((int(r.truth["first_dose"]) for r in records), default=cutoff)
        for _ in range(screen_failures):
            day = int(failures_rng.integers(0, last_day + 1))
            site = int(failures_rng.integers(1, sites + 1))
            failure = _screen_failure(
                protocol, study, f"{len(records) + 1:04d}", site, day, start, cutoff, failures_rng
            )
            where = next(
                (i for i, r in enumerate(records) if r.truth.get("first_dose", -1) > day), len(records)
            )
            records.insert(where, failure)
    return records


def _screen_failure(
    protocol: Protocol,
    study: str,
    subjid: str,
    site: int,
    day: int,
    start: date,
    cutoff: int,
    rng: np.random.Generator,
) -> SubjectRecords:
    """A subject screened (consent and screening on ``day``) and not enrolled: an ECOG status or a count of
    metastatic organs (one lesion each) one above the protocol's inclusion maximum. ``truth`` keeps the
    screening day, the cut-off, the failed criterion's field and the lesions, which a site records on the
    eligibility form only."""
    usubjid = f"{study}-{site:03d}-{subjid}"
    rec = SubjectRecords(usubjid)
    maxima = {
        c.field: c
        for c in protocol.population.criteria
        if isinstance(c, RangeCriterion)
        and c.kind == "inclusion"
        and c.field in ("ecog", "metastatic_organ_count")
        and c.max is not None
    }
    above = {f: int(c.max) + 1 for f, c in maxima.items() if c.max is not None}
    if above.get("metastatic_organ_count", 0) > len(_ORGANS):
        del above["metastatic_organ_count"]
    if not above:
        raise ValueError(
            "the protocol has no ECOG or metastatic organ maximum that a screen failure can fail"
        )
    failed = sorted(above)[int(rng.integers(0, len(above)))]
    organs = rng.choice(
        len(_ORGANS), above[failed] if failed == "metastatic_organ_count" else 1, replace=False
    )
    lesions = [(f"T{i + 1:02d}", _ORGANS[int(organ)]) for i, organ in enumerate(organs)]
    rec.truth = {"screening": day, "cutoff": cutoff, "failed": failed, "lesions": lesions}
    rec.add(
        "DM",
        STUDYID=study,
        USUBJID=usubjid,
        SUBJID=subjid,
        SITEID=f"{site:03d}",
        AGE=str(int(rng.integers(35, 80))),
        AGEU="YEARS",
        SEX="M" if rng.random() < 0.75 else "F",
        ARMNRS="SCREEN FAILURE",
        RFICDTC=_iso(start, day),
    )
    histology = protocol.population.histologies[0 if rng.random() < 0.85 else -1]
    for qnam, qval in (
        ("HISTOL", histology),
        ("ECOG", str(above["ecog"]) if failed == "ecog" else str(int(rng.random() < 0.4))),
        ("METORGN", str(len(lesions))),
        ("METLESN", str(len(lesions))),
    ):
        rec.add("SUPPDM", STUDYID=study, USUBJID=usubjid, RDOMAIN="DM", QNAM=qnam, QVAL=qval)
    rec.add(
        "DS",
        USUBJID=usubjid,
        DSCAT="DISPOSITION EVENT",
        DSDECOD="SCREEN FAILURE",
        EPOCH="SCREENING",
        DSSTDTC=_iso(start, day),
    )
    criterion = maxima[failed]
    rec.add(
        "IE",
        USUBJID=usubjid,
        IETESTCD=sdtm_test_code(criterion.id),
        IETEST=criterion.text,
        IECAT="INCLUSION",
        IEORRES="N",
        IESTRESC="N",
        VISIT="SCREENING",
        IEDTC=_iso(start, day),
    )
    rec.add("SV", USUBJID=usubjid, VISIT="SCREENING", SVSTDTC=_iso(start, day))
    return rec


def derive_sdtm_tables(subjects: Sequence[SubjectRecords]) -> dict[str, pl.DataFrame]:
    """Stack subjects' records into SDTM tables of text cells, with ``--SEQ`` numbers, and RS derived from
    TU/TR by the RECIST engine."""
    tables: dict[str, pl.DataFrame] = {}
    for domain in DOMAIN_ORDER:
        if domain == "RS":
            continue
        rows = [row for subject in subjects for row in subject.rows.get(domain, [])]
        if not rows:
            continue
        frame = pl.DataFrame(rows, infer_schema_length=None)
        if domain not in ("DM", "SUPPDM", "TU", "TR"):
            frame = frame.with_columns(
                (pl.int_range(pl.len()).over("USUBJID") + 1).cast(pl.Utf8).alias(f"{domain}SEQ")
            )
        tables[domain] = frame
    if "TU" in tables and "TR" in tables:
        rs = derive_timepoint_responses(tables["TU"], tables["TR"])
        tables["RS"] = rs.select(
            "USUBJID",
            (pl.int_range(pl.len()).over("USUBJID") + 1).cast(pl.Utf8).alias("RSSEQ"),
            pl.lit("OVRLRESP").alias("RSTESTCD"),
            pl.lit("Overall Response").alias("RSTEST"),
            pl.col("OVRLRESP").alias("RSSTRESC"),
            pl.col("RSDTC").cast(pl.Utf8),
        )
    return {name: tables[name] for name in DOMAIN_ORDER if name in tables}
