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

Everything runs inside one savepoint of one write use case (:func:`oligotrial.services.write_transaction`:
the import waits for the process's writer gate like any other writer, and writers that come meanwhile wait
for it), whose replayed use cases nest as savepoints: a dry run always rolls it back (the report says what
would be created or changed, with the identifiers the database would assign); a real import commits only
when no form was refused, else it rolls back and reports every refusal, located by the form's path in the
file.

*Randomization* (``SE.RANDOMIZATION``, form ``F.RAND``). An import never randomizes: the file's assignment
is stored as it was made (arm, method, sequence number, stratum and strata, covariates, list position, draw
and minimization scores, time of allocation), as an *imported assignment* audited with the action ``import``
on ``randomizations`` whose entry names its source (file, location in the file, the source's
``AuditRecord``, who randomized and the request id there; the local account and the idempotency key are not
carried over). It takes no slot of this database's concealed list and consumes no draw of its minimization
stream, but later minimization counts it in the marginal totals like any assignment. It is refused, with a
located problem naming the item, when: an item is missing or not this protocol's (arm, method, response) or
the strata are not those the protocol derives from the covariates, or the stratum key does not match them
(``ODM-013``); the subject is not enrolled (``ODM-014``); the sequence number is taken by another subject
(``ODM-012``); the subject already holds a *different* assignment (``ODM-011``: a subject is randomized
once; the same assignment is ``unchanged``).

*Radiotherapy* (``SE.RADIOTHERAPY``, form ``F.RT``) replays each course and the maintenance restart through
:func:`~oligotrial.services.radiotherapy.record_radiotherapy_course` and
:func:`~oligotrial.services.radiotherapy.record_maintenance_restart` (arm check, plan check and audit as at a
site); the verdicts in the file are derived items and are recomputed, not read. Courses or a restart date
recorded here and absent from the file are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, cast

from defusedxml.ElementTree import fromstring as defused_fromstring
from sqlalchemy import Engine, select

from oligotrial.errors import ConflictError, InputError, NotFoundError, OligotrialError, Problem
from oligotrial.exports.odm import (
    RADIOTHERAPY_FORM,
    RANDOMIZATION_FORM,
    OdmFormRecord,
    event_code_of,
    parse_odm_clinical_data,
    randomization_values,
)
from oligotrial.protocol import Protocol
from oligotrial.randomization import derive_strata, stratum_key
from oligotrial.services import admin
from oligotrial.services._context import Actor, Edc, write_audit, write_transaction
from oligotrial.services.data import (
    create_subject,
    get_subject,
    list_forms,
    lock_subject_for_entry,
)
from oligotrial.services.radiotherapy import (
    RadiotherapyPlanView,
    get_radiotherapy_plan,
    record_maintenance_restart,
    record_radiotherapy_course,
)
from oligotrial.services.randomization import RESPONSES
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
from oligotrial.store.tables import RandomizationRecord, Subject

__all__ = ["OdmImportAction", "OdmImportReport", "import_odm"]

ActionKind = Literal["create", "change", "unchanged"]

# Replay order within a subject: eligibility, enrollment, the randomization, the dated records (radiotherapy
# among them, after the randomization it needs) in file order, end of treatment, screen failure and death,
# disposition.
_RANK = {"ELIG": 0, "ENROLL": 1, RANDOMIZATION_FORM: 2, "EOT": 4, "SCRFAIL": 5, "DEATH": 5, "DISPOSITION": 6}
_DATED_RANK = 3
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


def _file_oid(document: bytes) -> str:
    root = defused_fromstring(document)
    return f"ODM file {root.get('FileOID') or '(no FileOID)'} from {root.get('SourceSystem') or 'an unnamed system'}"


# -- randomization: stored as an imported assignment, never re-randomized ------------------------------------

# Items compared with a stored assignment; who randomized and the request id belong to the source system.
_RANDOMIZATION_COMPARED = (
    "arm",
    "method",
    "sequence",
    "stratum",
    "strata",
    "covariates",
    "list_position",
    "draw",
    "scores",
    "preferred",
    "randomized_at",
)


def _incoming_randomization(values: Mapping[str, Any], protocol: Protocol) -> dict[str, Any]:
    """The file's assignment in the shape :func:`randomization_values` gives a stored one, checked."""
    problems: list[Problem] = []

    def need(item: str, value: Any, allowed: tuple[str, ...] | None = None) -> None:
        if value is None or value == "":
            problems.append(Problem("ODM-013", f"IT.RAND.{item}", "missing: a randomization needs it"))
        elif allowed is not None and value not in allowed:
            problems.append(
                Problem("ODM-013", f"IT.RAND.{item}", f"expected one of {', '.join(allowed)}", value=value)
            )

    arms = tuple(arm.id for arm in protocol.arms)
    covariates_in = values.get("covariates") or {}
    covariates = {
        "site": covariates_in.get("site"),
        "induction_response": covariates_in.get("induction_response"),
        "metastatic_organ_count": covariates_in.get("metastatic_organ_count"),
    }
    need("arm", values.get("arm"), arms)
    need("method", values.get("method"), ("permuted_blocks", "minimization"))
    need("sequence", values.get("sequence"))
    need("stratum", values.get("stratum"))
    need("randomized_at", values.get("randomized_at"))
    need("covariates.site", covariates["site"])
    need("covariates.induction_response", covariates["induction_response"], RESPONSES)
    sequence = values.get("sequence")
    if isinstance(sequence, int) and sequence < 1:
        problems.append(Problem("ODM-013", "IT.RAND.sequence", "expected a number from 1", value=sequence))
    scores = {str(k): v for k, v in (values.get("scores") or {}).items()}
    preferred = [str(a) for a in values.get("preferred") or []]
    for arm in [*scores, *preferred]:
        if arm not in arms:
            problems.append(
                Problem("ODM-013", "IT.RAND.scores.key", f"expected one of {', '.join(arms)}", value=arm)
            )
    strata = {str(k): str(v) for k, v in (values.get("strata") or {}).items()}
    if not problems:
        try:
            expected = derive_strata(protocol.randomization.strata, covariates)
        except OligotrialError as error:
            problems += [Problem("ODM-013", "IT.RAND.covariates", p.message, p.value) for p in error.problems]
        else:
            if strata != expected:
                problems.append(
                    Problem(
                        "ODM-013",
                        "IT.RAND.strata",
                        f"the protocol derives the strata {expected} from the covariates",
                        value=strata,
                    )
                )
            elif stratum_key(strata) != values.get("stratum"):
                problems.append(
                    Problem(
                        "ODM-013",
                        "IT.RAND.stratum",
                        f"does not match the strata: expected {stratum_key(strata)}",
                        value=values.get("stratum"),
                    )
                )
    if problems:
        raise InputError(problems)
    return {
        "arm": values["arm"],
        "method": values["method"],
        "sequence": values["sequence"],
        "stratum": values["stratum"],
        "strata": strata,
        "covariates": covariates,
        "list_position": values.get("list_position"),
        "draw": values.get("draw"),
        "scores": scores,
        "preferred": preferred,
        "randomized_at": values["randomized_at"],
    }


def _import_randomization(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    record: OdmFormRecord,
    reason: str,
    protocol: Protocol,
    source: str,
) -> OdmImportAction:
    incoming = _incoming_randomization(record.values, protocol)
    event_code = event_code_of(record.event_oid, record.repeat_key)
    with write_transaction(edc) as session:
        subject, _site = lock_subject_for_entry(session, actor, subject_code)
        existing = session.execute(
            select(RandomizationRecord).where(RandomizationRecord.subject_id == subject.id)
        ).scalar_one_or_none()
        if existing is not None:
            stored = randomization_values(existing, None)
            differing = [k for k in _RANDOMIZATION_COMPARED if stored.get(k) != incoming[k]]
            if not differing:
                return OdmImportAction(
                    record.location, subject.code, event_code, RANDOMIZATION_FORM, "unchanged", 1
                )
            raise ConflictError(
                Problem(
                    "ODM-011",
                    f"IT.RAND.{differing[0]}",
                    f"the subject is already randomized (arm {existing.arm}, sequence {existing.sequence}) and "
                    f"the file differs in {', '.join(differing)}: a subject is randomized once and an import "
                    "never re-randomizes",
                    value=incoming[differing[0]],
                )
            )
        if subject.status != "enrolled":
            raise ConflictError(
                Problem(
                    "ODM-014",
                    "IT.RAND.arm",
                    f"only an enrolled subject holds a randomization; this subject is {subject.status}",
                    value=subject.code,
                )
            )
        taken = session.execute(
            select(Subject.code)
            .join(RandomizationRecord, RandomizationRecord.subject_id == Subject.id)
            .where(RandomizationRecord.sequence == incoming["sequence"])
        ).scalar_one_or_none()
        if taken is not None:
            raise ConflictError(
                Problem(
                    "ODM-012",
                    "IT.RAND.sequence",
                    f"randomization number {incoming['sequence']} is held by {taken} in this database",
                    value=incoming["sequence"],
                )
            )
        scores = (
            {"scores": incoming["scores"], "preferred": incoming["preferred"]}
            if incoming["scores"] or incoming["preferred"]
            else None
        )
        row = RandomizationRecord(
            subject_id=subject.id,
            site_id=subject.site_id,
            sequence=incoming["sequence"],
            method=incoming["method"],
            arm=incoming["arm"],
            stratum=incoming["stratum"],
            strata=incoming["strata"],
            covariates=incoming["covariates"],
            list_id=None,
            entry_id=None,
            list_position=incoming["list_position"],
            draw=incoming["draw"],
            scores=scores,
            request_id=None,
            randomized_by=None,
            randomized_at=datetime.fromisoformat(incoming["randomized_at"].replace("Z", "+00:00")),
        )
        session.add(row)
        session.flush()
        write_audit(
            session,
            actor,
            "import",
            "randomizations",
            subject.code,
            site_id=subject.site_id,
            new={
                "subject": subject.code,
                **incoming,
                "imported_from": {
                    "file": source,
                    "location": record.location,
                    "randomized_by": record.values.get("randomized_by"),
                    "request_id": record.values.get("request_id"),
                    "audit_record": record.audit,
                },
            },
            reason=reason,
        )
    return OdmImportAction(record.location, subject_code, event_code, RANDOMIZATION_FORM, "create", 1)


# -- radiotherapy: replayed through the radiotherapy use cases ----------------------------------------------


def _course(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ("verdict", "version")}


def _import_radiotherapy(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    record: OdmFormRecord,
    reason: str,
    protocol: Protocol,
    source: str,
) -> OdmImportAction:
    values = record.values
    event_code = event_code_of(record.event_oid, record.repeat_key)
    courses = [_course(c) for c in values.get("courses") or []]
    missing = [
        Problem("ODM-013", f"IT.RT.{item}", "missing: a radiotherapy plan needs it")
        for item, present in (
            ("chemo_immunotherapy_end", values.get("chemo_immunotherapy_end")),
            ("courses.lesion_id", courses),
        )
        if not present
    ]
    if missing:
        raise InputError(missing)
    end = date.fromisoformat(str(values["chemo_immunotherapy_end"]))
    restart = values.get("maintenance_restart")
    try:
        before: RadiotherapyPlanView | None = get_radiotherapy_plan(edc, actor, subject_code)
    except NotFoundError:
        before = None
    old_courses = {} if before is None else {c["lesion_id"]: _course(c) for c in before.courses}
    changed: list[str] = []
    if before is not None and before.chemo_immunotherapy_end != end:
        changed.append("chemo_immunotherapy_end")
    view = before
    for course in courses:
        if old_courses.get(course.get("lesion_id")) == course:
            continue
        if before is not None:
            changed.append(f"courses[{course.get('lesion_id')}]")
        view = record_radiotherapy_course(
            edc, actor, subject_code, course, chemo_immunotherapy_end=end, reason=reason, protocol=protocol
        )
    if restart and (
        view is None or view.maintenance_restart is None or view.maintenance_restart.isoformat() != restart
    ):
        if before is not None:
            changed.append("maintenance_restart")
        view = record_maintenance_restart(
            edc, actor, subject_code, date.fromisoformat(str(restart)), reason=reason, protocol=protocol
        )
    assert view is not None  # at least one course was given
    if before is None:
        kind: ActionKind = "create"
    else:
        kind = "change" if changed else "unchanged"
    return OdmImportAction(
        record.location, subject_code, event_code, RADIOTHERAPY_FORM, kind, view.version, tuple(changed)
    )


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
    source: str,
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
        for record in sorted(forms, key=lambda r: (_RANK.get(r.form_code, _DATED_RANK), r.position)):
            if record.form_code in (RANDOMIZATION_FORM, RADIOTHERAPY_FORM):
                try:
                    importer = (
                        _import_randomization
                        if record.form_code == RANDOMIZATION_FORM
                        else _import_radiotherapy
                    )
                    report.actions.append(importer(edc, actor, subject, record, reason, protocol, source))
                except OligotrialError as error:
                    report.problems += [
                        Problem(p.code, f"{record.location}: {p.field}", p.message, p.value)
                        for p in error.problems
                    ]
                    break
                continue
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
    records = parse_odm_clinical_data(document, mapping, protocol=protocol)
    sites = _site_names(document)
    source = _file_oid(document)
    report = OdmImportReport(dry_run=is_dry_run)
    # One write use case (the writer gate, then the process's write transaction, as every writer); the
    # import's own savepoint holds everything it replays, each use case nesting in a savepoint of its own
    with write_transaction(edc) as session:
        connection = session.connection()
        replayed = connection.begin_nested()
        try:
            scoped = Edc(cast(Engine, connection), edc.settings, edc.edit_checks)
            _replay(scoped, actor, records, report, sites, reason, protocol, progress, source)
            if report.problems or is_dry_run:
                replayed.rollback()
                return report
            replayed.commit()
        except BaseException:
            if replayed.is_active:
                replayed.rollback()
            raise
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
    report.is_written = True
    return report
