"""The protocol calendar of one subject, and how actual dates deviate from it.

From the first dose (and, once known, the randomization date, the arm and the radiotherapy dates) the
calendar lists every planned event with a target date and a window: baseline imaging, the induction cycles,
tumour assessments, randomization, radiotherapy start, maintenance doses, the end of treatment at the
protocol's maximum duration, the adverse-event follow-up windows and survival follow-up. The calendar follows
the subject's course: treatment items end with the recorded end of treatment, tumour assessments with
progression, everything with death or the end of study. :func:`match_actual_dates` says which recorded
assessment or follow-up contact fulfils which planned item, and given the dates on which events actually
happened, :func:`derive_visit_status` says which were on time, early, late or missed.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import Protocol

__all__ = [
    "PlannedEvent",
    "VisitStatus",
    "add_months",
    "derive_calendar",
    "derive_visit_status",
    "match_actual_dates",
]

Phase = Literal["screening", "induction", "randomization", "radiotherapy", "maintenance", "follow-up"]
_TREATMENT_KINDS = frozenset({"induction dose", "randomization", "radiotherapy start", "maintenance dose"})
Kind = Literal[
    "imaging",
    "induction dose",
    "assessment",
    "randomization",
    "radiotherapy start",
    "maintenance dose",
    "end of treatment",
    "adverse event follow-up",
    "survival follow-up",
]
Status = Literal["on time", "early", "late", "missed", "due", "upcoming"]


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped to the month's last day (31 Jan + 1 -> 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class PlannedEvent:
    """One planned event. ``target`` is None for events defined only by a window (radiotherapy start)."""

    id: str
    kind: Kind
    phase: Phase
    label: str
    target: date | None
    earliest: date
    latest: date


@dataclass(frozen=True)
class VisitStatus:
    """An event of the calendar with what happened: ``days_outside`` counts the days before ``earliest``
    (early) or after ``latest`` (late, or missed so far)."""

    event: PlannedEvent
    status: Status
    actual: date | None
    days_outside: int


def _window(target: date, days: int) -> tuple[date, date]:
    return target - timedelta(days=days), target + timedelta(days=days)


def derive_calendar(
    protocol: Protocol,
    first_dose: date,
    *,
    randomized: date | None = None,
    arm: str | None = None,
    rt_end: date | None = None,
    maintenance_start: date | None = None,
    maintenance_given: Mapping[int, date] | None = None,
    last_dose: date | None = None,
    end_of_treatment: date | None = None,
    progression: date | None = None,
    off_study: date | None = None,
    severe_adverse_event: bool = True,
) -> tuple[PlannedEvent, ...]:
    """Every planned event of one subject, in date order, as the subject's course leaves it.

    Parameters
    ----------
    protocol
        The protocol whose schedule settings apply.
    first_dose
        Day 1 of induction cycle 1 (the origin of the assessment schedule and of the treatment duration).
    randomized, arm
        Randomization date and arm id, once randomized; without them the calendar stops at randomization.
    rt_end
        End of all radiotherapy (experimental arm): opens the maintenance restart window.
    maintenance_start
        First maintenance dose, when it differs from the planned one (experimental arm: the restart after
        radiotherapy); later doses follow from it.
    maintenance_given
        The days later maintenance doses were given, by dose number (2, 3, ...): the next dose is due
        ``interval_days`` after a dose as given, as the dosing edit check counts it
        (:func:`oligotrial.services.workflow.dosing.dose_window`), so that a delay moves the doses after it.
        While the restart dose after radiotherapy is not entered (``maintenance_start``), the doses are planned
        from the earliest one given.
    last_dose
        Actual last study drug dose, when treatment ended early: treatment items planned after the last
        treatment (this dose, or the end of radiotherapy if later) are dropped, and the end of treatment
        and the follow-up windows are counted from the last treatment.
    end_of_treatment
        The day the end of study treatment was recorded (needs ``last_dose``): the end of treatment is then
        an event of that day rather than a planned visit.
    progression
        Day progression was documented: no tumour assessment, randomization or maintenance dose is planned
        after it (the subject is followed for survival only).
    off_study
        Death or end of study (disposition): nothing is planned after it.
    severe_adverse_event
        Whether the subject had an adverse event of grade >= ``severe_grade``; without one the extended
        follow-up of severe adverse events is not planned.

    Raises
    ------
    InputError
        ``SCHED-001`` for dates in the wrong order, ``SCHED-002`` for an unknown arm or options that need
        another (``--rt-end`` without the experimental arm, an arm without a randomization date, an end of
        treatment without the last dose).

    Notes
    -----
    Rules (PROTOCOL.md sections 1, 3 and 4, settings in the protocol file):

    * Baseline imaging within ``assessments.baseline_window_days`` before the first dose.
    * Induction cycle *k* on day 1 + (k-1) x cycle length, window +/- ``day1_window_days`` (cycle 1 is the
      first dose itself).
    * Tumour assessments every ``interval_days`` (+/- ``window_days``) from the first dose while the target
      stays within ``until_months`` of each period in turn, continuing from the last assessment of the
      previous period. They continue after an end of treatment without progression (section 4 plans them
      to 24 months; PFS, section 5, needs them until progression) and stop with the one whose window
      is open at progression (none opens later): section 1,
      "progressive disease -> off study treatment (followed for survival)".
    * The post-induction assessment is the first one on or after the end of the last induction cycle;
      randomization follows it, no later than the radiotherapy start window allows. It is planned only
      while the subject is on treatment without progression (section 3: "only if it is not PD"); a subject
      whose treatment ended or who progressed before randomization is not randomized.
    * Control arm: maintenance starts ``maintenance_start_days_after_last_induction_dose`` after the last
      induction dose. Experimental arm: radiotherapy starts within ``start_within_days_after_chemo_end``
      after the last induction dose, and maintenance restarts within
      ``maintenance_restart_within_days_after_rt_end`` after the end of radiotherapy.
    * Maintenance doses every ``interval_days`` (+/- ``window_days``) after the previous dose (as given, once
      it is) until the end of treatment at ``max_duration_months`` after the first dose, progression or an
      earlier end of treatment (section 3: "until progression, intolerable toxicity or 24 months").
    * Once treatment ended (``last_dose``), induction doses, randomization, radiotherapy and maintenance
      planned after the last treatment (last dose or end of radiotherapy, whichever is later; a dose given
      early inside its window still counts) are dropped; a recorded end of treatment is an event of its
      day (window from the last treatment to that day), not a visit that can be late.
    * Adverse events are reported until ``reporting_days_after_last_treatment`` after the last treatment,
      grade >= ``severe_grade`` ones followed until ``severe_follow_up_days_after_last_treatment`` (section
      4). These are the ends of reporting periods, not visits: each is confirmed at the first follow-up
      contact on or after it, at the latest at the survival follow-up that comes next (window from the day
      to that follow-up's latest day). The severe one only when such an adverse event was recorded.
    * Survival follow-up every ``survival_interval_days`` (+/- ``survival_window_days``) for
      ``survival_duration_months`` after the end of treatment (section 4), counted from the last
      treatment when treatment ended early.
    * Nothing is planned after death or the end of study (``off_study``): an item whose target (or, without
      a target, whose window opening) is later is dropped.
    """
    _check_inputs(
        protocol,
        first_dose,
        randomized,
        arm,
        rt_end,
        maintenance_start,
        maintenance_given or {},
        last_dose,
        end_of_treatment,
        progression,
        off_study,
    )
    events: list[PlannedEvent] = []
    induction = protocol.induction
    events.append(
        PlannedEvent(
            "BASELINE",
            "imaging",
            "screening",
            "Baseline tumour imaging",
            first_dose,
            first_dose - timedelta(days=protocol.assessments.baseline_window_days),
            first_dose,
        )
    )
    cycle_starts = [
        first_dose + timedelta(days=induction.cycle_length_days * k) for k in range(induction.cycles)
    ]
    for k, start in enumerate(cycle_starts, 1):
        window = 0 if k == 1 else induction.day1_window_days
        events.append(
            PlannedEvent(
                f"C{k}D1",
                "induction dose",
                "induction",
                f"Induction cycle {k} day 1",
                start,
                *_window(start, window),
            )
        )
    last_induction = cycle_starts[-1]
    induction_end = last_induction + timedelta(days=induction.cycle_length_days)

    eot_planned = add_months(first_dose, protocol.maintenance.max_duration_months)
    last_treatment = max(d for d in (last_dose, rt_end) if d is not None) if last_dose else None
    eot = min(eot_planned, last_treatment) if last_treatment else eot_planned
    assessments = _planned_assessments(protocol, first_dose)
    post_induction = next((d for d, _ in assessments if d >= induction_end), None)
    for n, (target, window) in enumerate(assessments, 1):
        if progression is not None and target - timedelta(days=window) > progression:
            break
        label = "Tumour assessment" + (" (post-induction)" if target == post_induction else "")
        events.append(
            PlannedEvent(
                f"ASMT{n:02d}",
                "assessment",
                _phase_of(target, induction_end, randomized, eot if last_treatment else None),
                label,
                target,
                *_window(target, window),
            )
        )

    rt = protocol.radiotherapy
    rt_latest = last_induction + timedelta(days=rt.start_within_days_after_chemo_end)
    # randomization only for a subject on treatment without progression (or already randomized)
    randomization_planned = randomized is not None or (last_dose is None and progression is None)
    if post_induction is not None and randomization_planned:
        asmt_window = protocol.assessments.periods[0].window_days
        events.append(
            PlannedEvent(
                "RAND",
                "randomization",
                "randomization",
                "Randomization (if no progression)",
                post_induction,
                post_induction - timedelta(days=asmt_window),
                rt_latest,
            )
        )
    if randomized is not None and arm is not None:
        chosen = protocol.arm(arm)
        first_maintenance = maintenance_start
        if chosen.radiotherapy:
            if last_dose is None or rt_end is not None:
                events.append(
                    PlannedEvent(
                        "RTSTART",
                        "radiotherapy start",
                        "radiotherapy",
                        "Radiotherapy starts",
                        None,
                        max(last_induction, randomized),
                        rt_latest,
                    )
                )
            if rt_end is not None and (last_dose is None or maintenance_start is not None):
                restart_latest = rt_end + timedelta(days=rt.maintenance_restart_within_days_after_rt_end)
                events.append(
                    PlannedEvent(
                        "MAINTSTART",
                        "maintenance dose",
                        "maintenance",
                        "Camrelizumab restarts after radiotherapy",
                        first_maintenance,
                        rt_end + timedelta(days=1),
                        restart_latest,
                    )
                )
        else:
            offset = chosen.maintenance_start_days_after_last_induction_dose or 0
            first_maintenance = first_maintenance or last_induction + timedelta(days=offset)
        given = maintenance_given or {}
        if first_maintenance is not None:
            events.extend(
                _maintenance_doses(
                    protocol, first_maintenance, eot_planned, given, skip_first=chosen.radiotherapy
                )
            )
        elif given:  # later doses entered before the restart dose: the doses follow the earliest of them
            number = min(given)
            events.extend(_maintenance_doses(protocol, given[number], eot_planned, given, number=number))
        eot_phase: Phase = "maintenance"
    else:
        eot_phase = "induction"
    if end_of_treatment is not None and last_treatment is not None:
        events.append(
            PlannedEvent(
                "EOT",
                "end of treatment",
                eot_phase,
                "End of study treatment",
                end_of_treatment,
                min(last_treatment, end_of_treatment),
                end_of_treatment,
            )
        )
    elif randomized is not None or last_dose is not None:
        events.append(
            PlannedEvent("EOT", "end of treatment", eot_phase, "End of study treatment", eot, eot, eot)
        )
    events = [e for e in events if _still_planned(e, protocol, last_treatment, progression)]

    if randomized is not None or last_dose is not None:
        follow_up = protocol.follow_up
        ae = protocol.adverse_events
        periods = [("AEFU", ae.reporting_days_after_last_treatment, "End of adverse-event reporting")]
        if severe_adverse_event:
            periods.append(
                (
                    "AEFU-SEVERE",
                    ae.severe_follow_up_days_after_last_treatment,
                    f"End of follow-up of grade >= {ae.severe_grade} adverse events",
                )
            )
        for event_id, days, label in periods:
            day = eot + timedelta(days=days)
            next_contact = -(-days // follow_up.survival_interval_days) * follow_up.survival_interval_days
            confirm_by = eot + timedelta(days=next_contact + follow_up.survival_window_days)
            events.append(
                PlannedEvent(event_id, "adverse event follow-up", "follow-up", label, day, day, confirm_by)
            )
        horizon = add_months(eot, follow_up.survival_duration_months)
        day, n = eot + timedelta(days=follow_up.survival_interval_days), 1
        while day <= horizon:
            events.append(
                PlannedEvent(
                    f"SURV{n:02d}",
                    "survival follow-up",
                    "follow-up",
                    "Survival follow-up",
                    day,
                    *_window(day, follow_up.survival_window_days),
                )
            )
            day, n = day + timedelta(days=follow_up.survival_interval_days), n + 1
    if off_study is not None:
        events = [e for e in events if (e.target or e.earliest) <= off_study]
    return tuple(sorted(events, key=lambda e: (e.target or e.earliest, e.id)))


def _still_planned(
    event: PlannedEvent,
    protocol: Protocol,
    last_treatment: date | None,
    progression: date | None,
) -> bool:
    """Whether a treatment item stays planned: not after progression (maintenance), not after the last
    treatment once treatment ended (a dose given early, inside its window, still counts)."""
    if event.kind not in _TREATMENT_KINDS or event.id == "MAINTSTART":
        return True
    when = event.target or event.earliest
    if event.kind == "maintenance dose" and progression is not None and event.earliest > progression:
        return False
    if last_treatment is None or event.kind in ("radiotherapy start", "randomization"):
        return True
    slack = protocol.maintenance.window_days if event.kind == "maintenance dose" else 0
    if event.kind == "induction dose":
        slack = protocol.induction.day1_window_days
    return when <= last_treatment + timedelta(days=slack)


def _phase_of(day: date, induction_end: date, randomized: date | None, ended: date | None = None) -> Phase:
    if ended is not None and day > ended:
        return "follow-up"
    if day <= induction_end or randomized is None:
        return "induction"
    return "maintenance"


def _planned_assessments(protocol: Protocol, first_dose: date) -> list[tuple[date, int]]:
    """Target dates of tumour assessments with their window half-widths."""
    planned: list[tuple[date, int]] = []
    last = first_dose
    for period in protocol.assessments.periods:
        until = add_months(first_dose, period.until_months)
        day = last + timedelta(days=period.interval_days)
        while day <= until:
            planned.append((day, period.window_days))
            last = day
            day += timedelta(days=period.interval_days)
    return planned


def _maintenance_doses(
    protocol: Protocol,
    first: date,
    eot: date,
    given: Mapping[int, date],
    *,
    number: int = 1,
    skip_first: bool = False,
) -> list[PlannedEvent]:
    """Maintenance dose ``number`` on ``first``, each later one ``interval_days`` after the one before as given
    (else as planned), while before ``eot``; ``skip_first`` leaves dose 1 out (the restart after
    radiotherapy is its own event)."""
    maintenance = protocol.maintenance
    doses = []
    day, n = first, number
    while day < eot:
        if not (skip_first and n == 1):
            doses.append(
                PlannedEvent(
                    f"M{n:02d}",
                    "maintenance dose",
                    "maintenance",
                    f"Maintenance dose {n}",
                    day,
                    *_window(day, maintenance.window_days),
                )
            )
        day = (given[n] if n > 1 and n in given else day) + timedelta(days=maintenance.interval_days)
        n += 1
    return doses


def _check_inputs(
    protocol: Protocol,
    first_dose: date,
    randomized: date | None,
    arm: str | None,
    rt_end: date | None,
    maintenance_start: date | None,
    maintenance_given: Mapping[int, date],
    last_dose: date | None,
    end_of_treatment: date | None,
    progression: date | None,
    off_study: date | None,
) -> None:
    problems = []
    arms = [a.id for a in protocol.arms]
    if arm is not None and arm not in arms:
        problems.append(
            Problem("SCHED-002", "arm", f"unknown arm {arm!r}; expected one of: {', '.join(arms)}", arm)
        )
    if (arm is None) != (randomized is None):
        problems.append(
            Problem(
                "SCHED-002",
                "arm" if arm is None else "randomized",
                "give the randomization date and the arm together",
                arm or randomized,
            )
        )
    if randomized is not None and randomized < first_dose:
        problems.append(
            Problem(
                "SCHED-001",
                "randomized",
                f"the randomization date is before the first dose {first_dose}",
                randomized,
            )
        )
    if rt_end is not None:
        if arm not in arms or not protocol.arm(arm).radiotherapy:
            problems.append(
                Problem(
                    "SCHED-002",
                    "rt_end",
                    f"a radiotherapy end date ({rt_end}) needs an arm with radiotherapy, got arm {arm!r}",
                    rt_end,
                )
            )
        if randomized is not None and rt_end < randomized:
            problems.append(
                Problem(
                    "SCHED-001",
                    "rt_end",
                    f"the end of radiotherapy is before randomization {randomized}",
                    rt_end,
                )
            )
    if maintenance_start is not None:
        reference = rt_end or randomized or first_dose
        if maintenance_start < reference:
            problems.append(
                Problem(
                    "SCHED-001",
                    "maintenance_start",
                    f"the first maintenance dose is before {reference}",
                    maintenance_start,
                )
            )
        if randomized is None:
            problems.append(
                Problem(
                    "SCHED-002",
                    "maintenance_start",
                    "maintenance needs a randomization date and arm",
                    maintenance_start,
                )
            )
    for number, given in sorted(maintenance_given.items()):
        field = f"maintenance_given[{number}]"
        if number < 2:
            problems.append(
                Problem(
                    "SCHED-002",
                    field,
                    "later doses are numbered from 2 (dose 1 is maintenance_start)",
                    number,
                )
            )
        elif randomized is None:
            problems.append(
                Problem("SCHED-002", field, "maintenance needs a randomization date and arm", given)
            )
    if last_dose is not None and last_dose < first_dose:
        problems.append(
            Problem(
                "SCHED-001",
                "last_dose",
                f"the last dose {last_dose} is before the first dose {first_dose}",
                last_dose,
            )
        )
    if end_of_treatment is not None:
        if last_dose is None:
            problems.append(
                Problem(
                    "SCHED-002",
                    "end_of_treatment",
                    "a recorded end of treatment needs the last dose date",
                    end_of_treatment,
                )
            )
        elif end_of_treatment < last_dose:
            problems.append(
                Problem(
                    "SCHED-001",
                    "end_of_treatment",
                    f"the end of treatment is before the last dose {last_dose}",
                    end_of_treatment,
                )
            )
    for field, value, what in (
        ("progression", progression, "progression"),
        ("off_study", off_study, "death or the end of study"),
    ):
        if value is not None and value < first_dose:
            problems.append(
                Problem("SCHED-001", field, f"{what} is dated before the first dose {first_dose}", value)
            )
    if problems:
        raise InputError(problems)


def derive_visit_status(
    events: tuple[PlannedEvent, ...], actual: Mapping[str, date], as_of: date
) -> tuple[VisitStatus, ...]:
    """Compare actual dates with the calendar as of a given day.

    Notes
    -----
    An event done inside its window is *on time*; before ``earliest`` *early*, after ``latest`` *late*, with
    the number of days outside. An event not done is *missed* once its window has closed before ``as_of``,
    *due* while ``as_of`` is inside its window, *upcoming* before it opens.

    Raises
    ------
    InputError
        ``SCHED-003`` for an actual date given for an event id the calendar does not have.
    """
    known = {e.id for e in events}
    unknown = sorted(set(actual) - known)
    if unknown:
        raise InputError(
            [
                Problem(
                    "SCHED-003",
                    f"actual.{event_id}",
                    f"no planned event has this id; known ids: {', '.join(sorted(known))}",
                    event_id,
                )
                for event_id in unknown
            ]
        )
    statuses = []
    for event in events:
        done = actual.get(event.id)
        if done is not None:
            if done < event.earliest:
                statuses.append(VisitStatus(event, "early", done, (event.earliest - done).days))
            elif done > event.latest:
                statuses.append(VisitStatus(event, "late", done, (done - event.latest).days))
            else:
                statuses.append(VisitStatus(event, "on time", done, 0))
        elif as_of > event.latest:
            statuses.append(VisitStatus(event, "missed", None, (as_of - event.latest).days))
        elif as_of >= event.earliest:
            statuses.append(VisitStatus(event, "due", None, 0))
        else:
            statuses.append(VisitStatus(event, "upcoming", None, 0))
    return tuple(statuses)


def match_actual_dates(events: tuple[PlannedEvent, ...], kind: Kind, dates: list[date]) -> dict[str, date]:
    """Which recorded dates fulfil which planned events of one kind (tumour assessments, survival follow-up
    contacts, adverse-event follow-up).

    Notes
    -----
    *Tumour assessments* (PROTOCOL.md section 4: every 6, then 9 weeks, +/- 7 days): each date belongs to
    the planned assessment whose target is nearest (the earlier on a tie), and each assessment takes the
    nearest of the dates that belong to it; so a scan a few days outside its window is early or late, and
    an extra scan (a confirmation) fulfils nothing rather than shifting every later assessment.
    *Survival follow-up* (section 4: every 12 weeks after the end of treatment, a schedule anchored to the
    end of treatment): a contact inside a window fulfils that follow-up; a contact after a window closed,
    before the next one opens, fulfils the closed one late (unless a contact inside its window already did);
    a contact before a window opens (a call at the data cut-off, say) is an additional contact and leaves
    the planned follow-up open. *Adverse-event follow-up* ends a reporting period (section 4: "until 30
    days after the last treatment", grade >= 3 "until ... 90 days"): it is confirmed by the first contact on
    or after its day.
    """
    planned = [e for e in events if e.kind == kind and e.target is not None]
    if kind == "adverse event follow-up":
        found = {}
        for event in planned:
            later = [d for d in dates if d >= event.earliest]
            if later:
                found[event.id] = min(later)
        return found
    targets = {e.id: e.target for e in planned if e.target is not None}
    claims: dict[str, list[date]] = {}
    for day in dates:
        if kind == "survival follow-up":
            inside = [e.id for e in planned if e.earliest <= day <= e.latest]
            closed = sorted((e for e in planned if e.latest < day), key=lambda e: e.latest)
            candidates = inside or [e.id for e in closed[-1:]]
        else:
            candidates = list(targets)
        if candidates:
            nearest = min(candidates, key=lambda i: (abs((targets[i] - day).days), targets[i]))
            claims.setdefault(nearest, []).append(day)
    return {
        event_id: min(days, key=lambda d: (abs((targets[event_id] - d).days), d))
        for event_id, days in claims.items()
    }
