"""Every coded problem that the services and rules behind the pages can raise has a message text in the
user's language (:data:`oligotrial.web._messages.PROBLEM_MESSAGES`), so no refusal is shown as the generic
"The value was refused."

The codes are read from the source: the modules of ``services``, ``rules``, ``randomization`` and
``protocol`` that the web package imports, followed through their own imports (a package's ``__init__``
re-export is followed to the module that defines the name). Codes built from a form code
(``f"{form_code}-101"``) are expanded over the workflow's form codes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import oligotrial
from oligotrial.errors import InputError, Problem
from oligotrial.protocol import load_protocol
from oligotrial.services.workflow.forms import FORM_MODELS, check_form_values
from oligotrial.web import _i18n
from oligotrial.web._messages import PROBLEM_MESSAGES
from oligotrial.web._render import problem_message

SRC = Path(oligotrial.__file__).resolve().parent.parent
WEB = SRC / "oligotrial" / "web"
FOLLOWED = ("oligotrial.services", "oligotrial.rules", "oligotrial.randomization", "oligotrial.protocol")
LITERAL = re.compile(r"""["']([A-Z]{2,12}-[0-9]{3})["']""")
FORM_CODE = re.compile(r"""f["']\{form_code\}-([0-9]{3})["']""")


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """The followed modules imported by a file (``from pkg import name``: the submodule ``pkg.name`` if it
    is one, else the module that ``pkg/__init__.py`` takes ``name`` from)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(FOLLOWED):
            continue
        module = str(node.module)
        for alias in node.names:
            if _module_file(f"{module}.{alias.name}") is not None:
                found.add(f"{module}.{alias.name}")
                continue
            package = _module_file(module)
            if package is None or package.name != "__init__.py":
                found.add(module)
                continue
            found |= _reexport_source(package, alias.name)
    return found


def _reexport_source(init: Path, name: str) -> set[str]:
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == name for a in node.names):
            return {node.module} if _module_file(node.module) else set()
    return set()


def _modules_behind_the_pages() -> set[str]:
    todo = [m for f in sorted(WEB.glob("*.py")) for m in _imports(f)]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is not None:
            todo += sorted(_imports(path))
    return seen


def _codes(modules: set[str]) -> dict[str, str]:
    """Problem code -> a module that raises it."""
    codes: dict[str, str] = {}
    for module in sorted(modules):
        path = _module_file(module)
        assert path is not None
        text = path.read_text(encoding="utf-8")
        for code in LITERAL.findall(text):
            codes.setdefault(code, module)
        # a helper given form codes (``_once("EOT", "EOT", ...)``) builds codes of those forms only
        forms = re.findall(r"""_once\(\s*["'][A-Z]+["'],\s*["']([A-Z]+)["']""", text) or list(FORM_MODELS)
        for number in FORM_CODE.findall(text):
            for form_code in forms:
                codes.setdefault(f"{form_code}-{number}", module)
    return codes


MODULES = _modules_behind_the_pages()
CODES = _codes(MODULES)


def test_the_scan_follows_the_services_the_pages_call():
    for module in (
        "oligotrial.services.workflow.follow_up",
        "oligotrial.services.workflow.calendar",
        "oligotrial.services.workflow.adverse_events",
        "oligotrial.services.signatures",
        "oligotrial.services.data",
        "oligotrial.rules.radiotherapy",
    ):
        assert module in MODULES
    for code in ("AE-105", "EDC-026", "EOT-105", "DEATH-105", "DISPOSITION-105", "DEVIATION-101"):
        assert code in CODES


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_problem_code_behind_the_pages_has_a_message(code):
    family = code.split("-")[0] + "-*"
    assert code in PROBLEM_MESSAGES or family in PROBLEM_MESSAGES, (
        f"{code} (raised in {CODES[code]}) has no message in PROBLEM_MESSAGES"
    )


def test_the_messages_of_the_new_forms_are_their_own():
    """The codes of the forms after induction, and the two known gaps, have a specific text (not a family's)."""
    for code in ("AE-105", "EDC-026", "EOT-101", "EOT-102", "EOT-105", "DEATH-105", "DISPOSITION-105"):
        assert code in PROBLEM_MESSAGES
    for form_code in FORM_MODELS:
        assert f"{form_code}-101" in PROBLEM_MESSAGES


def test_the_message_is_shown_in_the_users_language_with_its_code():
    problem = Problem("EOT-105", "values", "EOT is already recorded; change it instead")
    _i18n.use_language("en")
    assert problem_message(problem) == (
        "The end of treatment is already recorded; change the entered form instead. (EOT-105)"
    )
    _i18n.use_language("zh_Hans")
    assert problem_message(problem) == "治疗结束已记录；请修改已录入的表单。 (EOT-105)"
    _i18n.use_language("en")


def _refused(form_code: str, values: dict) -> list[str]:
    with pytest.raises(InputError) as refused:
        check_form_values(form_code, values, load_protocol())
    return [f"{p.field}: {problem_message(p)}" for p in refused.value.problems]


def test_a_form_s_item_problem_and_its_record_rule_have_their_own_messages():
    """The problems the services raise for the tumour and dose forms: a missing item says it is required, a
    wrong item is an invalid value, and a rule that ties a row's or the record's items together says which
    rule (before, every TUMOUR-101 said "a present target lesion needs its diameter", even for a missing role
    or a lesion identifier with a space)."""
    _i18n.use_language("en")
    row = {"lesion_id": "T1", "role": "target", "organ": "lung", "diameter_mm": 12.0}
    assert _refused(
        "TUMOUR",
        {
            "date": "2024-03-01",
            "lesions": [row, {"lesion_id": "T 9", "role": "target", "organ": "lung"}, {"organ": "liver"}],
        },
    ) == [
        "values.lesions[1].lesion_id: Invalid value. (TUMOUR-101)",
        "values.lesions[2].lesion_id: This field is required. (TUMOUR-101)",
        "values.lesions[2].role: This field is required. (TUMOUR-101)",
    ]
    unmeasured = {**row, "lesion_id": "T2", "diameter_mm": None}
    assert _refused("TUMOUR", {"date": "2024-03-01", "lesions": [row, unmeasured]}) == [
        "values.lesions[1]: Inconsistent values: a present target lesion needs its diameter; 'too small to "
        "measure' is for target lesions only. (TUMOUR-101)"
    ]
    # the only lesion failing is its own problem, not also "at least 1 item after validation, not 0"
    assert _refused("TUMOUR", {"date": "2024-03-01", "lesions": [unmeasured]}) == [
        "values.lesions[0]: Inconsistent values: a present target lesion needs its diameter; 'too small to "
        "measure' is for target lesions only. (TUMOUR-101)"
    ]
    assert _refused("TUMOUR", {"date": "2024-03-01", "lesions": []}) == [
        "values.lesions: Invalid value. (TUMOUR-101)"
    ]
    dose = {"phase": "maintenance", "cycle": 1, "date": "2024-03-01", "delayed": True}
    assert _refused("DOSE", {**dose, "agents": [{"agent": "camrelizumab", "dose": 200}]}) == [
        "values: Inconsistent values: an induction dose names its regimen, and a delayed or reduced dose needs "
        "its reason. (DOSE-101)"
    ]
    _i18n.use_language("zh_Hans")
    agents = [{"agent": "camrelizumab", "dose": 200}, {"agent": "cisplatin"}]
    assert _refused("DOSE", {**dose, "delayed": False, "agents": agents}) == [
        "values.agents[1].dose: 此项为必填项。 (DOSE-101)"
    ]
    _i18n.use_language("en")
