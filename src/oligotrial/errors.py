"""The exception tree of oligotrial.

Every error the package raises on purpose derives from :class:`OligotrialError`. Each subclass says when it
is raised. An error carries one or more :class:`Problem` records, each naming the field, the value received
and the rule it breaks, so that the CLI can print them, the API can map them to JSON with field paths, and a
test can assert on the code rather than on wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "MISSING_FIELD",
    "AuditChainError",
    "AuthenticationError",
    "ComputationError",
    "ConfigurationError",
    "ConflictError",
    "InputError",
    "NotFoundError",
    "OligotrialError",
    "PermissionDeniedError",
    "Problem",
    "ProtocolError",
    "ServiceUnavailableError",
]


MISSING_FIELD = "required field is missing"
"""The message of a problem whose field is required and absent (the code is the rule's or the record's)."""


@dataclass(frozen=True)
class Problem:
    """One located violation of a rule.

    Attributes
    ----------
    code
        Stable identifier of the rule, e.g. ``PROTO-012`` or ``ELIG-003``.
    field
        Dotted path of the offending item, e.g. ``radiotherapy.sbrt.fractions`` or ``courses[1].organ``.
    message
        What was expected and what to do, in words (the value is repeated by :meth:`render`).
    value
        The value received (``None`` when it is missing).
    line
        Line in the source file, when the input came from a file that has lines.
    """

    code: str
    field: str
    message: str
    value: Any = None
    line: int | None = None

    def render(self) -> str:
        where = f"{self.field} (line {self.line})" if self.line is not None else self.field
        return f"{self.code} {where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "message": self.message,
            "value": _jsonable(self.value),
            "line": self.line,
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class OligotrialError(Exception):
    """Root of every error raised on purpose by oligotrial. Exit code 1 on the command line."""

    exit_code = 1

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(code="ERROR", field="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        if not problems:
            raise ValueError("an OligotrialError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(p.render() for p in self.problems))

    @property
    def code(self) -> str:
        """The code of the first problem."""
        return self.problems[0].code

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "problems": [p.to_dict() for p in self.problems]}


class InputError(OligotrialError):
    """Raised when input data (a record, a file, an argument) breaks a documented rule. Exit code 2."""

    exit_code = 2

    @classmethod
    def single(
        cls, code: str, field: str, message: str, value: Any = None, line: int | None = None
    ) -> InputError:
        """Build an error with exactly one problem."""
        return cls(Problem(code=code, field=field, message=message, value=value, line=line))

    @classmethod
    def from_validation(cls, exc: ValidationError, code: str, prefix: str = "") -> InputError:
        """Translate a pydantic validation error on input data into located problems, all with ``code``.

        ``prefix`` names the record (e.g. ``plan``) in front of each field path. A list that is too short only
        because some of its items failed is not a problem of its own (pydantic counts the items that passed).
        """
        problems = []
        errors = exc.errors()
        failed_items = {
            tuple(e["loc"][:i]) for e in errors for i, p in enumerate(e["loc"]) if isinstance(p, int)
        }
        for error in errors:
            if error["type"] == "too_short" and tuple(error["loc"]) in failed_items:
                continue  # too few items only because some failed: their own problems say why
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
            field = f"{prefix}.{path}".strip(".") if prefix else path or "<record>"
            kind = error["type"]
            message = error["msg"].removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
            if kind == "missing":
                problems.append(Problem(code, field, MISSING_FIELD))
            elif kind == "extra_forbidden":
                problems.append(Problem(code, field, "unknown field; remove it or check its spelling"))
            else:
                value = error.get("input")
                problems.append(Problem(code, field, f"{message}, got {value!r}", value=value))
        return cls(problems)


class ProtocolError(InputError):
    """Raised when a protocol file cannot be read or breaks the protocol schema (codes ``PROTO-nnn``)."""


class ComputationError(OligotrialError):
    """Raised when a computation cannot produce a valid result from valid input (e.g. a model does not
    converge); the message says what to try."""


class ConfigurationError(InputError):
    """Raised when the settings (``OLIGOTRIAL_*`` environment variables, command-line options) are unusable:
    a default or missing secret outside ``OLIGOTRIAL_ENV=development``, a malformed database URL, a database
    created for another protocol (codes ``CONF-nnn``). Exit code 2."""


class AuthenticationError(OligotrialError):
    """Raised when a request or a signature cannot be tied to an active user: wrong or unknown credentials,
    a locked or disabled account, a missing, expired or revoked token (codes ``AUTH-nnn``). HTTP 401."""


class PermissionDeniedError(OligotrialError):
    """Raised when an authenticated user lacks the role for an action on a record they may otherwise see
    (codes ``AUTH-1nn``). HTTP 403."""


class NotFoundError(OligotrialError):
    """Raised when a record does not exist or lies outside every site the user may read, so that a denial
    never reveals whether another site's record exists (codes ``EDC-0nn``). HTTP 404."""


class ConflictError(OligotrialError):
    """Raised when an action conflicts with the current state of a record: a stale version, a locked form,
    a duplicate name, a query in the wrong state, a database that is not empty (codes ``EDC-nnn``). HTTP 409."""


class ServiceUnavailableError(OligotrialError):
    """Raised when the database cannot be reached or stays busy beyond the configured timeout; retrying later
    may succeed (code ``DB-001``). HTTP 503."""


class AuditChainError(OligotrialError):
    """Raised when the audit trail's hash chain does not verify: a row was changed, removed or inserted
    behind the application's back (codes ``AUDIT-nnn``, one problem per affected row)."""
