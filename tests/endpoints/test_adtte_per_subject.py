"""ADTTE's per-subject assessment lookups (first PD, last adequate, before new therapy, before the event):
the compiled scan (:func:`assessment_rows`) against plain filters and group-bys."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints.adtte import Assessments, _owner_date_order, assessment_rows

D0 = date(2024, 1, 1)
RESPONSES = {"USUBJID": pl.Utf8, "RSDTC": pl.Date, "OVRLRESP": pl.Utf8, "RSSEQ": pl.Int64, "SRCDOM": pl.Utf8}
SUBJECTS = {"USUBJID": pl.Utf8, "STARTDT": pl.Date, "DTHDT": pl.Date, "NATSDT": pl.Date}
COLUMNS = [f"{name}{part}" for name in ("_PD", "_LAST", "_PRENAT", "_PREEVT") for part in ("", "SEQ", "DOM")]


def d(n: int) -> date:
    return D0 + timedelta(days=n)


def lookups(
    responses: list[tuple], subjects: list[tuple], progression: bool, death: bool, owners: bool = False
) -> pl.DataFrame:
    """``subjects`` is ADSL (its order gives ``_I``); the endpoint's population is every subject. ``owners``:
    the responses' ADSL rows are given (found with a dict), else looked up by USUBJID."""
    adsl = pl.DataFrame(subjects, schema=SUBJECTS, orient="row")
    frame = pl.DataFrame(responses, schema=RESPONSES, orient="row")
    row_of = {subject[0]: n for n, subject in enumerate(subjects)}
    given = np.array([row_of.get(r[0], -1) for r in responses], dtype=np.int64) if owners else None
    coded = Assessments.of(frame, adsl, given)
    population = adsl.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_I"))
    rows = assessment_rows(coded, population, progression, death)
    columns = []
    for k, name in enumerate(("_PD", "_LAST", "_PRENAT", "_PREEVT")):
        at = pl.Series(rows[:, k]).to_frame("at").select(pl.when(pl.col("at") >= 0).then("at")).to_series()
        columns += coded.records.select(
            pl.col("RSDTC").gather(at).alias(name),
            pl.col("RSSEQ").gather(at).alias(f"{name}SEQ"),
            pl.col("SRCDOM").gather(at).alias(f"{name}DOM"),
        ).get_columns()
    return pl.DataFrame(columns)


def test_worked_subject():
    # S1 from day 0: SD, NE, PR, PD, PD; new therapy on day 50, death on day 200. Last adequate: the second
    # PD (day 120); on or before the new therapy: PR (day 40, the NE of day 20 is not adequate); before the
    # event (the first PD, day 90): PR. S2: one NE only, no death, no new therapy: nothing found. S3 from
    # day 60: its PR of day 30 is before the origin and does not count; SD on day 70 is the last adequate.
    # S4 has no assessment. Records are given out of order.
    responses = [
        ("S1", d(120), "PD", 5, "RS"),
        ("S1", d(10), "SD", 1, "RS"),
        ("S1", d(20), "NE", 2, "RS"),
        ("S3", d(30), "PR", 1, "TR"),
        ("S1", d(40), "PR", 3, "RS"),
        ("S1", d(90), "PD", 4, "RS"),
        ("S2", d(30), "NE", 1, "RS"),
        ("S3", d(70), "SD", None, "TR"),
    ]
    subjects = [
        ("S1", d(0), d(200), d(50)),
        ("S2", d(0), None, None),
        ("S3", d(60), None, None),
        ("S4", d(0), d(10), None),
    ]
    got = lookups(responses, subjects, progression=True, death=True)
    assert lookups(responses, subjects, progression=True, death=True, owners=True).equals(got)
    assert got.select(
        "_PD", "_PDSEQ", "_LAST", "_LASTSEQ", "_LASTDOM", "_PRENATSEQ", "_PREEVTSEQ"
    ).rows() == [
        (d(90), 4, d(120), 5, "RS", 3, 3),
        (None, None, None, None, None, None, None),
        (None, None, d(70), None, "TR", None, None),
        (None, None, None, None, None, None, None),
    ]
    # death an event source, progression not: the last adequate before the death; neither: nothing
    only_death = lookups(responses, subjects, progression=False, death=True)
    assert only_death["_PREEVTSEQ"].to_list() == [5, None, None, None]
    neither = lookups(responses, subjects, progression=False, death=False)
    assert neither["_PREEVT"].to_list() == [None, None, None, None]


def test_no_assessments():
    got = lookups([], [("S1", d(0), None, None)], progression=True, death=True)
    assert got.height == 1 and got.row(0) == (None,) * 12
    assert got.schema["_PREEVT"] == pl.Date and got.schema["_LASTSEQ"] == pl.Int64


def plain(responses: pl.DataFrame, adsl: pl.DataFrame, progression: bool, death: bool) -> pl.DataFrame:
    """The same lookups written as filters and group-bys, one per quantity."""
    data = (
        responses.join(adsl, on="USUBJID", maintain_order="left")
        .sort("USUBJID", "RSDTC", maintain_order=True)
        .filter(pl.col("RSDTC") >= pl.col("STARTDT"))
    )

    def pick(part: pl.DataFrame, name: str, last: bool) -> pl.DataFrame:
        agg = (lambda c: pl.col(c).last()) if last else (lambda c: pl.col(c).first())
        return part.group_by("USUBJID", maintain_order=True).agg(
            agg("RSDTC").alias(name), agg("RSSEQ").alias(f"{name}SEQ"), agg("SRCDOM").alias(f"{name}DOM")
        )

    pd = pick(data.filter(pl.col("OVRLRESP") == "PD"), "_PD", last=False)
    adequate = data.filter(pl.col("OVRLRESP") != "NE")
    event = pl.min_horizontal(
        pl.col("_PD") if progression else pl.lit(None, pl.Date),
        pl.col("DTHDT") if death else pl.lit(None, pl.Date),
    )
    with_event = adequate.join(pd.select("USUBJID", "_PD"), on="USUBJID", how="left", maintain_order="left")
    out = adsl.select("USUBJID")
    for part in (
        pd,
        pick(adequate, "_LAST", last=True),
        pick(adequate.filter(pl.col("RSDTC") <= pl.col("NATSDT")), "_PRENAT", last=True),
        pick(with_event.filter(pl.col("RSDTC") < event), "_PREEVT", last=True),
    ):
        out = out.join(part, on="USUBJID", how="left", maintain_order="left")
    return out.select(COLUMNS)


@st.composite
def study(draw: st.DrawFn) -> tuple[list[tuple], list[tuple]]:
    responses, subjects = [], []
    for subject in range(draw(st.integers(1, 5))):
        maybe_day = st.one_of(st.none(), st.integers(0, 120))
        subjects.append(
            (
                f"S{subject}",
                d(draw(st.integers(0, 60))),
                *(None if x is None else d(x) for x in (draw(maybe_day), draw(maybe_day))),
            )
        )
        days = draw(st.lists(st.integers(0, 120), max_size=6, unique=True))
        for seq, day in enumerate(days, start=1):
            code = draw(st.sampled_from(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", None]))
            responses.append((f"S{subject}", d(day), code, draw(st.one_of(st.none(), st.just(seq))), "RS"))
    draw(st.randoms()).shuffle(responses)
    return responses, subjects


@settings(max_examples=150, deadline=None)
@given(data=study(), progression=st.booleans(), death=st.booleans(), owners=st.booleans())
def test_agrees_with_plain_group_bys(data, progression, death, owners):
    responses, subjects = data
    got = lookups(responses, subjects, progression, death, owners)
    expected = plain(
        pl.DataFrame(responses, schema=RESPONSES, orient="row"),
        pl.DataFrame(subjects, schema=SUBJECTS, orient="row"),
        progression,
        death,
    )
    assert got.rows() == expected.rows()


def test_owner_date_order():
    # owner -1 (not in ADSL) first, then by owner, a null day first, ties in input order; None when in order
    owner = np.array([1, 0, 1, -1, 0, 1], dtype=np.int64)
    day = pl.Series([5, 7, None, 9, 3, 5], dtype=pl.Int64)
    assert _owner_date_order(owner, day).tolist() == [3, 4, 1, 2, 0, 5]
    assert _owner_date_order(np.array([0, 0, 1]), pl.Series([1, 2, 0], dtype=pl.Int64)) is None
    # days too far apart for one packed key: the same order from a two-key sort
    far = pl.Series([5 << 40, 7 << 40, None, 9 << 40, 3 << 40, 5 << 40], dtype=pl.Int64)
    big = owner * (1 << 22)
    assert _owner_date_order(big, far).tolist() == [3, 4, 1, 2, 0, 5]
