"""define.xml 2.1: the machine-readable description of the SDTM or ADaM datasets of a submission.

One ``ItemGroupDef`` per dataset (label, class, structure, keys, the file it lives in) and one ``ItemDef``
per variable (label, data type, length from the data, origin), under the standard the dataset follows
(SDTMIG 3.4 or ADaMIG 1.3). The document validates against the CDISC Define-XML 2.1 schema shipped with
``odmlib`` (tested).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl

from oligotrial import __version__
from oligotrial.exports._xml import xml_document
from oligotrial.exports.datasets import dataset_file_name
from oligotrial.exports.xpt import Metadata, load_metadata
from oligotrial.protocol.models import Protocol

__all__ = ["build_define"]

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML = "http://www.w3.org/XML/1998/namespace"

_STANDARDS = {
    "SDTM": ("STD.SDTMIG.3.4", "SDTMIG", "3.4", "Tabulation"),
    "ADaM": ("STD.ADAMIG.1.3", "ADaMIG", "1.3", "Analysis"),
}
_ORIGIN_SOURCE = {"Collected": "Investigator", "Assigned": "Sponsor", "Protocol": "Sponsor"}


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def _description(parent: ET.Element, text: str) -> None:
    description = ET.SubElement(parent, _q(ODM, "Description"))
    translated = ET.SubElement(description, _q(ODM, "TranslatedText"))
    translated.set(_q(XML, "lang"), "en")
    translated.text = text


def _standard_of(klass: str) -> str:
    return "ADaM" if "ANALYSIS" in klass or "DATA STRUCTURE" in klass else "SDTM"


def build_define(
    datasets: Mapping[str, pl.DataFrame],
    protocol: Protocol,
    *,
    extension: str = "xpt",
    metadata: Metadata | None = None,
    created: datetime | None = None,
) -> bytes:
    """The define.xml document (UTF-8 bytes) describing ``datasets`` (name -> table).

    Parameters
    ----------
    datasets
        The datasets as they are written (their columns and values give order and lengths).
    protocol
        Study name, description and protocol id.
    extension
        The file extension the ``def:leaf`` links point to (``xpt`` for a submission).
    created
        Creation time (UTC); now by default.

    Notes
    -----
    Define-XML 2.1 (CDISC, 2019): text lengths are the longest value in bytes (at least 1); integers the
    longest number of digits; SAS dates are ``integer`` with ``def:DisplayFormat`` DATE9; SDTM ``--DTC``
    variables are ISO 8601 ``date`` text. ``Mandatory`` is ``Yes`` for the dataset keys. Origins come from the
    metadata table (Collected, Derived, Assigned, Protocol, Predecessor).
    """
    metadata = metadata or load_metadata()
    created = created or datetime.now(UTC)
    info = protocol.protocol
    root = ET.Element(_q(ODM, "ODM"))
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"DEFINE.{info.id}.{info.version}")
    root.set("CreationDateTime", created.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds"))
    root.set("ODMVersion", "1.3.2")
    root.set("Originator", "oligotrial")
    root.set("SourceSystem", "oligotrial")
    root.set("SourceSystemVersion", __version__)
    root.set(_q(DEF, "Context"), "Other")
    study = ET.SubElement(root, _q(ODM, "Study"), OID=f"STUDY.{info.id}")
    global_variables = ET.SubElement(study, _q(ODM, "GlobalVariables"))
    ET.SubElement(global_variables, _q(ODM, "StudyName")).text = info.id
    ET.SubElement(global_variables, _q(ODM, "StudyDescription")).text = info.title
    ET.SubElement(global_variables, _q(ODM, "ProtocolName")).text = f"{info.id} version {info.version}"
    version = ET.SubElement(study, _q(ODM, "MetaDataVersion"), OID=f"MDV.{info.id}.{info.version}")
    version.set("Name", f"{info.id} data definitions")
    version.set(_q(DEF, "DefineVersion"), "2.1.0")

    used = sorted({_standard_of(metadata.datasets[name].klass) for name in datasets})
    standards = ET.SubElement(version, _q(DEF, "Standards"))
    for standard in used:
        oid, name, number, _ = _STANDARDS[standard]
        ET.SubElement(
            standards, _q(DEF, "Standard"), OID=oid, Name=name, Type="IG", Version=number, Status="Final"
        )

    item_defs: list[ET.Element] = []
    leaves: list[ET.Element] = []
    for name, frame in datasets.items():
        dataset = metadata.datasets[name]
        standard_oid, _, _, purpose = _STANDARDS[_standard_of(dataset.klass)]
        group = ET.SubElement(version, _q(ODM, "ItemGroupDef"), OID=f"IG.{name}", Name=name)
        group.set(
            "Repeating", "No" if dataset.structure.lower().startswith("one record per subject") else "Yes"
        )
        group.set("IsReferenceData", "Yes" if dataset.klass == "TRIAL DESIGN" else "No")
        group.set("SASDatasetName", name)
        if _standard_of(dataset.klass) == "SDTM" and not name.startswith("SUPP"):
            group.set("Domain", name)
        group.set("Purpose", purpose)
        group.set(_q(DEF, "Structure"), dataset.structure)
        group.set(_q(DEF, "StandardOID"), standard_oid)
        group.set(_q(DEF, "ArchiveLocationID"), f"LF.{name}")
        _description(group, dataset.label)
        for order, column in enumerate(frame.columns, 1):
            ref = ET.SubElement(group, _q(ODM, "ItemRef"), ItemOID=f"IT.{name}.{column}")
            ref.set("OrderNumber", str(order))
            ref.set("Mandatory", "Yes" if column in dataset.keys else "No")
            if column in dataset.keys:
                ref.set("KeySequence", str(dataset.keys.index(column) + 1))
            item_defs.append(_item_def(name, column, frame, metadata))
        ET.SubElement(group, _q(DEF, "Class"), Name=dataset.klass)
        leaf = ET.Element(_q(DEF, "leaf"), ID=f"LF.{name}")
        leaf.set(_q(XLINK, "href"), dataset_file_name(name, extension))
        ET.SubElement(leaf, _q(DEF, "title")).text = dataset_file_name(name, extension)
        leaves.append(leaf)
    version.extend(item_defs)
    version.extend(leaves)
    return xml_document(root, ODM, {"def": DEF, "xlink": XLINK})


def _item_def(dataset: str, column: str, frame: pl.DataFrame, metadata: Metadata) -> ET.Element:
    meta = metadata.variable(dataset, column)
    label = meta.label if meta else column
    kind = meta.type if meta else "text"
    item = ET.Element(_q(ODM, "ItemDef"), OID=f"IT.{dataset}.{column}", Name=column)
    values = frame[column]
    if kind == "date":
        item.set("DataType", "integer")
        item.set("Length", "8")
        item.set(_q(DEF, "DisplayFormat"), "DATE9.")
    elif kind == "text" and column.endswith("DTC"):
        item.set("DataType", "date")
    elif kind in {"integer", "float"}:
        numbers = values.cast(pl.Float64, strict=False).drop_nulls()
        digits = max((len(str(abs(int(v)))) for v in numbers), default=1)
        item.set("DataType", kind)
        item.set("Length", str(digits if kind == "integer" else 8))
        if kind == "float":
            item.set("SignificantDigits", "2")
    else:
        text = values.cast(pl.Utf8).drop_nulls()
        item.set("DataType", "text")
        longest = text.str.len_bytes().max()
        item.set("Length", str(max(1, longest if isinstance(longest, int) else 1)))
    item.set("SASFieldName", column)
    _description(item, label)
    origin_type = meta.origin if meta else "Derived"
    origin = ET.SubElement(item, _q(DEF, "Origin"), Type=origin_type)
    if origin_type in _ORIGIN_SOURCE:
        origin.set("Source", _ORIGIN_SOURCE[origin_type])
    return item
