"""Tumour assessments: lesion-level entry, the RECIST 1.1 engine run on save, baseline checks as queries.

Notes
-----
One ``TUMOUR`` form per imaging date (event ``TUMOUR.<date>``) lists every lesion: target, non-target or
new; organ; whether it is a lymph node; the diameter (longest, or short axis for a node) and the state.
The subject's earliest assessment is the baseline (RECIST 1.1 section 3.2). On each save every assessment
of the subject is turned into SDTM-shaped TU/TR tables (:func:`derive_tumour_tables`, the same mapping the
SDTM export uses) and given to :func:`oligotrial.rules.recist.check_recist_input`; the baseline rules it
reports (RECIST-009 more than 5 targets, RECIST-010 more than 2 per organ, RECIST-011 a target not
measurable, RECIST-012 a new lesion at baseline, RECIST-015 a non-target absent at baseline) become edit-check
queries on the baseline form, closed automatically when a later save no longer raises them. Then
:func:`oligotrial.rules.recist.derive_timepoint_responses` gives the sum of diameters, the percent changes
from baseline and nadir and the time-point response of the saved date. Derived values are computed from the
stored lesions each time (never stored), so a correction of an earlier assessment is always reflected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from oligotrial.errors import InputError, Problem
from oligotrial.protocol import Protocol
from oligotrial.rules.recist import check_recist_input, derive_timepoint_responses
from oligotrial.services._context import Actor, Edc, read_transaction
from oligotrial.services.data import load_subject, sync_edit_check_queries
from oligotrial.services.workflow._store import (
    POST_ENROLLMENT,
    WorkflowView,
    default_protocol,
    load_model,
    record_form,
    subject_forms,
    workflow_view,
)
from oligotrial.services.workflow.dosing import get_induction_doses
from oligotrial.services.workflow.forms import TumourAssessmentForm
from oligotrial.store.tables import Form, Subject

__all__ = [
    "PostInductionResponse",
    "derive_recist",
    "derive_recist_by_subject",
    "derive_tumour_tables",
    "get_post_induction_response",
    "list_tumour_assessments",
    "record_tumour_assessment",
]

RULE = "oligotrial.rules.recist.derive_timepoint_responses (RECIST 1.1)"
_LESION = re.compile(r"TULNKID=([^\]]+)\]")
_TR_SCHEMA = {
    "USUBJID": pl.Utf8,
    "TRSEQ": pl.Int64,
    "TRLNKID": pl.Utf8,
    "TRTESTCD": pl.Utf8,
    "TRTEST": pl.Utf8,
    "TRORRES": pl.Utf8,
    "TRSTRESC": pl.Utf8,
    "TRSTRESN": pl.Float64,
    "TRSTRESU": pl.Utf8,
    "TRSTAT": pl.Utf8,
    "TRMETHOD": pl.Utf8,
    "TRBLFL": pl.Utf8,
    "TRDTC": pl.Utf8,
}
_TU_SCHEMA = {
    "USUBJID": pl.Utf8,
    "TUSEQ": pl.Int64,
    "TULNKID": pl.Utf8,
    "TUTESTCD": pl.Utf8,
    "TUORRES": pl.Utf8,
    "TUSTRESC": pl.Utf8,
    "TULOC": pl.Utf8,
    "TULOCDTL": pl.Utf8,
    "TUDTC": pl.Utf8,
}


def derive_tumour_tables(
    assessments: Iterable[tuple[str, TumourAssessmentForm]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """SDTM TU and TR from tumour assessment forms given as ``(USUBJID, form)``.

    Notes
    -----
    TU: one row per lesion at its first appearance; ``TUORRES`` TARGET / NON-TARGET / NEW; ``TULOC`` the
    organ in upper case, ``LYMPH NODE`` for a node (the organ then in ``TULOCDTL``). TR: per lesion and date,
    ``LDIAM`` (non-nodal target) or ``LPERP`` (nodal target) in mm, or ``TUMSTATE`` PRESENT / ABSENT /
    UNEQUIVOCAL PROGRESSION (non-target and new lesions; a measured new lesion also gets ``LDIAM``/``LPERP``
    only through iRECIST, not here); ``TOO SMALL TO MEASURE`` and ``ABSENT`` for targets in ``TRSTRESC``
    (5 mm and 0 mm, RECIST 1.1 Appendix I); ``TRSTAT = NOT DONE`` for a lesion not assessed; ``TRBLFL = Y``
    on the subject's earliest date.
    """
    by_subject: dict[str, list[TumourAssessmentForm]] = {}
    for usubjid, form in assessments:
        by_subject.setdefault(usubjid, []).append(form)
    tu_rows: list[dict[str, Any]] = []
    tr_rows: list[dict[str, Any]] = []
    for usubjid, forms in by_subject.items():
        forms.sort(key=lambda f: f.date)
        seen: set[str] = set()
        baseline = forms[0].date
        for form in forms:
            for lesion in form.lesions:
                if lesion.lesion_id not in seen:
                    seen.add(lesion.lesion_id)
                    role = lesion.role.upper()
                    tu_rows.append(
                        {
                            "USUBJID": usubjid,
                            "TUSEQ": len(seen),  # the subject's lesions so far, this one included
                            "TULNKID": lesion.lesion_id,
                            "TUTESTCD": "TUMIDENT",
                            "TUORRES": role,
                            "TUSTRESC": role,
                            "TULOC": "LYMPH NODE" if lesion.is_node else lesion.organ.upper(),
                            "TULOCDTL": lesion.organ.upper() if lesion.is_node else None,
                            "TUDTC": form.date.isoformat(),
                        }
                    )
                tr_rows.append(
                    {
                        "USUBJID": usubjid,
                        "TRLNKID": lesion.lesion_id,
                        **_result(lesion),
                        "TRMETHOD": form.method,
                        "TRBLFL": "Y" if form.date == baseline else None,
                        "TRDTC": form.date.isoformat(),
                    }
                )
    tu = pl.DataFrame(tu_rows, schema=_TU_SCHEMA)
    tr = pl.DataFrame([{**row, "TRSEQ": None} for row in tr_rows], schema=_TR_SCHEMA)
    tr = tr.with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Int64).alias("TRSEQ"))
    return tu, tr


def _result(lesion: Any) -> dict[str, Any]:
    empty = {"TRORRES": None, "TRSTRESC": None, "TRSTRESN": None, "TRSTRESU": None, "TRSTAT": None}
    if lesion.role == "target":
        code = "LPERP" if lesion.is_node else "LDIAM"
        test = "Longest Perpendicular" if lesion.is_node else "Longest Diameter"
        row = {**empty, "TRTESTCD": code, "TRTEST": test}
        if lesion.state == "not done":
            return {**row, "TRSTAT": "NOT DONE"}
        if lesion.diameter_mm is not None and lesion.state in ("present", "absent"):
            text = f"{lesion.diameter_mm:g}"
            return {
                **row,
                "TRORRES": text,
                "TRSTRESC": text,
                "TRSTRESN": float(lesion.diameter_mm),
                "TRSTRESU": "mm",
            }
        text = "ABSENT" if lesion.state == "absent" else "TOO SMALL TO MEASURE"
        return {**row, "TRORRES": text, "TRSTRESC": text}
    row = {**empty, "TRTESTCD": "TUMSTATE", "TRTEST": "Tumor State"}
    if lesion.state == "not done":
        return {**row, "TRSTAT": "NOT DONE"}
    text = lesion.state.upper()
    return {**row, "TRORRES": text, "TRSTRESC": text}


def derive_recist(
    usubjid: str, forms: list[TumourAssessmentForm]
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Per assessment date (ISO text) the derived RECIST values of one subject, and the input problems.

    The baseline date gets its sum of diameters; later dates the engine's TRGRESP, NTRGRESP, NEWLIND,
    OVRLRESP, SOD, BLSOD, NADIR, PCHGBL, PCHGNAD. When the input breaks a RECIST rule, no response is derived
    and the problems are returned instead.
    """
    return derive_recist_by_subject({usubjid: forms})[usubjid]


def derive_recist_by_subject(
    forms: Mapping[str, Sequence[TumourAssessmentForm]],
    tables: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> dict[str, tuple[dict[str, dict[str, Any]], list[Problem]]]:
    """:func:`derive_recist` of every subject (USUBJID -> its assessments), from as few runs of the engine as
    the input allows.

    ``tables``, when given, are :func:`derive_tumour_tables` of all of ``forms`` in that order (the SDTM
    export has built them for TU and TR); the first run reads them instead of building them again.

    Notes
    -----
    The engine derives each subject apart from the others but refuses its whole input for one subject's
    problem; so the subjects go to it together, and a group it refuses is halved until each subject whose
    input breaks a rule stands alone and gets its own problems (a study with k such subjects among n takes
    about k log2 n runs more than one; one run has a fixed cost of some milliseconds, a run per subject
    dominated a study's SDTM export).
    """
    results: dict[str, tuple[dict[str, dict[str, Any]], list[Problem]]] = {
        usubjid: ({}, []) for usubjid, subject_forms in forms.items() if not subject_forms
    }
    groups = [[usubjid for usubjid in forms if usubjid not in results]]
    while groups:
        group = groups.pop()
        if not group:
            continue
        if tables is not None:  # the first group is every subject with assessments: the tables given
            (tu, tr), tables = tables, None
        else:
            tu, tr = derive_tumour_tables((usubjid, form) for usubjid in group for form in forms[usubjid])
        try:  # the engine checks its input as check_recist_input does
            if any(len(forms[usubjid]) > 1 for usubjid in group):
                rs = derive_timepoint_responses(tu, tr)
            else:
                check_recist_input(tu, tr)
                rs = None
        except InputError as error:
            if len(group) == 1:
                results[group[0]] = ({}, list(error.problems))
            else:
                half = len(group) // 2
                groups += [group[half:], group[:half]]
            continue
        responses: dict[str, list[dict[str, Any]]] = {}
        for row in rs.iter_rows(named=True) if rs is not None else ():
            responses.setdefault(row.pop("USUBJID"), []).append(row)
        for usubjid in group:
            results[usubjid] = (_derived(forms[usubjid], responses.get(usubjid, [])), [])
    return {usubjid: results[usubjid] for usubjid in forms}


def _derived(
    forms: Sequence[TumourAssessmentForm], responses: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """One subject's derived values by date: the baseline's sum of diameters, then the engine's rows."""
    baseline = min(forms, key=lambda f: f.date)
    sod = sum(
        (lesion.diameter_mm or 0.0) if lesion.state != "too small to measure" else 5.0
        for lesion in baseline.lesions
        if lesion.role == "target"
    )
    derived: dict[str, dict[str, Any]] = {
        baseline.date.isoformat(): {"baseline": True, "SOD": sod, "rule": RULE}
    }
    for row in responses:
        values = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
        derived[values["RSDTC"]] = {"baseline": False, **values, "rule": RULE}
    return derived


def _lesion_consistency(subject_forms_: list[TumourAssessmentForm], form: TumourAssessmentForm) -> None:
    known = {
        lesion.lesion_id: (lesion.role, lesion.organ, lesion.is_node)
        for other in subject_forms_
        if other.date != form.date
        for lesion in other.lesions
    }
    problems = []
    for i, lesion in enumerate(form.lesions):
        before = known.get(lesion.lesion_id)
        if before is not None and before != (lesion.role, lesion.organ, lesion.is_node):
            problems.append(
                Problem(
                    "TUMOUR-103",
                    f"values.lesions[{i}]",
                    f"lesion {lesion.lesion_id} was recorded as {before[0]} in {before[1]} (node: {before[2]}); "
                    "a lesion keeps its role, organ and kind; give a new lesion another id",
                    value=lesion.lesion_id,
                )
            )
    if problems:
        raise InputError(problems)


def _assessments(session: Session, subject: Subject) -> list[tuple[Form, TumourAssessmentForm]]:
    return [(row, load_model("TUMOUR", row)) for row, _ in subject_forms(session, subject.id, "TUMOUR")]


def _recist_after(session: Session, actor: Actor, subject: Subject, row: Form, model: Any) -> dict[str, Any]:
    stored = _assessments(session, subject)
    derived, problems = derive_recist(subject.code, [m for _, m in stored])
    baseline_row = min(stored, key=lambda pair: pair[1].date)[0]
    by_item = [
        Problem(
            p.code, f"lesions.{m.group(1)}" if (m := _LESION.search(p.field)) else p.field[:64], p.message
        )
        for p in problems
    ]
    codes = {p.code for p in by_item} | {"RECIST-009", "RECIST-010", "RECIST-011", "RECIST-012", "RECIST-015"}
    for form_row, _ in stored:
        sync_edit_check_queries(
            session, actor, form_row, by_item if form_row.id == baseline_row.id else [], checks=codes
        )
    result = derived.get(model.date.isoformat())
    if result is None:
        return {
            "response": None,
            "rule": RULE,
            "reason": "no response is derived while the RECIST checks raise queries on the baseline",
            "problems": [p.to_dict() for p in problems],
        }
    return result


def record_tumour_assessment(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    values: Any,
    *,
    event_code: str | None = None,
    base_version: int | None = None,
    reason: str | None = None,
    protocol: Protocol | None = None,
) -> WorkflowView:
    """Enter (``event_code`` None) or change a tumour assessment; returns the RECIST values derived for it.

    Raises
    ------
    InputError
        ``TUMOUR-101`` an item of the wrong type or range, ``TUMOUR-102`` an organ outside the protocol,
        ``TUMOUR-103`` a lesion id reused with another role, organ or kind.
    ConflictError
        ``WF-001`` the subject is screen-failed; ``EDC-023`` stale version (a change of the same date).
    """

    def before(session: Session, _actor: Actor, subject: Subject, code: str, model: Any) -> None:
        if code != f"TUMOUR.{model.date.isoformat()}":
            raise InputError.single(
                "TUMOUR-104",
                "values.date",
                f"the assessment at {code} cannot change its date; enter a new one",
            )
        _lesion_consistency([m for _, m in _assessments(session, subject)], model)

    return record_form(
        edc,
        actor,
        subject_code,
        "TUMOUR",
        values,
        event_code=event_code,
        new_event=lambda session, subject, model: (f"TUMOUR.{model.date.isoformat()}", model.date),
        allowed_status=("screening", *POST_ENROLLMENT),
        base_version=base_version,
        reason=reason,
        protocol=protocol,
        before=before,
        after=_recist_after,
    )


def list_tumour_assessments(edc: Edc, actor: Actor, subject_code: str) -> list[WorkflowView]:
    """Every tumour assessment of a subject, oldest first, each with its RECIST values derived now."""
    with read_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        stored = sorted(_assessments(session, subject), key=lambda pair: pair[1].date)
        derived, problems = derive_recist(subject.code, [m for _, m in stored])
        fallback = {"response": None, "rule": RULE, "problems": [p.to_dict() for p in problems]}
        return [
            workflow_view(session, row, derived.get(model.date.isoformat(), fallback))
            for row, model in stored
        ]


@dataclass(frozen=True)
class PostInductionResponse:
    """The post-induction overall response of a subject, or why there is none (``reason``)."""

    response: str | None
    assessment_date: date | None
    event_code: str | None
    induction_end: date | None
    reason: str | None
    rule: str = RULE


def get_post_induction_response(
    session: Session, subject: Subject, protocol: Protocol | None = None
) -> PostInductionResponse:
    """The RECIST 1.1 overall response of the subject's post-induction assessment, in the caller's transaction.

    Notes
    -----
    The end of induction is the end of the protocol's last induction cycle (cycle ``induction.cycles``, as
    recorded: its day 1 + ``cycle_length_days``), the definition of the post-induction assessment in
    :func:`oligotrial.rules.schedule.derive_calendar`. The response is ``OVRLRESP`` of the *last* tumour
    assessment on or after that day, recomputed from the stored lesions (:func:`derive_recist`). No response
    (``reason`` says why) while the last cycle is not recorded, no assessment is on or after the end of
    induction, or the RECIST checks raise queries on the baseline.
    """
    protocol = protocol or default_protocol()
    induction = protocol.induction
    last = [d for d in get_induction_doses(session, subject) if d.cycle == induction.cycles]
    if not last:
        return PostInductionResponse(
            None, None, None, None, f"induction cycle {induction.cycles} (the last) is not recorded"
        )
    end = max(d.date for d in last) + timedelta(days=induction.cycle_length_days)
    stored = sorted((m for _, m in _assessments(session, subject)), key=lambda m: m.date)
    after = [m for m in stored if m.date >= end]
    if not after:
        return PostInductionResponse(
            None,
            None,
            None,
            end,
            f"no tumour assessment on or after the end of induction ({end.isoformat()})",
        )
    chosen = after[-1]
    day = chosen.date.isoformat()
    derived, problems = derive_recist(subject.code, stored)
    response = derived.get(day, {}).get("OVRLRESP")
    reason = None
    if problems:
        reason = "no response is derived while the RECIST checks raise queries on the baseline: " + "; ".join(
            f"{p.code} {p.message}" for p in problems
        )
    elif response is None:
        reason = f"no overall response is derived for the assessment of {day} (it is the baseline)"
    return PostInductionResponse(response, chosen.date, f"TUMOUR.{day}", end, reason)
