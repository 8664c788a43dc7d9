"""ADTTE's outcome per subject: the compiled pass (:func:`decide_outcomes`) against a plain per-subject reading
of the rules of ``derive_adtte`` (PROTOCOL.md section 5), over generated subjects and endpoint settings."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.endpoints import _kernels as k

NEVER = k.NEVER
KINDS = (
    k.NO_BASELINE,
    k.NEW_THERAPY,
    k.MISSED,
    k.DEATH_BEFORE_FIRST,
    k.LAST_KNOWN_ALIVE,
    k.LAST_ADEQUATE,
    k.ORIGIN,
)
#: The text codes of the fixed texts (any distinct numbers): origin domain and variable, RSDTC, the progression
#: and death descriptions, DM, DTHDTC, ADSL, LSTALVDT.
CODES = np.arange(100, 109, dtype=np.int64)


def plain(steps, subject, date, periods, count, progression):
    """One subject's (ADT, CNSR, row, EVNTDESC, CNSDTDSC, SRCDOM, SRCVAR), read from the rules one by one."""
    origin, death, nat, alive, baseline, rows, ends = subject
    pd_row, last_row, nat_row, before_row = rows
    pd_day = date[pd_row] if progression and pd_row >= 0 else None
    candidates = [d for d in (pd_day, None if death == NEVER else death) if d is not None]
    event = min(candidates) if candidates else None
    by_progression = event is not None and pd_day == event
    last_seen = date[before_row] if before_row >= 0 else origin

    def censored(cnsr, description, row):
        if row >= 0:
            return (date[row], cnsr, row, -1, description, -1, CODES[2])
        return (origin, cnsr, -1, -1, description, CODES[0], CODES[1])

    for kind, cnsr, description in steps:
        if kind == k.NO_BASELINE and not baseline:
            return censored(cnsr, description, -1)
        if kind == k.NEW_THERAPY and nat != NEVER and nat >= origin and (event is None or nat < event):
            return censored(cnsr, description, nat_row)
        if kind == k.MISSED and event is not None:
            interval, window = periods[-1]
            for end, (period_interval, period_window) in zip(ends, periods, strict=True):
                if end != NEVER and last_seen <= end:
                    interval, window = period_interval, period_window
                    break
            if event - last_seen > count * interval + window:
                return censored(cnsr, description, before_row)
        if kind == k.DEATH_BEFORE_FIRST and event is not None and not by_progression and before_row < 0:
            return censored(cnsr, description, -1)
        if kind == k.EVENT and event is not None:
            if by_progression:
                return (event, 0, pd_row, CODES[3], -1, -1, CODES[2])
            return (event, 0, -1, CODES[4], -1, CODES[5], CODES[6])
        if kind == k.LAST_KNOWN_ALIVE:
            adt = origin if alive == NEVER else max(alive, origin)
            return (adt, cnsr, -1, -1, description, CODES[7], CODES[8])
        if kind == k.LAST_ADEQUATE and last_row >= 0:
            return censored(cnsr, description, last_row)
        if kind == k.ORIGIN:
            return censored(cnsr, description, -1)
    return (NEVER, -1, -1, -1, -1, -1, -1)


day = st.integers(0, 400)
maybe_day = st.one_of(st.just(NEVER), day)


@st.composite
def cases(draw):
    dates = draw(st.lists(day, min_size=1, max_size=8))
    row = st.integers(-1, len(dates) - 1)
    n_periods = draw(st.integers(1, 3))
    subject = st.tuples(day, maybe_day, maybe_day, maybe_day, st.booleans(), st.tuples(row, row, row, row),
                        st.lists(maybe_day, min_size=n_periods, max_size=n_periods))  # fmt: skip
    subjects = draw(st.lists(subject, min_size=1, max_size=12))
    periods = draw(st.lists(st.tuples(st.integers(1, 60), st.integers(0, 14)), min_size=n_periods,
                            max_size=n_periods))  # fmt: skip
    listed = draw(st.lists(st.sampled_from(KINDS), unique=True))
    order = [kind for kind in (*KINDS[:4], k.EVENT, *KINDS[4:]) if kind in listed or kind == k.EVENT]
    steps = [(kind, draw(st.integers(1, 9)), draw(st.integers(0, 50))) for kind in order]
    return dates, subjects, periods, steps, draw(st.integers(1, 3)), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(cases())
def test_compiled_pass_matches_the_rules_read_one_by_one(case):
    dates, subjects, periods, steps, count, progression = case
    date = np.array(dates, dtype=np.int64)
    n = len(subjects)
    column = [np.array([s[j] for s in subjects], dtype=np.int64) for j in range(4)]
    out = [np.full(n, NEVER, dtype=np.int64), *(np.full(n, -1, dtype=np.int64) for _ in range(6))]
    k.decide_outcomes(
        np.array([s[0] for s in steps], dtype=np.int64),
        np.array([s[1] for s in steps], dtype=np.int64),
        np.array([s[2] for s in steps], dtype=np.int64),
        CODES,
        count,
        np.array([s[5] for s in subjects], dtype=np.int64).reshape(n, 4),
        date,
        *column,
        np.array([s[4] for s in subjects], dtype=np.bool_),
        np.array([s[6] for s in subjects], dtype=np.int64).reshape(n, len(periods)),
        np.array([p[0] for p in periods], dtype=np.int64),
        np.array([p[1] for p in periods], dtype=np.int64),
        progression,
        *out,
    )
    for i, subject in enumerate(subjects):
        got = tuple(int(o[i]) for o in out)
        expected = plain(steps, subject, dates, periods, count, progression)
        assert got == tuple(int(x) for x in expected), (i, subject, steps)
