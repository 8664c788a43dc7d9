"""The EDC tables (SQLAlchemy 2 declarative models), shared by SQLite and PostgreSQL.

Every timestamp is stored in UTC (:class:`UTCDateTime` refuses naive datetimes). Identifiers are integers
assigned by the database except ``audit_log.id``, which is the position in the hash chain and is assigned
by :func:`oligotrial.store.audit.chain_entries` under the chain lock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "GENESIS_HASH",
    "AuditChainHead",
    "AuditEntry",
    "Base",
    "CtcaeImport",
    "CtcaeTermRow",
    "DataQuery",
    "Event",
    "Form",
    "FormVersion",
    "Meta",
    "QueryMessage",
    "RadiotherapyCourseRow",
    "RadiotherapyPlanRow",
    "RandomizationEntry",
    "RandomizationList",
    "RandomizationRecord",
    "RoleAssignment",
    "Signature",
    "Site",
    "Subject",
    "Token",
    "UTCDateTime",
    "User",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first audit entry."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it as naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; pass a UTC-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the EDC tables."""

    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), date: Date()}  # noqa: RUF012


class Meta(Base):
    """Key-value facts about the database: the protocol id and version it was created for."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Site(Base):
    """A participating centre; ``code`` prefixes its subjects' identifiers."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_subject_seq: Mapped[int] = mapped_column(Integer, default=1)
    time_zone: Mapped[str] = mapped_column(
        String(64), default="Asia/Shanghai", server_default="Asia/Shanghai"
    )
    """IANA time zone in which the site's pages show timestamps (stored in UTC); set by an administrator."""
    created_at: Mapped[datetime]


class User(Base):
    """A person who logs in; the password is an argon2id hash, never the password."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    password_changed_at: Mapped[datetime]
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    """Language of the user's pages: ``en`` or ``zh_Hans`` (chosen by the user)."""
    created_at: Mapped[datetime]


class RoleAssignment(Base):
    """A role held by a user at one site (``site_id``) or study-wide (``site_id`` null)."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role", "site_id", name="uq_role_assignments"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    created_at: Mapped[datetime]


class Token(Base):
    """A bearer token, stored as the SHA-256 of the token so a database reader cannot use it."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Subject(Base):
    """A screened or enrolled participant; ``code`` is ``<site code>-<4-digit sequence>``."""

    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("site_id", "seq", name="uq_subjects_site_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """A visit or event of a subject (``event_code`` from the protocol schedule), created with its first form."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("subject_id", "event_code", name="uq_events_subject_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    event_code: Mapped[str] = mapped_column(String(64))
    event_date: Mapped[date | None]
    created_at: Mapped[datetime]


class Form(Base):
    """The current state of one form instance; every saved state is kept in :class:`FormVersion`."""

    __tablename__ = "forms"
    __table_args__ = (UniqueConstraint("event_id", "form_code", name="uq_forms_event_form"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    form_code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    item_values: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FormVersion(Base):
    """One saved state of a form: the item values, who saved them, when and why."""

    __tablename__ = "form_versions"
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_values: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    saved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    saved_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)


class DataQuery(Base):
    """A question on one item of a form: ``open`` -> ``answered`` -> ``closed`` (or re-opened)."""

    __tablename__ = "data_queries"
    __table_args__ = (Index("ix_data_queries_site_state", "site_id", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    item: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))
    check_code: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    form_version: Mapped[int] = mapped_column(Integer)
    raised_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class QueryMessage(Base):
    """One step in a query's history: raise, answer, close or reopen, with its text."""

    __tablename__ = "query_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("data_queries.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Signature(Base):
    """An electronic signature of a form or a whole casebook, bound to the exact record versions signed.

    ``manifest`` lists ``{"record": "form"|"subject", "id", "version", "content_hash"}`` for every record
    signed; ``manifest_hash`` is the SHA-256 of its canonical JSON with signer, meaning and time.
    """

    __tablename__ = "signatures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    form_id: Mapped[int | None] = mapped_column(ForeignKey("forms.id"))
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signer_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(32))
    signed_at: Mapped[datetime]
    manifest: Mapped[dict[str, Any]]
    manifest_hash: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """One append-only audit record (21 CFR 11.10(e)), hash-chained to the previous one.

    ``old_values``/``new_values`` hold canonical JSON text, so the hash is computed over exactly the
    stored bytes on every backend.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "table_name", "record_id"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[int | None] = mapped_column(Integer, index=True)
    old_values: Mapped[str | None] = mapped_column(Text)
    new_values: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The single row (``id`` 1) holding the last chain position and hash; appends lock it."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


# -- randomization, CTCAE terminology, radiotherapy (issue 7; migration 0002) -------------------------------


class RandomizationList(Base):
    """A concealed allocation list (generated from a seed, or uploaded) or a minimization stream.

    ``kind`` is ``generated``, ``uploaded`` or ``minimization``; ``seed`` and ``parameters`` (block sizes,
    ratio, strata, entries per stratum, or the minimization probability and measure) reproduce it, and
    ``content_sha256`` is the SHA-256 of its entries as stored.
    """

    __tablename__ = "randomization_lists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    parameters: Mapped[dict[str, Any]]
    entries: Mapped[int] = mapped_column(Integer, default=0)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class RandomizationEntry(Base):
    """One slot of a concealed list: the ``position``-th allocation of ``stratum``; ``subject_id`` is set
    when the slot is used (once: unique)."""

    __tablename__ = "randomization_entries"
    __table_args__ = (UniqueConstraint("stratum", "position", name="uq_randomization_entries_slot"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("randomization_lists.id"), index=True)
    stratum: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str] = mapped_column(String(32))
    block: Mapped[int] = mapped_column(Integer, default=0)
    block_size: Mapped[int] = mapped_column(Integer, default=0)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), unique=True)
    used_at: Mapped[datetime | None]


class RandomizationRecord(Base):
    """The randomization of one subject (at most one: unique ``subject_id``), with the inputs that decided
    it: strata, list slot (permuted blocks) or scores and uniform draw (minimization)."""

    __tablename__ = "randomizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    method: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(32))
    stratum: Mapped[str] = mapped_column(String(200))
    strata: Mapped[dict[str, Any]]
    covariates: Mapped[dict[str, Any]]
    list_id: Mapped[int | None] = mapped_column(ForeignKey("randomization_lists.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("randomization_entries.id"), unique=True)
    list_position: Mapped[int | None] = mapped_column(Integer)
    draw: Mapped[float | None] = mapped_column(Float)
    scores: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    randomized_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    randomized_at: Mapped[datetime]


class CtcaeImport(Base):
    """One import of a CTCAE workbook: file name, SHA-256, counts; the newest holds the current terms."""

    __tablename__ = "ctcae_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    terms: Mapped[int] = mapped_column(Integer)
    socs: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[datetime]


class CtcaeTermRow(Base):
    """A CTCAE term with its grade definitions (``None``: the grade does not apply to the term)."""

    __tablename__ = "ctcae_terms"
    __table_args__ = (UniqueConstraint("term_key", name="uq_ctcae_terms_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("ctcae_imports.id"))
    meddra_code: Mapped[int | None] = mapped_column(Integer)
    soc: Mapped[str] = mapped_column(String(200), index=True)
    term: Mapped[str] = mapped_column(String(200))
    term_key: Mapped[str] = mapped_column(String(200))
    grade_1: Mapped[str | None] = mapped_column(Text)
    grade_2: Mapped[str | None] = mapped_column(Text)
    grade_3: Mapped[str | None] = mapped_column(Text)
    grade_4: Mapped[str | None] = mapped_column(Text)
    grade_5: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[str | None] = mapped_column(Text)
    navigational_note: Mapped[str | None] = mapped_column(Text)


class RadiotherapyPlanRow(Base):
    """A subject's radiotherapy dates (end of chemo-immunotherapy, maintenance restart) and the latest plan
    check of all its courses."""

    __tablename__ = "radiotherapy_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    chemo_immunotherapy_end: Mapped[date]
    maintenance_restart: Mapped[date | None]
    verdict: Mapped[str] = mapped_column(String(16))
    check_result: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class RadiotherapyCourseRow(Base):
    """The radiotherapy of one lesion (``values``: the course as entered) with its plan-check verdict."""

    __tablename__ = "radiotherapy_courses"
    __table_args__ = (UniqueConstraint("subject_id", "lesion_id", name="uq_radiotherapy_courses_lesion"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    lesion_id: Mapped[str] = mapped_column(String(64))
    course: Mapped[dict[str, Any]]
    verdict: Mapped[str] = mapped_column(String(16))
    findings: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
