"""Benchmark: RECIST 1.1 time-point responses and best overall response over a whole study.

Compares the batched engine (``oligotrial.rules.recist``: polars + numpy over all subjects at once) with a
straightforward per-subject Python implementation of the same rules (below, benchmark-only), on the same
synthetic study, and checks that both give the same answers.

Usage::

    .venv/bin/python benchmarks/recist/bench_recist.py [--subjects 100000] [--visits 12] \
        [--reference-subjects N] [--seed 20240101]

``--visits`` counts the baseline; each assessment has 5 lesion results (3 targets, 1 non-target, 1
new-lesion slot). ``--reference-subjects`` runs the per-subject implementation on the first N subjects only
(default: all) and scales its time to the whole study.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from oligotrial.rules.recist import derive_best_overall_response, derive_timepoint_responses

SETTINGS = {"confirmation_min_days": 28, "max_ne_between_confirmation": 1, "sd_min_days": 42}
LESIONS = [
    ("T1", "TARGET", "LIVER", "LDIAM"),
    ("T2", "TARGET", "LUNG", "LDIAM"),
    ("N1", "TARGET", "LYMPH NODE", "LPERP"),
    ("NT1", "NON-TARGET", "BONE", "TUMSTATE"),
    ("NEW1", "NEW", "BRAIN", "TUMSTATE"),
]


# --- synthetic study --------------------------------------------------------------------------------------


def make_study(n: int, visits: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    subjects = np.char.add("S", np.char.zfill(np.arange(n).astype(str), 6))
    tu = pl.DataFrame(
        {
            "USUBJID": np.repeat(subjects, len(LESIONS)),
            "TULNKID": np.tile([x[0] for x in LESIONS], n),
            "TUORRES": np.tile([x[1] for x in LESIONS], n),
            "TULOC": np.tile([x[2] for x in LESIONS], n),
        }
    )
    start = rng.integers(0, 365, n)
    steps = 42 + rng.integers(-6, 7, (n, visits))
    steps[:, 0] = 0
    day = start[:, None] + np.cumsum(steps, axis=1)  # (n, visits)
    rate = rng.normal(-0.06, 0.12, n)
    k = np.arange(visits)
    base = np.stack([rng.uniform(10.5, 50, n), rng.uniform(10.5, 50, n), rng.uniform(15.5, 40, n)], axis=1)
    noise = rng.normal(0, 0.05, (n, visits, 3))
    noise[:, 0, :] = 0.0
    diam = base[:, None, :] * np.exp(rate[:, None, None] * k[None, :, None] + noise)
    diam = np.round(diam, 1)
    diam[:, 1:, :2] = np.where(diam[:, 1:, :2] < 3, 0.0, diam[:, 1:, :2])
    not_done = rng.random((n, visits, 3)) < 0.02
    not_done[:, 0, :] = False
    nt_state = np.where(rate[:, None] < -0.12, "ABSENT", "PRESENT").repeat(visits, axis=1)
    nt_state = np.where(rng.random((n, visits)) < 0.01, "UNEQUIVOCAL PROGRESSION", nt_state)
    nt_state[:, 0] = "PRESENT"
    appear = np.where(rng.random(n) < 0.3, rng.integers(1, visits, n), visits)
    new_state = np.where(k[None, :] >= appear[:, None], "PRESENT", "ABSENT")

    dates = (np.datetime64("2024-01-01") + day).astype("datetime64[D]")
    subj_rep = np.repeat(subjects, visits)
    date_rep = dates.reshape(-1)
    frames = []
    for j, (lnk, _, _, test) in enumerate(LESIONS):
        if j < 3:
            values = diam[:, :, j].reshape(-1)
            nd = not_done[:, :, j].reshape(-1)
            stresn = np.where(nd, np.nan, values)
            stresc = np.full(values.shape, None, dtype=object)
            stat = np.where(nd, "NOT DONE", None)
        else:
            states = (nt_state if j == 3 else new_state).reshape(-1)
            stresn = np.full(states.shape, np.nan)
            stresc = states.astype(object)
            stat = np.full(states.shape, None, dtype=object)
        frames.append(
            pl.DataFrame(
                {
                    "USUBJID": subj_rep,
                    "TRLNKID": np.full(subj_rep.shape, lnk),
                    "TRTESTCD": np.full(subj_rep.shape, test),
                    "TRSTRESC": pl.Series(stresc.tolist(), dtype=pl.Utf8),
                    "TRSTRESN": pl.Series(stresn).fill_nan(None),
                    "TRSTAT": pl.Series(stat.tolist(), dtype=pl.Utf8),
                    "TRDTC": pl.Series(date_rep).cast(pl.Date),
                }
            )
        )
    tr = pl.concat(frames)
    ref = (np.datetime64("2024-01-01") + start + 3).astype("datetime64[D]")
    dm = pl.DataFrame({"USUBJID": subjects, "RFSTDTC": pl.Series(ref).cast(pl.Date)})
    return tu, tr, dm


# --- straightforward per-subject implementation (benchmark reference only) -------------------------------


def reference_timepoints(
    tu_rows: list[dict[str, Any]], tr_rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    lesions: dict[str, dict[str, tuple[str, bool]]] = defaultdict(dict)
    for r in tu_rows:
        lesions[r["USUBJID"]][r["TULNKID"]] = (r["TUORRES"], r["TULOC"] == "LYMPH NODE")
    by_subject: dict[str, dict[date, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for r in tr_rows:
        if r["TRSTAT"] == "NOT DONE":
            value = None
        elif r["TRTESTCD"] == "TUMSTATE":
            value = r["TRSTRESC"]
        else:
            value = round(r["TRSTRESN"] * 100)
        by_subject[r["USUBJID"]][r["TRDTC"]][r["TRLNKID"]] = value
    out = []
    for subject, visits in by_subject.items():
        info = lesions[subject]
        targets = [k for k, (role, _) in info.items() if role == "TARGET"]
        non_targets = [k for k, (role, _) in info.items() if role == "NON-TARGET"]
        news = [k for k, (role, _) in info.items() if role == "NEW"]
        dates = sorted(visits)
        baseline = sum(visits[dates[0]][t] for t in targets)
        nadir = baseline
        had_cr = False
        for d in dates[1:]:
            v = visits[d]
            values = [v.get(t) for t in targets]
            measured = [x for x in values if x is not None]
            sod = sum(measured)
            disease = any(
                (x >= 1000) if info[t][1] else (x > 0)
                for t, x in zip(targets, values, strict=True)
                if x is not None
            )
            sum_pd = 5 * sod >= 6 * nadir and sod - nadir >= 500
            if not targets:
                trg = "NA"
            elif len(measured) < len(targets):
                trg = "PD" if sum_pd or (had_cr and disease) else "NE"
            elif not disease:
                trg = "CR"
            elif sum_pd or had_cr:
                trg = "PD"
            elif 10 * sod <= 7 * baseline:
                trg = "PR"
            else:
                trg = "SD"
            states = [v.get(x) for x in non_targets]
            if not non_targets:
                ntrg = "NA"
            elif "UNEQUIVOCAL PROGRESSION" in states:
                ntrg = "PD"
            elif None in states:
                ntrg = "NE"
            elif "PRESENT" in states:
                ntrg = "NON-CR/NON-PD"
            else:
                ntrg = "CR"
            new = "Y" if any(v.get(x) in ("PRESENT", "UNEQUIVOCAL PROGRESSION") for x in news) else "N"
            if trg == "PD" or ntrg == "PD" or new == "Y":
                overall = "PD"
            elif trg == "NA":
                overall = {"CR": "CR", "NON-CR/NON-PD": "NON-CR/NON-PD"}.get(ntrg, "NE")
            elif trg == "CR":
                overall = "CR" if ntrg in ("CR", "NA") else "PR"
            else:
                overall = trg
            out.append((subject, d, trg, ntrg, new, overall))
            if len(measured) == len(targets):
                nadir = min(nadir, sod)
                had_cr = had_cr or trg == "CR"
    return out


RANK = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]


def reference_bor(rs: list[tuple[Any, ...]], dm: dict[str, date]) -> dict[str, tuple[str, str]]:
    by_subject: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for subject, d, *_, overall in rs:
        by_subject[subject].append((d, overall))
    result = {}
    for subject, ref in dm.items():
        seq = sorted(by_subject.get(subject, []))
        cleaned: list[tuple[date, str]] = []
        seen_cr = False
        for d, code in seq:
            if seen_cr and code in ("PR", "SD", "NON-CR/NON-PD"):
                code = "PD"
            seen_cr = seen_cr or code == "CR"
            cleaned.append((d, code))
            if code == "PD":
                break
        if not cleaned:
            result[subject] = ("MISSING", "MISSING")
            continue
        sd_min = timedelta(days=SETTINGS["sd_min_days"])
        unconfirmed, confirmed = [], []
        for i, (d, code) in enumerate(cleaned):
            stable_ok = d - ref >= sd_min
            u = "NE" if code in ("SD", "NON-CR/NON-PD") and not stable_ok else code
            unconfirmed.append(u)
            c = u
            if code in ("CR", "PR"):
                ok = False
                allowed = ("CR", "NE") if code == "CR" else ("CR", "PR", "NE")
                confirming = ("CR",) if code == "CR" else ("CR", "PR")
                ne = 0
                for d2, code2 in cleaned[i + 1 :]:
                    if code2 in confirming and (d2 - d).days >= SETTINGS["confirmation_min_days"]:
                        ok = ne <= SETTINGS["max_ne_between_confirmation"]
                        break
                    if code2 not in allowed:
                        break
                    ne += code2 == "NE"
                if not ok:
                    c = "SD" if stable_ok else "NE"
            confirmed.append(c)
        result[subject] = (min(unconfirmed, key=RANK.index), min(confirmed, key=RANK.index))
    return result


# --- run ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=12)
    parser.add_argument("--reference-subjects", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args()

    t0 = time.perf_counter()
    tu, tr, dm = make_study(args.subjects, args.visits, args.seed)
    print(
        f"study: {args.subjects} subjects, {args.visits} assessments, {tr.height} TR rows "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )

    t0 = time.perf_counter()
    rs = derive_timepoint_responses(tu, tr)
    t_tp = time.perf_counter() - t0
    t0 = time.perf_counter()
    bor = derive_best_overall_response(rs, dm, **SETTINGS)
    t_bor = time.perf_counter() - t0
    engine = t_tp + t_bor
    print(f"engine: time points {t_tp:.2f} s ({rs.height} records), BOR {t_bor:.2f} s, total {engine:.2f} s")

    n_ref = args.reference_subjects or args.subjects
    keep = dm["USUBJID"].head(n_ref)
    t0 = time.perf_counter()
    tu_rows = tu.filter(pl.col("USUBJID").is_in(keep.implode())).to_dicts()
    tr_rows = tr.filter(pl.col("USUBJID").is_in(keep.implode())).to_dicts()
    dm_ref = dict(zip(keep.to_list(), dm["RFSTDTC"].head(n_ref).to_list(), strict=True))
    t_rows = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_rs = reference_timepoints(tu_rows, tr_rows)
    ref_bor = reference_bor(ref_rs, dm_ref)
    t_ref = time.perf_counter() - t0
    t_ref_full = t_ref * args.subjects / n_ref
    scaled = "" if n_ref == args.subjects else f" (measured on {n_ref} subjects: {t_ref:.2f} s, scaled)"
    t_rows_full = t_rows * args.subjects / n_ref
    print(f"per-subject Python: {t_ref_full:.2f} s{scaled}; tables to Python rows {t_rows_full:.2f} s")
    print(
        f"speed-up: {t_ref_full / engine:.1f}x (rules only), "
        f"{(t_ref_full + t_rows_full) / engine:.1f}x (from the same polars tables)"
    )

    mine = rs.filter(pl.col("USUBJID").is_in(keep.implode())).select(
        "USUBJID", "RSDTC", "TRGRESP", "NTRGRESP", "NEWLIND", "OVRLRESP"
    )
    theirs = pl.DataFrame(ref_rs, schema=mine.columns, orient="row").sort("USUBJID", "RSDTC")
    assert mine.sort("USUBJID", "RSDTC").equals(theirs), "time-point responses differ"
    ours = {r["USUBJID"]: (r["BOR"], r["CBOR"]) for r in bor.head(n_ref).iter_rows(named=True)}
    assert ours == ref_bor, "best overall responses differ"
    print(f"agreement: identical time-point responses and BOR/CBOR on {n_ref} subjects")
    print("BOR distribution:", dict(bor.group_by("CBOR").len().sort("CBOR").iter_rows()))


if __name__ == "__main__":
    main()
