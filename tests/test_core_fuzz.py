"""Hypothesis fuzzing of the pure core (issue 12 item 4): RECIST and iRECIST on generated TU/TR/RS/DM tables
with garbage values, eligibility and the radiotherapy plan check on non-finite numbers, the statistics on
arrays with NaN, infinities, negatives and empty input, and the protocol loader on structurally mutated YAML.

Each function returns a result or raises its documented :class:`~oligotrial.errors.OligotrialError`
subclass (``InputError`` with the module's codes; ``ComputationError`` where a fit may not converge;
``ProtocolError`` from the loader), never another exception. The rules' and statistics' own property tests
(tests/rules/test_rules_fuzz.py, tests/stats/test_stats_properties.py, tests/protocol/test_loader_fuzz.py)
cover well-typed input; this file covers what they do not generate.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oligotrial.errors import ComputationError, InputError, OligotrialError, ProtocolError
from oligotrial.protocol import load_protocol, parse_protocol
from oligotrial.protocol import loader as protocol_loader
from oligotrial.protocol.loader import DEFAULT_PROTOCOL
from oligotrial.rules import (
    IRESPONSE_CODES,
    RESPONSE_CODES,
    check_radiotherapy_plan,
    derive_best_overall_response,
    derive_irecist_best_overall_response,
    derive_irecist_timepoint_responses,
    derive_timepoint_responses,
    evaluate_eligibility,
    parse_candidate,
    parse_radiotherapy_plan,
)
from oligotrial.stats import (
    compute_cmh,
    compute_cox,
    compute_fisher_exact,
    compute_km,
    compute_km_at,
    compute_logrank,
    compute_rate_ci,
    compute_rate_difference,
    compute_rmst,
)
from strategies import json_values

PROTOCOL = load_protocol()
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
CODE = re.compile(r"[A-Z]+-\d{3}")

# -- values: mostly plausible, sometimes garbage ------------------------------------------------------------
WEIRD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "abc",
        "2024-02-30",
        "2024-13-01",
        "20240101",
        "9999-12-31",
        "0001-01-01",
        "NaN",
        "-1",
        "∞",
        "\x00",
    ]
)
DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2024-01-01", "2024-02-12", "2024-03-25", "2024-05-06", "2024-06-17"]),
    WEIRD_TEXT,
    st.none(),
)
NUMBERS = st.one_of(
    st.floats(min_value=-10, max_value=200),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e-300]),
    st.none(),
)
SUBJECTS = st.sampled_from(["S1", "S2", "", None])
LESIONS = st.sampled_from(["T1", "T2", "T3", "NT1", "N1", "", None])
ROLES = st.one_of(
    st.sampled_from(["TARGET", "NON-TARGET", "NEW", "target", " TARGET "]), WEIRD_TEXT, st.none()
)
ORGANS = st.one_of(st.sampled_from(["LIVER", "LUNG", "LYMPH NODE", "BONE"]), WEIRD_TEXT, st.none())
TESTS = st.one_of(st.sampled_from(["LDIAM", "LPERP", "TUMSTATE", "SUMDIAM"]), WEIRD_TEXT, st.none())
RESULTS = st.one_of(
    st.sampled_from(["PRESENT", "ABSENT", "UNEQUIVOCAL PROGRESSION", "TOO SMALL TO MEASURE", "NOT DONE"]),
    WEIRD_TEXT,
    st.none(),
)
STATUS = st.one_of(st.sampled_from(["NOT DONE", "not done"]), WEIRD_TEXT, st.none())
BASELINE_FLAG = st.sampled_from(["Y", "N", "", None, "yes"])


def _column(draw: st.DrawFn, values: st.SearchStrategy, n: int, *, numeric: bool = False) -> list[Any]:
    column = draw(st.lists(values, min_size=n, max_size=n))
    if numeric and draw(st.booleans()):  # sometimes the numbers arrive as text
        column = [None if v is None else str(v) for v in column]
    return column


@st.composite
def tu_tables(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 8))
    columns = {
        "USUBJID": _column(draw, SUBJECTS, n),
        "TULNKID": _column(draw, LESIONS, n),
        "TUORRES": _column(draw, ROLES, n),
        "TULOC": _column(draw, ORGANS, n),
    }
    drop = draw(st.sets(st.sampled_from(sorted(columns)), max_size=1))
    return pl.DataFrame({k: v for k, v in columns.items() if k not in drop}, strict=False)


@st.composite
def tr_tables(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 20))
    columns = {
        "USUBJID": _column(draw, SUBJECTS, n),
        "TRLNKID": _column(draw, LESIONS, n),
        "TRTESTCD": _column(draw, TESTS, n),
        "TRSTRESC": _column(draw, RESULTS, n),
        "TRSTRESN": _column(draw, NUMBERS, n, numeric=True),
        "TRSTAT": _column(draw, STATUS, n),
        "TRDTC": _column(draw, DATES, n),
        "TRBLFL": _column(draw, BASELINE_FLAG, n),
    }
    drop = draw(st.sets(st.sampled_from(sorted(columns)), max_size=1))
    return pl.DataFrame({k: v for k, v in columns.items() if k not in drop}, strict=False)


@st.composite
def dm_tables(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 3))
    return pl.DataFrame(
        {"USUBJID": _column(draw, SUBJECTS, n), "RFSTDTC": _column(draw, DATES, n)}, strict=False
    )


def _rs(draw: st.DrawFn, column: str, codes: tuple[str, ...]) -> pl.DataFrame:
    n = draw(st.integers(0, 10))
    code = st.one_of(st.sampled_from(codes), WEIRD_TEXT, st.none())
    if draw(st.booleans()):  # wide, as derived
        return pl.DataFrame(
            {
                "USUBJID": _column(draw, SUBJECTS, n),
                "RSDTC": _column(draw, DATES, n),
                column: _column(draw, code, n),
            },
            strict=False,
        )
    return pl.DataFrame(  # long SDTM RS
        {
            "USUBJID": _column(draw, SUBJECTS, n),
            "RSDTC": _column(draw, DATES, n),
            "RSTESTCD": _column(draw, st.sampled_from([column, "OTHER", ""]), n),
            "RSSTRESC": _column(draw, code, n),
        },
        strict=False,
    )


SETTING = st.one_of(st.integers(-3, 120), st.sampled_from([0, 28, 42]))


def _coded(error: InputError, prefix: str) -> None:
    assert error.problems, "an InputError without problems"
    for problem in error.problems:
        assert CODE.fullmatch(problem.code) and problem.code.startswith(prefix), problem.code
        assert problem.message


# -- RECIST and iRECIST -------------------------------------------------------------------------------------
@FUZZ
@given(tu_tables(), tr_tables(), dm_tables(), SETTING, st.integers(-2, 3), SETTING)
def test_recist_timepoints_and_bor_on_garbage_tables(tu, tr, dm, confirm, max_ne, sd_min):
    try:
        rs = derive_timepoint_responses(tu, tr)
    except InputError as error:
        _coded(error, "RECIST-")
        return
    assert set(rs["OVRLRESP"].drop_nulls().to_list()) <= set(RESPONSE_CODES)
    try:
        bor = derive_best_overall_response(
            rs, dm, confirmation_min_days=confirm, max_ne_between_confirmation=max_ne, sd_min_days=sd_min
        )
    except InputError as error:
        _coded(error, "RECIST-")
        return
    assert bor.height == dm.height
    assert set(bor["BOR"].to_list()) <= {*RESPONSE_CODES, "MISSING"}


@FUZZ
@given(st.data(), dm_tables(), SETTING, st.integers(-2, 3), SETTING)
def test_recist_bor_on_garbage_rs(data, dm, confirm, max_ne, sd_min):
    rs = _rs(data.draw, "OVRLRESP", RESPONSE_CODES)
    try:
        bor = derive_best_overall_response(
            rs, dm, confirmation_min_days=confirm, max_ne_between_confirmation=max_ne, sd_min_days=sd_min
        )
    except InputError as error:
        _coded(error, "RECIST-")
        return
    assert bor.height == dm.height
    assert set(bor["CBOR"].to_list()) <= {*RESPONSE_CODES, "MISSING"}


@FUZZ
@given(tu_tables(), tr_tables(), st.tuples(st.integers(-10, 100), st.integers(-10, 100)))
def test_irecist_timepoints_on_garbage_tables(tu, tr, window):
    try:
        rs = derive_irecist_timepoint_responses(tu, tr, confirmation_window_days=window)
    except InputError as error:
        _coded(error, "")
        assert all(p.code.startswith(("RECIST-", "IRECIST-")) for p in error.problems)
        return
    assert set(rs["IOVRLRESP"].drop_nulls().to_list()) <= set(IRESPONSE_CODES)


@FUZZ
@given(st.data(), dm_tables(), SETTING)
def test_irecist_bor_on_garbage_rs(data, dm, sd_min):
    rs = _rs(data.draw, "IOVRLRESP", IRESPONSE_CODES)
    try:
        bor = derive_irecist_best_overall_response(rs, dm, sd_min_days=sd_min)
    except InputError as error:
        _coded(error, "IRECIST-")
        return
    assert bor.height == dm.height
    assert set(bor["IBOR"].to_list()) <= {*IRESPONSE_CODES, "MISSING"}


# -- eligibility and the radiotherapy plan check on non-finite and odd values --------------------------------
ODD = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 10**30, "", "NaN", "inf", True, [], {}]),
    json_values,
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "screening_date",
                "birth_date",
                "age",
                "ecog",
                "labs",
                "metastatic_lesions",
                "measurable_disease",
                "consent_date",
            ]
        ),
        ODD,
        max_size=8,
    ),
    st.dictionaries(st.sampled_from(["anc", "platelets", "hemoglobin", "creatinine", "bilirubin"]), ODD),
)
def test_eligibility_on_non_finite_values(record, labs):
    record = {**record, "labs": labs} if labs else record
    try:
        candidate = parse_candidate(record, PROTOCOL)
    except InputError as error:
        _coded(error, "ELIG-")
        return
    result = evaluate_eligibility(candidate, PROTOCOL)
    assert result.verdict in {"eligible", "ineligible", "incomplete"}


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "lesion_id": st.sampled_from(["L1", "L2"]),
                "lesion_type": st.sampled_from(["primary", "metastasis"]),
                "organ": st.sampled_from(["esophagus", "liver", "lung"]),
                "technique": st.sampled_from(["SBRT", "conventional"]),
                "dose_per_fraction_gy": ODD,
                "fractions": ODD,
                "start_date": st.one_of(DATES, ODD),
                "end_date": st.one_of(DATES, ODD),
            }
        ),
        max_size=3,
    ),
    st.one_of(DATES, ODD),
)
def test_plan_check_on_non_finite_values(courses, chemo_end):
    try:
        plan = parse_radiotherapy_plan({"chemo_immunotherapy_end": chemo_end, "courses": courses}, PROTOCOL)
    except InputError as error:
        _coded(error, "RT-")
        return
    result = check_radiotherapy_plan(plan, PROTOCOL)
    assert result.verdict in {"compliant", "advisory", "deviation"}
    assert all(math.isfinite(lesion.bed10_gy) for lesion in result.lesions)


# -- statistics ---------------------------------------------------------------------------------------------
STAT_ERRORS = (InputError, ComputationError)
FLOATS = st.one_of(
    st.floats(min_value=-5, max_value=100, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, 1e-300, 1e300]),
)
EVENTS = st.one_of(st.sampled_from([0, 1, True, False]), st.sampled_from([2, -1, 0.5, math.nan]))


@st.composite
def survival_arrays(draw: st.DrawFn, *, groups: bool = True) -> dict[str, Any]:
    n = draw(st.integers(0, 12))
    m = n if draw(st.integers(0, 9)) else draw(st.integers(0, 12))  # sometimes the lengths differ
    out: dict[str, Any] = {
        "time": draw(st.lists(FLOATS, min_size=n, max_size=n)),
        "event": draw(st.lists(EVENTS, min_size=m, max_size=m)),
    }
    if groups:
        labels = st.one_of(st.sampled_from(["A", "B"]), st.sampled_from([0, 1, 2]), st.just(math.nan))
        out["group"] = draw(
            st.lists(labels, min_size=n, max_size=n).filter(lambda g: len({type(x) for x in g}) <= 1)
        )
    return out


def _as_array(values: list[Any]) -> np.ndarray:
    return np.asarray(values) if values else np.asarray([], dtype=np.float64)


@FUZZ
@given(survival_arrays(), st.sampled_from(["log", "log-log", "plain", "arcsin"]), st.floats(-1, 2))
def test_km_rmst_on_bad_arrays(arrays, conf_type, conf_level):
    try:
        curves = compute_km(
            _as_array(arrays["time"]),
            _as_array(arrays["event"]),
            _as_array(arrays["group"]) if arrays["group"] else None,
            conf_type=conf_type,
            conf_level=conf_level,
        )
    except STAT_ERRORS as error:
        _coded(error, "STAT-")
        return
    for curve in curves:
        surv = np.asarray(curve.surv)
        assert np.all((surv >= 0) & (surv <= 1))
        assert np.all(np.diff(surv) <= 0)
        for probe in ([0.0, 1.0, math.nan], [-1.0, math.inf]):
            try:
                compute_km_at(curve, probe)
            except STAT_ERRORS as error:
                _coded(error, "STAT-")
        for tau in (1.0, 0.0, -1.0, math.nan, math.inf):
            try:
                compute_rmst(curve, tau)
            except STAT_ERRORS as error:
                _coded(error, "STAT-")


@FUZZ
@given(survival_arrays())
def test_logrank_on_bad_arrays(arrays):
    try:
        result = compute_logrank(
            _as_array(arrays["time"]), _as_array(arrays["event"]), _as_array(arrays["group"])
        )
    except STAT_ERRORS as error:
        _coded(error, "STAT-")
        return
    assert math.isnan(result.p) or 0.0 <= result.p <= 1.0


@FUZZ
@given(survival_arrays(groups=False), st.data())
def test_cox_on_bad_arrays(arrays, data):
    n = len(arrays["time"])
    width = data.draw(st.integers(1, 2))
    rows = data.draw(st.integers(0, n + 1) if data.draw(st.integers(0, 9)) == 0 else st.just(n))
    covariates = data.draw(
        st.lists(st.lists(FLOATS, min_size=width, max_size=width), min_size=rows, max_size=rows)
    )
    ties = data.draw(st.sampled_from(["efron", "breslow", "exact"]))
    try:
        fit = compute_cox(
            _as_array(arrays["time"]),
            _as_array(arrays["event"]),
            np.asarray(covariates, dtype=np.float64).reshape(rows, width),
            ties=ties,
        )
    except STAT_ERRORS as error:
        _coded(error, "STAT-")
        return
    assert np.all(np.isfinite(np.asarray(fit.coef)))


COUNTS = st.one_of(st.integers(-3, 40), st.sampled_from([math.nan, math.inf, 2.5, 10**12]))


@FUZZ
@given(COUNTS, COUNTS, COUNTS, COUNTS, st.one_of(st.floats(-1, 2), st.just(math.nan)))
def test_binary_statistics_on_bad_counts(a, b, c, d, conf_level):
    calls = [
        lambda: compute_rate_ci(a, b, conf_level=conf_level),
        lambda: compute_rate_difference(a, b, c, d, conf_level=conf_level),
        lambda: compute_fisher_exact([[a, b], [c, d]], conf_level=conf_level),
        lambda: compute_cmh([[[a, b], [c, d]], [[d, c], [b, a]]], conf_level=conf_level),
        lambda: compute_cmh(np.zeros((0, 2, 2)), conf_level=conf_level),
        lambda: compute_fisher_exact([a, b, c], conf_level=conf_level),
    ]
    for call in calls:
        try:
            call()
        except STAT_ERRORS as error:
            _coded(error, "STAT-")


# -- the protocol loader on structurally mutated documents ---------------------------------------------------
PROTOCOL_TEXT = (Path(protocol_loader.__file__).parent / DEFAULT_PROTOCOL).read_text(encoding="utf-8")
DOCUMENT = yaml.safe_load(PROTOCOL_TEXT)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


PATHS = _paths(DOCUMENT)[1:]
REPLACEMENT = st.one_of(
    json_values,
    st.sampled_from([None, [], {}, "", -1, 0, 10**30, math.nan, math.inf, "2024-02-30", [None]]),
)


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    document = copy.deepcopy(document)
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = value
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif action == "wrap":
        parent[key] = [parent[key]]
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{key}_x"] = parent.pop(key)
    return document


@settings(FUZZ, max_examples=30)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(PATHS),
            st.sampled_from(["delete", "replace", "duplicate", "wrap", "rename"]),
            REPLACEMENT,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_protocol_loader_on_structurally_mutated_documents(mutations):
    document = DOCUMENT
    for path, action, value in mutations:
        try:
            document = _mutate(document, path, action, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    try:
        protocol = parse_protocol(text)
    except ProtocolError as error:
        _coded(error, "PROTO-")
        return
    assert protocol.population.criteria


@settings(FUZZ, max_examples=30)
@given(st.binary(max_size=200) | st.text(max_size=200), st.integers(0, len(PROTOCOL_TEXT)))
def test_protocol_loader_on_spliced_garbage(garbage, at):
    text = garbage.decode("utf-8", "replace") if isinstance(garbage, bytes) else garbage
    for candidate in (text, PROTOCOL_TEXT[:at] + text + PROTOCOL_TEXT[at:]):
        try:
            parse_protocol(candidate)
        except ProtocolError as error:
            _coded(error, "PROTO-")


LAUGHS = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True)
)


@pytest.mark.parametrize(
    "value",
    ["", "---", "null", "[]", "42", "!!python/object:os.system ls", "a: &x [*x]", "a: &x {b: *x}", LAUGHS],
)
def test_protocol_loader_on_degenerate_documents(value):
    with pytest.raises(ProtocolError) as excinfo:
        parse_protocol(value)
    assert isinstance(excinfo.value, OligotrialError)
    _coded(excinfo.value, "PROTO-")
