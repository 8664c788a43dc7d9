"""Stratified permuted blocks: concealed list generation with random block sizes, and list validation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import Randomization, Stratum
from oligotrial.randomization._strata import stratum_key

__all__ = [
    "ListEntry",
    "check_list_entries",
    "compute_running_imbalance",
    "generate_block_list",
    "parse_list_rows",
]


@dataclass(frozen=True)
class ListEntry:
    """One slot of a concealed list: the ``position``-th allocation of a stratum and its arm.

    ``block`` numbers the blocks of the stratum from 1 and ``block_size`` is that block's size (0 when an
    uploaded list does not say).
    """

    stratum: str
    position: int
    arm: str
    block: int = 0
    block_size: int = 0


def _block_arms(size: int, ratio: Mapping[str, int]) -> list[str]:
    total = sum(ratio.values())
    if size % total:
        raise ValueError(f"block size {size} is not a multiple of the ratio total {total}")
    arms: list[str] = []
    for arm in sorted(ratio):
        arms.extend([arm] * (size // total * ratio[arm]))
    return arms


def generate_block_list(
    strata: Iterable[str],
    entries_per_stratum: int,
    block_sizes: Sequence[int],
    ratio: Mapping[str, int],
    rng: np.random.Generator,
    *,
    first_positions: Mapping[str, int] | None = None,
) -> list[ListEntry]:
    """Generate a concealed permuted-block list for each stratum.

    Parameters
    ----------
    strata
        Stratum keys (see :func:`oligotrial.randomization.stratum_key`); generated in the given order.
    entries_per_stratum
        At least this many slots per stratum; the last block is always complete, so a stratum may get up to
        ``max(block_sizes) - 1`` more.
    block_sizes
        Candidate block sizes, each a multiple of the ratio total; each block's size is drawn uniformly.
    ratio
        Arm -> weight (``{"control": 1, "experimental": 1}``).
    rng
        Seeded generator: the same seed and arguments give the same list.
    first_positions
        Position of the first new slot per stratum (to extend an existing list); default 1.

    Notes
    -----
    Random block sizes (drawn uniformly from ``block_sizes``) keep the end of a block from being predictable;
    within a block each arm appears ``size * weight / total`` times in a uniformly random order
    (``rng.permutation``). Within a stratum the imbalance therefore never exceeds half the current block
    (Rosenberger & Lachin, *Randomization in Clinical Trials*, 2nd ed., section 3.5).
    """
    if entries_per_stratum < 1:
        raise InputError.single(
            "RAND-020", "entries_per_stratum", "expected at least 1 entry per stratum", entries_per_stratum
        )
    sizes = sorted(set(block_sizes))
    for size in sizes:
        _block_arms(size, ratio)  # validates the sizes against the ratio
    entries: list[ListEntry] = []
    for key in strata:
        position = (first_positions or {}).get(key, 1)
        made = 0
        block = 0
        while made < entries_per_stratum:
            block += 1
            size = int(sizes[int(rng.integers(len(sizes)))])
            arms = _block_arms(size, ratio)
            for index in rng.permutation(len(arms)):
                entries.append(ListEntry(key, position, arms[int(index)], block, size))
                position += 1
                made += 1
    return entries


def compute_running_imbalance(arms: Sequence[str], ratio: Mapping[str, int]) -> list[float]:
    """After each allocation, the largest deviation of an arm's count from its target share.

    For 1:1 this is ``|n_experimental - n_control| / 2``; a permuted-block sequence keeps it at most half a
    block (for 1:1, ``|n_E - n_C| <= size / 2``).
    """
    total = sum(ratio.values())
    counts = dict.fromkeys(ratio, 0)
    out: list[float] = []
    for n, arm in enumerate(arms, start=1):
        counts[arm] += 1
        out.append(max(abs(counts[a] - n * ratio[a] / total) for a in ratio))
    return out


def check_list_entries(entries: Sequence[ListEntry], ratio: Mapping[str, int]) -> None:
    """Check a list: known arms, positions 1, 2, ... without gaps or repeats within each stratum.

    Raises
    ------
    InputError
        ``RAND-021`` unknown arm; ``RAND-022`` a position repeated; ``RAND-023`` positions not contiguous
        from 1 in a stratum.
    """
    problems: list[Problem] = []
    positions: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(entries):
        if entry.arm not in ratio:
            problems.append(
                Problem(
                    "RAND-021",
                    f"rows[{index}].arm",
                    f"expected one of {', '.join(sorted(ratio))}",
                    value=entry.arm,
                )
            )
        positions[entry.stratum].append(entry.position)
    for stratum, found in positions.items():
        seen: set[int] = set()
        for position in found:
            if position in seen:
                problems.append(
                    Problem(
                        "RAND-022", stratum, f"position {position} appears twice in the stratum", position
                    )
                )
            seen.add(position)
        if seen != set(range(1, len(seen) + 1)):
            problems.append(
                Problem(
                    "RAND-023",
                    stratum,
                    f"positions must run 1..{len(seen)} without gaps, got {sorted(seen)[:10]}",
                )
            )
    if problems:
        raise InputError(problems)


def _level_ok(stratum: Stratum, level: str) -> bool:
    return bool(level) if stratum.levels is None else level in stratum.levels


def parse_list_rows(rows: Sequence[Mapping[str, str]], randomization: Randomization) -> list[ListEntry]:
    """Read an uploaded list: rows with ``position``, ``arm``, one column per stratification factor id and an
    optional ``block``; returns validated entries.

    Raises
    ------
    InputError
        ``RAND-024`` missing column or empty list; ``RAND-025`` a level the protocol does not define;
        ``RAND-026`` a position or block that is not a positive whole number; plus those of
        :func:`check_list_entries`. Each problem names the row (``line`` is the CSV line, header = 1).
    """
    factors = [s.id for s in randomization.strata]
    if not rows:
        raise InputError.single("RAND-024", "rows", "the list has no rows")
    missing = [c for c in ["position", "arm", *factors] if c not in rows[0]]
    if missing:
        raise InputError.single(
            "RAND-024",
            "header",
            f"missing columns {', '.join(missing)}; expected position, arm, {', '.join(factors)} [, block]",
        )
    problems: list[Problem] = []
    entries: list[ListEntry] = []
    for index, row in enumerate(rows):
        line = index + 2
        levels: dict[str, str] = {}
        for stratum in randomization.strata:
            level = (row.get(stratum.id) or "").strip()
            if not _level_ok(stratum, level):
                expected = "a site code" if stratum.levels is None else ", ".join(stratum.levels)
                problems.append(
                    Problem(
                        "RAND-025",
                        f"rows[{index}].{stratum.id}",
                        f"expected {expected}",
                        value=level,
                        line=line,
                    )
                )
            levels[stratum.id] = level
        numbers: dict[str, int] = {}
        for column in ("position", "block"):
            text = (row.get(column) or "").strip()
            if column == "block" and not text:
                numbers[column] = 0
                continue
            if not text.isdigit() or int(text) < 1:
                problems.append(
                    Problem(
                        "RAND-026",
                        f"rows[{index}].{column}",
                        "expected a positive whole number",
                        value=text,
                        line=line,
                    )
                )
                numbers[column] = 0
            else:
                numbers[column] = int(text)
        entries.append(
            ListEntry(
                stratum_key(levels), numbers["position"], (row.get("arm") or "").strip(), numbers["block"]
            )
        )
    if problems:
        raise InputError(problems)
    check_list_entries(entries, {str(k): v for k, v in randomization.ratio.items()})
    return entries
