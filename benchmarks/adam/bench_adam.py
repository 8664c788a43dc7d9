"""ADaM derivation for a large synthetic study, against a straightforward per-subject Python implementation.

Usage (from the repository root)::

    .venv/bin/python benchmarks/adam/bench_adam.py [--subjects 100000] [--seed 1] [--repeat 3]

The study is generated as SDTM text tables (DM, DS, EX, RS, TR, CM, AE), as a CSV or XPT reader would hand
them over. Both implementations start from those same tables, check the same input rules and derive ADSL,
ADRS, ADTTE and ADAE under the shipped protocol's rules: ``derive_adam`` as a user calls it, the per-subject
reference (``reference.py``: tables to rows, checks, rules, each timed) as a programmer would first write
it. The script checks that both give the same records (every ADSL date, flag, arm, induction response and
stratum; every ADRS PARAMCD/AVALC/ADT/SRC*; every ADTTE PARAMCD/STARTDT/ADT/AVAL/CNSR/EVNTDESC/CNSDTDSC/
SRC*; every ADAE ASTDT/ATOXGR/ATOXGRN/TRTEMFL/APHASE/TRTA) before it prints the timings: wall clock and
processor time (``time.process_time``; the machine may be shared).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, os.path.dirname(__file__))

from reference import reference_checks, reference_derive, reference_rows

from oligotrial.endpoints import AdamDatasets, derive_adam
from oligotrial.protocol import load_protocol

ORIGIN = date(2024, 1, 1)
ASSESSMENTS = 10  # post-baseline assessments planned per subject
TR_PER_ASSESSMENT = 2


def _iso(days: np.ndarray) -> list[str | None]:
    base = np.datetime64(ORIGIN.isoformat())
    return [None if d < 0 else str(base + int(d)) for d in days]


def _where(mask: np.ndarray, values: np.ndarray) -> list[str | None]:
    return [str(v) if m else None for m, v in zip(mask, values, strict=True)]


def generate(n: int, seed: int) -> dict[str, pl.DataFrame]:
    """A synthetic study: n subjects, about 12 TR rows each (baseline + assessments, 2 lesions)."""
    rng = np.random.default_rng(seed)
    subjects = np.array([f"S{i:06d}" for i in range(n)])
    first = rng.integers(30, 760, n)  # first dose, days after ORIGIN
    consent = first - rng.integers(1, 20, n)
    codes = np.array(["CR", "PR", "SD", "PD", "NE"])
    # responses: a subject-level tendency, PD absorbing
    probs = np.array(
        [[0.05, 0.25, 0.45, 0.15, 0.10], [0.02, 0.10, 0.55, 0.25, 0.08], [0.15, 0.45, 0.25, 0.10, 0.05]]
    )
    kind = rng.integers(0, 3, n)
    cumulative = np.cumsum(probs[kind], axis=1)
    draws = (rng.random((n, ASSESSMENTS))[:, :, None] > cumulative[:, None, :]).sum(axis=2)
    is_pd = draws == 3
    after_pd = np.cumsum(is_pd, axis=1) - is_pd > 0  # assessments after the first PD are not done
    done = ~after_pd & (rng.random((n, ASSESSMENTS)) > 0.05)  # a few missed assessments
    jitter = rng.integers(-5, 6, (n, ASSESSMENTS))
    asmt_day = first[:, None] + 42 * np.arange(1, ASSESSMENTS + 1)[None, :] + jitter
    # randomized after the second assessment unless PD by then
    pd_by_2 = (is_pd[:, :2] & done[:, :2]).any(axis=1)
    randomized = ~pd_by_2 & (rng.random(n) < 0.9)
    rand_day = np.where(randomized, first + 86, -1)
    arm = np.where(rng.random(n) < 0.5, "CTRL", "RT")
    # death for some, after the last assessment done
    last_done = np.where(done, asmt_day, -1).max(axis=1)
    dies = rng.random(n) < 0.3
    death = np.where(dies, np.maximum(last_done, first) + rng.integers(1, 200, n), -1)
    # subsequent therapy for some
    nat = np.where(rng.random(n) < 0.2, first + rng.integers(60, 500, n), -1)
    nat = np.where((death >= 0) & (nat > death), -1, nat)

    sid = np.repeat(subjects, ASSESSMENTS)
    mask = done.ravel()
    rs = pl.DataFrame(
        {
            "USUBJID": sid[mask],
            "RSSEQ": np.tile(np.arange(1, ASSESSMENTS + 1), n)[mask].astype(str),
            "RSTESTCD": "OVRLRESP",
            "RSSTRESC": codes[draws.ravel()[mask]],
            "RSDTC": _iso(asmt_day.ravel()[mask]),
        }
    )
    # TR: baseline for 99% of subjects, then 2 lesions per assessment done (rows for TR volume)
    baseline = rng.random(n) > 0.01
    tr_subjects = np.concatenate([subjects[baseline], sid[mask]])
    tr_days = np.concatenate([consent[baseline], asmt_day.ravel()[mask]])
    tr = pl.DataFrame(
        {
            "USUBJID": np.repeat(tr_subjects, TR_PER_ASSESSMENT),
            "TRLNKID": np.tile(["T01", "T02"], len(tr_subjects)),
            "TRTESTCD": "LDIAM",
            "TRSTRESN": rng.integers(5, 60, len(tr_subjects) * TR_PER_ASSESSMENT).astype(str),
            "TRDTC": _iso(np.repeat(tr_days, TR_PER_ASSESSMENT)),
        }
    )
    dm = pl.DataFrame(
        {
            "STUDYID": "BENCH",
            "USUBJID": subjects,
            "SITEID": (rng.integers(1, 11, n)).astype(str),
            "AGE": rng.integers(40, 85, n).astype(str),
            "SEX": np.where(rng.random(n) < 0.7, "M", "F"),
            "ARMCD": _where(randomized, arm),
            "ARM": _where(randomized, arm),
            "ACTARMCD": _where(randomized, arm),
            "ACTARM": _where(randomized, arm),
            "RFICDTC": _iso(consent),
            "RFSTDTC": _iso(first),
            "DTHDTC": _iso(death),
            "DTHFL": _where(death >= 0, np.full(n, "Y")),
        }
    )
    ds_sub = np.concatenate([subjects, subjects[randomized]])
    ds = pl.DataFrame(
        {
            "USUBJID": ds_sub,
            "DSCAT": "PROTOCOL MILESTONE",
            "DSDECOD": ["ENROLLED"] * n + ["RANDOMIZED"] * int(randomized.sum()),
            "DSSTDTC": _iso(np.concatenate([first, rand_day[randomized]])),
        }
    )
    doses = 4
    ex = pl.DataFrame(
        {
            "USUBJID": np.repeat(subjects, doses),
            "EXTRT": "CAMRELIZUMAB",
            "EXSTDTC": _iso((first[:, None] + 21 * np.arange(doses)[None, :]).ravel()),
        }
    )
    cm = pl.DataFrame(
        {
            "USUBJID": subjects[nat >= 0],
            "CMCAT": "SUBSEQUENT ANTICANCER THERAPY",
            "CMSTDTC": _iso(nat[nat >= 0]),
        }
    )
    ae_n = 2
    ae_sub = np.repeat(subjects, ae_n)
    ae = pl.DataFrame(
        {
            "USUBJID": ae_sub,
            "AETERM": "Nausea",
            "AEDECOD": "Nausea",
            "AESTDTC": _iso(np.repeat(first, ae_n) + rng.integers(0, 200, n * ae_n)),
            "AETOXGR": rng.integers(1, 5, n * ae_n).astype(str),
        }
    )
    return {"DM": dm, "DS": ds, "EX": ex, "RS": rs, "TR": tr, "CM": cm, "AE": ae}


# --- comparison ----------------------------------------------------------------------------------------

COMPARED = {
    "ADSL": (
        "USUBJID", "ENRLDT", "RANDDT", "TRTSDT", "TRTEDT", "RTSDT", "RTEDT", "NATSDT", "ENRLFL", "ITTFL",
        "SAFFL", "TRT01P", "TRT01A", "INDRESP", "INDBOR", "DTHFL", "DTHDT", "LSTALVDT", "EOSSTT", "STRAT1V",
        "STRAT2V", "STRAT3V",
    ),
    "ADRS": ("USUBJID", "PARAMCD", "AVALC", "ADT", "SRCDOM", "SRCVAR", "SRCSEQ"),
    "ADTTE": (
        "USUBJID", "PARAMCD", "STARTDT", "ADT", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR",
        "SRCSEQ",
    ),
    "ADAE": ("USUBJID", "ASTDT", "ATOXGR", "ATOXGRN", "TRTEMFL", "APHASE", "TRTA"),
}  # fmt: skip


def compare(adam: AdamDatasets, expected: dict[str, list[tuple[Any, ...]]]) -> int:
    """Both sides' records as multisets, dataset by dataset; returns the number of records compared."""
    got = adam.as_dict()
    total = 0
    for name, columns in COMPARED.items():
        ours = Counter(got[name].select(columns).iter_rows())
        theirs = Counter(expected[name])
        if ours != theirs:
            only_ours = list((ours - theirs).elements())[:3]
            only_theirs = list((theirs - ours).elements())[:3]
            raise AssertionError(f"{name} differs: derive_adam {only_ours} reference {only_theirs}")
        total += sum(theirs.values())
    return total


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (the median is reported)")
    args = parser.parse_args()
    protocol = load_protocol()
    tables = generate(args.subjects, args.seed)
    print(f"{args.subjects} subjects: " + ", ".join(f"{k} {v.height:,}" for k, v in tables.items()))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    ours: list[tuple[float, float]] = []
    stages: dict[str, list[tuple[float, float]]] = {"rows": [], "checks": [], "rules": []}
    adam = expected = None
    for _ in range(args.repeat):
        adam, wall, cpu = timed(derive_adam, tables, protocol)
        ours.append((wall, cpu))
        rows, wall, cpu = timed(reference_rows, tables)
        stages["rows"].append((wall, cpu))
        by, wall, cpu = timed(reference_checks, rows, protocol)
        stages["checks"].append((wall, cpu))
        expected, wall, cpu = timed(reference_derive, by, protocol, tr_supplied="TR" in tables)
        stages["rules"].append((wall, cpu))
        del rows, by
    assert adam is not None and expected is not None
    compared = compare(adam, expected)
    print(f"agree on {compared:,} records (ADSL, ADRS, ADTTE, ADAE; every compared variable)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")

    def median(pairs: list[tuple[float, float]], which: int) -> float:
        return statistics.median(p[which] for p in pairs)

    reference = [
        tuple(sum(x) for x in zip(*parts, strict=True)) for parts in zip(*stages.values(), strict=True)
    ]
    print(f"median of {args.repeat} runs | wall s | CPU s |")
    print("|---|---|---|")
    print(f"| oligotrial derive_adam (checks + ADSL, ADRS, ADTTE, ADAE, ADTR) | {median(ours, 0):.2f} | "
          f"{median(ours, 1):.2f} |")  # fmt: skip
    for name, label in (("rows", "tables to rows"), ("checks", "checks"), ("rules", "derivation")):
        print(f"| reference: {label} | {median(stages[name], 0):.2f} | {median(stages[name], 1):.2f} |")
    print(f"| per-subject reference, total | {median(reference, 0):.2f} | {median(reference, 1):.2f} |")
    print(f"speed-up: {median(reference, 0) / median(ours, 0):.1f}x wall, "
          f"{median(reference, 1) / median(ours, 1):.1f}x CPU")  # fmt: skip


if __name__ == "__main__":
    main()
