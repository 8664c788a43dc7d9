"""Import of CDISC ODM ClinicalData (this system's export, or a REDCap / OpenClinica export mapped to this
protocol's forms) through the use cases a site uses, all or nothing, with a dry run.

Notes
-----
:func:`import_odm` parses the file with :func:`oligotrial.exports.odm.parse_odm_clinical_data` (an
unmappable study event, form, item group, item or value is a located ``ODM-0xx`` problem, and then nothing is
read further nor written). Each subject is found by its ``SubjectKey`` or created at its site
(:func:`oligotrial.services.data.create_subject`; a site named in ``AdminData`` and missing in the database
is created first); its forms are then replayed in a causal order (eligibility, enrollment, the dated records
in file order, end of treatment, screen failure and death, disposition) through the workflow use cases
(:func:`~oligotrial.services.workflow.save_eligibility`, ``enroll_subject``, ``record_dose`` ...), so every
protocol rule, edit check, status rule and audit entry applies as for data entered at a site. A form that
already exists with the same values is left unchanged; with other values it is changed (a new version, with
the import's reason).

Everything runs inside one database transaction whose use cases nest as savepoints: a dry run always rolls it
back (the report says what would be created or changed, with the identifiers the database would assign); a
real import commits only when no form was refused, else it rolls back and reports every refusal, located by
the form's path in the file. Randomization and radiotherapy courses are not forms and are not imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, cast

from defusedxml.ElementTree import fromstring as defused_fromstring
from sqlalchemy import Engine

from oligotrial.errors import NotFoundError, OligotrialError, Problem
from oligotrial.exports.odm import OdmFormRecord, event_code_of, parse_odm_clinical_data
from oligotrial.protocol import Protocol
from oligotrial.services import admin
from oligotrial.services._context import Actor, Edc, write_audit, write_transaction
from oligotrial.services.data import create_subject, get_subject, list_forms
from oligotrial.services.views import FormView
from oligotrial.services.workflow import (
    check_form_values,
    enroll_subject,
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
from oligotrial.services.workflow._store import default_protocol
from oligotrial.store.engine import SQLITE_BEGIN_OPTION

__all__ = ["OdmImportAction", "OdmImportReport", "import_odm"]

ActionKind = Literal["create", "change", "unchanged"]

_RANK = {"ELIG": 0, "ENROLL": 1, "EOT": 3, "SCRFAIL": 4, "DEATH": 4, "DISPOSITION": 5}
_RECORDERS: Mapping[str, Callable[..., Any]] = {
    "DOSE": record_dose,
    "TUMOUR": record_tumour_assessment,
    "AE": record_adverse_event,
    "EOT": record_end_of_treatment,
    "FOLLOWUP": record_follow_up,
    "DEATH": record_death,
    "NEWTHERAPY": record_new_therapy,
    "DISPOSITION": record_disposition,
    "DEVIATION": record_deviation,
}
_SINGLE_EVENTS = ("SE.SCREENING", "SE.ENROLLMENT", "SE.EOT", "SE.DEATH", "SE.DISPOSITION")


@dataclass(frozen=True)
class OdmImportAction:
    """What the import does (or would do) with one form of the file."""

    location: str
    subject: str
    event_code: str
    form_code: str
    action: ActionKind
    version: int
    changed_items: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "subject": self.subject,
            "event_code": self.event_code,
            "form_code": self.form_code,
            "action": self.action,
            "version": self.version,
            "changed_items": list(self.changed_items),
        }


@dataclass
class OdmImportReport:
    """The outcome: whether it was written, sites and subjects created (file key -> code), each form's
    action, and the refusals (nothing is written when there is any)."""

    dry_run: bool
    is_written: bool = False
    sites_created: list[str] = field(default_factory=list)
    subjects_created: dict[str, str] = field(default_factory=dict)
    actions: list[OdmImportAction] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Forms per action."""
        found = {"create": 0, "change": 0, "unchanged": 0}
        for action in self.actions:
            found[action.action] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "written": self.is_written,
            "counts": self.counts(),
            "sites_created": self.sites_created,
            "subjects_created": self.subjects_created,
            "actions": [a.to_dict() for a in self.actions],
            "problems": [p.to_dict() for p in self.problems],
        }


def _site_names(document: bytes) -> dict[str, str]:
    names: dict[str, str] = {}
    for element in defused_fromstring(document).iter():
        if element.tag.rsplit("}", 1)[-1] == "Location":
            oid = element.get("OID", "")
            names[oid.removeprefix("LOC.")] = element.get("Name") or oid
    return names


def _normalized(record: OdmFormRecord, protocol: Protocol) -> dict[str, Any]:
    if record.form_code == "ENROLL":
        return dict(record.values)
    model = check_form_values(record.form_code, record.values, protocol, is_term_deferred=True)
    return cast(dict[str, Any], model.model_dump(mode="json"))


def _target_event(record: OdmFormRecord) -> str:
    return event_code_of(record.event_oid, record.repeat_key)


def _existing(forms: list[FormView], record: OdmFormRecord) -> FormView | None:
    code = _target_event(record)
    return next(
        (f for f in forms if f.event_code == code and f.form_code == record.form_code),
        None,
    )


def _save(
    edc: Edc,
    actor: Actor,
    subject: str,
    record: OdmFormRecord,
    existing: FormView | None,
    reason: str,
    protocol: Protocol,
) -> FormView:
    values = record.values
    base: dict[str, Any] = {} if existing is None else {"base_version": existing.version, "reason": reason}
    if record.form_code == "ELIG":
        return save_eligibility(edc, actor, subject, values, protocol=protocol, **base).form
    if record.form_code in ("ENROLL", "SCRFAIL"):
        if existing is not None:
            raise OligotrialError(
                Problem(
                    "ODM-010",
                    "form",
                    f"{record.form_code} is recorded and differs; it cannot be changed by an import",
                )
            )
        if record.form_code == "ENROLL":
            day = date.fromisoformat(str(values.get("enrollment_date")))
            return enroll_subject(edc, actor, subject, day, protocol=protocol).form
        day = date.fromisoformat(str(values.get("date")))
        return record_screen_failure(edc, actor, subject, day, values.get("reason"), protocol=protocol).form
    recorder = _RECORDERS[record.form_code]
    event_code = None if existing is None else existing.event_code
    return cast(
        FormView,
        recorder(edc, actor, subject, values, event_code=event_code, protocol=protocol, **base).form,
    )


def _subject(
    edc: Edc, actor: Actor, record: OdmFormRecord, report: OdmImportReport, sites: dict[str, str]
) -> str:
    try:
        return get_subject(edc, actor, record.subject_key).code
    except NotFoundError:
        pass
    site = record.site or record.subject_key.rsplit("-", 1)[0]
    if site not in {s.code for s in admin.list_sites(edc, actor)}:
        admin.create_site(edc, actor, site, sites.get(site, site))
        report.sites_created.append(site)
    code = create_subject(edc, actor, site).code
    report.subjects_created[record.subject_key] = code
    return code


def _replay(
    edc: Edc,
    actor: Actor,
    records: list[OdmFormRecord],
    report: OdmImportReport,
    sites: dict[str, str],
    reason: str,
    protocol: Protocol,
    progress: Callable[[int, int], None] | None,
) -> None:
    by_subject: dict[str, list[OdmFormRecord]] = {}
    for record in records:
        by_subject.setdefault(record.subject_key, []).append(record)
    for done, forms in enumerate(by_subject.values(), 1):
        try:
            subject = _subject(edc, actor, forms[0], report, sites)
        except OligotrialError as error:
            report.problems += [
                Problem(
                    p.code, f"{forms[0].location.split('/StudyEventData')[0]}: {p.field}", p.message, p.value
                )
                for p in error.problems
            ]
            continue
        stored = list_forms(edc, actor, subject)
        for record in sorted(forms, key=lambda r: (_RANK.get(r.form_code, 2), r.position)):
            existing = _existing(stored, record)
            try:
                values = _normalized(record, protocol)
                if existing is not None and existing.values == values:
                    report.actions.append(
                        OdmImportAction(
                            record.location,
                            subject,
                            existing.event_code,
                            record.form_code,
                            "unchanged",
                            existing.version,
                        )
                    )
                    continue
                view = _save(edc, actor, subject, record, existing, reason, protocol)
            except OligotrialError as error:
                report.problems += [
                    Problem(p.code, f"{record.location}: {p.field}", p.message, p.value)
                    for p in error.problems
                ]
                break  # later forms of this subject depend on this one
            changed = (
                ()
                if existing is None
                else tuple(
                    sorted(
                        k
                        for k in set(existing.values) | set(view.values)
                        if existing.values.get(k) != view.values.get(k)
                    )
                )
            )
            report.actions.append(
                OdmImportAction(
                    record.location,
                    subject,
                    view.event_code,
                    record.form_code,
                    "create" if existing is None else "change",
                    view.version,
                    changed,
                )
            )
            stored = [f for f in stored if f.id != view.id] + [view]
        if progress is not None:
            progress(done, len(by_subject))


def import_odm(
    edc: Edc,
    actor: Actor,
    document: bytes,
    *,
    mapping: Mapping[str, Any] | None = None,
    is_dry_run: bool = False,
    reason: str = "imported from an ODM file",
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> OdmImportReport:
    """Import the ``ClinicalData`` of an ODM document; returns what was (or would be) created and changed.

    ``actor`` must be allowed to enter data at the subjects' sites (and to manage sites when a site has to be
    created). Nothing is written on a dry run or when any form is refused (``report.problems``).

    Raises
    ------
    InputError
        ``ODM-001`` .. ``ODM-006``: the file cannot be mapped to this protocol's forms (one located problem
        per element); nothing is written.
    """
    protocol = protocol or default_protocol()
    records = parse_odm_clinical_data(document, mapping)
    sites = _site_names(document)
    report = OdmImportReport(dry_run=is_dry_run)
    with edc.engine.connect() as connection:
        connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        outer = connection.begin()
        connection.begin_nested()  # each use case's session nests in its own savepoint inside this one
        scoped = Edc(cast(Engine, connection), edc.settings, edc.edit_checks)
        try:
            _replay(scoped, actor, records, report, sites, reason, protocol, progress)
            if report.problems or is_dry_run:
                outer.rollback()
                return report
            with write_transaction(scoped) as session:
                write_audit(
                    session,
                    actor,
                    "import",
                    "odm",
                    protocol.protocol.id,
                    site_id=None,
                    new={"counts": report.counts(), "subjects_created": len(report.subjects_created)},
                    reason=reason,
                )
            outer.commit()
            report.is_written = True
        except BaseException:
            outer.rollback()
            raise
    return report
