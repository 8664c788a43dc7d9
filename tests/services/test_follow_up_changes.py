"""A form entered once per subject (end of treatment, death, disposition) can be changed with a reason,
while a second entry stays refused (``<FORM>-105``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from oligotrial.errors import ConflictError, InputError
from oligotrial.services import data
from oligotrial.services import workflow as wf
from workflow_data import eligible, induction_dose

D0 = date(2024, 1, 8)


def test_a_once_entered_form_is_changed_with_a_reason_and_not_entered_twice(world):
    edc, inv = world.edc, world.actor("investigator.cn01")
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=7)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=3))
    wf.record_dose(edc, inv, code, induction_dose(1, D0))
    cases = [
        (
            wf.record_end_of_treatment,
            "EOT",
            {"date": "2024-02-01", "last_dose_date": "2024-01-08", "reason": "progression"},
            {"reason": "intolerable toxicity"},
        ),
        (
            wf.record_death,
            "DEATH",
            {"date": "2024-06-01", "cause": "unknown"},
            {"cause": "disease progression"},
        ),
        (
            wf.record_disposition,
            "DISPOSITION",
            {"date": "2024-06-01", "reason": "DEATH"},
            {"details": "records"},
        ),
    ]
    for record, event, values, change in cases:
        first = record(edc, inv, code, values)
        assert (first.form.event_code, first.form.version) == (event, 1)
        with pytest.raises(ConflictError, match=f"{event}-105"):
            record(edc, inv, code, values)
        with pytest.raises(InputError, match="EDC-010"):
            record(edc, inv, code, {**values, **change}, event_code=event, base_version=1)
        changed = record(
            edc, inv, code, {**values, **change}, event_code=event, base_version=1, reason="source corrected"
        )
        assert (changed.form.event_code, changed.form.version) == (event, 2)
        assert {k: changed.form.values[k] for k in change} == change
    assert data.get_subject(edc, inv, code).status == "died"
