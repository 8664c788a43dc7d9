"""Use cases of the EDC, one transaction each, with authorization, site isolation and audit inside.

Routes and commands call these functions with an :class:`Edc` context and the :class:`Actor`; they never
query the database themselves (DESIGN.md convention 9).
"""

from oligotrial.services._context import (
    ROLE_PERMISSIONS,
    STUDY_WIDE_ONLY_ROLES,
    Actor,
    Edc,
    EditCheck,
    Permission,
    Role,
    read_transaction,
    snapshot_transaction,
    write_transaction,
)
from oligotrial.services.database import backup_database, init_database, open_edc, restore_database

__all__ = [
    "ROLE_PERMISSIONS",
    "STUDY_WIDE_ONLY_ROLES",
    "Actor",
    "Edc",
    "EditCheck",
    "Permission",
    "Role",
    "backup_database",
    "init_database",
    "open_edc",
    "read_transaction",
    "restore_database",
    "snapshot_transaction",
    "write_transaction",
]
