"""The shared machinery of the survival functions against brute force: the packed-key sort, tie groups and
blocks, sorting and walking in pieces on several threads, and label encoding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from oligotrial.errors import InputError
from oligotrial.stats import _riskset, compute_cox, compute_km, compute_logrank
from oligotrial.stats._riskset import compute_risk_sets
from oligotrial.stats._validation import check_survival_data, encode


def _reference_order(time, is_event, stratum, mask, label=None):
    """R's coxph order reversed, by lexsort: stratum (masked last), time, events first, (label,) later
    position first."""
    n_strata = int(stratum[mask].max()) + 1 if mask.any() else 1
    orders = []
    for i, (t, e, s, m) in enumerate(zip(time, is_event, stratum, mask, strict=True)):
        code = np.where(m, s, n_strata)
        t = np.where(m, t, -1.0)  # masked: any order among themselves, after everyone
        keys = [-np.arange(t.size), ~(e & m), t, code]
        if label is not None:
            keys.insert(1, label[i])
        orders.append(np.lexsort(keys))
    return np.array(orders)


def _check_risk_sets(time, is_event, stratum, mask):
    """Both key layouts (with positions; packed with a label, which keeps positions only when the times do
    not fit the key whole) against brute force."""
    label = np.random.default_rng(0).integers(0, 3, time.shape)
    with_order = compute_risk_sets(time, is_event, stratum, mask, is_time_needed=True)
    packed = compute_risk_sets(
        time, is_event, stratum, mask, label=label, n_labels=3, is_order_needed=False, is_time_needed=True
    )
    r, n = time.shape
    n_in = mask.sum(axis=1)
    expected = _reference_order(time, is_event, stratum, mask)
    expected_by_label = _reference_order(time, is_event, stratum, mask, label)
    for i in range(r):  # the masked subjects' own order does not matter
        np.testing.assert_array_equal(with_order.order[i, : n_in[i]], expected[i, : n_in[i]])
        assert set(with_order.order[i, n_in[i] :]) == set(expected[i, n_in[i] :])
        np.testing.assert_array_equal(packed.label[i, : n_in[i]], label[i, expected_by_label[i, : n_in[i]]])
    # tie groups and blocks, by brute force over the sorted subjects inside the mask
    n_strata = with_order.n_strata
    groups, times = [], []
    for i in range(r):
        o = expected[i, : n_in[i]]
        t, e, s = time[i, o], is_event[i, o], stratum[i, o]
        for j in range(o.size):
            if j == 0 or t[j] != t[j - 1] or s[j] != s[j - 1]:
                same_group = (t == t[j]) & (s == s[j])
                block_end = i * n + np.flatnonzero(s == s[j]).max() + 1
                n_event = e[same_group].sum()
                groups.append(
                    (i * n + j, i * n + j + same_group.sum(), n_event, i * n_strata + s[j], block_end)
                )
                times.append(t[j])
                assert e[j : j + n_event].all()  # the events come first
    expected_groups = np.array(groups, dtype=np.int64).reshape(-1, 5)
    for risk in (with_order, packed):
        got = np.column_stack([risk.first, risk.stop, risk.n_event, risk.block, risk.block_stop])
        np.testing.assert_array_equal(got, expected_groups)
        np.testing.assert_array_equal(risk.group_time, times)
    return packed


@pytest.mark.parametrize("seed", range(6))
def test_sort_and_tie_groups_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    r, n = 5, 40
    time = np.ceil(rng.exponential(4.0, (r, n)))  # many ties
    time[0, :3] = [0.0, -0.0, 0.0]  # -0.0 ties with 0.0
    is_event = rng.random((r, n)) < 0.6
    stratum = rng.integers(0, 3, (r, n))
    mask = np.arange(n) < rng.integers(0, n + 1, r)[:, None]
    time[~mask] = np.nan  # masked times may be anything
    packed = _check_risk_sets(time, is_event, stratum, mask)
    assert packed.order is None  # whole-number times fit the key whole: no positions, no gathers


@pytest.mark.parametrize("top_code", [0, 2**29 - 1])
def test_times_merged_by_the_key_truncation_are_sorted_exactly(top_code):
    """A span from 0 to 1e300 leaves fewer key bits than a double has for time: neighbours of 1.0 share a
    truncated key (by 6 bits with one stratum; by 35 with codes up to 2**29, past the 32-bit low words)."""
    base = np.array([0.0, 1e300, 1.0, 2.0, 3.0])
    close = np.nextafter(1.0, 2.0) + np.arange(6) * np.finfo(float).eps
    time = np.concatenate([base, close[::-1], close[:3], [1.0, 1.0]])[None, :]
    rng = np.random.default_rng(1)
    is_event = rng.random(time.shape) < 0.5
    stratum = np.where(rng.random(time.shape) < 0.3, top_code, 0)
    _check_risk_sets(time, is_event, stratum, np.ones(time.shape, dtype=bool))
    mask = rng.random(time.shape) < 0.8
    _check_risk_sets(np.where(mask, time, 7.0), is_event, stratum, mask)


def test_many_strata_codes_sort_by_rank():
    rng = np.random.default_rng(2)
    time = rng.exponential(size=(2, 50))
    is_event = rng.random((2, 50)) < 0.7
    stratum = rng.choice([0, 5, 1 << 40], size=(2, 50))  # too wide for the key: ranks are used
    _check_risk_sets(time, is_event, stratum, np.ones((2, 50), dtype=bool))


def test_all_masked_has_no_groups():
    risk = compute_risk_sets(
        np.ones((2, 3)), np.ones((2, 3), bool), np.zeros((2, 3), int), np.zeros((2, 3), bool)
    )
    assert risk.first.size == 0 and risk.block_groups.tolist() == [0]


@pytest.fixture
def two_threads(monkeypatch):
    """Sorting and walking in pieces on two threads from any size, whatever the machine's cores."""
    pool = ThreadPoolExecutor(2)
    monkeypatch.setattr(_riskset, "_worker_pool", lambda: (pool, 2))
    monkeypatch.setattr(_riskset, "_PARALLEL_SIZE", 1)
    yield
    pool.shutdown()


@pytest.mark.parametrize("shape", [(1, 1001), (3, 50), (5, 7)])
def test_sort_rows_in_pieces_is_a_plain_sort(two_threads, shape):
    key = np.random.default_rng(5).integers(0, 1 << 62, shape).astype(np.uint64)
    key[0, :10] = key[0, 0]  # equal keys across a piece boundary
    expected = np.sort(key, axis=1)
    _riskset.sort_rows(key)
    np.testing.assert_array_equal(key, expected)


def test_find_blocks_gives_each_stratum_of_each_replicate():
    from oligotrial.stats._kernels import find_blocks

    stratum = np.array([[0, 0, 1, 1, 1, 2], [1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    time = np.tile(np.arange(6.0), (3, 1))
    mask = np.array([[True] * 6, [True] * 3 + [False] * 3, [False] * 6])
    keys = _riskset.sort_keys(time, np.ones((3, 6), bool), stratum, mask)
    blocks = find_blocks(keys.key, keys.n_in_sample, np.uint64(keys.code_shift))
    assert blocks.tolist() == [[0, 0, 2], [0, 2, 5], [0, 5, 6], [1, 0, 3]]


@pytest.mark.parametrize(
    "blocks",
    [
        [[0, 0, 5], [0, 5, 9], [0, 9, 10], [0, 10, 30]],  # one replicate: cut between its blocks
        [[0, 0, 3], [1, 0, 2], [1, 2, 9], [2, 0, 4], [3, 0, 1]],  # several: whole replicates per thread
        [[0, 0, 4]],
    ],
)
def test_run_by_blocks_shares_out_the_blocks_and_adds_the_sums(two_threads, blocks):
    blocks = np.array(blocks, dtype=np.int64)
    seen = []

    def kernel(part):
        seen.append([tuple(block) for block in part.tolist()])
        sums = np.zeros((4, 2))
        for r, first, stop in part:
            sums[r] += [stop - first, 1.0]
        return (sums,)

    (got,) = _riskset.run_by_blocks(kernel, blocks)
    expected = np.zeros((4, 2))
    for r, first, stop in blocks:
        expected[r] += [stop - first, 1.0]
    np.testing.assert_array_equal(got, expected)
    walked = [block for part in seen for block in part]
    assert sorted(walked) == sorted(map(tuple, blocks.tolist()))  # every block walked once
    if len(blocks) > 1:
        assert len(seen) == 2
        if len(set(blocks[:, 0].tolist())) > 1:  # no replicate split between the threads
            assert not {b[0] for b in seen[0]} & {b[0] for b in seen[1]}


def test_statistics_in_pieces_on_two_threads_equal_the_plain_ones(monkeypatch):
    rng = np.random.default_rng(6)
    n = 3000
    arm = rng.integers(0, 2, n)
    time = np.ceil(rng.exponential(20.0 * np.exp(0.3 * arm)))
    event = rng.random(n) < 0.7
    strata = rng.integers(0, 4, n)
    monkeypatch.setattr(_riskset, "_worker_pool", lambda: None)
    plain = (compute_logrank(time, event, arm, strata), compute_cox(time, event, arm, strata))
    km_plain = compute_km(time, event, arm)
    pool = ThreadPoolExecutor(2)
    monkeypatch.setattr(_riskset, "_worker_pool", lambda: (pool, 2))
    monkeypatch.setattr(_riskset, "_PARALLEL_SIZE", 1)
    lr, fit = compute_logrank(time, event, arm, strata), compute_cox(time, event, arm, strata)
    km = compute_km(time, event, arm)
    pool.shutdown()
    np.testing.assert_allclose(lr.chisq, plain[0].chisq, rtol=1e-13)
    np.testing.assert_allclose(
        [fit.coef[0], fit.se[0], fit.loglik], [plain[1].coef[0], plain[1].se[0], plain[1].loglik], rtol=1e-13
    )
    assert fit.iterations == plain[1].iterations
    for a, b in zip(km, km_plain, strict=True):
        np.testing.assert_array_equal(a.surv, b.surv)


@pytest.mark.parametrize(
    "labels",
    [
        [3, 1, 3, 2],
        [5, 9, 5],
        [-2, 0, -2, 7],
        [True, False, True],
        np.array([2, 2], dtype=np.int8),
        ["b", "a"],
    ],
)
def test_encode_gives_sorted_levels_and_their_codes(labels):
    levels, codes = encode(np.asarray(labels), "x")
    expected_levels, expected_codes = np.unique(np.asarray(labels), return_inverse=True)
    assert levels == expected_levels.tolist()
    np.testing.assert_array_equal(codes, expected_codes)
    assert codes.dtype == np.int64


@pytest.mark.parametrize("event", [[1.0, np.nan], [1, -1], np.array(["1", "x"]), [0.5, 1.0]])
def test_event_not_zero_or_one_is_an_input_error(event):
    with pytest.raises(InputError) as caught:
        check_survival_data([1.0, 2.0], event)
    assert caught.value.code == "STAT-003"


def test_results_do_not_depend_on_the_order_of_subjects():
    rng = np.random.default_rng(4)
    n = 200
    time = np.ceil(rng.exponential(5.0, n))
    event = rng.random(n) < 0.7
    arm = rng.integers(0, 2, n)
    strata = rng.integers(0, 3, n)
    perm = rng.permutation(n)
    fit, shuffled = (compute_cox(time[p], event[p], arm[p], strata[p]) for p in (np.arange(n), perm))
    np.testing.assert_allclose([shuffled.coef[0], shuffled.loglik], [fit.coef[0], fit.loglik], rtol=1e-12)
    lr, lr_shuffled = (compute_logrank(time[p], event[p], arm[p], strata[p]) for p in (np.arange(n), perm))
    np.testing.assert_allclose(lr_shuffled.chisq, lr.chisq, rtol=1e-12)
    for a, b in zip(
        compute_km(time, event, arm), compute_km(time[perm], event[perm], arm[perm]), strict=True
    ):
        np.testing.assert_array_equal(a.surv, b.surv)
