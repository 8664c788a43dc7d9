"""Form field specifications and the parsing of submitted HTML forms into the services' item values.

A field's name is its item path with list indices as segments (``lesions.2.diameter_mm``), the same path the
services name in their problems (``values.lesions[2].diameter_mm``), so a refusal lands next to its field.
Parsing keeps what the user typed (``typed``) and reports type errors in the user's language (``WEB-00x``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from oligotrial.errors import Problem

__all__ = ["Field", "Group", "flatten_values", "parse_fields", "strip_row_markers"]

Kind = Literal["text", "textarea", "date", "int", "float", "select", "bool", "checks"]
"""``textarea`` is a text of several lines (parsed as ``text``)."""


@dataclass(frozen=True)
class Field:
    """One input: item path, label (a msgid), kind, options ``(value, label msgid or None: show value)``."""

    name: str
    label: str
    kind: Kind = "text"
    options: Sequence[tuple[str, str | None]] = ()
    required: bool = False
    hint: str | None = None
    translate_options: bool = False


@dataclass(frozen=True)
class Group:
    """A table of repeated rows (lesions, agents): ``rows`` rows of ``fields`` under ``name.<i>.``."""

    name: str
    label: str
    fields: Sequence[Field]
    rows: int
    extra: Mapping[str, Any] = field(default_factory=dict)


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = target
    for part, following in itertools.pairwise(parts):
        key: Any = int(part) if part.isdigit() else part
        if isinstance(node, list):
            while len(node) <= key:
                node.append({} if not following.isdigit() else [])
            node = node[key]
        else:
            node = node.setdefault(key, [] if following.isdigit() else {})
    last: Any = parts[-1]
    if isinstance(node, list):
        index = int(last)
        while len(node) <= index:
            node.append(None)
        node[index] = value
    else:
        node[last] = value


def _convert(spec: Field, raw: str, all_values: list[str]) -> tuple[Any, Problem | None]:
    text = raw.strip()
    if spec.kind == "checks":
        allowed = {v for v, _ in spec.options}
        chosen = [v for v in all_values if v]
        bad = [v for v in chosen if v not in allowed]
        return chosen, Problem("WEB-005", spec.name, "choose", value=bad) if bad else None
    if text == "":
        if spec.required:
            return None, Problem("WEB-004", spec.name, "required")
        return None, None
    try:
        if spec.kind == "date":
            return date.fromisoformat(text).isoformat(), None
        if spec.kind == "int":
            return int(text), None
        if spec.kind == "float":
            number = float(text.replace(",", "."))
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError(text)
            return number, None
    except ValueError:
        code = {"date": "WEB-001", "int": "WEB-002", "float": "WEB-003"}[spec.kind]
        return None, Problem(code, spec.name, "type", value=text)
    if spec.kind == "bool":
        if text not in ("true", "false"):
            return None, Problem("WEB-005", spec.name, "choose", value=text)
        return text == "true", None
    if spec.kind == "select" and text not in {v for v, _ in spec.options}:
        return None, Problem("WEB-005", spec.name, "choose", value=text)
    return text, None


def parse_fields(
    data: Any, fields: Sequence[Field], groups: Sequence[Group] = ()
) -> tuple[dict[str, Any], dict[str, str], list[Problem]]:
    """The submitted form (a multi-dict) as nested item values, what was typed, and type problems.

    Empty rows of a group are left out (a row is empty when none of its inputs has a value)."""
    values: dict[str, Any] = {}
    typed: dict[str, str] = {}
    problems: list[Problem] = []

    def take(spec: Field, name: str, target: dict[str, Any], path: str) -> None:
        many = [str(v) for v in data.getlist(name)] if hasattr(data, "getlist") else []
        raw = str(data.get(name, "") or "")
        typed[name] = raw if spec.kind != "checks" else ",".join(many)
        converted, problem = _convert(
            Field(name, spec.label, spec.kind, spec.options, spec.required), raw, many
        )
        if problem is not None:
            problems.append(problem)
        elif converted is not None and converted != []:
            _set(target, path, converted)

    for spec in fields:
        take(spec, spec.name, values, spec.name)
    for group in groups:
        rows: list[dict[str, Any]] = []
        for i in range(group.rows):
            names = [f"{group.name}.{i}.{f.name}" for f in group.fields]
            if not any(str(data.get(n, "") or "").strip() for n in names):
                for n in names:
                    typed[n] = ""
                continue
            row: dict[str, Any] = dict(group.extra)
            for spec, name in zip(group.fields, names, strict=True):
                take(spec, name, row, spec.name)
            # the services number the rows kept; the markers map their index back to the form's row
            rows.append({"_index": i, "_kept": len(rows), **row})
        if rows:
            values[group.name] = rows
    return values, typed, problems


def strip_row_markers(values: dict[str, Any], groups: Sequence[Group]) -> dict[str, int]:
    """Remove the row markers of :func:`parse_fields`; return ``kept index -> form row index`` per group."""
    mapping: dict[str, int] = {}
    for group in groups:
        for row in values.get(group.name, []):
            mapping[f"{group.name}.{row.pop('_kept')}"] = row.pop("_index")
    return mapping


def flatten_values(values: Any, prefix: str = "") -> dict[str, str]:
    """Stored item values as the ``typed`` strings of the inputs (``true``/``false`` for booleans)."""
    out: dict[str, str] = {}
    if isinstance(values, Mapping):
        for key, value in values.items():
            out.update(flatten_values(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(values, list | tuple):
        if values and all(isinstance(v, str) for v in values):
            out[prefix] = ",".join(values)
        for i, value in enumerate(values):
            out.update(flatten_values(value, f"{prefix}.{i}"))
    elif isinstance(values, bool):
        out[prefix] = "true" if values else "false"
    elif values is None:
        out[prefix] = ""
    elif isinstance(values, float) and values.is_integer():
        out[prefix] = str(int(values))
    else:
        out[prefix] = str(values)
    return out
