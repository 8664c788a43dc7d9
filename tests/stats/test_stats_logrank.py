"""Log-rank against R survival 3.5-3 (tests/data/survival/make_reference.R).

R: ``sd <- survdiff(Surv(time, status) ~ group + strata(s))``; ``sd$chisq``, ``df = sum(expected > 0) - 1``,
``pchisq(sd$chisq, df, lower.tail = FALSE)``, expected events summed over strata.
"""

from __future__ import annotations

import numpy as np
import pytest

from oligotrial.errors import InputError
from oligotrial.stats import compute_logrank
from stats.survival_reference import assert_close, load_dataset, read_rows

CASES = read_rows("logrank.csv")


@pytest.mark.parametrize("row", CASES, ids=lambda r: f"{r['dataset']}-{r['group']}-{r['strata'] or 'none'}")
def test_matches_r_survdiff(row):
    time, event, columns = load_dataset(row["dataset"])
    strata = columns[row["strata"]] if row["strata"] else None
    result = compute_logrank(time, event, columns[row["group"]], strata)
    assert_close(result.chisq, row["chisq"])
    assert result.df == row["df"]
    assert_close(result.p, row["p"])
    np.testing.assert_array_equal(result.observed, [float(v) for v in row["observed"].split(";")])
    assert_close(result.expected, [float(v) for v in row["expected"].split(";")])


def test_lung_ph_ecog_strata_include_a_single_subject_stratum():
    """The ph_ecog = 3 stratum of lung has one subject; R's survdiff keeps it (reference row above)."""
    _, _, columns = load_dataset("lung")
    assert np.count_nonzero(columns["ph_ecog"] == 3) == 1


def test_no_events_is_zero_on_zero_degrees_of_freedom():
    result = compute_logrank([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 0], ["a", "b", "a", "b"])
    assert (result.chisq, result.df) == (0.0, 0)
    assert np.isnan(result.p)


def test_one_group_is_an_input_error():
    with pytest.raises(InputError, match="STAT-006"):
        compute_logrank([1.0, 2.0], [1, 1], ["a", "a"])
