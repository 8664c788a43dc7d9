"""XML documents whose namespaces are spelled the same whatever else the process has loaded (private).

ElementTree keeps one process-wide map from namespace to prefix (``register_namespace``), which other libraries
change: WeasyPrint, loaded for the PDF report, gives the empty prefix to the empty namespace, after which an ODM
or Define-XML document written with the map alone comes out as ``<ns0:ODM xmlns:ns0=...>``. Equivalent XML,
but not the same bytes, so checksums and diffs of an export would depend on what ran before it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

__all__ = ["xml_document"]


def xml_document(
    root: ET.Element, default_namespace: str, prefixes: Mapping[str, str] | None = None
) -> bytes:
    """``root`` indented, as UTF-8 bytes with an XML declaration: elements of ``default_namespace`` unprefixed,
    the other namespaces with the ``prefixes`` given (prefix -> URI).

    The prefixes are registered again just before writing. (``tostring``'s own ``default_namespace`` cannot be
    used: it refuses the unqualified attribute names that ODM and Define-XML use throughout.)"""
    for prefix, uri in {"": default_namespace, **(prefixes or {})}.items():
        ET.register_namespace(prefix, uri)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
