"""CDISC ODM 1.3.2: the study metadata and the captured data with their audit records, for other EDCs.

:func:`build_odm_metadata` describes the protocol's events and the workflow forms: one ``FormDef`` per form
code of :data:`oligotrial.services.workflow.forms.FORM_MODELS` (plus the enrollment record ``ENROLL``), its
items derived from the form's pydantic model (data types from the annotations, a ``CodeList`` per ``Literal``
choice), nested records flattened into dotted item names and repeated records (lesions, agents, relations,
criteria) as repeating item groups. :func:`export_odm` adds ``AdminData`` (sites as locations, the users who
saved data) and ``ClinicalData``: per subject, ``StudyEventData`` -> ``FormData`` -> ``ItemGroupData`` ->
``ItemData`` with the current values of every form, each ``FormData`` carrying the ``AuditRecord`` of the
audit-log entry that saved its current version (user, site, UTC time, reason; ``SourceID`` names the audit
entry, the form id and version and where the change came from). A randomized subject has the event
``SE.RANDOMIZATION`` with the form ``F.RAND`` (the stored assignment: arm, method, sequence number, stratum and
strata, covariates, list position, minimization draw and scores, time, who randomized, request id; never the
concealed list), and a subject with radiotherapy the event ``SE.RADIOTHERAPY`` with ``F.RT`` (the plan's dates
and verdict, one ``IG.RT.courses`` repetition per irradiated lesion with its own ``AuditRecord``).
:func:`parse_odm_clinical_data` reads ``ClinicalData`` back into item values (used by
:mod:`oligotrial.services.odm_import`).

OIDs: ``SE.<event>`` (repeating events ``SE.AE``, ``SE.TUMOUR``, ``SE.MAINTENANCE``, ``SE.FOLLOWUP``,
``SE.NEWTHERAPY``, ``SE.DEVIATION`` carry the rest of the event code as ``StudyEventRepeatKey``), ``F.<form>``,
``IG.<form>`` (the form's single items) and ``IG.<form>.<field>`` (a repeated record), ``IT.<form>.<path>``,
``CL.<form>.<path>``, ``LOC.<site>``, ``USR.<username>``. The document validates against the ODM 1.3.2
schema shipped with ``odmlib`` (tested).
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Union

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from pydantic import BaseModel
from sqlalchemy import select

from oligotrial import __version__
from oligotrial.errors import InputError, Problem
from oligotrial.exports._xml import xml_document
from oligotrial.protocol import Protocol
from oligotrial.rules.radiotherapy import RadiotherapyCourse, Verdict
from oligotrial.services._context import Actor, Edc, Permission, write_audit, write_transaction
from oligotrial.services.randomization import RESPONSES
from oligotrial.services.workflow._store import default_protocol
from oligotrial.services.workflow.forms import FORM_MODELS
from oligotrial.store.tables import (
    AuditEntry,
    Event,
    Form,
    RadiotherapyCourseRow,
    RadiotherapyPlanRow,
    RandomizationRecord,
    Site,
    Subject,
    User,
)

__all__ = [
    "DERIVED_ITEMS",
    "ODM_NS",
    "RADIOTHERAPY_FORM",
    "RANDOMIZATION_FORM",
    "FormDef",
    "GroupDef",
    "ItemDef",
    "OdmFormRecord",
    "build_odm_metadata",
    "event_code_of",
    "event_oid_of",
    "export_odm",
    "form_definitions",
    "parse_odm_clinical_data",
    "radiotherapy_values",
    "randomization_values",
]

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_NS = "http://www.w3.org/XML/1998/namespace"

DataType = Literal["text", "integer", "float", "boolean", "date", "datetime"]
GroupKind = Literal["single", "records", "values", "mapping"]

REPEATING_EVENTS: Mapping[str, str] = {
    "AE.": "SE.AE",
    "TUMOUR.": "SE.TUMOUR",
    "FU.": "SE.FOLLOWUP",
    "NT.": "SE.NEWTHERAPY",
    "DEV.": "SE.DEVIATION",
}
_MAINTENANCE = re.compile(r"^M(\d{2,})$")
_EVENT_FORMS: Mapping[str, tuple[str, ...]] = {
    "SE.SCREENING": ("ELIG", "SCRFAIL"),
    "SE.ENROLLMENT": ("ENROLL",),
    "SE.MAINTENANCE": ("DOSE",),
    "SE.TUMOUR": ("TUMOUR",),
    "SE.AE": ("AE",),
    "SE.EOT": ("EOT",),
    "SE.FOLLOWUP": ("FOLLOWUP",),
    "SE.DEATH": ("DEATH",),
    "SE.NEWTHERAPY": ("NEWTHERAPY",),
    "SE.DISPOSITION": ("DISPOSITION",),
    "SE.DEVIATION": ("DEVIATION",),
    "SE.RANDOMIZATION": ("RAND",),
    "SE.RADIOTHERAPY": ("RT",),
}


def _q(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


# -- metadata from the form models -------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemDef:
    """One item: ``path`` is the key in the form's values (dotted for a nested record) or, in a repeated
    group, the key inside one repetition (``key``/``value`` of a mapping, ``value`` of a list of values)."""

    oid: str
    path: str
    data_type: DataType
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupDef:
    """An item group: the form's single items (``field`` None), or a repeated field of the form: a list of
    records (``records``), a list of values (``values``) or a mapping (``mapping``, items ``key``, ``value``)."""

    oid: str
    field: str | None
    kind: GroupKind
    items: tuple[ItemDef, ...]


@dataclass(frozen=True)
class FormDef:
    """A form: its code, OID and item groups (the single items first)."""

    code: str
    oid: str
    groups: tuple[GroupDef, ...]

    @property
    def items(self) -> dict[str, ItemDef]:
        """Item OID -> item, over every group."""
        return {item.oid: item for group in self.groups for item in group.items}


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``None`` from an annotation."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else str
        else:
            return annotation


def _scalar(annotation: Any) -> tuple[DataType, tuple[str, ...]]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is Literal:
        return "text", tuple(str(v) for v in typing.get_args(annotation))
    if annotation is bool:
        return "boolean", ()
    if annotation is int:
        return "integer", ()
    if annotation is float:
        return "float", ()
    if annotation is datetime:
        return "datetime", ()
    if annotation is date:
        return "date", ()
    return "text", ()


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _flat_items(model: type[BaseModel], form: str, prefix: str, oid_prefix: str) -> list[ItemDef]:
    items: list[ItemDef] = []
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        if _is_model(annotation):
            items += _flat_items(annotation, form, f"{prefix}{name}.", f"{oid_prefix}{name}.")
            continue
        data_type, codes = _scalar(annotation)
        items.append(ItemDef(f"IT.{form}.{oid_prefix}{name}", f"{prefix}{name}", data_type, codes))
    return items


def _form_def(code: str, model: type[BaseModel]) -> FormDef:
    single: list[ItemDef] = []
    groups: list[GroupDef] = []
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        origin = typing.get_origin(annotation)
        if origin is tuple:
            element = _unwrap(typing.get_args(annotation)[0])
            if _is_model(element):
                items = _flat_items(element, code, "", f"{name}.")
                groups.append(GroupDef(f"IG.{code}.{name}", name, "records", tuple(items)))
            else:
                data_type, codes = _scalar(element)
                item = ItemDef(f"IT.{code}.{name}", "value", data_type, codes)
                groups.append(GroupDef(f"IG.{code}.{name}", name, "values", (item,)))
        elif origin is dict:
            data_type, codes = _scalar(typing.get_args(annotation)[1])
            key = ItemDef(f"IT.{code}.{name}.key", "key", "text")
            value = ItemDef(f"IT.{code}.{name}.value", "value", data_type, codes)
            groups.append(GroupDef(f"IG.{code}.{name}", name, "mapping", (key, value)))
        elif _is_model(annotation):
            single += _flat_items(annotation, code, f"{name}.", f"{name}.")
        else:
            data_type, codes = _scalar(annotation)
            single.append(ItemDef(f"IT.{code}.{name}", name, data_type, codes))
    return FormDef(code, f"F.{code}", (GroupDef(f"IG.{code}", None, "single", tuple(single)), *groups))


_ENROLL = FormDef(
    "ENROLL",
    "F.ENROLL",
    (
        GroupDef(
            "IG.ENROLL",
            None,
            "single",
            (
                ItemDef("IT.ENROLL.enrollment_date", "enrollment_date", "date"),
                ItemDef("IT.ENROLL.consent_date", "consent_date", "date"),
                ItemDef("IT.ENROLL.eligibility_form_version", "eligibility_form_version", "integer"),
                ItemDef("IT.ENROLL.verdict", "verdict", "text", ("eligible",)),
                ItemDef("IT.ENROLL.protocol_version", "protocol_version", "text"),
            ),
        ),
    ),
)


# -- randomization and radiotherapy: not workflow forms, described as forms of their own -------------------


class _RandomizationCovariates(BaseModel):
    site: str
    induction_response: Literal[RESPONSES]  # type: ignore[valid-type]
    metastatic_organ_count: int | None = None


class _RandomizationItems(BaseModel):
    """The items of ``F.RAND``: a row of the ``randomizations`` table without its internal row ids (subject,
    site, list and list-slot ids), the concealed list itself staying out of the file. ``scores`` and
    ``preferred`` are the minimization scores per arm and the arms with the lowest score."""

    arm: str
    method: Literal["permuted_blocks", "minimization"]
    sequence: int
    stratum: str
    strata: dict[str, str]
    covariates: _RandomizationCovariates
    list_position: int | None = None
    draw: float | None = None
    scores: dict[str, float]
    preferred: tuple[str, ...]
    randomized_at: datetime
    randomized_by: str | None = None
    request_id: str | None = None


class _CourseItems(RadiotherapyCourse):
    verdict: Verdict | None = None


class _RadiotherapyItems(BaseModel):
    """The items of ``F.RT``: the plan's dates, its check verdict and one repetition per irradiated lesion
    (the course as entered and its verdict). Verdicts are derived by the plan check and recomputed on
    import."""

    chemo_immunotherapy_end: date
    maintenance_restart: date | None = None
    verdict: Verdict
    courses: tuple[_CourseItems, ...]


RANDOMIZATION_FORM = "RAND"
"""Form code of a subject's randomization (event ``SE.RANDOMIZATION``)."""
RADIOTHERAPY_FORM = "RT"
"""Form code of a subject's radiotherapy courses (event ``SE.RADIOTHERAPY``)."""
DERIVED_ITEMS = frozenset({"IT.RT.verdict", "IT.RT.courses.verdict"})
"""Items written for the reader and recomputed, not read, on import (the radiotherapy plan check)."""


def _randomization_form(protocol: Protocol) -> FormDef:
    form = _form_def(RANDOMIZATION_FORM, _RandomizationItems)
    arms = tuple(arm.id for arm in protocol.arms)
    groups = []
    for group in form.groups:
        items = tuple(
            dataclasses.replace(item, codes=arms)
            if item.oid in ("IT.RAND.arm", "IT.RAND.preferred", "IT.RAND.scores.key")
            else item
            for item in group.items
        )
        groups.append(dataclasses.replace(group, items=items))
    return dataclasses.replace(form, groups=tuple(groups))


def form_definitions(protocol: Protocol | None = None) -> dict[str, FormDef]:
    """Form code -> its ODM definition, for every workflow form, ``ENROLL``, the randomization (``RAND``,
    arms from ``protocol``, default the services' protocol) and the radiotherapy courses (``RT``)."""
    forms = {code: _form_def(code, model) for code, model in FORM_MODELS.items()}
    forms["ENROLL"] = _ENROLL
    forms[RANDOMIZATION_FORM] = _randomization_form(protocol or default_protocol())
    forms[RADIOTHERAPY_FORM] = _form_def(RADIOTHERAPY_FORM, _RadiotherapyItems)
    return forms


def event_oid_of(event_code: str) -> tuple[str, str | None]:
    """``(StudyEventOID, StudyEventRepeatKey)`` of an event code (``AE.003`` -> ``SE.AE``, ``003``)."""
    for prefix, oid in REPEATING_EVENTS.items():
        if event_code.startswith(prefix):
            return oid, event_code.removeprefix(prefix)
    if match := _MAINTENANCE.match(event_code):
        return "SE.MAINTENANCE", match.group(1)
    return f"SE.{event_code}", None


def event_code_of(event_oid: str, repeat_key: str | None) -> str:
    """The event code of ``(StudyEventOID, StudyEventRepeatKey)``; the inverse of :func:`event_oid_of`."""
    if event_oid == "SE.MAINTENANCE" and repeat_key:
        return f"M{repeat_key}"
    for prefix, oid in REPEATING_EVENTS.items():
        if oid == event_oid and repeat_key:
            return f"{prefix}{repeat_key}"
    return event_oid.removeprefix("SE.")


def _event_defs(protocol: Protocol) -> list[tuple[str, str, bool, tuple[str, ...]]]:
    """(OID, name, repeating, form codes) of every study event, in protocol order."""
    events: list[tuple[str, str, bool, tuple[str, ...]]] = [
        ("SE.SCREENING", "Screening", False, _EVENT_FORMS["SE.SCREENING"]),
        ("SE.ENROLLMENT", "Enrollment", False, _EVENT_FORMS["SE.ENROLLMENT"]),
    ]
    events += [
        (f"SE.C{k}D1", f"Induction cycle {k} day 1", False, ("DOSE",))
        for k in range(1, protocol.induction.cycles + 1)
    ]
    repeating = {oid for oid in REPEATING_EVENTS.values()} | {"SE.MAINTENANCE"}
    names = {
        "SE.MAINTENANCE": "Camrelizumab maintenance dose",
        "SE.TUMOUR": "Tumour assessment",
        "SE.AE": "Adverse event",
        "SE.EOT": "End of treatment",
        "SE.FOLLOWUP": "Survival follow-up",
        "SE.DEATH": "Death",
        "SE.NEWTHERAPY": "New anticancer therapy",
        "SE.DISPOSITION": "End of study",
        "SE.DEVIATION": "Protocol deviation",
        "SE.RANDOMIZATION": "Randomization",
        "SE.RADIOTHERAPY": "Radiotherapy (experimental arm)",
    }
    events += [(oid, name, oid in repeating, _EVENT_FORMS[oid]) for oid, name in names.items()]
    return events


_FORM_NAMES = {
    "ELIG": "Eligibility",
    "SCRFAIL": "Screen failure",
    "ENROLL": "Enrollment",
    "DOSE": "Study treatment administration",
    "TUMOUR": "Tumour assessment (RECIST 1.1)",
    "AE": "Adverse event (CTCAE v5.0)",
    "EOT": "End of treatment",
    "FOLLOWUP": "Survival follow-up",
    "DEATH": "Death",
    "NEWTHERAPY": "New anticancer therapy",
    "DISPOSITION": "Disposition",
    "DEVIATION": "Protocol deviation",
    "RAND": "Randomization (assignment as stored)",
    "RT": "Radiotherapy courses and plan check",
}


def _description(parent: ET.Element, text: str) -> None:
    description = ET.SubElement(parent, _q("Description"))
    translated = ET.SubElement(description, _q("TranslatedText"))
    translated.set(f"{{{XML_NS}}}lang", "en")
    translated.text = text


def _study_oid(protocol: Protocol) -> str:
    return f"ST.{protocol.protocol.id}"


def _mdv_oid(protocol: Protocol) -> str:
    return f"MDV.{protocol.protocol.id}.{protocol.protocol.version}"


def build_odm_metadata(protocol: Protocol) -> ET.Element:
    """The ``Study`` element: global variables and the metadata version (events, forms, groups, items,
    code lists) of the protocol and the workflow forms."""
    info = protocol.protocol
    study = ET.Element(_q("Study"), OID=_study_oid(protocol))
    global_variables = ET.SubElement(study, _q("GlobalVariables"))
    ET.SubElement(global_variables, _q("StudyName")).text = info.id
    ET.SubElement(global_variables, _q("StudyDescription")).text = " ".join(info.title.split())
    ET.SubElement(global_variables, _q("ProtocolName")).text = f"{info.id} version {info.version}"
    version = ET.SubElement(
        study, _q("MetaDataVersion"), OID=_mdv_oid(protocol), Name=f"{info.id} {info.version} forms"
    )
    events = _event_defs(protocol)
    protocol_element = ET.SubElement(version, _q("Protocol"))
    for order, (oid, _, _, _) in enumerate(events, 1):
        ET.SubElement(
            protocol_element, _q("StudyEventRef"), StudyEventOID=oid, OrderNumber=str(order), Mandatory="No"
        )
    for oid, name, repeating, forms in events:
        event = ET.SubElement(
            version,
            _q("StudyEventDef"),
            OID=oid,
            Name=name,
            Repeating="Yes" if repeating else "No",
            Type="Unscheduled" if oid in ("SE.AE", "SE.DEVIATION", "SE.DEATH") else "Scheduled",
        )
        for order, form_code in enumerate(forms, 1):
            ET.SubElement(
                event, _q("FormRef"), FormOID=f"F.{form_code}", OrderNumber=str(order), Mandatory="No"
            )
    definitions = form_definitions(protocol)
    for form in definitions.values():
        element = ET.SubElement(
            version, _q("FormDef"), OID=form.oid, Name=_FORM_NAMES.get(form.code, form.code), Repeating="No"
        )
        for order, group in enumerate(form.groups, 1):
            ET.SubElement(
                element,
                _q("ItemGroupRef"),
                ItemGroupOID=group.oid,
                OrderNumber=str(order),
                Mandatory="Yes" if group.field is None else "No",
            )
    for form in definitions.values():
        for group in form.groups:
            element = ET.SubElement(
                version,
                _q("ItemGroupDef"),
                OID=group.oid,
                Name=group.oid.removeprefix("IG."),
                Repeating="No" if group.field is None else "Yes",
            )
            for order, item in enumerate(group.items, 1):
                ET.SubElement(
                    element, _q("ItemRef"), ItemOID=item.oid, OrderNumber=str(order), Mandatory="No"
                )
    for form in definitions.values():
        for group in form.groups:
            for item in group.items:
                element = ET.SubElement(
                    version,
                    _q("ItemDef"),
                    OID=item.oid,
                    Name=item.oid.removeprefix("IT."),
                    DataType=item.data_type,
                )
                if item.oid in DERIVED_ITEMS:
                    _description(element, "derived by the radiotherapy plan check; recomputed on import")
                if item.codes:
                    ET.SubElement(
                        element, _q("CodeListRef"), CodeListOID="CL." + item.oid.removeprefix("IT.")
                    )
    for form in definitions.values():
        for group in form.groups:
            for item in group.items:
                if not item.codes:
                    continue
                name = item.oid.removeprefix("IT.")
                code_list = ET.SubElement(
                    version, _q("CodeList"), OID=f"CL.{name}", Name=name, DataType="text"
                )
                for value in item.codes:
                    ET.SubElement(code_list, _q("EnumeratedItem"), CodedValue=value)
    return study


# -- clinical data -----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(values: Mapping[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _item_data(parent: ET.Element, oid: str, value: Any) -> None:
    if value is None:
        return
    ET.SubElement(parent, _q("ItemData"), ItemOID=oid, Value=_text(value))


def _form_data(form: FormDef, values: Mapping[str, Any]) -> list[ET.Element]:
    groups: list[ET.Element] = []
    for group in form.groups:
        if group.field is None:
            element = ET.Element(_q("ItemGroupData"), ItemGroupOID=group.oid)
            for item in group.items:
                _item_data(element, item.oid, _get(values, item.path))
            groups.append(element)
            continue
        entries = values.get(group.field)
        if group.kind == "mapping":
            repeated: list[Any] = [{"key": k, "value": v} for k, v in (entries or {}).items()]
        else:
            repeated = list(entries or [])
        for n, entry in enumerate(repeated, 1):
            element = ET.Element(_q("ItemGroupData"), ItemGroupOID=group.oid, ItemGroupRepeatKey=str(n))
            for item in group.items:
                value = entry if group.kind == "values" else _get(entry, item.path)
                _item_data(element, item.oid, value)
            groups.append(element)
    return groups


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _admin_data(protocol: Protocol, sites: Iterable[tuple[str, str]], users: Mapping[str, str]) -> ET.Element:
    admin = ET.Element(_q("AdminData"), StudyOID=_study_oid(protocol))
    for username, full_name in sorted(users.items()):
        user = ET.SubElement(admin, _q("User"), OID=f"USR.{username}", UserType="Other")
        ET.SubElement(user, _q("LoginName")).text = username
        ET.SubElement(user, _q("FullName")).text = full_name or username
    for code, name in sites:
        location = ET.SubElement(admin, _q("Location"), OID=f"LOC.{code}", Name=name, LocationType="Site")
        ET.SubElement(
            location,
            _q("MetaDataVersionRef"),
            StudyOID=_study_oid(protocol),
            MetaDataVersionOID=_mdv_oid(protocol),
            EffectiveDate="2000-01-01",
        )
    return admin


def randomization_values(record: RandomizationRecord, randomized_by: str | None) -> dict[str, Any]:
    """The ``F.RAND`` item values of a stored randomization (as :func:`parse_odm_clinical_data` reads them
    back): every column but the internal row ids, ``randomized_at`` in UTC ISO 8601."""
    scores = record.scores or {}
    values: dict[str, Any] = {
        "arm": record.arm,
        "method": record.method,
        "sequence": record.sequence,
        "stratum": record.stratum,
        "strata": {str(k): str(v) for k, v in record.strata.items()},
        "covariates": dict(record.covariates),
        "list_position": record.list_position,
        "draw": record.draw,
        "scores": {str(k): float(v) for k, v in (scores.get("scores") or {}).items()},
        "preferred": [str(a) for a in scores.get("preferred") or []],
        "randomized_at": _utc(record.randomized_at),
        "randomized_by": randomized_by,
        "request_id": record.request_id,
    }
    return values


def radiotherapy_values(
    plan: RadiotherapyPlanRow, courses: Iterable[RadiotherapyCourseRow]
) -> dict[str, Any]:
    """The ``F.RT`` item values of a subject's radiotherapy: plan dates and verdict, the courses in entry
    order with their verdicts."""
    return {
        "chemo_immunotherapy_end": plan.chemo_immunotherapy_end.isoformat(),
        "maintenance_restart": None
        if plan.maintenance_restart is None
        else plan.maintenance_restart.isoformat(),
        "verdict": plan.verdict,
        "courses": [{**row.course, "verdict": row.verdict} for row in courses],
    }


def _audit_record(entry: AuditEntry, site_code: str, what: str) -> ET.Element:
    record = ET.Element(_q("AuditRecord"))
    ET.SubElement(record, _q("UserRef"), UserOID=f"USR.{entry.actor_username}")
    ET.SubElement(record, _q("LocationRef"), LocationOID=f"LOC.{site_code}")
    ET.SubElement(record, _q("DateTimeStamp")).text = _utc(entry.at)
    if entry.reason:
        ET.SubElement(record, _q("ReasonForChange")).text = entry.reason
    ET.SubElement(record, _q("SourceID")).text = f"audit_log {entry.id}; {what}; source {entry.source}"
    return record


_TRIAL_TABLES = ("randomizations", "radiotherapy_plans", "radiotherapy_courses")


def export_odm(
    edc: Edc,
    actor: Actor,
    *,
    protocol: Protocol | None = None,
    created: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """The ODM 1.3.2 document (UTF-8 bytes): study metadata, admin data and every subject's forms, its
    randomization and its radiotherapy.

    The export is one audited transaction by a study-wide role holding ``export``; ``progress(done, total)``
    is called after each subject.

    Notes
    -----
    A ``Snapshot`` file: each form's current values (an item whose value is null is omitted) with the
    ``AuditRecord`` of the save that made its current version. The randomization (``SE.RANDOMIZATION``,
    form ``F.RAND``) is the stored assignment with the ``AuditRecord`` of the audit entry that stored it; the
    concealed list is not exported (only the position the subject took). The radiotherapy (``SE.RADIOTHERAPY``,
    form ``F.RT``) carries the ``AuditRecord`` of the latest change to the plan or a course, and each course's
    repetition the ``AuditRecord`` of that course's latest change.

    Raises
    ------
    PermissionDeniedError
        The actor does not hold ``export`` study-wide.
    """
    protocol = protocol or default_protocol()
    actor.require(Permission.EXPORT)
    created = created or datetime.now(UTC)
    definitions = form_definitions(protocol)
    root = ET.Element(_q("ODM"))
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"ODM.{protocol.protocol.id}.{created.strftime('%Y%m%dT%H%M%S')}")
    root.set("CreationDateTime", _utc(created))
    root.set("ODMVersion", "1.3.2")
    root.set("Originator", "oligotrial")
    root.set("SourceSystem", "oligotrial")
    root.set("SourceSystemVersion", __version__)
    root.append(build_odm_metadata(protocol))
    with write_transaction(edc) as session:
        sites = [(c, n) for c, n in session.execute(select(Site.code, Site.name).order_by(Site.code))]
        full_names = {u: n for u, n in session.execute(select(User.username, User.full_name))}
        usernames = {i: u for i, u in session.execute(select(User.id, User.username))}
        saves: dict[tuple[int, int], AuditEntry] = {}
        latest: dict[tuple[str, str], AuditEntry] = {}
        for entry in session.execute(
            select(AuditEntry)
            .where(
                AuditEntry.table_name.in_(("forms", *_TRIAL_TABLES)),
                AuditEntry.action.in_(("create", "update", "randomize", "import")),
            )
            .order_by(AuditEntry.id)
        ).scalars():
            if entry.table_name != "forms":
                latest[(entry.table_name, str(entry.record_id))] = entry
                continue
            new = json.loads(entry.new_values or "{}")
            if "version" in new:
                saves[(int(entry.record_id), int(new["version"]))] = entry
        rows = session.execute(
            select(Form, Subject.code, Site.code, Event.event_code)
            .join(Subject, Subject.id == Form.subject_id)
            .join(Site, Site.id == Subject.site_id)
            .join(Event, Event.id == Form.event_id)
            .order_by(Subject.id, Form.id)
        ).all()
        subjects = session.execute(
            select(Subject.id, Subject.code, Site.code)
            .join(Site, Site.id == Subject.site_id)
            .order_by(Subject.id)
        ).all()
        by_subject: dict[str, list[tuple[Form, str]]] = {}
        for form, subject_code, _site, event_code in rows:
            by_subject.setdefault(subject_code, []).append((form, event_code))
        randomized = {r.subject_id: r for r in session.execute(select(RandomizationRecord)).scalars()}
        plans = {p.subject_id: p for p in session.execute(select(RadiotherapyPlanRow)).scalars()}
        courses: dict[int, list[RadiotherapyCourseRow]] = {}
        for course in session.execute(
            select(RadiotherapyCourseRow).order_by(RadiotherapyCourseRow.id)
        ).scalars():
            courses.setdefault(course.subject_id, []).append(course)
        users = {e.actor_username: full_names.get(e.actor_username, "") for e in saves.values()}
        users |= {e.actor_username: full_names.get(e.actor_username, "") for e in latest.values()}
        root.append(_admin_data(protocol, sites, users))
        clinical = ET.SubElement(
            root, _q("ClinicalData"), StudyOID=_study_oid(protocol), MetaDataVersionOID=_mdv_oid(protocol)
        )
        skipped = 0
        for done, (subject_id, subject_code, site_code) in enumerate(subjects, 1):
            subject = ET.SubElement(clinical, _q("SubjectData"), SubjectKey=subject_code)
            ET.SubElement(subject, _q("SiteRef"), LocationOID=f"LOC.{site_code}")
            events: dict[str, ET.Element] = {}
            for form, event_code in by_subject.get(subject_code, []):
                definition = definitions.get(form.form_code)
                if definition is None:
                    skipped += 1  # a generic (non-workflow) form: no metadata to describe it
                    continue
                event = events.get(event_code)
                if event is None:
                    oid, key = event_oid_of(event_code)
                    event = ET.SubElement(subject, _q("StudyEventData"), StudyEventOID=oid)
                    if key is not None:
                        event.set("StudyEventRepeatKey", key)
                    events[event_code] = event
                element = ET.SubElement(event, _q("FormData"), FormOID=definition.oid)
                save = saves.get((form.id, form.version))
                if save is not None:
                    element.append(_audit_record(save, site_code, f"form {form.id} version {form.version}"))
                element.extend(_form_data(definition, form.item_values))
            record = randomized.get(subject_id)
            if record is not None:
                event = ET.SubElement(subject, _q("StudyEventData"), StudyEventOID="SE.RANDOMIZATION")
                element = ET.SubElement(event, _q("FormData"), FormOID=f"F.{RANDOMIZATION_FORM}")
                entry = latest.get(("randomizations", subject_code))
                if entry is not None:
                    element.append(_audit_record(entry, site_code, f"randomization of {subject_code}"))
                by = None if record.randomized_by is None else usernames.get(record.randomized_by)
                element.extend(_form_data(definitions[RANDOMIZATION_FORM], randomization_values(record, by)))
            plan = plans.get(subject_id)
            if plan is not None:
                _radiotherapy_event(
                    subject,
                    definitions[RADIOTHERAPY_FORM],
                    plan,
                    courses.get(subject_id, []),
                    latest,
                    site_code,
                )
            if progress is not None:
                progress(done, len(subjects))
        write_audit(
            session,
            actor,
            "export",
            "odm",
            protocol.protocol.id,
            site_id=None,
            new={
                "subjects": len(subjects),
                "forms": len(rows) - skipped,
                "skipped_generic_forms": skipped,
                "randomizations": len(randomized),
                "radiotherapy_plans": len(plans),
            },
        )
    return xml_document(root, ODM_NS)


def _radiotherapy_event(
    subject: ET.Element,
    definition: FormDef,
    plan: RadiotherapyPlanRow,
    courses: list[RadiotherapyCourseRow],
    latest: Mapping[tuple[str, str], AuditEntry],
    site_code: str,
) -> None:
    subject_code = subject.get("SubjectKey", "")
    event = ET.SubElement(subject, _q("StudyEventData"), StudyEventOID="SE.RADIOTHERAPY")
    element = ET.SubElement(event, _q("FormData"), FormOID=f"F.{RADIOTHERAPY_FORM}")
    changes = [latest.get(("radiotherapy_plans", subject_code))]
    changes += [latest.get(("radiotherapy_courses", str(c.id))) for c in courses]
    found = [c for c in changes if c is not None]
    if found:
        newest = max(found, key=lambda e: e.id)
        element.append(_audit_record(newest, site_code, f"radiotherapy of {subject_code}"))
    groups = _form_data(definition, radiotherapy_values(plan, courses))
    course_groups = [g for g in groups if g.get("ItemGroupOID") == f"IG.{RADIOTHERAPY_FORM}.courses"]
    for group, course in zip(course_groups, courses, strict=True):
        change = latest.get(("radiotherapy_courses", str(course.id)))
        if change is not None:
            group.insert(
                0,
                _audit_record(change, site_code, f"radiotherapy course {course.id} version {course.version}"),
            )
    element.extend(groups)


# -- reading ClinicalData ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OdmFormRecord:
    """One ``FormData`` of a file, mapped to this protocol: where it is (``location``, an XPath-like path),
    the subject key and site, the event (``event_oid``, ``repeat_key``), the form code and its item values
    as the workflow form expects them; ``audit`` the texts of the form's ``AuditRecord`` (user, time, reason,
    source id) when the file has one."""

    location: str
    position: int
    subject_key: str
    site: str | None
    event_oid: str
    repeat_key: str | None
    form_code: str
    values: dict[str, Any]
    audit: dict[str, str] | None = None


def _parse_value(text: str, item: ItemDef, where: str) -> tuple[Any, Problem | None]:
    try:
        if item.data_type == "integer":
            return int(text), None
        if item.data_type == "float":
            return float(text), None
        if item.data_type == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "y"):
                return True, None
            if lowered in ("false", "0", "no", "n"):
                return False, None
            raise ValueError(text)
        if item.data_type == "date":
            return date.fromisoformat(text.strip()).isoformat(), None
        if item.data_type == "datetime":
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError(text)  # a moment without its offset is ambiguous
            return _utc(moment), None
    except ValueError:
        expected = "a date and time with its UTC offset" if item.data_type == "datetime" else item.data_type
        return None, Problem("ODM-005", where, f"expected a value of data type {expected}", value=text)
    return text, None


def _set(values: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    current = values
    for part in parts[:-1]:
        current = current.setdefault(part, {})
    current[parts[-1]] = value


@dataclass(frozen=True)
class _Mapping:
    events: Mapping[str, str]
    forms: Mapping[str, str]
    groups: Mapping[str, str]
    items: Mapping[str, str]
    sites: Mapping[str, str]
    default_site: str | None


def _mapping(document: Mapping[str, Any] | None) -> _Mapping:
    document = document or {}
    return _Mapping(
        dict(document.get("study_events", {})),
        dict(document.get("forms", {})),
        dict(document.get("item_groups", {})),
        dict(document.get("items", {})),
        dict(document.get("sites", {})),
        document.get("default_site"),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _audit_texts(form: ET.Element) -> dict[str, str] | None:
    record = next((e for e in form if _local(e.tag) == "AuditRecord"), None)
    if record is None:
        return None
    texts: dict[str, str] = {}
    for child in record:
        name = _local(child.tag)
        if name == "UserRef":
            texts["user"] = child.get("UserOID", "")
        elif name in ("DateTimeStamp", "ReasonForChange", "SourceID"):
            texts[name] = (child.text or "").strip()
    return texts


def parse_odm_clinical_data(
    document: bytes, mapping: Mapping[str, Any] | None = None, *, protocol: Protocol | None = None
) -> list[OdmFormRecord]:
    """Every ``FormData`` of the file's ``ClinicalData``, mapped to this protocol's forms and items.

    Parameters
    ----------
    document
        The ODM 1.3.x XML (the ODM namespace is optional, as some exporters omit it).
    mapping
        For foreign OIDs: ``{"study_events": {OID: "SE..."}, "forms": {OID: "F..."}, "item_groups": {OID:
        "IG..."}, "items": {OID: "IT..."}, "sites": {LocationOID: site code}, "default_site": code}``;
        an OID that is not mapped must be one of this protocol's (:func:`form_definitions`).
    protocol
        The protocol whose arms the randomization's code lists hold (default: the services' protocol).

    Raises
    ------
    InputError
        ``ODM-001`` not XML or no ``ClinicalData``; ``ODM-002`` an unknown study event, ``ODM-003`` an
        unknown form or a form at an event that does not hold it, ``ODM-004`` an unknown item group or item
        (or an item outside its group), ``ODM-005`` a value of the wrong data type, ``ODM-006`` a subject
        without a site. One problem per unmappable element, each located by its path in the file.
    """
    try:
        # an imported file is untrusted: defusedxml refuses DTDs, entity declarations and external references
        root = defused_fromstring(document)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise InputError.single("ODM-001", "<file>", f"not well-formed or unsafe XML: {exc}") from None
    maps = _mapping(mapping)
    definitions = {f.oid: f for f in form_definitions(protocol).values()}
    group_defs = {g.oid: (f, g) for f in definitions.values() for g in f.groups}
    known_events = set(_EVENT_FORMS)
    clinical = [e for e in root if _local(e.tag) == "ClinicalData"]
    if _local(root.tag) != "ODM" or not clinical:
        raise InputError.single("ODM-001", "<file>", "expected an ODM document with ClinicalData")
    records: list[OdmFormRecord] = []
    problems: list[Problem] = []
    position = 0
    for block in clinical:
        for subject in (e for e in block if _local(e.tag) == "SubjectData"):
            key = subject.get("SubjectKey", "")
            subject_path = f"ClinicalData/SubjectData[@SubjectKey='{key}']"
            site_ref = next((e for e in subject if _local(e.tag) == "SiteRef"), None)
            location = site_ref.get("LocationOID") if site_ref is not None else None
            site = maps.sites.get(location or "") if location else None
            if site is None and location and location.startswith("LOC."):
                site = location.removeprefix("LOC.")
            site = site or maps.default_site
            if site is None and not re.match(r"^[A-Z0-9]{2,12}-\d{4,}$", key):
                problems.append(
                    Problem(
                        "ODM-006",
                        subject_path,
                        "the subject has no SiteRef; map its location or give default_site in the mapping",
                        value=key,
                    )
                )
            for event in (e for e in subject if _local(e.tag) == "StudyEventData"):
                raw_event = event.get("StudyEventOID", "")
                event_oid = maps.events.get(raw_event, raw_event)
                repeat = event.get("StudyEventRepeatKey")
                event_path = f"{subject_path}/StudyEventData[@StudyEventOID='{raw_event}']" + (
                    f"[@StudyEventRepeatKey='{repeat}']" if repeat else ""
                )
                is_cycle = re.fullmatch(r"SE\.C(\d+)D1", event_oid) is not None
                if event_oid not in known_events and not is_cycle:
                    problems.append(
                        Problem(
                            "ODM-002",
                            event_path,
                            "unknown study event: map it to one of "
                            + ", ".join(sorted(_EVENT_FORMS))
                            + " or SE.C<k>D1",
                            value=raw_event,
                        )
                    )
                    continue
                allowed = ("DOSE",) if is_cycle else _EVENT_FORMS[event_oid]
                for form in (e for e in event if _local(e.tag) == "FormData"):
                    raw_form = form.get("FormOID", "")
                    form_oid = maps.forms.get(raw_form, raw_form)
                    form_path = f"{event_path}/FormData[@FormOID='{raw_form}']"
                    definition = definitions.get(form_oid)
                    if definition is None or definition.code not in allowed:
                        expected = ", ".join(f"F.{c}" for c in allowed)
                        problems.append(
                            Problem(
                                "ODM-003",
                                form_path,
                                f"unknown form or not a form of this event: expected {expected}",
                                value=raw_form,
                            )
                        )
                        continue
                    values, found = _form_values(form, definition, group_defs, maps, form_path)
                    problems += found
                    position += 1
                    records.append(
                        OdmFormRecord(
                            form_path,
                            position,
                            key,
                            site,
                            event_oid,
                            repeat,
                            definition.code,
                            values,
                            _audit_texts(form),
                        )
                    )
    if problems:
        raise InputError(problems)
    return records


def _form_values(
    form: ET.Element,
    definition: FormDef,
    group_defs: Mapping[str, tuple[FormDef, GroupDef]],
    maps: _Mapping,
    form_path: str,
) -> tuple[dict[str, Any], list[Problem]]:
    values: dict[str, Any] = {}
    repeated: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    problems: list[Problem] = []
    for group in (e for e in form if _local(e.tag) == "ItemGroupData"):
        raw_group = group.get("ItemGroupOID", "")
        group_oid = maps.groups.get(raw_group, raw_group)
        repeat = group.get("ItemGroupRepeatKey")
        group_path = f"{form_path}/ItemGroupData[@ItemGroupOID='{raw_group}']" + (
            f"[@ItemGroupRepeatKey='{repeat}']" if repeat else ""
        )
        found = group_defs.get(group_oid)
        if found is None or found[0].code != definition.code:
            problems.append(
                Problem(
                    "ODM-004", group_path, f"unknown item group of form {definition.oid}", value=raw_group
                )
            )
            continue
        group_def = found[1]
        items = {i.oid: i for i in group_def.items}
        entry: dict[str, Any] = {}
        for item in (e for e in group if _local(e.tag) == "ItemData"):
            raw_item = item.get("ItemOID", "")
            item_oid = maps.items.get(raw_item, raw_item)
            item_path = f"{group_path}/ItemData[@ItemOID='{raw_item}']"
            item_def = items.get(item_oid)
            if item_def is None:
                problems.append(
                    Problem(
                        "ODM-004",
                        item_path,
                        f"unknown item of item group {group_def.oid}: map it to one of "
                        + ", ".join(sorted(items)),
                        value=raw_item,
                    )
                )
                continue
            if item.get("IsNull") == "Yes":
                continue
            text = item.get("Value")
            if text is None:  # ODM 1.3.0/1.3.1 typed elements put the value in the text
                text = item.text or ""
            value, problem = _parse_value(text, item_def, item_path)
            if problem is not None:
                problems.append(problem)
                continue
            _set(entry, item_def.path, value)
        if group_def.field is None:
            values.update(entry)
        else:
            order = int(repeat) if repeat and repeat.isdigit() else len(repeated.get(group_def.field, [])) + 1
            repeated.setdefault(group_def.field, []).append((order, entry))
    for group_def in definition.groups:
        if group_def.field is None or group_def.field not in repeated:
            continue
        entries = [e for _, e in sorted(repeated[group_def.field], key=lambda pair: pair[0])]
        if group_def.kind == "mapping":
            values[group_def.field] = {e.get("key"): e.get("value") for e in entries}
        elif group_def.kind == "values":
            values[group_def.field] = [e.get("value") for e in entries]
        else:
            values[group_def.field] = entries
    return values, problems
