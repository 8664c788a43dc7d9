"""define.xml 2.1 validates against CDISC's Define-XML 2.1 schema (as shipped with odmlib) and describes every
dataset and variable."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
import xmlschema

from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets
from oligotrial.exports.define import build_define
from oligotrial.protocol import load_protocol

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
PROTOCOL = load_protocol()


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(
        str(resources.files("odmlib") / "schemas" / "define" / "2.1" / "define2-1-0.xsd")
    )


@pytest.fixture(scope="module")
def adam():
    return derive_adam(read_datasets(WORKED, DOMAINS), PROTOCOL).as_dict()


@pytest.fixture(scope="module")
def document(adam):
    return build_define(adam, PROTOCOL, created=datetime(2026, 11, 25, 8, 0, tzinfo=UTC))


def test_adam_define_validates(schema, document):
    errors = list(schema.iter_errors(document.decode()))
    assert errors == []


def test_sdtm_define_validates(schema):
    tables = read_datasets(WORKED, DOMAINS)
    document = build_define({k: v for k, v in tables.items() if k in {"DM", "DS", "RS"}}, PROTOCOL)
    assert list(schema.iter_errors(document.decode())) == []
    root = ET.fromstring(document)
    (standard,) = root.findall(".//def:Standard", NS)
    assert (standard.get("Name"), standard.get("Version")) == ("SDTMIG", "3.4")
    assert root.find(".//odm:ItemDef[@OID='IT.RS.RSDTC']", NS).get("DataType") == "date"


def test_a_broken_document_does_not_validate(schema, document):
    broken = (
        document.decode()
        .replace("<def:Standards>", "<def:Standardz>")
        .replace("</def:Standards>", "</def:Standardz>")
    )
    assert list(schema.iter_errors(broken))


def test_every_dataset_and_variable_is_described(adam, document):
    root = ET.fromstring(document)
    groups = {g.get("Name"): g for g in root.findall(".//odm:ItemGroupDef", NS)}
    assert sorted(groups) == ["ADAE", "ADRS", "ADSL", "ADTR", "ADTTE"]
    for name, frame in adam.items():
        refs = [r.get("ItemOID") for r in groups[name].findall("odm:ItemRef", NS)]
        assert refs == [f"IT.{name}.{c}" for c in frame.columns]
        assert groups[name].find("def:leaf", NS) is None  # leaves are listed after the ItemDefs
    items = {i.get("OID"): i for i in root.findall(".//odm:ItemDef", NS)}
    adt = items["IT.ADTTE.ADT"]
    assert (adt.get("DataType"), adt.get("{http://www.cdisc.org/ns/def/v2.1}DisplayFormat")) == (
        "integer",
        "DATE9.",
    )
    paramcd = items["IT.ADTTE.PARAMCD"]
    assert (paramcd.get("DataType"), paramcd.get("Length")) == ("text", "6")  # PFSENR
    assert items["IT.ADTTE.CNSR"].find("odm:Description/odm:TranslatedText", NS).text == "Censor"
    leaves = root.findall(".//def:leaf", NS)
    assert [leaf.get("{http://www.w3.org/1999/xlink}href") for leaf in leaves] == [
        "adsl.xpt",
        "adrs.xpt",
        "adtte.xpt",
        "adae.xpt",
        "adtr.xpt",
    ]


def test_adam_cli_writes_define_with_xpt(run_cli, tmp_path, schema):
    out = tmp_path / "adam"
    assert run_cli("adam", WORKED, "--out", out, "--format", "xpt").exit_code == 0
    assert list(schema.iter_errors(str(out / "define.xml"))) == []


def test_the_document_s_bytes_do_not_depend_on_what_the_process_loaded_before(adam, document, monkeypatch):
    """WeasyPrint (loaded for the PDF report) gives ElementTree's empty prefix to the empty namespace when it is
    imported, and odmlib maps ODM to ``odm``; a Define-XML document written after either is still the same
    bytes (it came out as ``<ns0:ODM xmlns:ns0=...>``)."""
    monkeypatch.setattr(ET, "_namespace_map", dict(ET._namespace_map))  # the process-wide map, restored after
    ET.register_namespace("", "")
    ET.register_namespace("odm", "http://www.cdisc.org/ns/odm/v1.3")
    ET.register_namespace("d", "http://www.cdisc.org/ns/def/v2.1")
    again = build_define(adam, PROTOCOL, created=datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    assert again == document
    assert again.splitlines()[1].startswith(b'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"')
