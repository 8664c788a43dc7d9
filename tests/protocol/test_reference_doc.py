"""docs/protocol-reference.md documents every key of the protocol schema."""

import types
import typing
from pathlib import Path
from typing import Union, get_args, get_origin

from pydantic import BaseModel

from oligotrial.protocol import Protocol

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-reference.md"


def _models(tp):
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    origin = get_origin(tp)
    if origin in (Union, types.UnionType, tuple, list):
        return [m for arg in get_args(tp) for m in _models(arg)]
    if origin is dict:
        return _models(get_args(tp)[1])
    return [tp] if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _keys(model, prefix=""):
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        yield key
        for inner in _models(field.annotation):
            yield from _keys(inner, key)


def test_every_protocol_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    undocumented = sorted({k for k in _keys(Protocol) if f"`{k}`" not in text and k.count(".") > 0})
    assert not undocumented, f"document these keys in {DOC.name}: {undocumented}"
