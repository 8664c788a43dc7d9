"""The command line imports a command's module only when that command is run or its help shown: a command
pays for its own imports, not for every other command's (scipy, matplotlib, the reports ...)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from oligotrial.cli import COMMANDS, load_command

ANALYSIS_MODULES = ("scipy", "matplotlib", "polars", "oligotrial.reports", "oligotrial.stats")

_MODULES_AFTER = """
import json, sys
from oligotrial.cli import main
sys.argv = ["oligotrial", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _modules_after(*args: str) -> tuple[int, set[str]]:
    """The exit code of ``oligotrial ARGS`` in a new interpreter, and the modules it had imported."""
    run = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *args], capture_output=True, text=True, check=False
    )
    report = json.loads(run.stderr.strip().splitlines()[-1])
    return report["exit"], set(report["modules"])


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("--help",),
        ("users", "list", "--help"),
        ("serve", "--help"),
        ("audit", "verify", "--help"),
    ],
)
def test_a_command_imports_nothing_of_the_analyses(args):
    code, modules = _modules_after(*args)
    assert code == 0
    imported = sorted(
        m for m in modules if m.split(".")[0] in ANALYSIS_MODULES or m.startswith(ANALYSIS_MODULES)
    )
    assert imported == []


def test_the_command_run_is_the_only_command_module_imported():
    code, modules = _modules_after("users", "list", "--help")
    assert code == 0
    command_modules = {
        m for m in modules if m.startswith("oligotrial.cli.") and m != "oligotrial.cli._common"
    }
    # users builds on the server command's options (database URL, secret files)
    assert command_modules == {"oligotrial.cli.users", "oligotrial.cli.server"}


def test_the_help_imports_no_command_module():
    code, modules = _modules_after("--help")
    assert code == 0
    assert {m for m in modules if m.startswith("oligotrial.cli.")} <= {"oligotrial.cli._common"}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_commands_listed_summary_is_the_first_paragraph_of_its_help(name):
    help_text = load_command(name).help
    assert COMMANDS[name].summary == " ".join(help_text.split("\n\n")[0].split())


def test_the_help_lists_every_command_in_order_with_its_summary(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    listed = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("│ ") and line.split()[1] in COMMANDS
    ]
    assert listed == list(COMMANDS)
    assert "Manage user accounts." in result.stdout
    assert "Derive the ADaM datasets" in result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_is_found_and_shows_its_help(run_cli, name):
    result = run_cli(name, "--help")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"Usage: oligotrial {name} " in " ".join(result.stdout.split())


def test_a_group_of_one_command_stays_a_group(run_cli):
    # the import group: ``oligotrial import odm FILE``, never ``oligotrial import FILE``
    result = run_cli("import", "--help")
    assert result.exit_code == 0
    assert "COMMAND [ARGS]..." in result.stdout


def test_an_unknown_command_is_refused_with_exit_2(run_cli):
    result = run_cli("nosuch")
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.stderr
