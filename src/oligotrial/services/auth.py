"""Authentication: password policy and hashing, login with lockout, bearer tokens kept in the database.

Notes
-----
Tokens are 256-bit random strings given to the client once; the database keeps only their SHA-256, with an
absolute expiry (``token_ttl_minutes``) and a revocation flag, so any server process can check any token and
a stolen database backup yields no usable token. ``lockout_threshold`` consecutive failures lock the account
for ``lockout_minutes``; the counter lives in the database. Unknown user, wrong password, disabled and locked
accounts all get the same answer (``AUTH-001``) after the same argon2 work, so the answer reveals nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Select, bindparam, select
from sqlalchemy.orm import Session

from oligotrial.errors import AuthenticationError, InputError, Problem
from oligotrial.services._context import Actor, Edc, Role, read_transaction, write_audit, write_transaction
from oligotrial.services.views import TokenIssued
from oligotrial.store.prepared import Prepared
from oligotrial.store.tables import RoleAssignment, Site, Token, User

__all__ = [
    "USER_LANGUAGES",
    "BearerToken",
    "Preferences",
    "actor_in",
    "authenticate",
    "change_password",
    "check_password_policy",
    "get_preferences",
    "hash_token",
    "login",
    "logout",
    "set_language",
    "token_check",
    "verify_user_password",
]

USER_LANGUAGES = ("en", "zh_Hans")
"""Languages a user can choose for their pages: English and Simplified Chinese (issue 8, item 8)."""

_COMMON_PASSWORDS = frozenset(
    {"password1234", "123456789012", "qwertyuiopas", "passwordpassword", "administrator", "letmeinletmein"}
)
_BAD_CREDENTIALS = "incorrect user name or password, or the account is locked or disabled"


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a bearer token, the form in which tokens are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_password_policy(edc: Edc, password: str, username: str, field: str = "password") -> None:
    """Check the password policy.

    Notes
    -----
    At least ``password_min_length`` characters (NIST SP 800-63B favours length over composition rules), at
    most 256, not containing the user name, not a well-known password, not a single repeated character.

    Raises
    ------
    InputError
        ``AUTH-020`` naming ``field``; the password itself is never echoed.
    """
    minimum = edc.settings.password_min_length
    reasons = []
    if len(password) < minimum:
        reasons.append(f"must have at least {minimum} characters")
    if len(password) > 256:
        reasons.append("must have at most 256 characters")
    if username and username.lower() in password.lower():
        reasons.append("must not contain the user name")
    if password.lower() in _COMMON_PASSWORDS or len(set(password)) <= 2:
        reasons.append("is too easy to guess")
    if reasons:
        raise InputError(Problem("AUTH-020", field, "the password " + "; ".join(reasons)))


def _verify(edc: Edc, user: User | None, password: str) -> bool:
    if user is None:
        _dummy_verify(edc, password)
        return False
    try:
        return bool(edc.hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _dummy_verify(edc: Edc, password: str) -> None:
    dummy = getattr(edc, "_dummy_hash", None)
    if dummy is None:
        dummy = edc.hasher.hash(secrets.token_urlsafe(16))
        object.__setattr__(edc, "_dummy_hash", dummy)
    with contextlib.suppress(VerificationError, InvalidHashError):
        edc.hasher.verify(dummy, password)


def _register_failure(edc: Edc, session: Session, user: User, actor: Actor, now: datetime) -> None:
    user.failed_logins += 1
    write_audit(session, actor, "login_failed", "users", user.username, site_id=None)
    if user.failed_logins >= edc.settings.lockout_threshold:
        user.locked_until = now + timedelta(minutes=edc.settings.lockout_minutes)
        user.failed_logins = 0
        write_audit(
            session,
            actor,
            "account_locked",
            "users",
            user.username,
            site_id=None,
            new={"locked_until": user.locked_until.isoformat()},
        )


def verify_user_password(edc: Edc, session: Session, user: User, password: str, actor: Actor) -> bool:
    """Check ``password`` for ``user`` inside a write transaction, counting a failure toward lockout."""
    now = datetime.now(UTC)
    if user.locked_until is not None and user.locked_until > now:
        _dummy_verify(edc, password)
        return False
    if _verify(edc, user, password):
        user.failed_logins = 0
        return True
    _register_failure(edc, session, user, actor, now)
    return False


def login(edc: Edc, username: str, password: str, source: str) -> TokenIssued:
    """Exchange a user name and password for a bearer token with an expiry.

    Notes
    -----
    The password hash (argon2, deliberately slow) is checked between two short transactions, not inside the
    write transaction: a burst of logins then costs CPU, not the database's write lock (which every other
    write waits for). The write transaction re-reads the account and refuses when its password, state or
    lockout changed in between.

    Raises
    ------
    AuthenticationError
        ``AUTH-001`` for any failure (unknown user, wrong password, disabled or locked account).
    """
    with read_transaction(edc) as session:
        seen = session.execute(
            select(User.id, User.password_hash, User.is_active, User.locked_until).where(
                User.username == username
            )
        ).first()
    now = datetime.now(UTC)
    usable = seen is not None and seen.is_active and (seen.locked_until is None or seen.locked_until <= now)
    if seen is None or not usable:
        _dummy_verify(edc, password)
        is_correct = False
    else:
        try:
            is_correct = bool(edc.hasher.verify(seen.password_hash, password))
        except (VerificationError, InvalidHashError):
            is_correct = False
    rehashed = (
        edc.hasher.hash(password)
        if is_correct and seen is not None and edc.hasher.check_needs_rehash(seen.password_hash)
        else None
    )
    refused = AuthenticationError(Problem("AUTH-001", "username", _BAD_CREDENTIALS))
    if seen is None:
        raise refused
    is_issued = False
    with write_transaction(edc) as session:
        user = session.get_one(User, seen.id)
        actor = Actor(user.id, user.username, user.full_name, frozenset(), source)
        unchanged = user.password_hash == seen.password_hash and user.is_active
        if usable and not is_correct:
            _register_failure(edc, session, user, actor, now)
        elif is_correct and unchanged and (user.locked_until is None or user.locked_until <= now):
            is_issued = True
            user.failed_logins = 0
            if rehashed is not None:
                user.password_hash = rehashed
            token = secrets.token_urlsafe(32)
            expires = now + timedelta(minutes=edc.settings.token_ttl_minutes)
            session.add(
                Token(token_hash=hash_token(token), user_id=user.id, created_at=now, expires_at=expires)
            )
            write_audit(
                session,
                actor,
                "login",
                "users",
                user.username,
                site_id=None,
                new={"expires_at": expires.isoformat()},
            )
    if not is_issued:
        raise refused
    return TokenIssued(access_token=token, expires_at=expires, expires_in=edc.settings.token_ttl_minutes * 60)


def authenticate(edc: Edc, token: str, source: str) -> Actor:
    """The actor a bearer token belongs to.

    Notes
    -----
    Checked against the database on every request (any server process accepts any token, and a revocation,
    a disabled account or a changed role takes effect on the next request): one statement reads the token,
    its user and the user's role assignments together (:func:`actor_in` does the same inside a use case's
    own transaction).

    Raises
    ------
    AuthenticationError
        ``AUTH-002`` when the token is unknown, expired or revoked, or its user disabled or locked.
    """
    with read_transaction(edc) as session:
        return _actor_for_token(session.connection(), token, source)


@dataclass(frozen=True)
class BearerToken:
    """A request's bearer token and origin, not yet checked: a use case that accepts it checks it with
    :func:`actor_in` inside its own transaction (one transaction per request instead of two)."""

    token: str = field(repr=False)
    source: str


def actor_in(
    connection: Connection,
    who: Actor | BearerToken,
    read_with: Prepared[Select[Any]] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[Actor, tuple[Any, ...] | None]:
    """``who`` itself when it is an actor already, else the actor its bearer token belongs to; and the use
    case's first read when it was made with the token check (``None`` when it was not).

    Notes
    -----
    The same check as :func:`authenticate` (token, user and role assignments read against the database in
    one statement: issue 6, item 9, no state kept between requests), made in the caller's transaction, so
    that the check and the use case see one snapshot and a request costs one transaction. Call it first in
    the transaction, before any other statement or input check, so that a bad token is answered 401 whatever
    else is wrong with the request.

    ``read_with`` is a :func:`token_check` statement, prepared (:class:`~oligotrial.store.prepared.Prepared`),
    that selects the use case's first read after the token check's columns and outer-joins what it reads
    (``token_check(Subject.id, Site.code)`` with ``outerjoin(Subject, Subject.code == bindparam("code"))``
    ...), ``parameters`` its values. The token check and the read then cost one database round trip instead
    of two: on the busiest use cases (form saves and reads), and inside a write use case's transaction, where
    every round trip lengthens the wait of the process's other writers. The read comes back as one row of
    those columns (``None`` in each where nothing was found), whatever the user's number of role assignments.
    It runs on ``connection`` (the use case's), without the ORM, which cost about a third of a small read's
    processor time: select columns, not mapped classes, which would come back as their columns. When ``who``
    is an actor already, nothing is read and the read is ``None``: the caller reads on its own.

    Raises
    ------
    AuthenticationError
        ``AUTH-002`` when the token is unknown, expired or revoked, or its user disabled or locked.
    """
    if isinstance(who, Actor):
        return who, None
    if read_with is None:
        return _actor_for_token(connection, who.token, who.source), None
    rows = read_with.all(connection, {**(parameters or {}), "token_hash": hash_token(who.token)})
    actor = _actor_of(rows, who.source)
    return actor, tuple(rows[0][_TOKEN_COLUMN_COUNT:])


def token_check(*also: Any) -> Select[Any]:
    """The bearer-token check's statement, selecting the columns or entities ``also`` after its own for the
    caller to outer-join what they come from (see :func:`actor_in`)."""
    return (
        select(*_TOKEN_COLUMNS, *also)
        .select_from(Token)
        .join(User, User.id == Token.user_id)
        .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(Token.token_hash == bindparam("token_hash"))
    )


def _actor_for_token(connection: Connection, token: str, source: str) -> Actor:
    rows = _TOKEN_ACTOR.all(connection, {"token_hash": hash_token(token)})
    return _actor_of(rows, source)


def _actor_of(rows: Sequence[Sequence[Any]], source: str) -> Actor:
    """The actor of a token check's rows (its first columns), if the token and the account are usable."""
    now = datetime.now(UTC)
    if rows:
        revoked, expires_at, user_id, username, full_name, is_active, locked_until = rows[0][:7]
        usable = (
            not revoked and expires_at > now and is_active and (locked_until is None or locked_until <= now)
        )
        if usable:
            assignments = frozenset((Role(row[7]), row[8]) for row in rows if row[7] is not None)
            return Actor(user_id, username, full_name, assignments, source)
    raise AuthenticationError(
        Problem("AUTH-002", "Authorization", "the token is missing, expired or revoked; log in again")
    )


_TOKEN_COLUMNS = (
    Token.revoked,
    Token.expires_at,
    User.id,
    User.username,
    User.full_name,
    User.is_active,
    User.locked_until,
    RoleAssignment.role,
    RoleAssignment.site_id,
)
_TOKEN_COLUMN_COUNT = len(_TOKEN_COLUMNS)
_TOKEN_ACTOR = Prepared(token_check())


def logout(edc: Edc, token: str, actor: Actor) -> None:
    """Revoke a bearer token (its expiry stays recorded)."""
    with write_transaction(edc) as session:
        tok = session.execute(select(Token).where(Token.token_hash == hash_token(token))).scalar_one_or_none()
        if tok is not None and not tok.revoked:
            tok.revoked = True
            write_audit(session, actor, "logout", "users", actor.username, site_id=None)


def change_password(edc: Edc, actor: Actor, current_password: str, new_password: str) -> None:
    """Change the actor's own password after re-entering the current one; revokes their other tokens.

    Raises
    ------
    AuthenticationError
        ``AUTH-003`` when the current password is wrong (counts toward lockout).
    InputError
        ``AUTH-020`` when the new password breaks the policy.
    """
    check_password_policy(edc, new_password, actor.username, field="new_password")
    failure = None
    with write_transaction(edc) as session:
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None or not verify_user_password(edc, session, user, current_password, actor):
            failure = AuthenticationError(
                Problem("AUTH-003", "current_password", "the current password is wrong")
            )
        else:
            user.password_hash = edc.hasher.hash(new_password)
            user.password_changed_at = datetime.now(UTC)
            for tok in session.execute(select(Token).where(Token.user_id == user.id)).scalars():
                tok.revoked = True
            write_audit(session, actor, "password_changed", "users", user.username, site_id=None)
    if failure is not None:
        raise failure


@dataclass(frozen=True)
class Preferences:
    """What a user's pages are shown with.

    Attributes
    ----------
    language
        ``en`` or ``zh_Hans``, chosen by the user.
    site_time_zones
        Site code -> IANA time zone, for every site the user works at (every site for study-wide roles).
    """

    language: str
    site_time_zones: dict[str, str]


def get_preferences(edc: Edc, actor: Actor) -> Preferences:
    """The actor's language and the time zones of their sites (English and no site for the system actor)."""
    with read_transaction(edc) as session:
        language = None
        if actor.user_id is not None:
            language = session.execute(select(User.language).where(User.id == actor.user_id)).scalar()
        stmt = select(Site.code, Site.time_zone).order_by(Site.code)
        if not any(site_id is None for _, site_id in actor.assignments):
            stmt = stmt.where(Site.id.in_({s for _, s in actor.assignments if s is not None}))
        zones = {code: zone for code, zone in session.execute(stmt).all()}
    return Preferences(language=language or USER_LANGUAGES[0], site_time_zones=zones)


def set_language(edc: Edc, actor: Actor, language: str) -> str:
    """Set the language of the actor's own pages; audited as a change of their user record.

    Notes
    -----
    Every page and message exists in English and Simplified Chinese, chosen per user (issue 8, item 8); any
    logged-in user may choose, for themselves only.

    Raises
    ------
    InputError
        ``EDC-014`` naming ``language`` when it is not ``en`` or ``zh_Hans``; ``EDC-004`` for an actor without
        a user account (the command line's system actor).
    """
    if language not in USER_LANGUAGES:
        raise InputError.single(
            "EDC-014", "language", "expected one of: " + ", ".join(USER_LANGUAGES), value=language
        )
    with write_transaction(edc) as session:
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None:
            raise InputError.single("EDC-004", "username", "no such user", value=actor.username)
        if user.language != language:
            old = user.language
            user.language = language
            write_audit(
                session,
                actor,
                "update",
                "users",
                user.username,
                site_id=None,
                old={"language": old},
                new={"language": language},
            )
    return language
