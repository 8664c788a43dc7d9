"""Administration use cases: sites, user accounts, role assignments."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import ConflictError, InputError, NotFoundError, Problem
from oligotrial.services._context import (
    STUDY_WIDE_ONLY_ROLES,
    Actor,
    Edc,
    Permission,
    Role,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services._validate import require_reason
from oligotrial.services.auth import check_password_policy
from oligotrial.services.views import RoleView, SiteView, UserView
from oligotrial.store.tables import RoleAssignment, Site, Token, User

__all__ = [
    "assign_role",
    "check_time_zone",
    "create_site",
    "create_user",
    "disable_user",
    "get_site_id",
    "get_user",
    "list_sites",
    "list_users",
    "revoke_role",
    "set_site_time_zone",
    "site_date",
]

_SITE_CODE = re.compile(r"^[A-Z0-9]{2,12}$")
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


def _site_view(site: Site) -> SiteView:
    return SiteView(
        code=site.code,
        name=site.name,
        is_active=site.is_active,
        time_zone=site.time_zone,
        created_at=site.created_at,
    )


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(time_zone: str, field: str = "time_zone") -> str:
    """Return ``time_zone`` if it is a time zone of the IANA database known to this system.

    Notes
    -----
    Timestamps are stored in UTC and shown in the site's zone (issue 8, item 8); the names are those of the
    IANA time zone database as :mod:`zoneinfo` finds it (``Asia/Shanghai``, ``Europe/Paris``, ``UTC``).
    Abbreviations such as ``CST`` are ambiguous and refused.

    Raises
    ------
    InputError
        ``EDC-013`` naming ``field`` and the value.
    """
    if time_zone not in _time_zones():
        raise InputError.single(
            "EDC-013",
            field,
            f"expected an IANA time zone name such as Asia/Shanghai or UTC, got {time_zone!r}",
            value=time_zone,
        )
    return time_zone


def site_date(moment: datetime, time_zone: str) -> date:
    """The calendar day of a timezone-aware ``moment`` at a site in ``time_zone`` (an IANA name): the day a
    site records for what it did at that moment."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def create_site(edc: Edc, actor: Actor, code: str, name: str, time_zone: str | None = None) -> SiteView:
    """Register a site; ``code`` (2-12 upper-case letters or digits) prefixes its subject identifiers.

    ``time_zone`` (an IANA name) is the zone its pages show timestamps in; by default the setting
    ``default_site_time_zone`` (``Asia/Shanghai``).

    Raises
    ------
    InputError
        ``EDC-001`` malformed code or name; ``EDC-013`` unknown time zone.
    ConflictError
        ``EDC-002`` a site with this code exists.
    """
    actor.require(Permission.MANAGE_SITES)
    if not _SITE_CODE.match(code):
        raise InputError.single("EDC-001", "code", "expected 2-12 upper-case letters or digits", value=code)
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InputError.single("EDC-001", "name", "expected a name of 1-200 characters", value=name)
    zone = check_time_zone(edc.settings.default_site_time_zone if time_zone is None else time_zone)
    with write_transaction(edc) as session:
        if session.execute(select(Site.id).where(Site.code == code)).first():
            raise ConflictError(
                Problem("EDC-002", "code", "a site with this code already exists", value=code)
            )
        site = Site(
            code=code,
            name=name,
            is_active=True,
            next_subject_seq=1,
            time_zone=zone,
            created_at=datetime.now(UTC),
        )
        session.add(site)
        session.flush()
        write_audit(
            session,
            actor,
            "create",
            "sites",
            site.code,
            site_id=site.id,
            new={"code": code, "name": name, "time_zone": zone},
        )
        return _site_view(site)


def set_site_time_zone(edc: Edc, actor: Actor, code: str, time_zone: str) -> SiteView:
    """Set the time zone (an IANA name) in which a site's pages show timestamps; audited with old and new.

    Notes
    -----
    Only the display changes: timestamps stay stored in UTC (issue 8, item 8), so no record is rewritten.

    Raises
    ------
    InputError
        ``EDC-013`` unknown time zone.
    NotFoundError
        ``EDC-003`` no such site.
    """
    actor.require(Permission.MANAGE_SITES)
    zone = check_time_zone(time_zone)
    with write_transaction(edc) as session:
        site = session.execute(select(Site).where(Site.code == code)).scalar_one_or_none()
        if site is None:
            raise NotFoundError(Problem("EDC-003", "site", "no such site", value=code))
        if site.time_zone != zone:
            old = site.time_zone
            site.time_zone = zone
            write_audit(
                session,
                actor,
                "update",
                "sites",
                site.code,
                site_id=site.id,
                old={"time_zone": old},
                new={"time_zone": zone},
            )
        return _site_view(site)


def list_sites(edc: Edc, actor: Actor) -> list[SiteView]:
    """The sites the actor works at (all sites for study-wide roles)."""
    with read_transaction(edc) as session:
        stmt = select(Site).order_by(Site.code)
        if not any(site_id is None for _, site_id in actor.assignments):
            stmt = stmt.where(Site.id.in_({s for _, s in actor.assignments if s is not None}))
        return [_site_view(s) for s in session.execute(stmt).scalars()]


def get_site_id(session: Session, code: str) -> int:
    """The id of the site with ``code``; :class:`NotFoundError` ``EDC-003`` if none."""
    site_id = session.execute(select(Site.id).where(Site.code == code)).scalar_one_or_none()
    if site_id is None:
        raise NotFoundError(Problem("EDC-003", "site", "no such site", value=code))
    return site_id


def _user_view(session: Session, user: User) -> UserView:
    rows = session.execute(
        select(RoleAssignment, Site.code)
        .outerjoin(Site, Site.id == RoleAssignment.site_id)
        .where(RoleAssignment.user_id == user.id)
        .order_by(RoleAssignment.id)
    ).all()
    now = datetime.now(UTC)
    return UserView(
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        is_active=user.is_active,
        is_locked=user.locked_until is not None and user.locked_until > now,
        language=user.language,
        roles=[RoleView(id=ra.id, role=ra.role, site=code) for ra, code in rows],
        created_at=user.created_at,
    )


def _get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(Problem("EDC-004", "username", "no such user", value=username))
    return user


def create_user(
    edc: Edc,
    actor: Actor,
    username: str,
    password: str,
    full_name: str,
    email: str = "",
    roles: list[tuple[Role, str | None]] | None = None,
) -> UserView:
    """Create an account, optionally with roles (``(role, site code or None)``).

    Raises
    ------
    InputError
        ``EDC-005`` malformed user name or full name; ``AUTH-020`` password policy.
    ConflictError
        ``EDC-006`` the user name is taken.
    """
    actor.require(Permission.MANAGE_USERS)
    if not _USERNAME.match(username):
        raise InputError.single(
            "EDC-005",
            "username",
            "expected 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter",
            value=username,
        )
    full_name = full_name.strip()
    if not 1 <= len(full_name) <= 200:
        raise InputError.single(
            "EDC-005", "full_name", "expected a name of 1-200 characters", value=full_name
        )
    check_password_policy(edc, password, username)
    password_hash = edc.hasher.hash(password)
    with write_transaction(edc) as session:
        if session.execute(select(User.id).where(User.username == username)).first():
            raise ConflictError(Problem("EDC-006", "username", "this user name is taken", value=username))
        now = datetime.now(UTC)
        user = User(
            username=username,
            full_name=full_name,
            email=email,
            password_hash=password_hash,
            is_active=True,
            failed_logins=0,
            password_changed_at=now,
            created_at=now,
        )
        session.add(user)
        session.flush()
        write_audit(
            session,
            actor,
            "create",
            "users",
            username,
            site_id=None,
            new={"username": username, "full_name": full_name, "email": email},
        )
        for role, site_code in roles or []:
            _assign(session, actor, user, Role(role), site_code)
        return _user_view(session, user)


def _assign(session: Session, actor: Actor, user: User, role: Role, site_code: str | None) -> RoleAssignment:
    if role in STUDY_WIDE_ONLY_ROLES and site_code is not None:
        raise InputError.single(
            "EDC-007", "site", f"the {role.value} role is granted study-wide only", value=site_code
        )
    site_id = get_site_id(session, site_code) if site_code is not None else None
    existing = session.execute(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.role == role.value,
            RoleAssignment.site_id.is_(None) if site_id is None else RoleAssignment.site_id == site_id,
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise ConflictError(
            Problem("EDC-008", "role", "the user already holds this role here", value=role.value)
        )
    assignment = RoleAssignment(
        user_id=user.id, role=role.value, site_id=site_id, created_at=datetime.now(UTC)
    )
    session.add(assignment)
    session.flush()
    write_audit(
        session,
        actor,
        "create",
        "role_assignments",
        assignment.id,
        site_id=site_id,
        new={"username": user.username, "role": role.value, "site": site_code},
    )
    return assignment


def assign_role(edc: Edc, actor: Actor, username: str, role: Role, site_code: str | None) -> UserView:
    """Grant ``role`` to a user at a site, or study-wide when ``site_code`` is ``None``."""
    actor.require(Permission.MANAGE_USERS)
    with write_transaction(edc) as session:
        user = _get_user(session, username)
        _assign(session, actor, user, Role(role), site_code)
        return _user_view(session, user)


def revoke_role(edc: Edc, actor: Actor, username: str, assignment_id: int, reason: str) -> UserView:
    """Withdraw a role assignment; the reason is recorded in the audit trail."""
    actor.require(Permission.MANAGE_USERS)
    reason = require_reason(reason)
    with write_transaction(edc) as session:
        user = _get_user(session, username)
        assignment = session.get(RoleAssignment, assignment_id)
        if assignment is None or assignment.user_id != user.id:
            raise NotFoundError(
                Problem("EDC-009", "assignment_id", "no such role assignment", value=assignment_id)
            )
        old = {"username": username, "role": assignment.role, "site_id": assignment.site_id}
        session.delete(assignment)
        session.flush()
        write_audit(
            session,
            actor,
            "delete",
            "role_assignments",
            assignment_id,
            site_id=assignment.site_id,
            old=old,
            reason=reason,
        )
        return _user_view(session, user)


def list_users(edc: Edc, actor: Actor) -> list[UserView]:
    """Every account with its roles (administrators only)."""
    actor.require(Permission.MANAGE_USERS)
    with read_transaction(edc) as session:
        users = session.execute(select(User).order_by(User.username)).scalars().all()
        return [_user_view(session, u) for u in users]


def get_user(edc: Edc, actor: Actor, username: str) -> UserView:
    """One account: administrators see anyone, every user sees themselves."""
    if username != actor.username:
        actor.require(Permission.MANAGE_USERS)
    with read_transaction(edc) as session:
        return _user_view(session, _get_user(session, username))


def disable_user(edc: Edc, actor: Actor, username: str, reason: str) -> UserView:
    """Disable an account (it is never deleted, its records keep naming it) and revoke its tokens."""
    actor.require(Permission.MANAGE_USERS)
    reason = require_reason(reason)
    with write_transaction(edc) as session:
        user = _get_user(session, username)
        if user.is_active:
            user.is_active = False
            for tok in session.execute(
                select(Token).where(Token.user_id == user.id, Token.revoked.is_(False))
            ).scalars():
                tok.revoked = True
            write_audit(
                session,
                actor,
                "update",
                "users",
                username,
                site_id=None,
                old={"is_active": True},
                new={"is_active": False},
                reason=reason,
            )
        return _user_view(session, user)
