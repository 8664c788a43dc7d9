"""Orders, lookups and codes by integers or comparisons instead of text hashes: each subject's place in
USUBJID order (``Study.subject_ranks``), ADAE's record order, each record's ADSL row, the code and duplicate
checks, the response codes and ``run_here``; each against the text operation it stands for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints import check_sdtm, derive_adae, derive_adsl
from oligotrial.endpoints._parallel import run_here
from oligotrial.endpoints.sdtm import DOMAINS, _duplicated, _one_of, adsl_rows_of
from oligotrial.errors import InputError
from oligotrial.exports.datasets import read_datasets
from oligotrial.protocol import load_protocol

WORKED = Path(__file__).resolve().parents[1] / "data" / "adam" / "worked"
PROTOCOL = load_protocol()


def _study(tables):
    return check_sdtm(tables, PROTOCOL)


def _tables():
    return read_datasets(WORKED, DOMAINS)


def test_subject_ranks_sorted_and_shuffled_dm():
    tables = _tables()
    dm = tables["DM"]
    ranks = _study(tables).subject_ranks
    assert ranks.tolist() == list(range(dm.height))  # the worked DM is in USUBJID order
    shuffled = dict(tables, DM=dm.reverse())
    ranks = _study(shuffled).subject_ranks
    assert ranks.tolist() == list(range(dm.height))[::-1]


@pytest.mark.parametrize("permutation", [[3, 0, 2, 1], [11, 10, 9, 0, 1, 2], [5, 7, 1]])
def test_subject_ranks_follow_the_text_order(permutation):
    tables = _tables()
    dm = tables["DM"]
    rows = permutation + [k for k in range(dm.height) if k not in permutation]
    subjects = dm["USUBJID"].gather(rows).to_list()
    by_text = sorted(range(len(subjects)), key=lambda i: subjects[i])
    ranks = _study(dict(tables, DM=dm[rows])).subject_ranks.tolist()
    assert ranks == [by_text.index(i) for i in range(len(subjects))]


def test_adae_sorted_by_subject_and_start_ties_in_input_order():
    tables = _tables()
    ae = tables["AE"]
    # every record moved: reversed, and one subject's records given the same start date (ties)
    tied = ae.reverse().with_columns(
        pl.when(pl.col("USUBJID") == "S01")
        .then(pl.lit("2024-03-01"))
        .otherwise(pl.col("AESTDTC"))
        .alias("AESTDTC")
    )
    study = _study(dict(tables, AE=tied))
    adae = derive_adae(study, derive_adsl(study, PROTOCOL), PROTOCOL)
    expected = (
        tied.with_row_index("_IN")
        .with_columns(pl.col("AESTDTC").str.to_date().alias("_D"))
        .sort("USUBJID", "_D", maintain_order=True)["_IN"]
        .to_list()
    )
    # the records keep their AESEQ: the order of AESEQ per subject is that of the input on a tie
    got = adae.select("USUBJID", "AESEQ").rows()
    assert got == [(tied["USUBJID"][i], int(tied["AESEQ"][i])) for i in expected]
    s01 = [seq for subject, seq in got if subject == "S01"]
    assert s01 == [int(v) for v in tied.filter(pl.col("USUBJID") == "S01")["AESEQ"].to_list()]


def test_adae_null_start_dates_first():
    tables = _tables()
    ae = tables["AE"].with_columns(
        pl.when(pl.int_range(pl.len()) == pl.len() - 1)
        .then(None)
        .otherwise(pl.col("AESTDTC"))
        .alias("AESTDTC")
    )
    study = _study(dict(tables, AE=ae))
    adae = derive_adae(study, derive_adsl(study, PROTOCOL), PROTOCOL)
    last = ae[-1]
    subject_rows = adae.filter(pl.col("USUBJID") == last["USUBJID"][0])
    assert subject_rows["ASTDT"][0] is None
    assert subject_rows["AESEQ"][0] == int(last["AESEQ"][0])


def test_adsl_rows_of_in_and_out_of_dm_order():
    study = _study(_tables())
    adsl = derive_adsl(study, PROTOCOL)
    dm_rows = np.array([2, -1, 0, 3, 3], dtype=np.int64)
    assert adsl_rows_of(study, adsl["USUBJID"], dm_rows) is dm_rows  # ADSL in DM order: the rows as they are
    reordered = adsl["USUBJID"].reverse()  # ADSL row k holds DM row n - 1 - k
    n = study.dm.height
    assert adsl_rows_of(study, reordered, dm_rows).tolist() == [n - 3, -1, n - 1, n - 4, n - 4]
    fewer = adsl["USUBJID"].slice(1)  # DM row 0 not in ADSL
    assert adsl_rows_of(study, fewer, dm_rows).tolist() == [1, -1, -1, 2, 2]


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.one_of(st.none(), st.sampled_from(["CR", "PR", "SD", "PD", "NE", "X", "cr", ""])), max_size=30
    ),
    allowed=st.lists(st.sampled_from(["CR", "PR", "SD", "PD", "NE"]), max_size=5, unique=True),
)
def test_one_of_is_is_in(cells, allowed):
    frame = pl.DataFrame({"C": pl.Series(cells, dtype=pl.Utf8)})
    expected = frame.filter(pl.col("C").is_not_null() & ~pl.col("C").is_in(allowed))
    got = frame.filter(pl.col("C").is_not_null() & ~_one_of(pl.col("C"), tuple(allowed)))
    assert got.equals(expected)


@pytest.mark.parametrize(
    "values",
    [["A", "B", "C"], ["A", "B", "A", "C"], ["A", None, None], [None, "A"], [], ["B", "B", "B"]],
)
def test_duplicated_is_is_duplicated(values):
    frame = pl.DataFrame({"U": pl.Series(values, dtype=pl.Utf8), "R": list(range(len(values)))})
    assert _duplicated(frame, "U").equals(frame.filter(pl.col("U").is_duplicated()))


def test_run_here_gives_the_result_or_the_error_in_a_future():
    assert run_here(lambda: 41 + 1).result() == 42

    def fails() -> int:
        raise InputError.single("SDTM-001", "DM", "the DM domain is required")

    future = run_here(fails)
    assert future.done()
    with pytest.raises(InputError):
        future.result()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(), st.sampled_from(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "cr", "", "CR ", "É"])
        ),
        max_size=30,
    )
)
def test_response_codes_as_replace_strict(cells):
    from oligotrial.endpoints._best import _CODE, code_responses

    responses = pl.DataFrame(
        {"OVRLRESP": pl.Series(cells, dtype=pl.Utf8), "RSDTC": pl.Series([None] * len(cells), dtype=pl.Date)}
    )
    expected = responses.select(
        pl.col("OVRLRESP").replace_strict(_CODE, default=len(_CODE), return_dtype=pl.Int8).alias("code")
    )
    got = code_responses(responses)
    assert got["code"].equals(expected["code"])
    assert got["code"].dtype == pl.Int8
    assert got["code"].null_count() == 0


def test_an_offered_part_runs_once_whoever_comes_first():
    from oligotrial.endpoints._parallel import Offered

    runs: list[int] = []
    part = Offered(lambda: runs.append(1) or len(runs))
    part.run_if_unclaimed()
    part.run_if_unclaimed()  # already run: not again
    assert part.result() == 1 and runs == [1]
    failing = Offered(lambda: 1 // 0)
    failing.run_if_unclaimed()  # the error is kept for result(), in the caller's order
    with pytest.raises(ZeroDivisionError):
        failing.result()
