"""``oligotrial demo``: the guided tour that ``make demo`` runs."""

from __future__ import annotations

from oligotrial import __version__
from oligotrial.cli._common import stdout


def demo() -> None:
    """Show the protocol and worked examples of the rule engines."""
    stdout.print(f"oligotrial {__version__}")
