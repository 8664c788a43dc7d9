"""The best overall response of ADSL/ADRS from records whose subjects are known (``endpoints._best``) against
``derive_best_overall_response`` on the same records: the same frame, or the same error."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints._best import best_overall_response
from oligotrial.errors import InputError
from oligotrial.rules.recist import derive_best_overall_response

D0 = date(2026, 1, 5)
SETTINGS = {"confirmation_min_days": 28, "max_ne_between_confirmation": 1, "sd_min_days": 42}
CODES = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]


def both(responses: list[tuple], dm: list[tuple], **options: int):
    rs = pl.DataFrame(
        responses, schema={"USUBJID": pl.Utf8, "RSDTC": pl.Date, "OVRLRESP": pl.Utf8}, orient="row"
    )
    dm_frame = pl.DataFrame(dm, schema={"USUBJID": pl.Utf8, "RFSTDTC": pl.Date}, orient="row")
    row_of = {subject: n for n, (subject, _) in enumerate(dm)}  # exact text, as the SDTM checks match
    subject = np.array([row_of.get(r[0], -1) for r in responses], dtype=np.int64)
    results = []
    for derive in (
        lambda: best_overall_response(rs, subject, dm_frame, **{**SETTINGS, **options}),
        lambda: derive_best_overall_response(rs, dm_frame, **{**SETTINGS, **options}),
    ):
        try:
            results.append(derive())
        except InputError as error:
            results.append(error.problems)
    return results


def test_worked_subjects(monkeypatch):
    # S1: PR then PR 42 days later (confirmed), S2: SD too early then PD, S3: no assessment
    responses = [
        ("S1", D0 + timedelta(days=42), "PR"),
        ("S1", D0 + timedelta(days=84), "PR"),
        ("S2", D0 + timedelta(days=21), "SD"),
        ("S2", D0 + timedelta(days=63), "PD"),
    ]
    coded, reference = both(responses, [("S1", D0), ("S2", D0), ("S3", D0)])
    assert coded.equals(reference)
    # valid input takes the coded path: the reference function is not called
    monkeypatch.setattr("oligotrial.endpoints._best.derive_best_overall_response", None)
    assert both(responses, [("S1", D0), ("S2", D0), ("S3", D0)])[0].equals(reference)
    assert coded.select("BOR", "CBOR", "CRSP", "CB").rows() == [
        ("PR", "PR", "Y", "Y"),
        ("PD", "PD", "N", "N"),
        ("MISSING", "MISSING", "N", "N"),
    ]


@pytest.mark.parametrize(
    ("responses", "dm", "code"),
    [
        (
            [("S1", D0, "PR "), ("S1", D0 + timedelta(days=30), "XX")],
            [("S1", D0)],
            "RECIST-021",
        ),  # unknown code
        ([("S9", D0, "PR")], [("S1", D0)], "RECIST-023"),  # subject not in the reference table
        ([("S1", D0, "PR")], [("S1", None)], "RECIST-024"),  # no reference date
        ([("S1", D0, "PR"), ("S1", D0, "SD")], [("S1", D0)], "RECIST-026"),  # two responses on one date
        ([("S1", D0, "PR")], [("S1", D0), (" S1", D0)], "RECIST-025"),  # one subject twice once stripped
    ],
)
def test_refused_input_raises_the_reference_error(responses, dm, code):
    coded, reference = both(responses, dm)
    assert coded == reference and code in {p.code for p in coded}


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    n_subjects=st.integers(1, 4),
    min_days=st.sampled_from([0, 28, 35]),
    max_ne=st.integers(0, 2),
    sd_days=st.sampled_from([0, 42]),
)
def test_agrees_with_derive_best_overall_response(data, n_subjects, min_days, max_ne, sd_days):
    dm = [
        (f"S{n}", data.draw(st.one_of(st.just(D0), st.just(D0 + timedelta(days=10)), st.none())))
        for n in range(n_subjects)
    ]
    code = st.one_of(st.sampled_from(CODES), st.sampled_from(["pr", " CR", None]))
    responses = [
        (
            data.draw(st.sampled_from([s for s, _ in dm] + ["S9", " S0"])),
            D0 + timedelta(days=data.draw(st.integers(0, 200))),
            data.draw(code),
        )
        for _ in range(data.draw(st.integers(0, 12)))
    ]
    coded, reference = both(
        responses, dm, confirmation_min_days=min_days, max_ne_between_confirmation=max_ne, sd_min_days=sd_days
    )
    if isinstance(reference, pl.DataFrame):
        assert isinstance(coded, pl.DataFrame) and coded.equals(reference)
    else:
        assert coded == reference
