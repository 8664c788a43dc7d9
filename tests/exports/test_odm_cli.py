"""The command line: ``export odm|fhir|adam|define`` and ``import odm`` (dry run, real, refusal exit 2)."""

from __future__ import annotations

import json

import pytest

from edc_fixtures import ADMIN, ADMIN_PASSWORD, edc_settings
from exports.test_odm import populate
from oligotrial.protocol import load_protocol
from oligotrial.services import init_database


@pytest.mark.parametrize("backend", ["sqlite"])
def test_export_and_import_commands(edc, database_url, run_cli, tmp_path):
    populate(edc)
    odm = tmp_path / "trial.xml"
    result = run_cli("export", "odm", "--out", odm, "--database", database_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {"out": str(odm), "subjects": 3, "forms": 28}
    bundle = tmp_path / "fhir.json"
    result = run_cli("export", "fhir", "--out", bundle, "--database", database_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["resources"]["Patient"] == 3
    assert json.loads(bundle.read_text())["type"] == "collection"
    result = run_cli("export", "adam", "--out", tmp_path / "adam", "--database", database_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["records"]["ADSL"] == 3
    define = tmp_path / "define.xml"
    result = run_cli("export", "define", "--out", define, "--database", database_url, "--standard", "adam")
    assert result.exit_code == 0, result.stderr
    assert define.read_bytes().startswith(b"<?xml")
    # without --json each export shows its progress bar on stderr, complete at the end
    bar = next(line for line in result.stderr.splitlines() if "Define-XML export" in line)
    assert "done" in bar and "3/3" in bar
    result = run_cli("export", "sdtm", "--out", tmp_path / "sdtm", "--database", database_url)
    assert result.exit_code == 0, result.stderr
    assert "2/2" in next(line for line in result.stderr.splitlines() if "SDTM export" in line)
    assert "SDTM written to" in result.stdout

    target = f"sqlite:///{tmp_path / 'target.db'}"
    init_database(edc_settings(target), load_protocol(), ADMIN, ADMIN_PASSWORD, source="test")
    dry = run_cli("import", "odm", odm, "--dry-run", "--database", target, "--json")
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["counts"] == {"create": 28, "change": 0, "unchanged": 0} and not dry.json()["written"]
    real = run_cli("import", "odm", odm, "--database", target)
    assert real.exit_code == 0, real.stderr
    assert "28 forms were created" in real.stdout
    again = run_cli("import", "odm", odm, "--dry-run", "--database", target, "--json")
    assert again.json()["counts"]["unchanged"] == 28

    broken = tmp_path / "broken.xml"
    broken.write_text(
        odm.read_text().replace('<ItemData ItemOID="IT.AE.grade"', '<ItemData ItemOID="IT.AE.toxicity"', 1)
    )
    refused = run_cli("import", "odm", broken, "--database", target, "--json")
    assert refused.exit_code == 2
    (problem,) = refused.json()["error"]["problems"]
    assert problem["code"] == "ODM-004" and problem["field"].endswith("ItemData[@ItemOID='IT.AE.toxicity']")
