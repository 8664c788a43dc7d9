"""SAS XPORT v5: what version 5 cannot hold is refused with dataset, variable and row; what it can hold
round-trips through pyreadstat (a second reader) with types, labels and values."""

from datetime import date

import polars as pl
import pyreadstat
import pytest

from oligotrial.errors import InputError
from oligotrial.exports.datasets import write_datasets
from oligotrial.exports.xpt import check_xpt, load_metadata, write_xpt


def _adtte(**overrides):
    frame = pl.DataFrame(
        {
            "STUDYID": ["ESO-OLIGO-RT", "ESO-OLIGO-RT"],
            "USUBJID": ["S01", "S02"],
            "PARAMCD": ["PFS", "OS"],
            "PARAM": ["Progression-free survival", "Overall survival"],
            "ADT": [date(2026, 6, 22), None],
            "AVAL": [83.0, 12.5],
            "CNSR": [0, 1],
            "EVNTDESC": ["DISEASE PROGRESSION", None],
        }
    )
    return frame.with_columns(**overrides) if overrides else frame


def test_round_trip_keeps_types_labels_and_values(tmp_path):
    path = tmp_path / "adtte.xpt"
    write_xpt("ADTTE", _adtte(), path)
    frame, meta = pyreadstat.read_xport(str(path), output_format="polars")
    assert meta.table_name == "ADTTE" and meta.file_label == "Time-to-Event Analysis Dataset"
    assert meta.column_names_to_labels["CNSR"] == "Censor"
    assert meta.column_names_to_labels["ADT"] == "Analysis Date"
    assert meta.original_variable_types["ADT"] == "DATE9"
    assert frame["ADT"].to_list() == [date(2026, 6, 22), None]
    assert frame["AVAL"].to_list() == [83.0, 12.5]
    assert frame["CNSR"].to_list() == [0.0, 1.0]
    assert frame["EVNTDESC"].to_list() == ["DISEASE PROGRESSION", ""]  # XPORT has no missing text: blank
    assert frame["USUBJID"].to_list() == ["S01", "S02"]


def _codes(problems):
    return [(p.code, p.field) for p in problems]


def test_name_longer_than_8_is_refused():
    problems = check_xpt("ADTTE", _adtte().with_columns(pl.lit("x").alias("EVNTDESCR")))
    assert ("XPT-001", "ADTTE.EVNTDESCR") in _codes(problems)


def test_dataset_name_longer_than_8_is_refused():
    assert ("XPT-001", "ADVERSEEV") in _codes(check_xpt("ADVERSEEV", pl.DataFrame({"USUBJID": ["S01"]})))


def test_variable_without_metadata_is_refused():
    problems = check_xpt("ADTTE", _adtte().with_columns(pl.lit("x").alias("MYVAR")))
    assert ("XPT-003", "ADTTE.MYVAR") in _codes(problems)


def test_label_longer_than_40_is_refused():
    metadata = load_metadata()
    meta = metadata.variables[("ADTTE", "CNSR")]
    long = type(meta)(
        meta.dataset, meta.name, "Censor, with a label far too long for XPORT v5", meta.type, meta.origin
    )
    patched = type(metadata)(metadata.datasets, {**metadata.variables, ("ADTTE", "CNSR"): long})
    assert ("XPT-002", "ADTTE.CNSR") in _codes(check_xpt("ADTTE", _adtte(), patched))


def test_character_value_over_200_bytes_is_refused_with_its_row():
    frame = _adtte(EVNTDESC=pl.Series(["x" * 201, None]))
    (problem,) = check_xpt("ADTTE", frame)
    assert (problem.code, problem.field) == ("XPT-004", "ADTTE.EVNTDESC[row 1]")
    assert "got 201" in problem.message


def test_200_bytes_is_accepted_but_multibyte_counts_bytes():
    assert check_xpt("ADTTE", _adtte(EVNTDESC=pl.Series(["x" * 200, None]))) == []
    codes = [p.code for p in check_xpt("ADTTE", _adtte(EVNTDESC=pl.Series(["é" * 101, None])))]
    assert codes == ["XPT-004", "XPT-005"]


def test_non_ascii_text_is_refused_with_its_row():
    frame = _adtte(PARAM=pl.Series(["Progression-free survival", "总生存期"]))
    (problem,) = check_xpt("ADTTE", frame)
    assert (problem.code, problem.field) == ("XPT-005", "ADTTE.PARAM[row 2]")


def test_iso_text_in_a_date_variable_is_refused():
    frame = _adtte(ADT=pl.Series(["2026-06-22", None]))
    (problem,) = check_xpt("ADTTE", frame)
    assert (problem.code, problem.field) == ("XPT-006", "ADTTE.ADT")


def test_text_in_a_numeric_variable_is_refused_with_its_row():
    frame = _adtte(AVAL=pl.Series(["83", "long"]))
    (problem,) = check_xpt("ADTTE", frame)
    assert (problem.code, problem.field, problem.value) == ("XPT-007", "ADTTE.AVAL[row 2]", "long")


def test_write_datasets_refuses_before_writing_anything(tmp_path):
    good = _adtte()
    bad = pl.DataFrame({"USUBJID": ["S01"], "AETERM": ["Nausée"]})
    with pytest.raises(InputError) as info:
        write_datasets({"ADTTE": good, "AE": bad}, tmp_path / "out", ["csv", "xpt"])
    assert info.value.problems[0].field == "AE.AETERM[row 1]"
    assert not (tmp_path / "out").exists()


def test_reading_a_folder_with_both_formats_needs_a_preference(tmp_path):
    from oligotrial.exports.datasets import read_datasets

    write_datasets({"ADTTE": _adtte()}, tmp_path, ["csv", "xpt"])
    with pytest.raises(InputError) as info:
        read_datasets(tmp_path, ["ADTTE"])
    assert info.value.code == "FILE-011"
    from_xpt = read_datasets(tmp_path, ["ADTTE"], prefer="xpt")["ADTTE"]
    from_csv = read_datasets(tmp_path, ["ADTTE"], prefer="csv")["ADTTE"]
    assert from_xpt["AVAL"].cast(float).to_list() == from_csv["AVAL"].cast(float).to_list() == [83.0, 12.5]
