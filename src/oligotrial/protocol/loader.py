"""Reading a protocol file into :class:`~oligotrial.protocol.models.Protocol`, with coded, located errors
(codes ``PROTO-nnn``, listed in :mod:`oligotrial.protocol.documents`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from oligotrial.errors import ProtocolError
from oligotrial.protocol.documents import DocumentKind, parse_document, read_document
from oligotrial.protocol.models import Protocol

__all__ = ["DEFAULT_PROTOCOL", "PROTOCOL_DOCUMENT", "load_protocol", "parse_protocol"]

#: The protocol shipped with the package (PROTOCOL.md as data).
DEFAULT_PROTOCOL = "esophageal_oligomet.yaml"

PROTOCOL_DOCUMENT = DocumentKind(
    prefix="PROTO",
    what="protocol",
    sections="protocol, population",
    reference="docs/protocol-reference.md",
    error=ProtocolError,
)


def load_protocol(path: Path | str | None = None) -> Protocol:
    """Load and validate a protocol file; ``None`` loads the protocol shipped with the package.

    Raises
    ------
    ProtocolError
        With one problem per violation, each coded ``PROTO-nnn`` and located by key path and line.
    """
    if path is None:
        text = resources.files("oligotrial.protocol").joinpath(DEFAULT_PROTOCOL).read_text(encoding="utf-8")
        return parse_protocol(text, source=DEFAULT_PROTOCOL)
    return read_document(path, Protocol, PROTOCOL_DOCUMENT)


def parse_protocol(text: str, source: str = "<protocol>") -> Protocol:
    """Validate the YAML text of a protocol. ``source`` names it in messages."""
    return parse_document(text, Protocol, PROTOCOL_DOCUMENT, source)
