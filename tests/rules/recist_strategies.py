"""Builders of small TU/TR tables and hypothesis strategies shared by the RECIST and iRECIST tests."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import strategies as st

DATA = Path(__file__).resolve().parents[1] / "data" / "recist"
NODE = "LYMPH NODE"
STATES = {"PRESENT", "ABSENT", "UNEQUIVOCAL PROGRESSION"}

TU_SCHEMA = {"USUBJID": pl.Utf8, "TULNKID": pl.Utf8, "TUORRES": pl.Utf8, "TULOC": pl.Utf8}
TR_SCHEMA = {
    "USUBJID": pl.Utf8,
    "TRLNKID": pl.Utf8,
    "TRTESTCD": pl.Utf8,
    "TRSTRESC": pl.Utf8,
    "TRSTRESN": pl.Float64,
    "TRSTAT": pl.Utf8,
    "TRDTC": pl.Utf8,
}


def read_cases(name: str) -> list[dict[str, str]]:
    """Rows of a conformance CSV under tests/data/recist/, comment lines (#) skipped."""
    with (DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def tables(subjects: dict[str, dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """TU and TR from a compact description.

    ``{"S1": {"lesions": [("T1", "TARGET", "LIVER"), ...], "visits": [("2024-01-01", {"T1": 30}), ...]}}``.
    A number is a diameter (LPERP for a node, LDIAM otherwise; for a NEW lesion, the number is measured
    with the same tests), a state string is TUMSTATE, ``"TOO SMALL TO MEASURE"`` a diameter code, ``None``
    a result NOT DONE; a lesion missing from a visit has no record at all.
    """
    tu_rows: list[tuple[str, str, str, str]] = []
    tr_rows: list[tuple[Any, ...]] = []
    for subject, spec in subjects.items():
        roles = {}
        for lesion, role, location in spec["lesions"]:
            tu_rows.append((subject, lesion, role, location))
            roles[lesion] = (role, location)
        for when, values in spec["visits"]:
            for lesion, value in values.items():
                role, location = roles.get(lesion, ("TARGET", "LIVER"))
                measure = "LPERP" if location == NODE else "LDIAM"
                state_test = "TUMSTATE"
                if isinstance(value, int | float):
                    tr_rows.append((subject, lesion, measure, None, float(value), None, when))
                elif value in STATES:
                    tr_rows.append((subject, lesion, state_test, value, None, None, when))
                elif value is None:
                    test = measure if role == "TARGET" else state_test
                    tr_rows.append((subject, lesion, test, None, None, "NOT DONE", when))
                else:
                    tr_rows.append((subject, lesion, measure, value, None, None, when))
    tu = pl.DataFrame(tu_rows, schema=TU_SCHEMA, orient="row")
    tr = pl.DataFrame(tr_rows, schema=TR_SCHEMA, orient="row")
    return tu, tr


BASE = date(2024, 1, 1)


@st.composite
def subject_specs(draw: st.DrawFn, *, subject: str = "S1") -> dict[str, Any]:
    """One subject: 0-5 targets (valid selection), 0-2 non-targets, 1-8 follow-up assessments."""
    organs = ["LIVER", "LUNG", "BONE", NODE]
    n_targets = draw(st.integers(0, 5))
    n_non_targets = draw(st.integers(0 if n_targets else 1, 2))
    lesions: list[tuple[str, str, str]] = []
    per_organ: dict[str, int] = {}
    for i in range(n_targets):
        choices = [o for o in organs if per_organ.get(o, 0) < 2 and o != "BONE"] or ["BRAIN"]
        organ = draw(st.sampled_from(choices))
        per_organ[organ] = per_organ.get(organ, 0) + 1
        lesions.append((f"T{i + 1}", "TARGET", organ))
    lesions += [(f"NT{i + 1}", "NON-TARGET", "BONE") for i in range(n_non_targets)]
    baseline: dict[str, Any] = {}
    for lesion, role, organ in lesions:
        if role == "TARGET":
            baseline[lesion] = draw(st.integers(15 if organ == NODE else 10, 80))
        else:
            baseline[lesion] = "PRESENT"
    visits = [(BASE.isoformat(), baseline)]
    n_visits = draw(st.integers(1, 8))
    for k in range(1, n_visits + 1):
        values: dict[str, Any] = {}
        for lesion, role, _ in lesions:
            if role == "TARGET":
                values[lesion] = draw(
                    st.one_of(st.integers(0, 120), st.just(None), st.just("TOO SMALL TO MEASURE"))
                )
            else:
                values[lesion] = draw(st.sampled_from(["PRESENT", "ABSENT", "UNEQUIVOCAL PROGRESSION", None]))
        visits.append(((BASE + timedelta(days=42 * k)).isoformat(), values))
    return {"lesions": lesions, "visits": visits}
