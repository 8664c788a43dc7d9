"""Typing SDTM text cells. The compiled ISO 8601 date parse (``endpoints/_dates.py``) against the polars
expressions it stands in for: the ISO pattern and ``%Y-%m-%d`` parse of ``sdtm._typed`` and the TR date parse
of ``sdtm._tr_dates``; the SDTM-002 problems of ``_typed`` with and without it; numbers cast before they are
stripped (``sdtm._number``) against the stripped cast."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints import _dates, sdtm
from oligotrial.endpoints._dates import parse_iso_dates

PATTERN = r"^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$"


def expression_dates(text: pl.Series) -> pl.Series:
    """The dates as ``sdtm._typed`` computed them with polars alone."""
    full = pl.col("x").str.contains(PATTERN)
    frame = text.alias("x").to_frame()
    return frame.select(pl.when(full).then(sdtm._date_expr("x"))).to_series().alias(text.name)


def expression_tr_dates(text: pl.Series) -> pl.Series:
    """The TR dates as ``sdtm._tr_dates`` computed them with polars alone."""
    day = text.str.slice(0, 10)
    iso = day.str.to_date("%Y-%m-%d", strict=False)
    if iso.null_count() == day.null_count():
        return iso.alias("TRDTC")
    return day.str.to_date(strict=False).alias("TRDTC")


def days(values: pl.Series) -> list[int | None]:
    return values.cast(pl.Int32).to_list()  # year 0 is a polars date but not a Python one


WORKED = [
    ("2024-01-05", 19727),
    (None, None),
    ("1970-01-01", 0),
    ("1969-12-31", -1),
    ("2024-02-29", 19782),
    ("2023-02-29", None),
    ("1900-02-29", None),
    ("2000-02-29", 11016),
    ("0000-01-01", -719528),
    ("0000-02-29", -719469),
    ("9999-12-31", 2932896),
    ("2024-13-01", None),
    ("2024-00-10", None),
    ("2024-01-00", None),
    ("2024-04-31", None),
    ("2024-01-05T", None),
    ("2024-01-05T1", 19727),
    ("2024-01-05T10", 19727),
    ("2024-01-05T10:11", 19727),
    ("2024-01-05T10:11:12.123456", 19727),
    ("2024-01-05T.:", 19727),
    ("2024-01-05T10:11:12.12345Z", None),
    ("2024-01-05 10:11", None),
    ("2024-01-05t10", None),
    ("+202-01-05", None),
    ("-2024-01-05", None),
    ("2024-1-05", None),
    ("2024/01/05", None),
    ("", None),
    ("2024", None),
    ("2024-01", None),
    ("20240105", None),
    (" 2024-01-05", None),
    ("2024-01-05 ", None),
    ("2024-01-05x", None),
    ("2024-01-05T1a", None),
    ("2024-01-05T10:11:12.1234567890:12", 19727),
]


@pytest.mark.parametrize(("text", "expected"), WORKED)
def test_worked_cells(text, expected):
    cell = pl.Series("AESTDTC", [text], dtype=pl.String)
    parsed = parse_iso_dates(cell, whole=True)
    assert parsed is not None
    assert parsed.dtype == pl.Date and parsed.name == "AESTDTC"
    assert days(parsed) == [expected]
    assert parsed.equals(expression_dates(cell))


def test_worked_cells_in_one_column():
    cells = pl.Series("DSSTDTC", [text for text, _ in WORKED], dtype=pl.String)
    parsed = parse_iso_dates(cells, whole=True)
    assert parsed is not None
    assert days(parsed) == [expected for _, expected in WORKED]
    assert parsed.equals(expression_dates(cells))


@pytest.mark.parametrize("text", ["٢٠٢٤-01-05", "2024-01-05T١٢", "2024-01-05T10:11:12.١٢٣٤٥", "2024-01-0é"])
def test_non_ascii_text_is_left_to_the_expressions(text):
    # the pattern's \d is Unicode-aware: "2024-01-05T١٢" is a date for it, so the compiled pass does not decide
    cells = pl.Series("x", ["2024-01-05", text])
    assert parse_iso_dates(cells, whole=True) is None


def test_tr_dates_need_every_cell_to_begin_with_a_date():
    iso = pl.Series("TRDTC", ["2024-01-05", None, "2024-01-06 10:00", "2024-01-07T10:11:12.123456x"])
    parsed = parse_iso_dates(iso, whole=False)
    assert parsed is not None
    assert parsed.to_list() == [date(2024, 1, 5), None, date(2024, 1, 6), date(2024, 1, 7)]
    assert parsed.equals(expression_tr_dates(iso))
    assert sdtm._tr_dates(iso).equals(expression_tr_dates(iso))
    for other in ("05/01/2024", "2024-02-30", "2024-1-5", "٢٠٢٤-01-05"):
        mixed = pl.Series("TRDTC", ["2024-01-05", other])
        assert parse_iso_dates(mixed, whole=False) is None
        assert sdtm._tr_dates(mixed).equals(expression_tr_dates(mixed))
    inferred = pl.Series("TRDTC", ["05/01/2024", "06/01/2024"])
    assert sdtm._tr_dates(inferred).equals(expression_tr_dates(inferred))


def test_chunks_offsets_and_long_strings_in_several_buffers():
    long_a = pl.Series("x", [f"2024-01-{1 + i % 28:02d}T10:11:12.{i:06d}" for i in range(3000)])
    long_b = pl.Series(
        "x", [f"1999-12-31T23:59:{i % 60:02d}.{i:06d}x" if i % 7 else None for i in range(3000)]
    )
    short = pl.Series("x", [f"20{i % 100:02d}-{1 + i % 12:02d}-{1 + i % 31:02d}" for i in range(5000)])
    chunked = pl.concat([long_a[5:], short[3:4000], long_b, short], rechunk=False)[17:9000]
    assert chunked.n_chunks() > 1
    for text in (chunked, chunked.rechunk(), chunked[1:]):
        parsed = parse_iso_dates(text, whole=True)
        assert parsed is not None
        assert parsed.equals(expression_dates(text))
    assert parse_iso_dates(chunked[:0], whole=True) is not None
    nulls = pl.Series("x", [None, None], dtype=pl.String)
    assert days(parse_iso_dates(nulls, whole=True)) == [None, None]


def test_other_types_are_left_to_the_expressions():
    assert parse_iso_dates(pl.Series("x", [1, 2]), whole=True) is None
    assert parse_iso_dates(pl.Series("x", ["2024-01-05"], dtype=pl.Categorical), whole=True) is None


PIECES = [
    "2024",
    "0000",
    "9999",
    "1900",
    "2000",
    "-",
    "01",
    "02",
    "12",
    "13",
    "00",
    "29",
    "30",
    "31",
    "T",
    "t",
    ":",
    ".",
    "5",
    " ",
    "Z",
    "+",
    "/",
    "10:11:12.123456",
]


@st.composite
def cells(draw: st.DrawFn) -> str | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    if draw(st.booleans()):  # near an ISO date: year, month, day, maybe a time, then maybe a stray piece
        text = f"{draw(st.sampled_from(PIECES[:5]))}-{draw(st.sampled_from(PIECES[6:14]))}-"
        text += draw(st.sampled_from(PIECES[6:14]))
        if draw(st.booleans()):
            text += draw(st.sampled_from(["T", "t", " "])) + draw(st.text("0123456789:.", max_size=20))
        if draw(st.integers(0, 4)) == 0:
            text += draw(st.sampled_from(PIECES))
        return text
    return "".join(draw(st.lists(st.sampled_from(PIECES), max_size=6)))


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(cells(), max_size=40),
    cut=st.integers(0, 40),
    skip=st.integers(0, 3),
)
def test_agrees_with_the_expressions(values, cut, skip):
    text = pl.Series("x", values, dtype=pl.String)
    chunked = pl.concat([text[:cut], text[cut:]], rechunk=False)[skip:] if values else text
    for column in (text, chunked):
        parsed = parse_iso_dates(column, whole=True)
        assert parsed is not None
        assert parsed.equals(expression_dates(column))
        prefix = parse_iso_dates(column, whole=False)
        expected = expression_tr_dates(column.alias("TRDTC"))
        if prefix is not None:
            assert prefix.alias("TRDTC").equals(expected)
        assert sdtm._tr_dates(column).equals(expected)


def test_typed_problems_are_those_of_the_expressions(monkeypatch):
    frame = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3", "S4", "S5"],
            "AESTDTC": ["2024-01-05", "2024-02-30", None, "2024-01", "2024-03-01T10:11:12.123456"],
            "AEENDTC": ["2024-01-06T10", "2024-01-07T", "UNK", None, "2024-03-02"],
            "AESEQ": ["1", "2", "3", "x", "5"],
            "AETOXGR": ["1", "2", "3", "4", "5"],
        }
    ).with_row_index(sdtm.ROW, offset=1)
    compiled, compiled_problems = sdtm._typed("AE", frame)
    monkeypatch.setattr(_dates, "parse_iso_dates", lambda text, whole: None)
    plain, plain_problems = sdtm._typed("AE", frame)
    assert compiled.equals(plain)
    assert compiled.schema == plain.schema
    assert compiled_problems == plain_problems
    assert [(p.code, p.field, p.value) for p in compiled_problems] == [
        ("SDTM-002", "AE[row 2].AESTDTC", "2024-02-30"),
        ("SDTM-002", "AE[row 4].AESTDTC", "2024-01"),
        ("SDTM-002", "AE[row 2].AEENDTC", "2024-01-07T"),
        ("SDTM-002", "AE[row 3].AEENDTC", "UNK"),
        ("SDTM-003", "AE[row 4].AESEQ", "x"),
    ]
    assert compiled_problems[0].message == "expected an ISO 8601 date YYYY-MM-DD, got '2024-02-30'"


def test_many_distinct_dates():
    # more distinct dates than the compiled pass keeps results for: each found again or parsed afresh
    first = date(1990, 1, 1).toordinal()
    text = [date.fromordinal(first + (n * 7919) % 20000).isoformat() for n in range(30000)]
    text += [f"{day}T10" for day in text[:3000]] + [f"{day[:8]}32" for day in text[:3000]]
    cells = pl.Series("x", text)
    parsed = parse_iso_dates(cells, whole=True)
    assert parsed is not None
    assert parsed.null_count() == 3000
    assert parsed.equals(expression_dates(cells))


@pytest.mark.parametrize(
    ("cells", "dtype"),
    [
        (["1", "2", None, "30"], pl.Int64),
        (["1", " 2", "3 ", "\t4\n", None], pl.Int64),
        (["1", "x", " 7 ", "2.5", "", "+3", "-4", "007"], pl.Int64),
        (["1.5", " 2", "nan", "1e3", "-0.25 ", "x", None], pl.Float64),
        (["1.5", "2", "-3"], pl.Float64),
    ],
)
def test_numbers_as_stripped_and_cast(cells, dtype):
    # cast as they stand first, stripped only when some cell fails: the numbers of the stripped cast
    text = pl.Series("X", cells, dtype=pl.String)
    got = text.to_frame().select(sdtm._number(text, dtype)).to_series()
    expected = text.str.strip_chars().cast(dtype, strict=False)
    assert got.equals(expected)
    assert got.dtype == dtype


@pytest.mark.parametrize(
    "days",
    [
        [19727, None, 19727, 19000, 20000],
        [None, None],
        [],
        [-719528, 2932896, 0],  # a span longer than the column: each formatted
        [5, 4, 3, 2, 1, 0, -1, -2],
    ],
)
def test_adae_date_text_as_formatted_by_polars(days):
    from oligotrial.endpoints.adae import _iso_text

    dates = pl.Series("AESTDTC", days, dtype=pl.Int32).cast(pl.Date)
    assert _iso_text(dates).equals(dates.dt.to_string("%Y-%m-%d"))
    assert _iso_text(dates).name == "AESTDTC"
