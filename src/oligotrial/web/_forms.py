"""The data entry forms: eligibility (live per-criterion result), enrollment and screen failure, dosing,
tumour assessment (live SOD, percent changes, time-point response), randomization, radiotherapy course (live
BED/EQD2 and plan verdict), adverse event (CTCAE term search, grade definitions), and after induction: end of
treatment, survival follow-up, death, new anticancer therapy, disposition and protocol deviations.

Every form posts to the workflow services; a refusal is shown next to its field with what the user typed.
The live previews are JSON endpoints calling the same rule functions the services call on save.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from oligotrial.errors import InputError, NotFoundError, OligotrialError, PermissionDeniedError, Problem
from oligotrial.protocol import Protocol
from oligotrial.rules.radiotherapy import (
    LQ_CAVEAT,
    check_dose_inputs,
    check_radiotherapy_plan,
    compute_bed,
    compute_eqd2,
    parse_radiotherapy_plan,
)
from oligotrial.services import ctcae as ctcae_services
from oligotrial.services import radiotherapy as rt_services
from oligotrial.services import randomization as rand_services
from oligotrial.services.data import get_subject, list_forms
from oligotrial.services.workflow import (
    check_form_values,
    derive_recist,
    enroll_subject,
    get_eligibility,
    list_tumour_assessments,
    record_adverse_event,
    record_death,
    record_deviation,
    record_disposition,
    record_dose,
    record_end_of_treatment,
    record_follow_up,
    record_new_therapy,
    record_screen_failure,
    record_tumour_assessment,
    save_eligibility,
)
from oligotrial.services.workflow.forms import DISPOSITION_REASONS, TumourAssessmentForm
from oligotrial.services.workflow.screening import evaluate_screening
from oligotrial.web import _i18n
from oligotrial.web._fields import Field, Group, flatten_values, parse_fields, strip_row_markers
from oligotrial.web._messages import DEVIATION_CATEGORIES, FINDING_MESSAGES, N_
from oligotrial.web._pages import refused
from oligotrial.web._render import (
    FieldErrors,
    field_errors,
    language_of,
    problem_message,
    render,
    status_label,
)
from oligotrial.web._session import Session, WebSession, check_csrf

__all__ = ["FORMS", "FormDef", "place_errors", "router"]

router = APIRouter(include_in_schema=False)
_generic = APIRouter(include_in_schema=False)  # /subjects/{code}/{kind}: added after the specific routes
Csrf = Annotated[str, Form(max_length=128)]
_YES_NO = (("true", N_("yes")), ("false", N_("no")))


def _protocol() -> Protocol:
    return rand_services.current_protocol()


def _raw(values: Sequence[str]) -> tuple[tuple[str, None], ...]:
    return tuple((v, None) for v in values)


def _tr(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Options whose value is also their msgid: shown translated when the catalog has the word (an organ
    "other", a seriousness criterion "death"), else as they are (words of the protocol file); the fixed ones
    are listed in :data:`_VOCABULARY` for extraction."""
    return tuple((v, v) for v in values)


_VOCABULARY = (
    N_("dose not changed"),
    N_("dose reduced"),
    N_("drug interrupted"),
    N_("drug withdrawn"),
    N_("recovered/resolved"),
    N_("recovering/resolving"),
    N_("not recovered/not resolved"),
    N_("recovered/resolved with sequelae"),
    N_("fatal"),
    N_("esophageal cancer"),
    N_("squamous cell carcinoma"),
    N_("adenocarcinoma"),
    N_("recurrent"),
    N_("metastatic"),
    N_("progression"),
    N_("intolerable toxicity"),
    N_("withdrawal"),
    N_("end of treatment at 24 months"),
)


@dataclass(frozen=True)
class FormDef:
    """A data entry form: its code, title, inputs and the service that saves it."""

    kind: str
    form_code: str
    title: str
    fields: Sequence[Field]
    groups: Sequence[Group]
    preview: bool
    event: str | None = None
    """The event of a form entered once per subject (``SCREENING``, ``EOT`` ...): its page opens the entered
    form for a change; ``None`` for a repeating form (opened for a change with ``?event=``)."""
    listed: Sequence[str] = ()
    """Items shown in the list of the subject's entered forms of a repeating kind (empty: no list)."""


def _eligibility_def(p: Protocol) -> FormDef:
    organs = _tr(p.population.metastatic_organs)
    uln = []
    for lab, label in (("bilirubin", N_("Bilirubin")), ("ast", N_("AST")), ("alt", N_("ALT"))):
        uln += [
            Field(f"labs.{lab}.value", label, "float"),
            Field(f"labs.{lab}.uln", N_("Upper limit of normal"), "float"),
        ]
    return FormDef(
        "eligibility",
        "ELIG",
        N_("Eligibility"),
        [
            Field("screening_date", N_("Screening date"), "date", required=True),
            Field("consent_date", N_("Informed consent date"), "date"),
            Field("first_procedure_date", N_("First study procedure date"), "date"),
            Field(
                "sex",
                N_("Sex"),
                "select",
                (("F", N_("female")), ("M", N_("male")), ("U", N_("unknown"))),
                translate_options=True,
            ),
            Field("birth_date", N_("Birth date"), "date"),
            Field("age", N_("Age (years)"), "int"),
            Field("diagnosis", N_("Diagnosis"), "select", _tr(("esophageal cancer",))),
            Field("histology", N_("Histology"), "select", _tr(("squamous cell carcinoma", "adenocarcinoma"))),
            Field("disease_setting", N_("Disease setting"), "select", _tr(("recurrent", "metastatic"))),
            Field("primary_site", N_("Primary site"), "select", _raw(p.population.primary_sites)),
            Field(
                "measurable_disease",
                N_("Measurable disease (RECIST 1.1)"),
                "bool",
                _YES_NO,
                translate_options=True,
            ),
            Field("ecog", N_("ECOG performance status"), "int"),
            Field(
                "prior_systemic_therapy",
                N_("Prior systemic therapy for recurrent or metastatic disease"),
                "bool",
                _YES_NO,
                translate_options=True,
            ),
            Field("labs.anc", N_("ANC (10^9/L)"), "float"),
            Field("labs.platelets", N_("Platelets (10^9/L)"), "float"),
            Field("labs.haemoglobin", N_("Haemoglobin (g/L)"), "float"),
            Field("labs.creatinine_clearance", N_("Creatinine clearance (mL/min)"), "float"),
            *uln,
        ],
        [
            Group(
                "metastatic_lesions",
                N_("Metastatic lesions"),
                [Field("lesion_id", N_("Lesion"), "text"), Field("organ", N_("Organ"), "select", organs)],
                rows=6,
            )
        ],
        preview=True,
        event="SCREENING",
    )


def _dose_def(p: Protocol) -> FormDef:
    agents = sorted({*[a for r in p.induction.regimens for a in r.agents], p.induction.immunotherapy.agent})
    return FormDef(
        "dose",
        "DOSE",
        N_("Dosing"),
        [
            Field(
                "phase",
                N_("Phase"),
                "select",
                (("induction", N_("induction")), ("maintenance", N_("maintenance"))),
                required=True,
                translate_options=True,
            ),
            Field("cycle", N_("Cycle or dose number"), "int", required=True),
            Field("date", N_("Date given"), "date", required=True),
            Field("regimen", N_("Regimen"), "select", _raw([r.id for r in p.induction.regimens])),
            Field("regimen_name", N_("Regimen name (other regimen)"), "text"),
            Field("delayed", N_("Delayed"), "bool", _YES_NO, translate_options=True),
            Field("delay_reason", N_("Reason for the delay"), "text"),
        ],
        [
            Group(
                "agents",
                N_("Agents given"),
                [
                    Field("agent", N_("Agent"), "select", _raw(agents)),
                    Field("dose", N_("Dose"), "float"),
                    Field("unit", N_("Unit"), "select", _raw(("mg", "mg/m2", "mg/kg", "AUC"))),
                    Field("planned_dose", N_("Planned dose"), "float"),
                    Field("reduction_reason", N_("Reason for a reduction"), "text"),
                ],
                rows=4,
            )
        ],
        preview=False,
    )


def _tumour_def(p: Protocol) -> FormDef:
    organs = _tr((*p.population.metastatic_organs, *p.population.primary_sites))
    return FormDef(
        "tumour",
        "TUMOUR",
        N_("Tumour assessment"),
        [
            Field("date", N_("Imaging date"), "date", required=True),
            Field("method", N_("Method"), "select", _raw(("CT", "MRI", "PET-CT", "X-RAY", "OTHER"))),
        ],
        [
            Group(
                "lesions",
                N_("Lesions"),
                [
                    Field("lesion_id", N_("Lesion"), "text"),
                    Field(
                        "role",
                        N_("Role"),
                        "select",
                        (("target", N_("target")), ("non-target", N_("non-target")), ("new", N_("new"))),
                        translate_options=True,
                    ),
                    Field("organ", N_("Organ"), "select", organs),
                    Field("is_node", N_("Lymph node"), "bool", _YES_NO, translate_options=True),
                    Field("diameter_mm", N_("Diameter (mm)"), "float"),
                    Field(
                        "state",
                        N_("State"),
                        "select",
                        (
                            ("present", N_("present")),
                            ("absent", N_("absent")),
                            ("too small to measure", N_("too small to measure")),
                            ("unequivocal progression", N_("unequivocal progression")),
                            ("not done", N_("not done")),
                        ),
                        translate_options=True,
                    ),
                ],
                rows=8,
            )
        ],
        preview=True,
    )


def _ae_def(p: Protocol) -> FormDef:
    relations = (
        ("related", N_("related")),
        ("possibly related", N_("possibly related")),
        ("unlikely related", N_("unlikely related")),
        ("not related", N_("not related")),
        ("not applicable", N_("not applicable")),
    )
    treatments = [*[a.id for a in p.agents], "radiotherapy"]
    return FormDef(
        "ae",
        "AE",
        N_("Adverse event"),
        [
            Field(
                "term",
                N_("Term (CTCAE v5.0, in English)"),
                "text",
                required=True,
                hint=N_("Type to search the CTCAE terms."),
            ),
            Field("specify", N_("Specify (for an 'Other, specify' term)"), "text"),
            Field("grade", N_("Grade"), "select", _raw(("1", "2", "3", "4", "5")), required=True),
            Field("start_date", N_("Start date"), "date", required=True),
            Field("end_date", N_("End date"), "date"),
            Field("site_aware_at", N_("Date the site became aware"), "date"),
            Field("serious", N_("Serious"), "bool", _YES_NO, translate_options=True),
            Field(
                "seriousness_criteria",
                N_("Seriousness criteria"),
                "checks",
                _tr(p.adverse_events.seriousness_criteria),
            ),
            *[
                Field(
                    f"relation.{t}",
                    N_("Relation to %(treatment)s"),
                    "select",
                    relations,
                    translate_options=True,
                )
                for t in treatments
            ],
            Field(
                "action_taken",
                N_("Action taken"),
                "select",
                _tr(
                    (
                        "dose not changed",
                        "dose reduced",
                        "drug interrupted",
                        "drug withdrawn",
                        "not applicable",
                        "unknown",
                    )
                ),
                required=True,
            ),
            Field(
                "outcome",
                N_("Outcome"),
                "select",
                _tr(
                    (
                        "recovered/resolved",
                        "recovering/resolving",
                        "not recovered/not resolved",
                        "recovered/resolved with sequelae",
                        "fatal",
                        "unknown",
                    )
                ),
                required=True,
            ),
        ],
        [],
        preview=False,
    )


def _rt_def(p: Protocol) -> FormDef:
    organs = _tr((*p.population.primary_sites, *p.population.metastatic_organs))
    return FormDef(
        "radiotherapy",
        "RT",
        N_("Radiotherapy course"),
        [
            Field("chemo_immunotherapy_end", N_("End of chemo-immunotherapy (last induction dose)"), "date"),
            Field("lesion_id", N_("Lesion"), "text", required=True),
            Field(
                "lesion_type",
                N_("Lesion type"),
                "select",
                (("primary", N_("primary")), ("metastasis", N_("metastasis"))),
                required=True,
                translate_options=True,
            ),
            Field("organ", N_("Organ"), "select", organs, required=True),
            Field(
                "technique",
                N_("Technique"),
                "select",
                (("SBRT", N_("SBRT")), ("conventional", N_("conventional"))),
                required=True,
                translate_options=True,
            ),
            Field("dose_per_fraction_gy", N_("Dose per fraction (Gy)"), "float", required=True),
            Field("fractions", N_("Fractions"), "int", required=True),
            Field("start_date", N_("Start date"), "date", required=True),
            Field("end_date", N_("End date"), "date", required=True),
        ],
        [],
        preview=True,
    )


def _eot_def(p: Protocol) -> FormDef:
    return FormDef(
        "end-of-treatment",
        "EOT",
        N_("End of treatment"),
        [
            Field("date", N_("End of treatment date"), "date", required=True),
            Field("last_dose_date", N_("Last dose date"), "date", required=True),
            Field(
                "reason",
                N_("Reason for ending treatment"),
                "select",
                _tr(p.maintenance.stop_reasons),
                required=True,
            ),
            Field("details", N_("Details"), "textarea"),
        ],
        [],
        preview=False,
        event="EOT",
    )


def _follow_up_def(p: Protocol) -> FormDef:
    return FormDef(
        "follow-up",
        "FOLLOWUP",
        N_("Survival follow-up"),
        [
            Field("date", N_("Contact date"), "date", required=True),
            Field(
                "status",
                N_("Vital status"),
                "select",
                (
                    ("alive", N_("alive")),
                    ("dead", N_("dead")),
                    ("lost to follow-up", N_("lost to follow-up")),
                ),
                required=True,
                translate_options=True,
            ),
            Field(
                "method",
                N_("Contact method"),
                "select",
                (("visit", N_("visit")), ("telephone", N_("telephone")), ("records", N_("medical records"))),
                translate_options=True,
            ),
            Field("last_known_alive_date", N_("Last date known alive"), "date"),
        ],
        [],
        preview=False,
        listed=("status", "method"),
    )


def _death_def(p: Protocol) -> FormDef:
    return FormDef(
        "death",
        "DEATH",
        N_("Death"),
        [
            Field("date", N_("Date of death"), "date", required=True),
            Field(
                "cause",
                N_("Cause of death"),
                "select",
                (
                    ("disease progression", N_("disease progression")),
                    ("adverse event", N_("adverse event")),
                    ("other", N_("other")),
                    ("unknown", N_("unknown")),
                ),
                required=True,
                translate_options=True,
            ),
            Field("details", N_("Details"), "textarea"),
        ],
        [],
        preview=False,
        event="DEATH",
    )


def _new_therapy_def(p: Protocol) -> FormDef:
    return FormDef(
        "new-therapy",
        "NEWTHERAPY",
        N_("New anticancer therapy"),
        [
            Field("therapy", N_("Therapy"), "text", required=True),
            Field(
                "category",
                N_("Category"),
                "select",
                (
                    ("systemic", N_("systemic therapy")),
                    ("radiotherapy", N_("radiotherapy")),
                    ("surgery", N_("surgery")),
                    ("other", N_("other")),
                ),
                translate_options=True,
            ),
            Field("start_date", N_("Start date"), "date", required=True),
            Field("end_date", N_("End date"), "date"),
        ],
        [],
        preview=False,
        listed=("therapy", "category"),
    )


_DISPOSITION_LABELS = {
    "COMPLETED": N_("completed the study"),
    "DEATH": N_("death"),
    "LOST TO FOLLOW-UP": N_("lost to follow-up"),
    "WITHDRAWAL BY SUBJECT": N_("withdrawal by the subject"),
    "PHYSICIAN DECISION": N_("physician decision"),
    "PROGRESSIVE DISEASE": N_("progressive disease"),
    "ADVERSE EVENT": N_("adverse event"),
    "STUDY TERMINATED BY SPONSOR": N_("study terminated by the sponsor"),
    "OTHER": N_("other"),
}


def _disposition_def(p: Protocol) -> FormDef:
    return FormDef(
        "disposition",
        "DISPOSITION",
        N_("End of study (disposition)"),
        [
            Field("date", N_("Date of the end of study"), "date", required=True),
            Field(
                "reason",
                N_("Reason"),
                "select",
                tuple((r, _DISPOSITION_LABELS.get(r)) for r in DISPOSITION_REASONS),
                required=True,
                translate_options=True,
            ),
            Field("details", N_("Details"), "textarea"),
        ],
        [],
        preview=False,
        event="DISPOSITION",
    )


def _deviation_def(p: Protocol) -> FormDef:
    categories = tuple(DEVIATION_CATEGORIES.items())
    return FormDef(
        "deviation",
        "DEVIATION",
        N_("Protocol deviation"),
        [
            Field("date", N_("Date of the deviation"), "date", required=True),
            Field("category", N_("Category"), "select", categories, required=True, translate_options=True),
            Field("description", N_("Description"), "textarea", required=True),
            Field(
                "calendar_event",
                N_("Calendar event"),
                "text",
                hint=N_("The event of the protocol timeline it concerns, if any (for example C2D1)."),
            ),
            Field("is_major", N_("Major deviation"), "bool", _YES_NO, translate_options=True),
        ],
        [],
        preview=False,
        listed=("category", "is_major", "description"),
    )


FORMS: dict[str, Callable[[Protocol], FormDef]] = {
    "eligibility": _eligibility_def,
    "dose": _dose_def,
    "tumour": _tumour_def,
    "ae": _ae_def,
    "radiotherapy": _rt_def,
    "end-of-treatment": _eot_def,
    "follow-up": _follow_up_def,
    "death": _death_def,
    "new-therapy": _new_therapy_def,
    "disposition": _disposition_def,
    "deviation": _deviation_def,
}
"""Form kind (the URL segment) -> its definition from the protocol."""


def _known_names(definition: FormDef) -> set[str]:
    names = {f.name for f in definition.fields} | {"change_reason", "enrollment_date", "failure_date"}
    for group in definition.groups:
        names |= {f"{group.name}.{i}.{f.name}" for i in range(group.rows) for f in group.fields}
    return names


def place_errors(errors: FieldErrors, definition: FormDef, rows: dict[str, int] | None = None) -> FieldErrors:
    """Put each problem next to an input of the form: row indices mapped back to the form's rows, a problem
    on a whole row or object next to its first input, anything else at the top of the form."""
    known = _known_names(definition)
    placed: FieldErrors = {}
    for key, problems in errors.items():
        name = key.removeprefix("plan.courses.0.").removeprefix("course.").removeprefix("ELIG.")
        for group_key, row in (rows or {}).items():
            if name == group_key or name.startswith(group_key + "."):
                name = name.replace(group_key, group_key.rsplit(".", 1)[0] + f".{row}", 1)
                break
        if name not in known:
            candidates = sorted(n for n in known if n.startswith(name + ".")) if name else []
            name = candidates[0] if candidates else ""
        placed.setdefault(name, []).extend(problems)
    return placed


def _existing(session: WebSession, code: str, form_code: str, event: str | None) -> Any:
    for form in list_forms(session.edc, session.actor, code):
        if form.form_code == form_code and (event is None or form.event_code == event):
            return form
    return None


def _page(
    request: Request,
    session: WebSession,
    code: str,
    definition: FormDef,
    *,
    typed: dict[str, str],
    errors: FieldErrors | None = None,
    event: str | None = None,
    base_version: int | None = None,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    subject = get_subject(session.edc, session.actor, code)
    return render(
        request,
        "workflow_form.html",
        {
            "subject": subject,
            "definition": definition,
            "typed": typed,
            "errors": errors or {},
            "event": event or "",
            "base_version": "" if base_version is None else base_version,
            "editing": base_version is not None,
            **(extra or {}),
        },
        session=session,
        status_code=status_code,
    )


def _shown_value(definition: FormDef, name: str, value: Any) -> str:
    """An entered item as the list of entered forms shows it: an option by its label, in the user's language."""
    spec = next((f for f in definition.fields if f.name == name), None)
    text = flatten_values(value).get("", "") if not isinstance(value, str) else value
    if spec is not None and spec.kind in ("select", "bool"):
        label = dict(spec.options).get(text)
        return _i18n.gettext(label) if label else text
    return _short(text) if text else "—"


def _recorded_extra(session: WebSession, code: str, definition: FormDef, request: Request) -> dict[str, Any]:
    """The subject's entered forms of a repeating kind, each with its listed items and a link to change it."""
    _i18n.use_language(language_of(request))  # the option labels are translated here, before render
    recorded = [
        {
            "id": f.id,
            "event": f.event_code,
            "date": f.event_date,
            "version": f.version,
            "cells": [_shown_value(definition, name, f.values.get(name)) for name in definition.listed],
        }
        for f in sorted(list_forms(session.edc, session.actor, code), key=lambda f: f.event_code)
        if f.form_code == definition.form_code
    ]
    labels = [next(f.label for f in definition.fields if f.name == name) for name in definition.listed]
    return {"recorded": recorded, "recorded_labels": labels}


def _eligibility_extra(session: WebSession, code: str, request: Request) -> dict[str, Any]:
    _i18n.use_language(language_of(request))  # the evaluation's labels are translated here, before render
    try:
        view = get_eligibility(session.edc, session.actor, code)
    except NotFoundError:
        return {"evaluation": None}
    return {"evaluation": _criteria_rows(view.derived)}


def _criteria_rows(evaluation: dict[str, Any]) -> dict[str, Any]:
    return {
        "verdict": evaluation["verdict"],
        "verdict_label": status_label(evaluation["verdict"]),
        "headers": [_i18n.gettext("Criterion"), _i18n.gettext("Result"), _i18n.gettext("Value")],
        "rows": [
            {
                "cells": [f"{c['id']} · {c['text']}", status_label(c["status"]), _short(c["value"])],
                "status": c["status"],
            }
            for c in evaluation["criteria"]
        ],
    }


def _short(value: Any) -> str:
    if value is None:
        return "—"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _defaults(session: WebSession, code: str, kind: str, event: str | None) -> dict[str, str]:
    """Suggested values of a new form: the dose number from the timeline, the agents of the last dose, the
    lesions of the last assessment, the last dose date at the end of treatment."""
    typed: dict[str, str] = {}
    if kind == "dose":
        doses = [f for f in list_forms(session.edc, session.actor, code) if f.form_code == "DOSE"]
        if doses:
            last = max(doses, key=lambda f: f.values.get("date", ""))
            typed.update(
                flatten_values({"regimen": last.values.get("regimen"), "agents": last.values.get("agents")})
            )
            typed = {k: v for k, v in typed.items() if not k.endswith(("reduction_reason",))}
        if event and event.startswith("C") and event.endswith("D1"):
            typed.update({"phase": "induction", "cycle": event[1:-2]})
        elif event == "MAINTSTART" or (event and event.startswith("M") and event[1:].isdigit()):
            typed = {  # MAINTSTART: the timeline's restart after radiotherapy, maintenance dose 1
                "phase": "maintenance",
                "cycle": "1" if event == "MAINTSTART" else str(int(event[1:])),
                "agents.0.agent": "camrelizumab",
                "agents.0.dose": "200",
                "agents.0.unit": "mg",
                "agents.0.planned_dose": "200",
            }
    if kind == "end-of-treatment":
        dose_dates = [
            str(f.values.get("date", ""))
            for f in list_forms(session.edc, session.actor, code)
            if f.form_code == "DOSE"
        ]
        if dose_dates:
            typed["last_dose_date"] = max(dose_dates)
    if kind == "tumour":
        previous = [f for f in list_forms(session.edc, session.actor, code) if f.form_code == "TUMOUR"]
        if previous:
            last = max(previous, key=lambda f: f.values.get("date", ""))
            lesions = [
                {k: v for k, v in lesion.items() if k in ("lesion_id", "role", "organ", "is_node")}
                for lesion in last.values.get("lesions", [])
            ]
            typed.update(flatten_values({"method": last.values.get("method"), "lesions": lesions}))
    return typed


@_generic.get("/subjects/{code}/{kind}")
def form_get(request: Request, session: Session, code: str, kind: str, event: str | None = None) -> Response:
    """A data entry form, new or (``event``) the entered one for a change with a reason."""
    if kind not in FORMS:
        return refused(request, session, NotFoundError(Problem("EDC-020", "", "no such form")))
    definition = FORMS[kind](_protocol())
    try:
        extra = _eligibility_extra(session, code, request) if kind == "eligibility" else {}
        if kind == "radiotherapy":
            return _rt_get(request, session, code, definition, event)
        if definition.listed:
            extra = _recorded_extra(session, code, definition, request)
        lookup_event = definition.event or event
        existing = _existing(session, code, definition.form_code, lookup_event) if lookup_event else None
        if existing is not None:
            return _page(
                request,
                session,
                code,
                definition,
                typed=flatten_values(existing.values),
                event=existing.event_code,
                base_version=existing.version,
                extra=extra,
            )
        return _page(
            request, session, code, definition, typed=_defaults(session, code, kind, event), extra=extra
        )
    except OligotrialError as error:
        return refused(request, session, error)


def _rt_get(
    request: Request, session: WebSession, code: str, definition: FormDef, event: str | None
) -> Response:
    typed: dict[str, str] = {}
    base: int | None = None
    extra: dict[str, Any]
    try:
        plan = rt_services.get_radiotherapy_plan(session.edc, session.actor, code)
        typed["chemo_immunotherapy_end"] = plan.chemo_immunotherapy_end.isoformat()
        for course in plan.courses:
            if event and course.get("lesion_id") == event:
                typed.update(
                    flatten_values({k: v for k, v in course.items() if k not in ("version", "verdict")})
                )
                base = int(course.get("version", 1))
        extra = {"plan": plan}
    except NotFoundError:
        extra = {"plan": None}
        doses = [f for f in list_forms(session.edc, session.actor, code) if f.form_code == "DOSE"]
        induction = [f.values["date"] for f in doses if f.values.get("phase") == "induction"]
        if induction:
            typed["chemo_immunotherapy_end"] = max(induction)
    return _page(request, session, code, definition, typed=typed, event=event, base_version=base, extra=extra)


@_generic.post("/subjects/{code}/{kind}")
async def form_post(request: Request, session: Session, code: str, kind: str) -> Response:
    """Save a data entry form; on refusal show the form again with the messages and what was typed."""
    data = await request.form()
    check_csrf(request, str(data.get("csrf_token", "")), session.token)
    if kind not in FORMS:
        return refused(request, session, NotFoundError(Problem("EDC-020", "", "no such form")))
    definition = FORMS[kind](_protocol())
    values, typed, problems = parse_fields(data, definition.fields, definition.groups)
    rows = strip_row_markers(values, definition.groups)
    event = str(data.get("event", "")) or None
    base_text = str(data.get("base_version", ""))
    base_version = int(base_text) if base_text.isdigit() else None
    # the reason for a change is "change_reason": "reason" is an item of some forms (end of treatment)
    reason = str(data.get("change_reason", "")).strip() or None
    typed["change_reason"] = str(data.get("change_reason", ""))
    editing = base_version is not None
    if editing and not reason:
        problems.append(Problem("EDC-010", "change_reason", "required"))
    if kind == "ae" and "grade" in values:
        values["grade"] = int(values["grade"])
    extra: dict[str, Any] = {}
    if not problems:
        try:
            _save(session, code, kind, values, event, base_version, reason)
            return RedirectResponse(f"/subjects/{code}?done=saved", status_code=303)
        except (NotFoundError, PermissionDeniedError) as error:
            return refused(request, session, error)
        except OligotrialError as error:
            problems = [
                Problem(p.code, "change_reason", p.message) if p.code == "EDC-010" else p
                for p in error.problems
            ]
    errors = place_errors(field_errors(problems), definition, rows)
    if kind == "eligibility":
        extra = _eligibility_extra(session, code, request)
    if kind == "radiotherapy":
        extra = {"plan": None}
    if definition.listed:
        extra = _recorded_extra(session, code, definition, request)
    return _page(
        request,
        session,
        code,
        definition,
        typed=typed,
        errors=errors,
        event=event,
        base_version=base_version,
        extra=extra,
        status_code=422,
    )


_RECORDERS: dict[str, Callable[..., Any]] = {
    "dose": record_dose,
    "tumour": record_tumour_assessment,
    "ae": record_adverse_event,
    "end-of-treatment": record_end_of_treatment,
    "follow-up": record_follow_up,
    "death": record_death,
    "new-therapy": record_new_therapy,
    "disposition": record_disposition,
    "deviation": record_deviation,
}
"""Form kind -> the workflow use case that saves it (new, or a change of ``event_code`` with a reason)."""


def _save(
    session: WebSession,
    code: str,
    kind: str,
    values: dict[str, Any],
    event: str | None,
    base_version: int | None,
    reason: str | None,
) -> None:
    edc, actor = session.edc, session.actor
    if kind == "eligibility":
        save_eligibility(edc, actor, code, values, base_version=base_version, reason=reason)
    elif kind in _RECORDERS:
        _RECORDERS[kind](
            edc,
            actor,
            code,
            values,
            event_code=event if base_version else None,
            base_version=base_version,
            reason=reason,
        )
    elif kind == "radiotherapy":
        end_text = values.pop("chemo_immunotherapy_end", None)
        rt_services.record_radiotherapy_course(
            edc,
            actor,
            code,
            values,
            chemo_immunotherapy_end=date.fromisoformat(end_text) if end_text else None,
            reason=reason,
        )


# -- enrollment, screen failure, randomization ------------------------------------------------------------


@router.post("/subjects/{code}/eligibility/enroll")
def enroll_post(
    request: Request,
    session: Session,
    code: str,
    csrf_token: Csrf = "",
    enrollment_date: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Enroll an eligible, consented subject."""
    check_csrf(request, csrf_token, session.token)
    problems: list[Problem] = []
    try:
        day = date.fromisoformat(enrollment_date.strip())
        enroll_subject(session.edc, session.actor, code, day)
        return RedirectResponse(f"/subjects/{code}?done=enrolled", status_code=303)
    except ValueError:
        problems = [Problem("WEB-001", "enrollment_date", "date")]
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        problems = [
            Problem(p.code, "enrollment_date" if p.code != "WF-001" else "", p.message)
            for p in error.problems[:1]
        ]
        problems += [
            Problem(p.code, "enroll_detail", p.message) for p in error.problems if p.code == "ENROLL-001"
        ]
    return _after_action_error(request, session, code, problems, {"enrollment_date": enrollment_date})


@router.post("/subjects/{code}/eligibility/screen-failure")
def screen_failure_post(
    request: Request,
    session: Session,
    code: str,
    csrf_token: Csrf = "",
    failure_date: Annotated[str, Form(max_length=32)] = "",
    failure_reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record a screen failure (the criteria not met, and/or a reason)."""
    check_csrf(request, csrf_token, session.token)
    typed = {"failure_date": failure_date, "failure_reason": failure_reason}
    try:
        day = date.fromisoformat(failure_date.strip())
    except ValueError:
        return _after_action_error(
            request, session, code, [Problem("WEB-001", "failure_date", "date")], typed
        )
    try:
        record_screen_failure(session.edc, session.actor, code, day, failure_reason or None)
    except (NotFoundError, PermissionDeniedError) as error:
        return refused(request, session, error)
    except OligotrialError as error:
        fixed = [
            Problem(p.code, "failure_reason" if p.field == "reason" else "", p.message)
            for p in error.problems
        ]
        return _after_action_error(request, session, code, fixed, typed)
    return RedirectResponse(f"/subjects/{code}?done=screen_failed", status_code=303)


def _after_action_error(
    request: Request, session: WebSession, code: str, problems: list[Problem], action_typed: dict[str, str]
) -> Response:
    definition = FORMS["eligibility"](_protocol())
    existing = _existing(session, code, "ELIG", "SCREENING")
    typed = flatten_values(existing.values) if existing else {}
    typed.update(action_typed)
    errors: FieldErrors = {}
    for p in problems:
        errors.setdefault(p.field, []).append(p)
    return _page(
        request,
        session,
        code,
        definition,
        typed=typed,
        errors=errors,
        event="SCREENING" if existing else None,
        base_version=existing.version if existing else None,
        extra=_eligibility_extra(session, code, request),
        status_code=409,
    )


def _randomization_inputs(session: WebSession, code: str) -> dict[str, str]:
    """What the randomization needs, as the records say: the response of the latest assessment after the
    last induction dose, and the number of metastatic organs of the eligibility form."""
    typed: dict[str, str] = {"request_id": secrets.token_hex(16)}
    try:
        assessments = list_tumour_assessments(session.edc, session.actor, code)
        responses = [a.derived.get("OVRLRESP") for a in assessments if a.derived.get("OVRLRESP")]
        if responses:
            typed["induction_response"] = str(responses[-1])
        eligibility = get_eligibility(session.edc, session.actor, code)
        organs = {lesion.get("organ") for lesion in eligibility.form.values.get("metastatic_lesions") or []}
        if organs:
            typed["metastatic_organ_count"] = str(len(organs))
    except NotFoundError:
        pass
    return typed


@router.get("/subjects/{code}/randomize")
def randomize_get(request: Request, session: Session, code: str) -> Response:
    """The randomization step: the assignment when done, else the inputs and the button."""
    try:
        subject = get_subject(session.edc, session.actor, code)
        try:
            assignment = rand_services.get_randomization(session.edc, session.actor, code)
        except NotFoundError:
            assignment = None
        typed = _randomization_inputs(session, code) if assignment is None else {}
    except OligotrialError as error:
        return refused(request, session, error)
    return render(
        request,
        "randomize.html",
        {"subject": subject, "assignment": assignment, "typed": typed, "responses": rand_services.RESPONSES},
        session=session,
    )


@router.post("/subjects/{code}/randomize")
def randomize_post(
    request: Request,
    session: Session,
    code: str,
    csrf_token: Csrf = "",
    induction_response: Annotated[str, Form(max_length=32)] = "",
    metastatic_organ_count: Annotated[str, Form(max_length=8)] = "",
    request_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Randomize (idempotent: a second click with the same request id shows the same assignment)."""
    check_csrf(request, csrf_token, session.token)
    typed = {
        "induction_response": induction_response,
        "metastatic_organ_count": metastatic_organ_count,
        "request_id": request_id,
    }
    errors: FieldErrors = {}
    if not metastatic_organ_count.strip().isdigit():
        errors["metastatic_organ_count"] = [Problem("WEB-002", "metastatic_organ_count", "int")]
    if not errors:
        try:
            rand_services.randomize_subject(
                session.edc,
                session.actor,
                code,
                induction_response=induction_response or None,
                metastatic_organ_count=int(metastatic_organ_count),
                request_id=request_id or None,
            )
            return RedirectResponse(f"/subjects/{code}/randomize?done=randomized", status_code=303)
        except (NotFoundError, PermissionDeniedError) as error:
            return refused(request, session, error)
        except OligotrialError as error:
            errors = field_errors(error)
            errors = {k if k in typed else "": v for k, v in errors.items()}
    subject = get_subject(session.edc, session.actor, code)
    return render(
        request,
        "randomize.html",
        {
            "subject": subject,
            "assignment": None,
            "typed": typed,
            "errors": errors,
            "responses": rand_services.RESPONSES,
        },
        session=session,
        status_code=422,
    )


# -- live previews (JSON) -----------------------------------------------------------------------------------


def _preview_errors(
    problems: Sequence[Problem], definition: FormDef, rows: dict[str, int]
) -> dict[str, list[str]]:
    placed = place_errors(field_errors(problems), definition, rows)
    return {name: [problem_message(p) for p in found] for name, found in placed.items()}


@router.post("/subjects/{code}/{kind}/preview")
async def form_preview(request: Request, session: Session, code: str, kind: str) -> JSONResponse:
    """The live result of a form as typed: eligibility per criterion, RECIST values, BED/EQD2 and verdict.

    Nothing is stored; the same rule functions as on save are called."""
    data = await request.form()
    check_csrf(request, request.headers.get("x-csrf-token"), session.token)
    _i18n.use_language(language_of(request))
    if kind not in FORMS:
        return JSONResponse({"errors": {"": ["?"]}}, status_code=404)
    protocol = _protocol()
    definition = FORMS[kind](protocol)
    values, _typed, problems = parse_fields(data, definition.fields, definition.groups)
    rows = strip_row_markers(values, definition.groups)
    if problems:
        return JSONResponse({"errors": _preview_errors(problems, definition, rows)})
    try:
        if kind == "eligibility":
            form = check_form_values("ELIG", values, protocol)
            return JSONResponse({"errors": {}, **_criteria_rows(evaluate_screening(form, protocol))})
        if kind == "tumour":
            return JSONResponse({"errors": {}, **_tumour_preview(session, code, values, protocol)})
        if kind == "radiotherapy":
            return JSONResponse({"errors": {}, **_rt_preview(values, protocol)})
    except InputError as error:
        return JSONResponse({"errors": _preview_errors(error.problems, definition, rows)})
    except OligotrialError as error:
        return JSONResponse({"errors": {"": [problem_message(p) for p in error.problems]}})
    return JSONResponse({"errors": {}})


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _tumour_preview(
    session: WebSession, code: str, values: dict[str, Any], protocol: Protocol
) -> dict[str, Any]:
    typed_form: TumourAssessmentForm = check_form_values("TUMOUR", values, protocol)
    stored = [
        TumourAssessmentForm.model_validate(view.form.values)
        for view in list_tumour_assessments(session.edc, session.actor, code)
    ]
    forms = [f for f in stored if f.date != typed_form.date] + [typed_form]
    derived, problems = derive_recist(code, forms)
    if problems:
        return {"errors": {"": [problem_message(p) for p in problems]}}
    result = derived.get(typed_form.date.isoformat(), {})
    if result.get("baseline"):
        rows = [[_i18n.gettext("Baseline sum of diameters (mm)"), _number(result.get("SOD"))]]
        verdict = "baseline"
    else:
        rows = [
            [_i18n.gettext("Sum of diameters (mm)"), _number(result.get("SOD"))],
            [_i18n.gettext("Baseline sum (mm)"), _number(result.get("BLSOD"))],
            [_i18n.gettext("Nadir (mm)"), _number(result.get("NADIR"))],
            [_i18n.gettext("Change from baseline (%)"), _number(result.get("PCHGBL"))],
            [_i18n.gettext("Change from nadir (%)"), _number(result.get("PCHGNAD"))],
            [_i18n.gettext("Target response"), str(result.get("TRGRESP") or "—")],
            [_i18n.gettext("Non-target response"), str(result.get("NTRGRESP") or "—")],
            [_i18n.gettext("New lesion"), str(result.get("NEWLIND") or "—")],
            [_i18n.gettext("Time-point response (RECIST 1.1)"), str(result.get("OVRLRESP") or "—")],
        ]
        verdict = str(result.get("OVRLRESP") or "")
    return {
        "verdict": verdict,
        "verdict_label": _i18n.gettext("Baseline") if verdict == "baseline" else verdict,
        "headers": [_i18n.gettext("Derived value"), _i18n.gettext("Value")],
        "rows": [{"cells": r, "status": ""} for r in rows],
    }


def _rt_preview(values: dict[str, Any], protocol: Protocol) -> dict[str, Any]:
    end = values.pop("chemo_immunotherapy_end", None)
    dose, fractions = values.get("dose_per_fraction_gy"), values.get("fractions")
    rows: list[list[str]] = []
    if dose is not None and fractions is not None:
        check_dose_inputs(float(dose), float(fractions), 10.0)
        rows += [
            [_i18n.gettext("Total dose (Gy)"), _number(float(dose) * int(fractions))],
            [_i18n.gettext("BED10 (Gy)"), _number(compute_bed(float(dose), float(fractions), 10.0))],
            [
                _i18n.gettext("EQD2 at alpha/beta 10 (Gy)"),
                _number(compute_eqd2(float(dose), float(fractions), 10.0)),
            ],
            [_i18n.gettext("BED3 (Gy)"), _number(compute_bed(float(dose), float(fractions), 3.0))],
        ]
    verdict = ""
    required = (
        "lesion_id",
        "lesion_type",
        "organ",
        "technique",
        "dose_per_fraction_gy",
        "fractions",
        "start_date",
        "end_date",
    )
    if end and all(values.get(k) is not None for k in required):
        plan = parse_radiotherapy_plan({"chemo_immunotherapy_end": end, "courses": [values]}, protocol)
        check = check_radiotherapy_plan(plan, protocol)
        verdict = check.lesions[0].verdict
        for finding in (*check.lesions[0].findings, *check.windows):
            msgid = FINDING_MESSAGES.get((finding.code, finding.verdict))
            rows.append(
                [
                    f"{finding.code} · {status_label(finding.verdict)}",
                    _i18n.gettext(msgid) if msgid else finding.message,
                ]
            )
    return {
        "verdict": verdict,
        "verdict_label": status_label(verdict) if verdict else "",
        "headers": [_i18n.gettext("Derived value"), _i18n.gettext("Value")],
        "rows": [{"cells": r, "status": ""} for r in rows],
        "caveat": _i18n.gettext(
            "BED and EQD2 follow the linear-quadratic model, which has no time factor and is debated above about 8-10 Gy per fraction."
        ),
        "caveat_en": LQ_CAVEAT,
    }


# -- CTCAE terminology for the AE form ---------------------------------------------------------------------


@router.get("/ctcae/search")
def ctcae_search(request: Request, session: Session, q: str = "") -> JSONResponse:
    """Terms containing ``q`` (NCI's English wording), for the AE form's term list."""
    try:
        found, total = ctcae_services.search_ctcae_terms(session.edc, session.actor, query=q[:200], limit=30)
    except OligotrialError:
        return JSONResponse({"terms": [], "total": 0}, status_code=403)
    return JSONResponse({"terms": [{"term": t.term, "soc": t.soc} for t in found], "total": total})


@router.get("/ctcae/term")
def ctcae_term(request: Request, session: Session, term: str = "") -> JSONResponse:
    """One term's grade definitions (shown next to the grade)."""
    _i18n.use_language(language_of(request))
    try:
        view = ctcae_services.show_ctcae_term(session.edc, session.actor, term[:200])
    except OligotrialError:
        return JSONResponse({"found": False, "message": _i18n.gettext("Not a CTCAE term.")})
    return JSONResponse(
        {
            "found": True,
            "term": view.term,
            "soc": view.soc,
            "grades": {str(g): text for g, text in view.grades.items()},
            "no_text": _i18n.gettext(
                "No grade definition is loaded for this term (import the CTCAE workbook)."
            ),
        }
    )


router.include_router(_generic)
