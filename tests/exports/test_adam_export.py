"""``oligotrial export adam`` writes what ``oligotrial adam`` writes (overrides and ``provenance.json``
included); from the database, its provenance names the SDTM it derived by the digests of the files ``export
sdtm`` writes."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from exports.test_odm import populate
from oligotrial.errors import InputError
from oligotrial.exports.datasets import csv_digest, write_datasets

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_export_adam_from_files_writes_what_adam_writes(run_cli, tmp_path):
    # the same overrides, the same files: datasets, define.xml, provenance.json
    options = ["--format", "both", "--confirm-days", "50", "--min-sd-days", "35", "--max-ne", "0", "--json"]
    direct = run_cli("adam", WORKED, "--out", tmp_path / "direct", *options)
    exported = run_cli("export", "adam", "--sdtm", WORKED, "--out", tmp_path / "exported", *options)
    assert direct.exit_code == 0 and exported.exit_code == 0, exported.stderr
    assert exported.json()["responses"]["CRSP"]["yes"] == 2  # confirmation at >= 50 days (test_adam_cli)
    assert {k: v for k, v in exported.json().items() if k != "out"} == {
        k: v for k, v in direct.json().items() if k != "out"
    }
    direct_files, exported_files = _files(tmp_path / "direct"), _files(tmp_path / "exported")
    assert direct_files.keys() == exported_files.keys()
    assert "provenance.json" in exported_files and "define.xml" in exported_files
    for name, content in direct_files.items():
        if name.endswith((".csv", ".json")):  # XPT and define.xml carry their creation time
            assert exported_files[name] == content, name
    provenance = json.loads(exported_files["provenance.json"])
    assert provenance["settings"] == {
        "confirmation_min_days": 50,
        "max_ne_between_confirmation": 0,
        "sd_min_days": 35,
    }
    assert provenance["inputs"]["DM.csv"] == hashlib.sha256((WORKED / "DM.csv").read_bytes()).hexdigest()
    assert "README.md" not in provenance["inputs"]  # the datasets only
    assert "provenance.json" not in provenance["outputs"] and "adsl.xpt" in provenance["outputs"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_export_adam_from_the_database_names_the_sdtm_it_derived(edc, database_url, run_cli, tmp_path):
    populate(edc)
    sdtm = run_cli("export", "sdtm", "--out", tmp_path / "sdtm", "--database", database_url)
    assert sdtm.exit_code == 0, sdtm.stderr
    result = run_cli("export", "adam", "--out", tmp_path / "adam", "--database", database_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["records"]["ADSL"] == 3 and result.json()["not_exported"] == []
    provenance = json.loads((tmp_path / "adam" / "provenance.json").read_text())
    inputs = provenance["inputs"]
    assert inputs["database"] == database_url and inputs["not_exported"] == []
    written = {path.name: path for path in (tmp_path / "sdtm").glob("*.csv")}
    assert inputs["sdtm"].keys() == written.keys()
    for name, digest in inputs["sdtm"].items():
        assert digest == hashlib.sha256(written[name].read_bytes()).hexdigest(), name
    assert provenance["settings"]["confirmation_min_days"] == 28  # the protocol's


def test_csv_digest_is_the_written_file_s(tmp_path):
    table = pl.DataFrame({"USUBJID": ["S01", None], "ADT": [date(2026, 1, 2), None], "AVAL": [1.5, 2.0]})
    write_datasets({"ADX": table}, tmp_path, ["csv"])
    assert csv_digest(table) == hashlib.sha256((tmp_path / "adx.csv").read_bytes()).hexdigest()


def test_extra_files_are_written_with_the_datasets_or_not_at_all(tmp_path):
    good = pl.DataFrame({"USUBJID": ["S01"]})
    written = write_datasets({"ADX": good}, tmp_path / "ok", ["csv"], {"provenance.json": b"{}"})
    assert [p.name for p in written] == ["adx.csv", "provenance.json"]
    assert (tmp_path / "ok" / "provenance.json").read_bytes() == b"{}"
    refused = pl.DataFrame({"NOT_A_VARIABLE_NAME": ["x"]})  # over 8 characters: XPORT v5 refuses it
    with pytest.raises(InputError):
        write_datasets({"ADX": refused}, tmp_path / "no", ["csv", "xpt"], {"provenance.json": b"{}"})
    assert not (tmp_path / "no").exists() or not any((tmp_path / "no").iterdir())
