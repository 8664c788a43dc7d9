"""The dependency rule of DESIGN.md section 1, checked on the source text.

The pure core (protocol, rules, randomization, endpoints, stats, simulation) imports no database, web,
export, report or command-line code, and never prints.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "oligotrial"
PURE_CORE = ["protocol", "rules", "randomization", "endpoints", "stats", "simulation"]
FORBIDDEN_OWN = ["store", "services", "api", "web", "exports", "reports", "cli"]
FORBIDDEN_THIRD_PARTY = [
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "jinja2",
    "typer",
    "rich",
    "matplotlib",
    "pyreadstat",
    "psycopg",
    "sqlite3",
]


def _pure_core_files():
    for package in PURE_CORE:
        yield from sorted((SRC / package).rglob("*.py"))


def _imported_modules(tree: ast.AST, module_name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = module_name.split(".")[: -node.level]
                yield ".".join([*base, node.module or ""]).rstrip("."), node.lineno
            elif node.module:
                yield node.module, node.lineno


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts if parts[-1] != "__init__" else [*parts[:-1], "__init__"])


@pytest.mark.parametrize("path", list(_pure_core_files()), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_core_imports_no_outer_layer(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offences = []
    for module, line in _imported_modules(tree, _module_name(path)):
        top = module.split(".")
        if top[0] == "oligotrial" and len(top) > 1 and top[1] in FORBIDDEN_OWN:
            offences.append(f"line {line}: imports {module}")
        if top[0] in FORBIDDEN_THIRD_PARTY:
            offences.append(f"line {line}: imports {module}")
    assert not offences, f"{path.relative_to(SRC)} breaks the dependency rule: {offences}"


@pytest.mark.parametrize("path", list(_pure_core_files()), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_core_never_prints(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prints = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert not prints, f"{path.relative_to(SRC)} calls print() at lines {prints}"


def test_the_checker_sees_a_forbidden_import(tmp_path):
    tree = ast.parse("from oligotrial.store import tables\nimport sqlalchemy\nfrom ..cli import app\n")
    found = [m for m, _ in _imported_modules(tree, "oligotrial.rules.recist")]
    assert found == ["oligotrial.store", "sqlalchemy", "oligotrial.cli"]
