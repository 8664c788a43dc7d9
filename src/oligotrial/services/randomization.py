"""Randomization use cases: concealed lists (generated from a seed or uploaded), minimization streams, and
the atomic, idempotent allocation of a subject after the post-induction assessment.

Notes
-----
*Who sees what.* The arm of a randomized subject is shown to everyone who may read the subject (open label).
The concealed list (unused slots, seeds, generation parameters) is shown to the statistician role only
(``AUTH-110`` for anyone else); the audit trail records a list's parameters, its content hash and the SHA-256
of its seed, never the seed or the unused slots themselves.

*Atomicity.* An allocation is one write transaction: on PostgreSQL it begins by locking the audit chain head
(every write does, see :mod:`oligotrial.services._context`), then locks the subject row and the first unused
slot of the stratum (``SELECT ... FOR UPDATE``); on SQLite it runs under ``BEGIN IMMEDIATE``. Allocations are
therefore serialized, so slots are taken strictly in list order (``SKIP LOCKED`` is deliberately not used: a
skipped slot whose transaction then rolled back would be used out of order). Unique constraints on
``randomizations.subject_id``, ``randomizations.sequence``, ``randomization_entries.subject_id`` and
``randomizations.request_id`` make a double allocation impossible even if that serialization were bypassed.

*Idempotency.* A request may carry a ``request_id`` (the API also reads the ``Idempotency-Key`` header). A
retry with the same ``request_id`` for the same subject returns the stored assignment (``is_replay``); any
other second request for a randomized subject is refused with ``RAND-004``.

*Dating.* An allocation is dated when it is made. An in-process caller that replays allocations decided in
the past (a trial migrating from another system, the synthetic loader) passes ``randomized_at``; it is
checked (UTC, not in the future, not before the enrollment or the post-induction assessment it relies on) and
the audit entry marks it as a retrospective dating beside the real time of the entry. The HTTP API and the
web pages do not take it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, Problem
from oligotrial.protocol import Protocol, load_protocol
from oligotrial.randomization import (
    ListEntry,
    add_to_marginals,
    choose_minimization_arm,
    derive_strata,
    draw_minimization_uniform,
    generate_block_list,
    parse_list_rows,
    stratum_key,
)
from oligotrial.services._context import (
    Actor,
    Edc,
    Role,
    paged,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services.admin import site_date
from oligotrial.services.data import load_subject, lock_subject_for_entry, readable_sites
from oligotrial.store.audit import canonical_json
from oligotrial.store.tables import (
    RandomizationEntry,
    RandomizationList,
    RandomizationRecord,
    RoleAssignment,
    Site,
    Subject,
    User,
)

__all__ = [
    "RESPONSES",
    "RandomizationEntryView",
    "RandomizationListView",
    "RandomizationView",
    "current_protocol",
    "generate_randomization_list",
    "get_randomization",
    "list_randomization_entries",
    "list_randomization_lists",
    "list_randomizations",
    "randomize_subject",
    "statistician_actor",
    "upload_randomization_list",
]

RESPONSES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
"""Overall responses (RECIST 1.1) a post-induction assessment can give."""

_MAX_REQUEST_ID = 64
_MAX_ENTRIES_PER_STRATUM = 10_000
_MAX_UPLOAD_ROWS = 200_000


@lru_cache(maxsize=1)
def current_protocol() -> Protocol:
    """The protocol the services run (the one shipped with the package)."""
    return load_protocol()


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class RandomizationView(_View):
    """A subject's assignment: the arm (open label) and how it was decided."""

    subject: str
    site: str
    arm: str
    arm_name: str
    armcd: str
    method: str
    sequence: int
    stratum: str
    strata: dict[str, str]
    covariates: dict[str, Any]
    list_position: int | None
    randomized_at: datetime
    randomized_on: (
        date  # the day at the subject's site: the randomization date of the calendar and of SDTM DS
    )
    randomized_by: str | None
    is_replay: bool = False


class RandomizationListView(_View):
    """A concealed list or minimization stream (statistician only: it includes the seed)."""

    id: int
    kind: str
    seed: int | None
    parameters: dict[str, Any]
    entries: int
    content_sha256: str
    created_by: str
    created_at: datetime


class RandomizationEntryView(_View):
    """One slot of a concealed list (statistician only)."""

    list_id: int
    stratum: str
    position: int
    arm: str
    block: int
    block_size: int
    subject: str | None
    used_at: datetime | None


# -- access ------------------------------------------------------------------------------------------------


def _is_statistician(actor: Actor) -> bool:
    return any(role == Role.STATISTICIAN and site is None for role, site in actor.assignments)


def _require_statistician(actor: Actor) -> None:
    if not _is_statistician(actor):
        raise PermissionDeniedError(
            Problem(
                "AUTH-110",
                "",
                "only the trial statistician may see or change the concealed randomization list",
            )
        )


def statistician_actor(edc: Edc, username: str, source: str) -> Actor:
    """The actor of an active study-wide statistician, for the server operator's command line.

    Raises
    ------
    PermissionDeniedError
        ``AUTH-110`` when the user does not exist, is disabled or is not a study-wide statistician.
    """
    with read_transaction(edc) as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        roles = (
            []
            if user is None
            else session.execute(
                select(RoleAssignment.role, RoleAssignment.site_id).where(RoleAssignment.user_id == user.id)
            ).all()
        )
        user_id = None if user is None else user.id
        full_name = "" if user is None else user.full_name
        is_active = user is not None and user.is_active
    assignments = frozenset((Role(role), site) for role, site in roles)
    actor = Actor(user_id, username, full_name, assignments, source)
    if not is_active or not _is_statistician(actor):
        raise PermissionDeniedError(
            Problem("AUTH-110", "--statistician", "not an active study-wide statistician", value=username)
        )
    return actor


# -- lists ---------------------------------------------------------------------------------------------------


def _ratio(protocol: Protocol) -> dict[str, int]:
    return {str(k): v for k, v in protocol.randomization.ratio.items()}


def _content_hash(entries: Sequence[ListEntry]) -> str:
    rows = sorted((e.stratum, e.position, e.arm, e.block, e.block_size) for e in entries)
    return hashlib.sha256(canonical_json([list(r) for r in rows]).encode("utf-8")).hexdigest()


def _list_view(row: RandomizationList) -> RandomizationListView:
    return RandomizationListView(
        id=row.id,
        kind=row.kind,
        seed=row.seed,
        parameters=row.parameters,
        entries=row.entries,
        content_sha256=row.content_sha256,
        created_by=row.created_by_name,
        created_at=row.created_at,
    )


def _site_codes(session: Session, sites: Sequence[str] | None) -> list[str]:
    known = {code: active for code, active in session.execute(select(Site.code, Site.is_active)).all()}
    if sites is None:
        return sorted(code for code, active in known.items() if active)
    unknown = [s for s in sites if s not in known]
    if unknown:
        raise InputError.single("RAND-028", "sites", "no such site", value=unknown)
    return list(dict.fromkeys(sites))


def _all_strata(protocol: Protocol, site_codes: Sequence[str]) -> list[str]:
    axes: list[list[tuple[str, str]]] = []
    for stratum in protocol.randomization.strata:
        if stratum.levels is not None:
            values = list(stratum.levels)
        elif stratum.source == "site":
            values = list(site_codes)
        else:
            values = list(protocol.population.histologies)
        axes.append([(stratum.id, v) for v in values])
    return [stratum_key(dict(combo)) for combo in itertools.product(*axes)]


def _store_list(
    session: Session,
    actor: Actor,
    kind: str,
    seed: int | None,
    parameters: dict[str, Any],
    entries: Sequence[ListEntry],
) -> RandomizationList:
    now = datetime.now(UTC)
    row = RandomizationList(
        kind=kind,
        seed=seed,
        parameters=parameters,
        entries=len(entries),
        content_sha256=_content_hash(entries) if entries else hashlib.sha256(b"").hexdigest(),
        created_by=actor.user_id,
        created_by_name=actor.username,
        created_at=now,
    )
    session.add(row)
    session.flush()
    if entries:
        session.execute(
            insert(RandomizationEntry),
            [
                {
                    "list_id": row.id,
                    "stratum": e.stratum,
                    "position": e.position,
                    "arm": e.arm,
                    "block": e.block,
                    "block_size": e.block_size,
                }
                for e in entries
            ],
        )
    write_audit(
        session,
        actor,
        "create",
        "randomization_lists",
        row.id,
        site_id=None,
        new={
            "kind": kind,
            "parameters": parameters,
            "entries": len(entries),
            "content_sha256": row.content_sha256,
            "seed_sha256": None if seed is None else hashlib.sha256(str(seed).encode()).hexdigest(),
        },
    )
    return row


def generate_randomization_list(
    edc: Edc,
    actor: Actor,
    *,
    entries_per_stratum: int = 50,
    seed: int | None = None,
    sites: Sequence[str] | None = None,
    protocol: Protocol | None = None,
) -> RandomizationListView:
    """Generate the concealed list (permuted blocks) or the minimization stream, as the protocol says.

    Parameters
    ----------
    entries_per_stratum
        Permuted blocks: slots added to each stratum (complete blocks, so possibly a few more).
    seed
        Seed of :func:`numpy.random.default_rng`; drawn from the operating system when absent. Stored with
        the list (statistician only); the audit trail holds its SHA-256.
    sites
        Site codes whose strata get slots; default: every active site. Generating again *extends* each
        stratum after its last position, so a list can be grown or a new site added.

    Notes
    -----
    Strata are the product of the protocol's factors: levels as defined, the site factor by site code.
    For ``method: minimization`` no list is made: a stream (seed, probability, imbalance measure) is stored,
    from which each allocation's random element is drawn (:func:`draw_minimization_uniform`).

    Raises
    ------
    PermissionDeniedError
        ``AUTH-110`` unless the actor is the statistician.
    InputError
        ``RAND-020`` bad size, ``RAND-028`` unknown site, ``RAND-029`` bad seed.
    """
    _require_statistician(actor)
    protocol = protocol or current_protocol()
    config = protocol.randomization
    if seed is None:
        seed = secrets.randbits(62)
    if not 0 <= seed < 2**63:
        raise InputError.single("RAND-029", "seed", "expected a whole number 0 <= seed < 2**63", seed)
    if not 1 <= entries_per_stratum <= _MAX_ENTRIES_PER_STRATUM:
        raise InputError.single(
            "RAND-020",
            "entries_per_stratum",
            f"expected 1..{_MAX_ENTRIES_PER_STRATUM} entries per stratum",
            entries_per_stratum,
        )
    with write_transaction(edc) as session:
        if config.method == "minimization":
            parameters: dict[str, Any] = {
                "method": "minimization",
                "probability": config.minimization.probability,
                "imbalance": config.minimization.imbalance,
                "ratio": _ratio(protocol),
                "strata": [s.id for s in config.strata],
                "generator": "numpy.random.default_rng([seed, sequence]).random()",
            }
            return _list_view(_store_list(session, actor, "minimization", seed, parameters, []))
        site_codes = _site_codes(session, sites)
        strata = _all_strata(protocol, site_codes)
        last = dict(
            session.execute(
                select(RandomizationEntry.stratum, func.max(RandomizationEntry.position))
                .where(RandomizationEntry.stratum.in_(strata))
                .group_by(RandomizationEntry.stratum)
            ).all()
        )
        entries = generate_block_list(
            strata,
            entries_per_stratum,
            config.block_sizes,
            _ratio(protocol),
            np.random.default_rng(seed),
            first_positions={k: int(v) + 1 for k, v in last.items()},
        )
        parameters = {
            "method": "permuted_blocks",
            "block_sizes": list(config.block_sizes),
            "ratio": _ratio(protocol),
            "entries_per_stratum": entries_per_stratum,
            "strata": strata,
            "first_positions": {k: int(v) + 1 for k, v in last.items()},
            "generator": "numpy.random.default_rng(seed); block size rng.integers, order rng.permutation",
        }
        return _list_view(_store_list(session, actor, "generated", seed, parameters, entries))


def upload_randomization_list(
    edc: Edc,
    actor: Actor,
    csv_text: str,
    *,
    file_name: str = "upload.csv",
    protocol: Protocol | None = None,
) -> RandomizationListView:
    """Store a list prepared outside the system (CSV: ``position``, ``arm``, a column per stratification
    factor id, optional ``block``).

    Raises
    ------
    PermissionDeniedError
        ``AUTH-110`` unless the actor is the statistician.
    InputError
        Codes of :func:`oligotrial.randomization.parse_list_rows`; ``RAND-028`` unknown site;
        ``RAND-027`` a stratum that already has a list; ``RAND-030`` the method is minimization.
    """
    _require_statistician(actor)
    protocol = protocol or current_protocol()
    if protocol.randomization.method != "permuted_blocks":
        raise InputError.single(
            "RAND-030", "method", "the protocol uses minimization: there is no list to upload"
        )
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    if len(rows) > _MAX_UPLOAD_ROWS:
        raise InputError.single("RAND-024", "rows", f"at most {_MAX_UPLOAD_ROWS} rows", len(rows))
    entries = parse_list_rows(rows, protocol.randomization)
    site_factor = next((s.id for s in protocol.randomization.strata if s.source == "site"), None)
    with write_transaction(edc) as session:
        if site_factor is not None:
            known = set(session.execute(select(Site.code)).scalars())
            bad = sorted({lv for e in entries for f, lv in _pairs(e.stratum) if f == site_factor} - known)
            if bad:
                raise InputError.single("RAND-028", site_factor, "no such site", value=bad)
        strata = sorted({e.stratum for e in entries})
        taken = (
            session.execute(
                select(RandomizationEntry.stratum).where(RandomizationEntry.stratum.in_(strata)).distinct()
            )
            .scalars()
            .all()
        )
        if taken:
            raise ConflictError(
                Problem(
                    "RAND-027",
                    "rows",
                    "these strata already have a list; extend them with `randomization generate`",
                    value=sorted(taken)[:10],
                )
            )
        parameters = {
            "method": "permuted_blocks",
            "file_name": file_name[:255],
            "file_sha256": hashlib.sha256(csv_text.encode("utf-8")).hexdigest(),
            "strata": strata,
            "ratio": _ratio(protocol),
        }
        return _list_view(_store_list(session, actor, "uploaded", None, parameters, entries))


def _pairs(key: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in key.split("|")]  # type: ignore[misc]


def list_randomization_lists(edc: Edc, actor: Actor) -> list[RandomizationListView]:
    """Every list and stream with seed and parameters (statistician only)."""
    _require_statistician(actor)
    with read_transaction(edc) as session:
        rows = session.execute(select(RandomizationList).order_by(RandomizationList.id)).scalars()
        return [_list_view(r) for r in rows]


def list_randomization_entries(
    edc: Edc,
    actor: Actor,
    *,
    stratum: str | None = None,
    is_used: bool | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[RandomizationEntryView], int]:
    """Slots of the concealed lists in list order, used or not (statistician only), with the total."""
    _require_statistician(actor)
    with read_transaction(edc) as session:
        stmt = select(RandomizationEntry, Subject.code).outerjoin(
            Subject, Subject.id == RandomizationEntry.subject_id
        )
        if stratum is not None:
            stmt = stmt.where(RandomizationEntry.stratum == stratum)
        if is_used is not None:
            column = RandomizationEntry.subject_id
            stmt = stmt.where(column.is_not(None) if is_used else column.is_(None))
        rows, total = paged(
            session, stmt, [RandomizationEntry.stratum, RandomizationEntry.position], limit, offset
        )
        return [
            RandomizationEntryView(
                list_id=e.list_id,
                stratum=e.stratum,
                position=e.position,
                arm=e.arm,
                block=e.block,
                block_size=e.block_size,
                subject=code,
                used_at=e.used_at,
            )
            for e, code in rows
        ], total


# -- allocation ----------------------------------------------------------------------------------------------


def _view(
    record: RandomizationRecord,
    subject_code: str,
    site: tuple[str, str],
    by: str | None,
    protocol: Protocol,
    *,
    is_replay: bool = False,
) -> RandomizationView:
    """The assignment as read: ``site`` is the site's code and time zone."""
    arm = next(a for a in protocol.arms if a.id == record.arm)
    site_code, time_zone = site
    return RandomizationView(
        subject=subject_code,
        site=site_code,
        arm=record.arm,
        arm_name=arm.name,
        armcd=arm.armcd,
        method=record.method,
        sequence=record.sequence,
        stratum=record.stratum,
        strata=record.strata,
        covariates=record.covariates,
        list_position=record.list_position,
        randomized_at=record.randomized_at,
        randomized_on=site_date(record.randomized_at, time_zone),
        randomized_by=by,
        is_replay=is_replay,
    )


def _check_response(response: str | None, protocol: Protocol, missing: str | None = None) -> str:
    if response is None or not str(response).strip():
        raise ConflictError(
            Problem(
                "RAND-002",
                "induction_response",
                "the post-induction tumour assessment (after the last induction cycle) is missing"
                + (f" ({missing})" if missing else "")
                + "; record it before randomizing",
            )
        )
    value = str(response).strip().upper()
    if value not in RESPONSES:
        raise InputError.single(
            "RAND-006", "induction_response", f"expected one of {', '.join(RESPONSES)}", value=response
        )
    eligible = protocol.randomization.eligible_responses
    if value not in eligible:
        reason = "progressive disease" if value == "PD" else f"response {value}"
        raise ConflictError(
            Problem(
                "RAND-003",
                "induction_response",
                f"{reason} at the post-induction assessment: only subjects with "
                f"{', '.join(eligible)} are randomized (randomization.eligible_responses)",
                value=value,
            )
        )
    return value


def _inputs(
    session: Session,
    subject: Subject,
    induction_response: str | None,
    metastatic_organ_count: int | None,
    protocol: Protocol,
) -> tuple[str, int | None, dict[str, str], date | None]:
    """The checked post-induction response, the metastatic organ count, where each came from (given by the
    caller, else read from the workflow records in the allocation's transaction) and the date of the tumour
    assessment the response was read from (``None`` when the caller gave it)."""
    # imported here: the workflow package reaches this module through the CTCAE service
    from oligotrial.services.workflow.assessments import get_post_induction_response
    from oligotrial.services.workflow.screening import get_metastatic_organ_count

    sources: dict[str, str] = {}
    assessed: date | None = None
    if induction_response is not None:
        response = _check_response(induction_response, protocol)
        sources["induction_response"] = "given"
    else:
        found = get_post_induction_response(session, subject, protocol)
        response = _check_response(found.response, protocol, found.reason)
        sources["induction_response"] = f"{found.event_code} OVRLRESP ({found.rule})"
        assessed = found.assessment_date
    if metastatic_organ_count is not None:
        sources["metastatic_organ_count"] = "given"
    else:
        metastatic_organ_count, version = get_metastatic_organ_count(session, subject, protocol)
        sources["metastatic_organ_count"] = (
            "no eligibility form"
            if version is None
            else f"SCREENING ELIG version {version} metastatic_lesions"
        )
    return response, metastatic_organ_count, sources, assessed


def _check_randomized_at(randomized_at: object, now: datetime) -> None:
    """A caller's date of a past allocation: a timezone-aware UTC datetime that is not in the future."""
    if not isinstance(randomized_at, datetime):
        raise InputError.single(
            "RAND-012",
            "randomized_at",
            "expected a timezone-aware datetime in UTC (e.g. datetime(2026, 3, 2, 10, 30, tzinfo=UTC))",
            value=repr(randomized_at),
        )
    offset = randomized_at.utcoffset()
    if offset is None or offset != timedelta(0):
        raise InputError.single(
            "RAND-012",
            "randomized_at",
            "expected a timezone-aware datetime in UTC: "
            + ("it has no time zone" if offset is None else f"its UTC offset is {offset}")
            + "; convert it with .astimezone(UTC)",
            value=randomized_at.isoformat(),
        )
    if randomized_at > now:
        raise InputError.single(
            "RAND-013",
            "randomized_at",
            f"a randomization cannot be dated in the future (now is {now.isoformat(timespec='seconds')}); "
            "randomized_at dates an allocation decided in the past",
            value=randomized_at.isoformat(),
        )


def _enrollment_date(session: Session, subject: Subject) -> date | None:
    """The date on the subject's enrollment form, ``None`` without one (a status set another way)."""
    from oligotrial.services.workflow._store import find_form
    from oligotrial.services.workflow.screening import ENROLLMENT

    row = find_form(session, subject, ENROLLMENT, "ENROLL")
    if row is None or not row.item_values.get("enrollment_date"):
        return None
    return date.fromisoformat(str(row.item_values["enrollment_date"]))


def _check_not_before(
    randomized_at: datetime, time_zone: str, enrollment: date | None, assessed: date | None, source: str
) -> None:
    """``randomized_at`` is on or after the enrollment and the post-induction assessment it relies on, on the
    calendar of the subject's site (``time_zone``), whose dates those are."""
    day = site_date(randomized_at, time_zone)
    if enrollment is not None and day < enrollment:
        raise ConflictError(
            Problem(
                "RAND-014",
                "randomized_at",
                f"the randomization is dated before the subject's enrollment on {enrollment.isoformat()} "
                "(ENROLLMENT ENROLL enrollment_date); a subject is randomized after enrollment",
                value=randomized_at.isoformat(),
            )
        )
    if assessed is not None and day < assessed:
        raise ConflictError(
            Problem(
                "RAND-015",
                "randomized_at",
                f"the randomization is dated before the post-induction assessment of {assessed.isoformat()} "
                f"whose response it relies on ({source}); randomization follows that assessment. Date it on "
                "or after the assessment, or give the induction_response that decided it",
                value=randomized_at.isoformat(),
            )
        )


def randomize_subject(
    edc: Edc,
    actor: Actor,
    subject_code: str,
    *,
    induction_response: str | None = None,
    metastatic_organ_count: int | None = None,
    request_id: str | None = None,
    randomized_at: datetime | None = None,
    protocol: Protocol | None = None,
) -> RandomizationView:
    """Randomize one enrolled subject without progression after induction, atomically and idempotently.

    Parameters
    ----------
    induction_response
        Overall response of the post-induction assessment, checked against
        ``randomization.eligible_responses``. When not given (``None``) it is read from the workflow records
        in the same transaction: the RECIST 1.1 overall response of the subject's last tumour assessment on
        or after the end of the last induction cycle
        (:func:`oligotrial.services.workflow.assessments.get_post_induction_response`).
    metastatic_organ_count
        Number of metastatic organs (a stratification factor). When not given it is counted on the subject's
        eligibility form (:func:`oligotrial.services.workflow.screening.get_metastatic_organ_count`).
    request_id
        Idempotency key: a retry with the same key returns the stored assignment.
    randomized_at
        When the allocation was decided, for an in-process caller that replays allocations decided in the
        past (a trial migrating from another system, the synthetic loader); default: now. A timezone-aware
        UTC datetime, not in the future, not before the subject's enrollment nor before the post-induction
        assessment the response is read from. Neither the HTTP API nor the web pages accept it: a site
        randomizes in real time.

    Notes
    -----
    The audit entry names where each input came from (``sources``: given by the caller, or the tumour
    assessment / eligibility form it was read from). It always states ``randomized_at`` and its ``dating``:
    ``"real time"``, or ``"retrospective"`` when the caller dated the allocation (the entry's own time stays
    the real time of the entry, as for every audit row, and its reason says so).

    A dated allocation is still taken in the order of the calls: the next ``sequence``, the first unused slot
    of the stratum, the minimization marginals of every subject already randomized. A caller replaying a
    history calls in the order the allocations were made. The slot's ``used_at`` is the allocation's date.

    Permuted blocks: the subject takes the first unused slot of its stratum. Minimization: the arm follows
    :func:`oligotrial.randomization.choose_minimization_arm` on the marginal totals of every subject already
    randomized, with the uniform draw number ``sequence`` of the stored stream. Each allocation is audited
    (``randomizations``) with the strata, the covariates, the list position or the scores and the draw.

    Raises
    ------
    NotFoundError
        ``EDC-020`` the subject does not exist or is not at one of the actor's sites.
    PermissionDeniedError
        ``AUTH-101`` the actor may not enter data at the subject's site.
    ConflictError
        ``RAND-001`` the subject is not enrolled; ``RAND-002`` no post-induction assessment; ``RAND-003``
        progression (or another response that is not eligible); ``RAND-004`` already randomized;
        ``RAND-007`` the request id belongs to another subject; ``RAND-008`` no unused slot in the stratum;
        ``RAND-009`` no minimization stream; ``RAND-014`` ``randomized_at`` is before the enrollment date
        (the enrollment form); ``RAND-015`` ``randomized_at`` is before the post-induction assessment the
        response was read from.
    InputError
        ``RAND-005`` a stratification value outside the protocol's levels; ``RAND-006`` unknown response;
        ``RAND-010`` malformed request id; ``RAND-012`` ``randomized_at`` is not a timezone-aware UTC
        datetime; ``RAND-013`` ``randomized_at`` is in the future.
    """
    protocol = protocol or current_protocol()
    config = protocol.randomization
    if request_id is not None and not (0 < len(request_id) <= _MAX_REQUEST_ID):
        raise InputError.single(
            "RAND-010", "request_id", f"expected 1..{_MAX_REQUEST_ID} characters", value=request_id
        )
    if randomized_at is not None:
        _check_randomized_at(randomized_at, datetime.now(UTC))
    with write_transaction(edc) as session:
        subject, site_code = lock_subject_for_entry(session, actor, subject_code)
        existing = session.execute(
            select(RandomizationRecord).where(RandomizationRecord.subject_id == subject.id)
        ).scalar_one_or_none()
        if existing is not None:
            if request_id is not None and existing.request_id == request_id:
                by = None if existing.randomized_by is None else session.get_one(User, existing.randomized_by)
                return _view(
                    existing,
                    subject.code,
                    (site_code, session.get_one(Site, subject.site_id).time_zone),
                    None if by is None else by.username,
                    protocol,
                    is_replay=True,
                )
            raise ConflictError(
                Problem(
                    "RAND-004",
                    "subject",
                    f"the subject was already randomized on {existing.randomized_at:%Y-%m-%d} "
                    f"(arm {existing.arm}); a subject is randomized once",
                    value=subject.code,
                )
            )
        if request_id is not None:
            used = session.execute(
                select(RandomizationRecord.id).where(RandomizationRecord.request_id == request_id)
            ).first()
            if used is not None:
                raise ConflictError(
                    Problem(
                        "RAND-007",
                        "request_id",
                        "this request id was used to randomize another subject; send a new one",
                        value=request_id,
                    )
                )
        if subject.status != "enrolled":
            raise ConflictError(
                Problem(
                    "RAND-001",
                    "subject",
                    f"only enrolled subjects are randomized; this subject is {subject.status}",
                    value=subject.code,
                )
            )
        response, organ_count, sources, assessed = _inputs(
            session, subject, induction_response, metastatic_organ_count, protocol
        )
        if randomized_at is not None:
            _check_not_before(
                randomized_at,
                session.get_one(Site, subject.site_id).time_zone,
                _enrollment_date(session, subject),
                assessed,
                sources["induction_response"],
            )
        covariates: dict[str, Any] = {
            "site": site_code,
            "induction_response": response,
            "metastatic_organ_count": organ_count,
        }
        levels = derive_strata(config.strata, covariates)
        key = stratum_key(levels)
        sequence = (session.execute(select(func.max(RandomizationRecord.sequence))).scalar_one() or 0) + 1
        decided = datetime.now(UTC) if randomized_at is None else randomized_at
        audit: dict[str, Any] = {
            "subject": subject.code,
            "method": config.method,
            "sequence": sequence,
            "stratum": key,
            "strata": levels,
            "covariates": covariates,
            "sources": sources,
            "randomized_at": decided.isoformat(),
            "dating": "real time" if randomized_at is None else "retrospective",
        }
        record = RandomizationRecord(
            subject_id=subject.id,
            site_id=subject.site_id,
            sequence=sequence,
            method=config.method,
            stratum=key,
            strata=levels,
            covariates=covariates,
            request_id=request_id,
            randomized_by=actor.user_id,
            randomized_at=decided,
        )
        if config.method == "permuted_blocks":
            slot = session.execute(
                select(RandomizationEntry)
                .where(RandomizationEntry.stratum == key, RandomizationEntry.subject_id.is_(None))
                .order_by(RandomizationEntry.position)
                .limit(1)
                .with_for_update()
            ).scalar_one_or_none()
            if slot is None:
                raise ConflictError(
                    Problem(
                        "RAND-008",
                        "stratum",
                        "no unused slot is left in this stratum's list; ask the statistician to extend it",
                        value=key,
                    )
                )
            slot.subject_id = subject.id
            slot.used_at = decided
            record.arm = slot.arm
            record.list_id = slot.list_id
            record.entry_id = slot.id
            record.list_position = slot.position
            audit.update(arm=slot.arm, list_id=slot.list_id, list_position=slot.position, block=slot.block)
        else:
            stream = session.execute(
                select(RandomizationList)
                .where(RandomizationList.kind == "minimization")
                .order_by(RandomizationList.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if stream is None or stream.seed is None:
                raise ConflictError(
                    Problem(
                        "RAND-009",
                        "method",
                        "minimization has no random stream yet; the statistician must run "
                        "`oligotrial randomization generate`",
                    )
                )
            marginals: dict[str, dict[str, dict[str, int]]] = {}
            for strata, arm in session.execute(
                select(RandomizationRecord.strata, RandomizationRecord.arm)
            ).all():
                add_to_marginals(marginals, strata, arm)
            position = (
                session.execute(
                    select(func.count())
                    .select_from(RandomizationRecord)
                    .where(RandomizationRecord.list_id == stream.id)
                ).scalar_one()
                + 1
            )
            u = draw_minimization_uniform(int(stream.seed), position)
            decision = choose_minimization_arm(
                marginals,
                levels,
                _ratio(protocol),
                probability=config.minimization.probability,
                imbalance=config.minimization.imbalance,
                u=u,
            )
            record.arm = decision.arm
            record.list_id = stream.id
            record.list_position = position
            record.draw = u
            record.scores = {"scores": decision.scores, "preferred": list(decision.preferred)}
            audit.update(
                arm=decision.arm,
                list_id=stream.id,
                list_position=position,
                draw=u,
                scores=decision.scores,
                preferred=list(decision.preferred),
                probability=decision.probability,
            )
        session.add(record)
        session.flush()
        write_audit(
            session,
            actor,
            "randomize",
            "randomizations",
            subject.code,
            site_id=subject.site_id,
            new=audit,
            reason=None
            if randomized_at is None
            else f"retrospective dating: the allocation was decided at {decided.isoformat()} and entered now",
        )
        time_zone = session.get_one(Site, subject.site_id).time_zone
        return _view(record, subject.code, (site_code, time_zone), actor.username, protocol)


def get_randomization(
    edc: Edc, actor: Actor, subject_code: str, *, protocol: Protocol | None = None
) -> RandomizationView:
    """A subject's assignment (open label: anyone who may read the subject); ``RAND-011`` 404 if none."""
    protocol = protocol or current_protocol()
    with read_transaction(edc) as session:
        subject, site_code = load_subject(session, actor, subject_code)
        row = session.execute(
            select(RandomizationRecord, User.username, Site.time_zone)
            .join(Site, Site.id == RandomizationRecord.site_id)
            .outerjoin(User, User.id == RandomizationRecord.randomized_by)
            .where(RandomizationRecord.subject_id == subject.id)
        ).first()
        if row is None:
            raise NotFoundError(
                Problem("RAND-011", "subject", "the subject has not been randomized", value=subject_code)
            )
        record, by, time_zone = row
        return _view(record, subject.code, (site_code, time_zone), by, protocol)


def list_randomizations(
    edc: Edc, actor: Actor, *, site_code: str | None = None, protocol: Protocol | None = None
) -> list[RandomizationView]:
    """Assignments of the actor's sites in randomization order."""
    protocol = protocol or current_protocol()
    sites = readable_sites(actor)
    with read_transaction(edc) as session:
        stmt = (
            select(RandomizationRecord, Subject.code, Site.code, Site.time_zone, User.username)
            .join(Subject, Subject.id == RandomizationRecord.subject_id)
            .join(Site, Site.id == RandomizationRecord.site_id)
            .outerjoin(User, User.id == RandomizationRecord.randomized_by)
        )
        if sites is not None:
            stmt = stmt.where(RandomizationRecord.site_id.in_(sites))
        if site_code is not None:
            stmt = stmt.where(Site.code == site_code)
        rows = session.execute(stmt.order_by(RandomizationRecord.sequence)).all()
        return [_view(r, s, (c, z), u, protocol) for r, s, c, z, u in rows]
