"""Input checks shared by the use cases."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from oligotrial.errors import InputError, Problem

CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_ITEMS = 500
MAX_TEXT = 4000


def require_reason(reason: str | None, field: str = "reason") -> str:
    """A non-blank reason for a change after first entry (21 CFR 11.10(e)); ``EDC-010`` otherwise."""
    text = (reason or "").strip()
    if not text:
        raise InputError.single("EDC-010", field, "a reason is required for a change after first entry")
    if len(text) > 1000:
        raise InputError.single("EDC-010", field, "the reason must have at most 1000 characters")
    return text


def check_code(value: str, field: str) -> str:
    """An identifier such as an event, form or item code; ``EDC-011`` otherwise."""
    if not isinstance(value, str) or not CODE.match(value):
        raise InputError.single(
            "EDC-011",
            field,
            "expected a code: a letter then up to 63 letters, digits, '_', '.' or '-'",
            value=value,
        )
    return value


def check_item_values(values: Mapping[str, Any], field: str = "values") -> dict[str, Any]:
    """Item values: a flat object of codes to strings, numbers, booleans or null; ``EDC-012`` otherwise."""
    problems = []
    if len(values) > MAX_ITEMS:
        raise InputError.single("EDC-012", field, f"a form has at most {MAX_ITEMS} items, got {len(values)}")
    for key, value in values.items():
        where = f"{field}.{key}"
        if not isinstance(key, str) or not CODE.match(key):
            problems.append(
                Problem("EDC-011", where, "item codes start with a letter: letters, digits, '_', '.', '-'")
            )
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem("EDC-012", where, "numbers must be finite", value=str(value)))
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            problems.append(Problem("EDC-012", where, f"text values have at most {MAX_TEXT} characters"))
        elif value is not None and not isinstance(value, str | int | float | bool):
            problems.append(
                Problem(
                    "EDC-012", where, "expected a string, number, boolean or null", value=type(value).__name__
                )
            )
    if problems:
        raise InputError(problems)
    return dict(values)
