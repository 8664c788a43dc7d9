"""YAML documents validated by a pydantic model, with coded, located errors.

Protocol files and simulation scenarios are read this way. Codes are ``<PREFIX>-nnn`` with the prefix of the
document kind (``PROTO``, ``SIM``); each problem names the dotted key path and, where known, the line:

=====  ==============================================================
001    the file cannot be read
002    the file is not valid YAML
003    the document is not a mapping of sections
010    a required key is missing
011    an unknown key (a misspelling is never silently ignored)
012    a value outside its allowed range or length
013    a value of the wrong type
014    a value not among the allowed choices
015    settings that contradict each other or name unknown items
016    a key given twice in one mapping
017    an alias that contains itself, or aliases expanding beyond 100,000 nodes
=====  ==============================================================
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from oligotrial.errors import InputError, Problem

__all__ = ["DocumentKind", "parse_document", "read_document"]

M = TypeVar("M", bound=BaseModel)

_RANGE_TYPES = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "string_too_short",
    "string_too_long",
}
_CHOICE_TYPES = {"literal_error", "enum", "union_tag_invalid"}
#: libyaml's parser where PyYAML was built with it (the shipped protocol in 8 ms instead of 84), else
#: PyYAML's own; both hand the same nodes, with their lines, to the same safe constructor.
_FAST_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DocumentKind:
    """How to report on one kind of document.

    Attributes
    ----------
    prefix
        Code prefix, e.g. ``PROTO``.
    what
        The document's name in messages, e.g. ``protocol``.
    sections
        Example sections for the "not a mapping" message.
    reference
        Where its keys are documented (added to "missing key" messages), or ``None``.
    error
        The :class:`InputError` subclass raised.
    """

    prefix: str
    what: str
    sections: str
    reference: str | None = None
    error: type[InputError] = InputError

    def code(self, number: int) -> str:
        return f"{self.prefix}-{number:03d}"


def read_document(path: Path | str, model: type[M], kind: DocumentKind) -> M:
    """Read and validate a YAML file (see :func:`parse_document`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise kind.error(
            Problem(kind.code(1), str(path), f"cannot read the {kind.what} file: {exc}", value=str(path))
        ) from None
    return parse_document(text, model, kind, source=str(path))


def parse_document(text: str, model: type[M], kind: DocumentKind, source: str) -> M:
    """Validate YAML text against ``model``; every violation becomes a located problem (module docstring).

    Raises
    ------
    InputError
        Of ``kind.error``'s class, with one problem per violation.
    """
    try:
        root, data = _load(text, _FAST_LOADER)
    except yaml.YAMLError:
        try:  # PyYAML's own parser names the character or the alias at fault; libyaml's does not
            root, data = _load(text, yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc)
            raise kind.error(Problem(kind.code(2), source, f"not valid YAML: {reason}", line=line)) from None
    expansion = _check_expansion(root, kind, source)
    if expansion is not None:
        raise kind.error(expansion)
    duplicates = _duplicate_keys(root, kind)
    if duplicates:
        raise kind.error(duplicates)
    if not isinstance(data, dict):
        raise kind.error(
            Problem(
                kind.code(3), source, f"expected a mapping of sections ({kind.sections}, ...)", value=data
            )
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise kind.error([_problem(error, data, root, model, kind) for error in exc.errors()]) from None


def _load(
    text: str, loader_class: type[yaml.SafeLoader] | type[yaml.CSafeLoader]
) -> tuple[yaml.Node | None, Any]:
    """The document's root node and its data: what ``yaml.compose`` and then ``yaml.safe_load`` return, from
    one parse."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _problem(
    error: ErrorDetails, data: Any, root: yaml.Node | None, model: type[BaseModel], document: DocumentKind
) -> Problem:
    kind = error["type"]
    path = _data_path(error["loc"], data, keep_last=kind in ("missing", "extra_forbidden"))
    field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[") or "<root>"
    line = _line_of(root, path)
    value = None if kind == "missing" else error.get("input")
    if kind == "missing":
        hint = f" (see {document.reference})" if document.reference else ""
        return Problem(document.code(10), field, f"required key is missing; add it{hint}", line=line)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, error["loc"][:-1])
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return Problem(
            document.code(11), field, f"unknown key{hint}", value=path[-1] if path else None, line=line
        )
    if kind in _RANGE_TYPES:
        expected = _expected_range(model, error["loc"]) or error["msg"].lower()
        return Problem(
            document.code(12), field, f"expected {expected}, got {value!r}", value=value, line=line
        )
    if kind in _CHOICE_TYPES:
        return Problem(
            document.code(14), field, f"{_lower_first(error['msg'])}, got {value!r}", value=value, line=line
        )
    if kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        return Problem(document.code(15), field, message, value=None, line=line)
    return Problem(
        document.code(13), field, f"{_lower_first(error['msg'])}, got {value!r}", value=value, line=line
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


_MAX_EXPANDED_NODES = 100_000


def _check_expansion(root: yaml.Node | None, kind: DocumentKind, source: str) -> Problem | None:
    """A problem when an alias contains itself (a cycle) or the aliases expand the document beyond
    ``_MAX_EXPANDED_NODES`` nodes (the "billion laughs"): both would exhaust the validator."""
    count = 0
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)] if root is not None else []
    while stack:
        node, is_leaving = stack.pop()
        if is_leaving:
            on_path.discard(id(node))
            continue
        if id(node) in on_path:
            return Problem(
                kind.code(17),
                source,
                "an alias refers to a node that contains it",
                line=node.start_mark.line + 1,
            )
        count += 1
        if count > _MAX_EXPANDED_NODES:
            return Problem(
                kind.code(17), source, f"the aliases expand the document beyond {_MAX_EXPANDED_NODES} nodes"
            )
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            on_path.add(id(node))
            stack.append((node, True))
            children = (
                [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else node.value
            )
            stack.extend((child, False) for child in reversed(children))
    return None


def _duplicate_keys(node: yaml.Node | None, kind: DocumentKind, path: str = "") -> list[Problem]:
    """YAML loaders keep the last of two equal keys; a protocol must not hide a setting that way."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            where = f"{path}.{key.value}" if path else str(key.value)
            if key.value in seen:
                problems.append(
                    Problem(
                        kind.code(16), where, "duplicate key; keep only one", line=key.start_mark.line + 1
                    )
                )
            seen.add(key.value)
            problems.extend(_duplicate_keys(value, kind, where))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, kind, f"{path}[{index}]"))
    return problems


def _data_path(loc: tuple[int | str, ...], data: Any, keep_last: bool) -> list[int | str]:
    """Drop the segments pydantic adds for tagged unions, keeping the keys that exist in the document
    (and the last key of ``loc`` when it is the missing or unknown key itself)."""
    path: list[int | str] = []
    node = data
    for seg in loc:
        if isinstance(node, dict):
            if seg in node:
                path.append(seg)
                node = node[seg]
            elif keep_last and seg == loc[-1]:
                path.append(seg)
            continue  # a union tag such as 'range' in population.criteria[3].range.min
        if isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
            path.append(seg)
            node = node[seg]
    return path


def _line_of(root: yaml.Node | None, path: list[int | str]) -> int | None:
    """1-based line of the node at ``path`` (or of its closest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for seg in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == seg), None)
            key = next((k for k, _ in node.value if k.value == seg), None)
            if match is None:
                return line
            line = key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(seg, int) and seg < len(node.value):
            node = node.value[seg]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[Any, FieldInfo | None]:
    """Follow ``loc`` through the model classes: the type reached and the last field info on the way."""
    tp: Any = model
    info: FieldInfo | None = None
    for seg in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if isinstance(seg, str) and seg in tp.model_fields:
                info = tp.model_fields[seg]
                tp = info.annotation
        elif origin in (tuple, list) and isinstance(seg, int):
            tp, info = get_args(tp)[0], None
        elif origin in (Union, types.UnionType) and isinstance(seg, str):
            tp = next((m for m in get_args(tp) if _tag(m) == seg), tp)
        elif origin is dict:
            tp, info = get_args(tp)[1], None
    return _unwrap(tp), info


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _tag(model: Any) -> str | None:
    if isinstance(model, type) and issubclass(model, BaseModel):
        for name in ("rule", "kind"):
            field = model.model_fields.get(name)
            if field is not None and get_origin(field.annotation) is typing.Literal:
                return str(get_args(field.annotation)[0])
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    target, _ = _model_at(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _expected_range(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """Words for a numeric field's bounds, e.g. 'an integer 1..10' or 'a number > 0'."""
    _, info = _model_at(model, loc)
    if info is None:
        return None
    low: Any = None
    high: Any = None
    low_strict = high_strict = False
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            low, low_strict = meta.gt, True
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
        elif isinstance(meta, annotated_types.Lt):
            high, high_strict = meta.lt, True
    base = _unwrap(info.annotation)
    noun = "an integer" if base is int else "a number"
    if low is not None and high is not None and not low_strict and not high_strict:
        return f"{noun} {low}..{high}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_strict else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_strict else '<='} {high}")
    return f"{noun} {' and '.join(parts)}" if parts else None
