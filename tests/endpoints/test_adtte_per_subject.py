"""ADTTE's per-subject assessment lookups (first PD, last adequate, before new therapy, before the event)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints.adtte import _per_subject

D0 = date(2024, 1, 1)
SCHEMA = {
    "USUBJID": pl.Utf8,
    "RSDTC": pl.Date,
    "OVRLRESP": pl.Utf8,
    "RSSEQ": pl.Int64,
    "SRCDOM": pl.Utf8,
    "DTHDT": pl.Date,
    "NATSDT": pl.Date,
}


def frame(rows: list[tuple]) -> pl.DataFrame:
    data = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    return data.sort("USUBJID", "RSDTC", maintain_order=True).with_columns(
        (pl.col("OVRLRESP") != "NE").alias("_ADEQUATE")
    )


def test_worked_subject():
    # S1: SD, NE, PR, PD, PD; new therapy on day 50, death on day 200. Last adequate: the second PD (day 120);
    # on or before the new therapy: PR (day 40, the NE of day 20 is not adequate); before the event (the
    # first PD, day 90): PR. S2: one NE only, no death, no new therapy: nothing found but the subject.
    d = lambda n: D0 + timedelta(days=n)  # noqa: E731
    rows = [
        ("S1", d(10), "SD", 1, "RS", d(200), d(50)),
        ("S1", d(20), "NE", 2, "RS", d(200), d(50)),
        ("S1", d(40), "PR", 3, "RS", d(200), d(50)),
        ("S1", d(90), "PD", 4, "RS", d(200), d(50)),
        ("S1", d(120), "PD", 5, "RS", d(200), d(50)),
        ("S2", d(30), "NE", 1, "RS", None, None),
    ]
    got = _per_subject(frame(rows), progression=True, death=True)
    assert got.select("USUBJID", "_PD", "_PDSEQ", "_LAST", "_LASTSEQ", "_PRENATSEQ", "_PREEVTSEQ").rows() == [
        ("S1", d(90), 4, d(120), 5, 3, 3),
        ("S2", None, None, None, None, None, None),
    ]
    # death not an event source, progression is: the same; progression not a source: before the death
    only_death = _per_subject(frame(rows), progression=False, death=True)
    assert only_death["_PREEVTSEQ"].to_list() == [5, None]
    neither = _per_subject(frame(rows), progression=False, death=False)
    assert neither["_PREEVT"].to_list() == [None, None]


def test_no_assessments():
    got = _per_subject(frame([]), progression=True, death=True)
    assert got.height == 0
    assert got.schema["_PREEVT"] == pl.Date and got.schema["_LASTSEQ"] == pl.Int64


def plain(assessments: pl.DataFrame, progression: bool, death: bool) -> pl.DataFrame:
    """The same lookups written as filters and group-bys, one per quantity."""

    def pick(data: pl.DataFrame, name: str, last: bool) -> pl.DataFrame:
        agg = (lambda c: pl.col(c).last()) if last else (lambda c: pl.col(c).first())
        return data.group_by("USUBJID", maintain_order=True).agg(
            agg("RSDTC").alias(name), agg("RSSEQ").alias(f"{name}SEQ"), agg("SRCDOM").alias(f"{name}DOM")
        )

    subjects = assessments.select("USUBJID").unique(maintain_order=True)
    pd = pick(assessments.filter(pl.col("OVRLRESP") == "PD"), "_PD", last=False)
    adequate = assessments.filter(pl.col("_ADEQUATE"))
    event = pl.min_horizontal(
        pl.col("_PD") if progression else pl.lit(None, pl.Date),
        pl.col("DTHDT") if death else pl.lit(None, pl.Date),
    )
    with_event = adequate.join(pd.select("USUBJID", "_PD"), on="USUBJID", how="left", maintain_order="left")
    out = subjects
    for part in (
        pd,
        pick(adequate, "_LAST", last=True),
        pick(adequate.filter(pl.col("RSDTC") <= pl.col("NATSDT")), "_PRENAT", last=True),
        pick(with_event.filter(pl.col("RSDTC") < event), "_PREEVT", last=True),
    ):
        out = out.join(part, on="USUBJID", how="left", maintain_order="left")
    return out


@st.composite
def assessments(draw: st.DrawFn) -> pl.DataFrame:
    rows = []
    for subject in range(draw(st.integers(1, 5))):
        died = draw(st.one_of(st.none(), st.integers(0, 120)))
        nat = draw(st.one_of(st.none(), st.integers(0, 120)))
        days = draw(st.lists(st.integers(0, 120), max_size=6, unique=True))
        for seq, day in enumerate(days, start=1):
            rows.append(
                (
                    f"S{subject}",
                    D0 + timedelta(days=day),
                    draw(st.sampled_from(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", None])),
                    draw(st.one_of(st.none(), st.just(seq))),
                    "RS",
                    None if died is None else D0 + timedelta(days=died),
                    None if nat is None else D0 + timedelta(days=nat),
                )
            )
    return frame(rows)


@settings(max_examples=150, deadline=None)
@given(data=assessments(), progression=st.booleans(), death=st.booleans())
def test_agrees_with_plain_group_bys(data, progression, death):
    got = _per_subject(data, progression, death)
    expected = plain(data, progression, death).select(got.columns)
    assert got.rows() == expected.rows()
