"""Benchmark: RECIST 1.1 time-point responses and best overall response over a whole study.

Compares the batched engine (``oligotrial.rules.recist``: polars + numpy over all subjects at once) with a
straightforward per-subject Python implementation of the same rules (below, benchmark-only), on the same
synthetic study, and checks that both give the same answers.

Usage::

    .venv/bin/python benchmarks/recist/bench_recist.py [--subjects 100000] [--visits 12] \
        [--reference-subjects N] [--seed 20240101]

``--visits`` counts the baseline; each assessment has 5 lesion results (3 targets, 1 non-target, 1
new-lesion slot). Both sides start from the same polars tables and include their input checks: the engine
is timed as a user calls it (``derive_timepoint_responses`` then ``derive_best_overall_response``,
``--repeat`` times), the per-subject implementation as tables to Python rows, plain checks of the same input
rules, then the rules. ``--reference-subjects`` runs the per-subject implementation on the first N subjects
only (default: all) and scales its time to the whole study.
"""

from __future__ import annotations

import argparse
import gc
import statistics
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


def _norm(value: Any, upper: bool = True) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text.upper() if upper else text


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def reference_checks(tu_rows: list[dict[str, Any]], tr_rows: list[dict[str, Any]]) -> list[str]:
    """The engine's input rules (RECIST-002 to -017), written plainly; returns the problems found."""
    problems: list[str] = []
    lesions: dict[tuple[str, str], tuple[str, bool]] = {}
    target_organs: dict[str, list[str]] = defaultdict(list)
    for r in tu_rows:
        subject, link = _norm(r["USUBJID"], False), _norm(r["TULNKID"], False)
        role, location = _norm(r["TUORRES"]), _norm(r["TULOC"]) or "UNKNOWN"
        if subject is None or link is None:
            problems.append("RECIST-017")
            continue
        if (subject, link) in lesions:
            problems.append("RECIST-002")
        if role not in ("TARGET", "NON-TARGET", "NEW"):
            problems.append("RECIST-003")
        lesions[(subject, link)] = (role or "", location == "LYMPH NODE")
        if role == "TARGET":
            target_organs[subject].append(location)
    for organs in target_organs.values():
        if len(organs) > 5:
            problems.append("RECIST-009")
        if any(organs.count(o) > 2 for o in set(organs)):
            problems.append("RECIST-010")
    seen: set[tuple[str, str, str, date]] = set()
    dates: dict[str, set[date]] = defaultdict(set)
    flagged: dict[str, set[date]] = defaultdict(set)
    values: dict[tuple[str, str, date], Any] = {}
    for r in tr_rows:
        subject, link = _norm(r["USUBJID"], False), _norm(r["TRLNKID"], False)
        if subject is None or link is None:
            problems.append("RECIST-017")
            continue
        when = _as_date(r["TRDTC"])
        if when is None:
            problems.append("RECIST-006")
            continue
        info = lesions.get((subject, link))
        if info is None:
            problems.append("RECIST-004")
            continue
        role, is_node = info
        test, stat, text = _norm(r["TRTESTCD"]), _norm(r.get("TRSTAT")), _norm(r.get("TRSTRESC"))
        expected = {"TARGET": "LPERP" if is_node else "LDIAM", "NON-TARGET": "TUMSTATE"}.get(role)
        if (test not in ("TUMSTATE", "LDIAM", "LPERP")) if role == "NEW" else (test != expected):
            problems.append("RECIST-005")
        if stat not in (None, "NOT DONE"):
            problems.append("RECIST-008")
        value: Any = None
        if test in ("LDIAM", "LPERP") and stat is None:
            number = r.get("TRSTRESN")
            if number is None and text is not None:
                try:
                    number = float(text)
                except ValueError:
                    number = {"TOO SMALL TO MEASURE": 5.0, "ABSENT": 0.0}.get(text)
            if number is None or number < 0:
                problems.append("RECIST-007/008")
            else:
                value = round(number * 100)
        elif test == "TUMSTATE" and stat is None:
            if text not in ("PRESENT", "ABSENT", "UNEQUIVOCAL PROGRESSION"):
                problems.append("RECIST-008")
            value = text
        if (subject, link, test or "", when) in seen:
            problems.append("RECIST-014")
        seen.add((subject, link, test or "", when))
        dates[subject].add(when)
        if _norm(r.get("TRBLFL")) == "Y":
            flagged[subject].add(when)
        values[(subject, link, when)] = value
    for subject, days in dates.items():
        if len(flagged.get(subject, ())) > 1:
            problems.append("RECIST-016")
        base = min(flagged[subject]) if flagged.get(subject) else min(days)
        if min(days) < base:
            problems.append("RECIST-013")
        dates[subject] = {base}
    for (subject, link), (role, is_node) in lesions.items():
        base_days = dates.get(subject)
        value = values.get((subject, link, next(iter(base_days)))) if base_days else None
        if role == "TARGET" and (value is None or value < (1500 if is_node else 1000)):
            problems.append("RECIST-011")
        elif role == "NON-TARGET" and value != "PRESENT":
            problems.append("RECIST-015")
        elif role == "NEW" and (value in ("PRESENT", "UNEQUIVOCAL PROGRESSION") or isinstance(value, int)):
            problems.append("RECIST-012")
    return problems


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


def reference_bor_checks(rs: list[tuple[Any, ...]], dm_rows: list[dict[str, Any]]) -> dict[str, date]:
    """The engine's RS/DM rules (RECIST-021 to -026), written plainly; returns the reference dates."""
    problems = []
    dm: dict[str, date] = {}
    for r in dm_rows:
        subject = _norm(r["USUBJID"], False) or ""
        if subject in dm:
            problems.append("RECIST-025")
        ref = _as_date(r["RFSTDTC"])
        if ref is None:
            problems.append("RECIST-024")
        dm[subject] = ref  # type: ignore[assignment]
    responses: dict[tuple[str, date], str] = {}
    for subject, when, *_, overall in rs:
        code = _norm(overall, False)
        if code not in RANK:
            problems.append("RECIST-021")
        if _as_date(when) is None:
            problems.append("RECIST-022")
        if subject not in dm:
            problems.append("RECIST-023")
        if responses.setdefault((subject, when), code or "") != code:
            problems.append("RECIST-026")
    if problems:
        raise ValueError(problems[:10])
    return dm


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


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} s [{min(times):.2f}-{max(times):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--visits", type=int, default=12)
    parser.add_argument("--reference-subjects", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--repeat", type=int, default=5, help="engine runs (median and range reported)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    tu, tr, dm = make_study(args.subjects, args.visits, args.seed)
    print(
        f"study: {args.subjects} subjects, {args.visits} assessments, {tr.height} TR rows "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )

    # the cyclic garbage collector is off while timing (as in timeit): otherwise the millions of Python
    # objects of the per-subject side trigger repeated full collections and inflate its time
    gc.collect()
    gc.disable()
    tp_times, bor_times, cpu_times = [], [], []
    for _ in range(args.repeat):
        c0 = time.process_time()  # CPU time of all threads: less sensitive to a shared machine
        t0 = time.perf_counter()
        rs = derive_timepoint_responses(tu, tr)
        tp_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bor = derive_best_overall_response(rs, dm, **SETTINGS)
        bor_times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    totals = [a + b for a, b in zip(tp_times, bor_times, strict=True)]
    engine = statistics.median(totals)
    print(
        f"engine ({args.repeat} runs): time points {fmt(tp_times)}, BOR {fmt(bor_times)}, "
        f"total {fmt(totals)}; first run {totals[0]:.2f} s ({rs.height} records); "
        f"CPU time {fmt(cpu_times)}"
    )

    n_ref = args.reference_subjects or args.subjects
    keep = dm["USUBJID"].head(n_ref)
    scale = args.subjects / n_ref
    c0 = time.process_time()
    t0 = time.perf_counter()
    tu_rows = tu.filter(pl.col("USUBJID").is_in(keep.implode())).to_dicts()
    tr_rows = tr.filter(pl.col("USUBJID").is_in(keep.implode())).to_dicts()
    dm_rows = dm.head(n_ref).to_dicts()
    t_rows = (time.perf_counter() - t0) * scale
    t0 = time.perf_counter()
    problems = reference_checks(tu_rows, tr_rows)
    assert not problems, problems[:10]
    t_checks = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_rs = reference_timepoints(tu_rows, tr_rows)
    t_rules = time.perf_counter() - t0
    t0 = time.perf_counter()
    dm_ref = reference_bor_checks(ref_rs, dm_rows)
    t_checks = (t_checks + time.perf_counter() - t0) * scale
    t0 = time.perf_counter()
    ref_bor = reference_bor(ref_rs, dm_ref)
    t_rules = (t_rules + time.perf_counter() - t0) * scale
    t_ref = t_rows + t_checks + t_rules
    cpu_ref = (time.process_time() - c0) * scale
    gc.enable()
    scaled = "" if n_ref == args.subjects else f" (measured on {n_ref} subjects, scaled)"
    print(
        f"per-subject Python{scaled}: tables to rows {t_rows:.2f} s + checks {t_checks:.2f} s "
        f"+ rules {t_rules:.2f} s = {t_ref:.2f} s"
    )
    print(
        f"speed-up (engine median): {t_ref / engine:.1f}x like for like (same tables, checks included); "
        f"{t_rules / engine:.1f}x against the reference's rules alone"
    )
    cpu_engine = statistics.median(cpu_times)
    print(
        f"CPU time: engine median {cpu_engine:.2f} s, per-subject Python {cpu_ref:.2f} s: "
        f"{cpu_ref / cpu_engine:.1f}x like for like"
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
