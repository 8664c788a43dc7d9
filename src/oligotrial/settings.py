"""Configuration of the EDC server and commands, read from ``OLIGOTRIAL_*`` environment variables.

Every setting has a safe production default except the secret key, which has none: outside
``OLIGOTRIAL_ENV=development`` :func:`check_settings` refuses a missing, known-default or short secret.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oligotrial.errors import ConfigurationError, Problem

__all__ = ["DEFAULT_DATABASE_URL", "DEVELOPMENT_SECRET", "Settings", "check_settings", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///./oligotrial-data/trial.db"
DEVELOPMENT_SECRET = "development-secret-do-not-use-in-production"  # noqa: S105 - refused outside development
_KNOWN_DEFAULT_SECRETS = frozenset({"", DEVELOPMENT_SECRET, "changeme", "change-me", "secret", "changethis"})
_MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Settings of the EDC platform.

    Attributes
    ----------
    env
        ``production`` (default) or ``development``; only development accepts the default secret.
    database_url
        SQLAlchemy URL: ``sqlite:///path`` (embedded default) or ``postgresql+psycopg://user@host/db``.
    secret_key
        Server secret (at least 32 characters), used to key CSRF tokens of cookie-authenticated pages.
    token_ttl_minutes
        Lifetime of a bearer token; after it the user logs in again (session expiry).
    lockout_threshold, lockout_minutes
        Consecutive failed logins that lock an account, and for how long.
    password_min_length
        Password policy: minimum length (the policy also refuses passwords containing the user name).
    argon2_time_cost, argon2_memory_kib, argon2_parallelism
        argon2id parameters (RFC 9106 second recommended option by default).
    max_body_bytes
        Largest request body the API accepts (HTTP 413 beyond).
    db_pool_size, db_busy_timeout_seconds
        Connections per server process, and how long a write waits for the database lock before HTTP 503.
    request_threads
        Requests a server process works on at once in each of its two thread pools (the form save and read
        routes' own, FastAPI's for the other routes; keep it at most ``db_pool_size``, whose pool lets as many
        connections again overflow, so that none waits for a connection); the others wait their turn without
        holding a thread. Fewer threads contending for the interpreter let the one holding the database's
        write turn finish sooner: at 50 clients (issue 6) 8 threads served 272-308 audited writes/s on
        PostgreSQL where 40 served 196-240, runs alternated (benchmarks/RESULTS.md). A slow request (a
        report, a login's password hash) holds one for its whole duration.
    default_site_time_zone
        IANA time zone given to a new site when none is named (``Asia/Shanghai``: the trial's sites are in
        China); each site's zone is then kept in the database and changed by an administrator.
    """

    model_config = SettingsConfigDict(env_prefix="OLIGOTRIAL_", extra="ignore")

    env: Literal["production", "development"] = "production"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""
    token_ttl_minutes: int = Field(30, ge=1, le=24 * 60)
    lockout_threshold: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    password_min_length: int = Field(12, ge=8, le=128)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(4, ge=1)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    db_pool_size: int = Field(10, ge=1, le=200)
    db_busy_timeout_seconds: float = Field(30.0, gt=0)
    request_threads: int = Field(8, ge=1, le=200)
    default_site_time_zone: str = "Asia/Shanghai"

    @field_validator("default_site_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"expected an IANA time zone name such as Asia/Shanghai, got {value!r}")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, with explicit ``overrides`` (e.g. command-line options).

    Raises
    ------
    ConfigurationError
        ``CONF-001`` per malformed variable, named by its environment variable.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            Problem(
                "CONF-001",
                "OLIGOTRIAL_" + "_".join(str(p) for p in error["loc"]).upper(),
                error["msg"],
                value=error.get("input"),
            )
            for error in exc.errors()
        ]
        raise ConfigurationError(problems) from None


def check_settings(settings: Settings) -> Settings:
    """Refuse settings unfit to serve: a default, missing or short secret outside development.

    Notes
    -----
    DESIGN.md convention 9: settings refuse default secrets unless ``OLIGOTRIAL_ENV=development``; in
    development a missing secret is replaced by the fixed development secret.

    Raises
    ------
    ConfigurationError
        ``CONF-002`` naming ``OLIGOTRIAL_SECRET_KEY``.
    """
    if settings.env == "development":
        if not settings.secret_key:
            return settings.model_copy(update={"secret_key": DEVELOPMENT_SECRET})
        return settings
    secret = settings.secret_key
    if secret.lower() in _KNOWN_DEFAULT_SECRETS or len(secret) < _MIN_SECRET_LENGTH:
        raise ConfigurationError(
            Problem(
                "CONF-002",
                "OLIGOTRIAL_SECRET_KEY",
                f"a random secret of at least {_MIN_SECRET_LENGTH} characters is required outside "
                "development; generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                " or set OLIGOTRIAL_ENV=development on a workstation",
                value="<default>" if secret.lower() in _KNOWN_DEFAULT_SECRETS else "<too short>",
            )
        )
    return settings
