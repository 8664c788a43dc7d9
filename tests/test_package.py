import subprocess
import sys

import oligotrial


def test_version_is_the_installed_distribution():
    assert oligotrial.__version__ != "0+unknown"


def test_cli_version_runs():
    out = subprocess.run(
        [sys.executable, "-m", "oligotrial.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    assert out.stdout.strip() == oligotrial.__version__
