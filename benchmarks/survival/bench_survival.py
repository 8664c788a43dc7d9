"""KM + stratified log-rank + stratified Efron Cox on 1,000,000 subjects: oligotrial, R survival, lifelines.

Run from the repository root (R with r-cran-survival and lifelines installed)::

    .venv/bin/python benchmarks/survival/bench_survival.py [--n 1000000] [--lifelines-n 1000000]

Generates the data once (seeded), times each implementation in this one run, checks that the estimates agree
(medians exactly, statistics to 1e-6 relative) and prints a markdown table. R is timed inside R
(``system.time``, reading the CSV excluded, best of ``--repeats``); ours with ``time.perf_counter`` (best of
``--repeats``); lifelines once (a Cox fit takes tens of seconds). The floor, one ``numpy.argsort`` of the
times, is timed in the same run (best of ``--repeats``).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from oligotrial.stats import compute_cox, compute_km, compute_logrank

HERE = Path(__file__).resolve().parent


def make_data(n: int, seed: int = 20240611) -> dict[str, np.ndarray]:
    """Exponential event times (hazard ratio 0.8 for arm 1, 4 strata), uniform censoring: ~75% events."""
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    stratum = rng.integers(0, 4, n)
    hazard = 0.1 * np.exp(np.log(0.8) * arm + 0.2 * stratum)
    event_time = np.round(rng.exponential(1.0 / hazard), 4)  # 4 decimals: some ties, exact in CSV
    censor_time = np.round(rng.uniform(0.0, 30.0, n), 4)
    return {
        "time": np.minimum(event_time, censor_time),
        "event": (event_time <= censor_time).astype(np.int64),
        "arm": arm,
        "stratum": stratum,
    }


def best_of(repeats: int, func):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_ours(d, repeats: int):
    t_km, curves = best_of(repeats, lambda: compute_km(d["time"], d["event"], d["arm"]))
    t_lr, lr = best_of(repeats, lambda: compute_logrank(d["time"], d["event"], d["arm"], d["stratum"]))
    t_cox, fit = best_of(repeats, lambda: compute_cox(d["time"], d["event"], d["arm"], d["stratum"]))
    return {
        "km": (t_km, {"km_median_0": curves[0].median, "km_median_1": curves[1].median}),
        "logrank": (t_lr, {"logrank_chisq": lr.chisq}),
        "cox": (t_cox, {"cox_coef": fit.coef[0], "cox_se": fit.se[0], "cox_loglik": fit.loglik}),
    }


def run_r(d, workdir: Path, repeats: int):
    data_path, out_path = workdir / "bench.csv", workdir / "r_out.csv"
    with data_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "event", "arm", "stratum"])
        writer.writerows(zip(*(d[k].tolist() for k in ["time", "event", "arm", "stratum"]), strict=True))
    subprocess.run(
        ["Rscript", str(HERE / "bench_survival.R"), str(data_path), str(out_path), str(repeats)], check=True
    )
    rows = list(csv.DictReader(out_path.open()))
    seconds = {r["name"]: float(r["seconds"]) for r in rows}
    values = {r["name"]: float(r["value"]) for r in rows}
    return {
        "km": (seconds["km_median_0"], {k: values[k] for k in ["km_median_0", "km_median_1"]}),
        "logrank": (seconds["logrank_chisq"], {"logrank_chisq": values["logrank_chisq"]}),
        "cox": (seconds["cox_coef"], {k: values[k] for k in ["cox_coef", "cox_se", "cox_loglik"]}),
    }


def run_lifelines(d, n: int):
    import pandas as pd
    from lifelines import CoxPHFitter, KaplanMeierFitter

    frame = pd.DataFrame({k: v[:n] for k, v in d.items()})
    start = time.perf_counter()
    medians = {}
    for a in (0, 1):
        part = frame[frame["arm"] == a]
        medians[f"km_median_{a}"] = KaplanMeierFitter().fit(part["time"], part["event"]).median_survival_time_
    t_km = time.perf_counter() - start
    start = time.perf_counter()
    cph = CoxPHFitter().fit(frame, duration_col="time", event_col="event", strata=["stratum"])
    t_cox = time.perf_counter() - start
    return {
        "km": (t_km, medians),
        "cox": (
            t_cox,
            {
                "cox_coef": float(cph.params_["arm"]),
                "cox_se": float(cph.standard_errors_["arm"]),
                "cox_loglik": float(cph.log_likelihood_),
            },
        ),
    }


def agree(ours: dict[str, float], theirs: dict[str, float]) -> str:
    worst = 0.0
    for key, value in theirs.items():
        if key.startswith("km_median"):
            if ours[key] != value:
                return f"median differs: {ours[key]} vs {value}"
        else:
            worst = max(worst, abs(ours[key] / value - 1.0))
    return f"yes (max rel. diff {worst:.1e})" if worst <= 1e-6 else f"NO (max rel. diff {worst:.1e})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--lifelines-n", type=int, default=None, help="subjects for lifelines (default --n)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (ours, R, the floor)")
    args = parser.parse_args()
    lifelines_n = args.lifelines_n or args.n
    data = make_data(args.n)
    print(f"n = {args.n:,}; events = {int(data['event'].sum()):,}; lifelines on n = {lifelines_n:,}")
    floor, _ = best_of(args.repeats, lambda: np.argsort(data["time"]))
    ours = run_ours(data, args.repeats)
    with tempfile.TemporaryDirectory() as workdir:
        r = run_r(data, Path(workdir), args.repeats)
    life = run_lifelines(data, lifelines_n)
    print(
        "\n| analysis | oligotrial (s) | R survival (s) | speed-up vs R | same as R | lifelines (s) "
        "| speed-up vs lifelines | same as lifelines |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---|")
    labels = {
        "km": "Kaplan–Meier by arm (survfit)",
        "logrank": "stratified log-rank (survdiff)",
        "cox": "stratified Efron Cox (coxph)",
    }
    for key, label in labels.items():
        t_ours, v_ours = ours[key]
        t_r, v_r = r[key]
        row = f"| {label} | {t_ours:.3f} | {t_r:.3f} | {t_r / t_ours:.1f}x | {agree(v_ours, v_r)} "
        if key in life:
            t_l, v_l = life[key]
            same = agree(v_ours, v_l) if lifelines_n == args.n else "(different n)"
            row += f"| {t_l:.2f} | {t_l / t_ours:.0f}x | {same} |"
        else:
            row += "| n/a (no stratified log-rank in lifelines) | | |"
        print(row)
    print(f"\nfloor: numpy.argsort of the {args.n:,} times, best of {args.repeats}: {floor:.3f} s")
    print("estimates:", {k: v for _, (_, vals) in ours.items() for k, v in vals.items()})


if __name__ == "__main__":
    main()
