"""Each package curates its public API in ``__all__`` (DESIGN.md convention 4); this keeps it honest."""

import importlib
import inspect
import pkgutil

import pytest

import oligotrial

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(oligotrial.__path__, "oligotrial.")
    if not m.name.startswith(("oligotrial.cli", "oligotrial.store.migrations"))
)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_unique(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert name.rsplit(".", 1)[-1].startswith("_") or not _public_definitions(module), (
            f"{name} defines public names but has no __all__"
        )
        return
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_public_definitions_are_exported(name):
    module = importlib.import_module(name)
    if name.rsplit(".", 1)[-1].startswith("_") or not hasattr(module, "__all__"):
        return
    unexported = sorted(set(_public_definitions(module)) - set(module.__all__))
    assert not unexported, f"{name} defines public names missing from __all__: {unexported}"


def _public_definitions(module):
    return [
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == module.__name__
    ]
