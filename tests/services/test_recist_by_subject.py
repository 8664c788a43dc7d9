"""The RECIST values of many subjects from one run of the engine (``derive_recist_by_subject``, the SDTM
export's path) are each subject's own (``derive_recist``), whatever mix of valid, refused, baseline-only and
empty subjects is given."""

from __future__ import annotations

import math
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.protocol import load_protocol
from oligotrial.services.workflow import assessments
from oligotrial.services.workflow.assessments import (
    derive_recist,
    derive_recist_by_subject,
    derive_tumour_tables,
)
from oligotrial.services.workflow.forms import check_form_values
from workflow_data import assessment

PROTOCOL = load_protocol()
D0 = date(2024, 1, 8)

# a subject: its (liver, lung) diameters at baseline and each later assessment; a liver target of 8 mm at
# baseline is not measurable (RECIST-011), so such a subject is refused
subjects = st.lists(
    st.lists(
        st.tuples(st.sampled_from([0.0, 8.0, 12.0, 25.0, 40.0]), st.sampled_from([10.0, 20.0])), max_size=4
    ),
    min_size=1,
    max_size=12,
)


def _forms(diameters: list[tuple[float, float]]) -> list:
    return [
        check_form_values("TUMOUR", assessment(D0 + timedelta(days=42 * k), liver, lung), PROTOCOL)
        for k, (liver, lung) in enumerate(diameters)
    ]


@settings(max_examples=25, deadline=None)
@given(subjects)
def test_many_subjects_at_once_give_each_subjects_own_values(study):
    forms = {f"S{n:02d}": _forms(diameters) for n, diameters in enumerate(study)}
    together = derive_recist_by_subject(forms)
    assert list(together) == list(forms)
    for usubjid, subject_forms in forms.items():
        assert together[usubjid] == derive_recist(usubjid, subject_forms), usubjid
    # the SDTM export's TU/TR of them all, given, are read instead of built again: the same values
    tables = derive_tumour_tables((usubjid, form) for usubjid, done in forms.items() for form in done)
    assert derive_recist_by_subject(forms, tables) == together


def test_given_tables_are_read_by_the_first_run(monkeypatch):
    forms = {f"S{n}": _forms([(30.0, 20.0), (25.0, 20.0)]) for n in range(3)}
    tables = derive_tumour_tables((usubjid, form) for usubjid, done in forms.items() for form in done)
    expected = {usubjid: derive_recist(usubjid, done) for usubjid, done in forms.items()}
    monkeypatch.setattr(assessments, "derive_tumour_tables", None)  # a call would fail
    assert derive_recist_by_subject(forms, tables) == expected


def test_refused_subjects_are_found_by_halving(monkeypatch):
    valid = [(30.0, 20.0), (25.0, 20.0), (12.0, 10.0)]
    forms = {f"S{n:03d}": _forms(valid) for n in range(64)}
    forms["S017"] = _forms([(8.0, 20.0), (8.0, 20.0)])  # not measurable at baseline: RECIST-011
    runs = []
    engine = assessments.derive_timepoint_responses

    def counted(tu, tr):
        runs.append(tu["USUBJID"].n_unique())
        return engine(tu, tr)

    monkeypatch.setattr(assessments, "derive_timepoint_responses", counted)
    results = derive_recist_by_subject(forms)
    assert [p.code for p in results["S017"][1]] == ["RECIST-011"] and results["S017"][0] == {}
    assert all(results[s][1] == [] and len(results[s][0]) == 3 for s in forms if s != "S017")
    # the whole group, then each half down to the refused subject: 1 + 2 log2(64) runs, not 64
    assert runs[0] == 64 and len(runs) == 1 + 2 * math.ceil(math.log2(64))
