"""Permuted blocks: reproducible generation, exact arm counts per block, and the balance property (never more
than half a block of imbalance within a stratum); uploaded-list validation; stratum derivation."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.errors import InputError
from oligotrial.protocol import load_protocol
from oligotrial.randomization import (
    ListEntry,
    check_list_entries,
    compute_running_imbalance,
    derive_strata,
    generate_block_list,
    parse_list_rows,
    stratum_key,
)

RATIO = {"control": 1, "experimental": 1}


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    n=st.integers(1, 120),
    sizes=st.lists(st.sampled_from([2, 4, 6, 8]), min_size=1, max_size=4),
    strata=st.integers(1, 5),
)
def test_blocks_never_exceed_half_a_block_of_imbalance_per_stratum(seed, n, sizes, strata):
    keys = [f"s={i}" for i in range(strata)]
    entries = generate_block_list(keys, n, sizes, RATIO, np.random.default_rng(seed))
    by_stratum = defaultdict(list)
    for e in entries:
        by_stratum[e.stratum].append(e)
    assert set(by_stratum) == set(keys)
    for slots in by_stratum.values():
        assert [e.position for e in slots] == list(range(1, len(slots) + 1))
        assert len(slots) >= n
        counts = {"control": 0, "experimental": 0}
        for e in slots:
            counts[e.arm] += 1
            assert abs(counts["experimental"] - counts["control"]) <= e.block_size // 2
            assert e.block_size in sizes
        assert counts["control"] == counts["experimental"]  # complete blocks
        imbalance = compute_running_imbalance([e.arm for e in slots], RATIO)
        assert max(imbalance) <= max(sizes) / 4  # |nE - nC| / 2 <= size / 4


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), sizes=st.lists(st.sampled_from([3, 6, 9]), min_size=1, max_size=3))
def test_unequal_ratio_blocks_hold_the_ratio(seed, sizes):
    ratio = {"control": 1, "experimental": 2}
    entries = generate_block_list(["s=1"], 30, sizes, ratio, np.random.default_rng(seed))
    blocks = defaultdict(list)
    for e in entries:
        blocks[e.block].append(e.arm)
    for arms in blocks.values():
        assert arms.count("experimental") == 2 * arms.count("control")


def test_the_same_seed_gives_the_same_list_and_another_seed_another():
    a = generate_block_list(["s=1", "s=2"], 40, [2, 4, 6], RATIO, np.random.default_rng(5))
    b = generate_block_list(["s=1", "s=2"], 40, [2, 4, 6], RATIO, np.random.default_rng(5))
    c = generate_block_list(["s=1", "s=2"], 40, [2, 4, 6], RATIO, np.random.default_rng(6))
    assert a == b and a != c
    assert len({e.block_size for e in a}) > 1  # random block sizes


def test_extension_continues_after_the_last_position():
    entries = generate_block_list(
        ["s=1"], 2, [2], RATIO, np.random.default_rng(0), first_positions={"s=1": 9}
    )
    assert [e.position for e in entries] == [9, 10]


def test_block_sizes_must_fit_the_ratio():
    with pytest.raises(ValueError, match="multiple"):
        generate_block_list(["s=1"], 2, [3], RATIO, np.random.default_rng(0))


def test_strata_from_the_protocol():
    strata = load_protocol().randomization.strata
    levels = derive_strata(
        strata, {"site": "CN01", "induction_response": "NON-CR/NON-PD", "metastatic_organ_count": 3}
    )
    assert stratum_key(levels) == "site=CN01|induction_response=SD|metastatic_organs=2-3"
    with pytest.raises(InputError) as excinfo:
        derive_strata(strata, {"site": "", "induction_response": "PD", "metastatic_organ_count": 0})
    assert [p.field for p in excinfo.value.problems] == [
        "site",
        "induction_response",
        "metastatic_organ_count",
    ]
    assert {p.code for p in excinfo.value.problems} == {"RAND-005"}


def test_list_checks_name_each_problem():
    with pytest.raises(InputError) as excinfo:
        check_list_entries(
            [ListEntry("a", 1, "control"), ListEntry("a", 1, "placebo"), ListEntry("b", 2, "control")], RATIO
        )
    assert {p.code for p in excinfo.value.problems} == {"RAND-021", "RAND-022", "RAND-023"}
    rows = [
        {
            "position": "1",
            "arm": "control",
            "site": "CN01",
            "induction_response": "SD",
            "metastatic_organs": "1",
            "block": "2",
        }
    ]
    entries = parse_list_rows(rows, load_protocol().randomization)
    assert entries == [ListEntry("site=CN01|induction_response=SD|metastatic_organs=1", 1, "control", 2)]
