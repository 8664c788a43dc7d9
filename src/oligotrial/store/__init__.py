"""Persistence of the EDC: tables, engine creation, migrations and the hash-chained audit trail."""

from oligotrial.store.audit import AuditReport, audit_entry, chain_entries, verify_audit_chain
from oligotrial.store.engine import create_engine, normalize_database_url
from oligotrial.store.migrate import current_revision, head_revision, upgrade_database

__all__ = [
    "AuditReport",
    "audit_entry",
    "chain_entries",
    "create_engine",
    "current_revision",
    "head_revision",
    "normalize_database_url",
    "upgrade_database",
    "verify_audit_chain",
]
