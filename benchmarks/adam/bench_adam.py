"""ADaM derivation for a large synthetic study, against a straightforward per-subject Python loop.

Usage (from the repository root)::

    .venv/bin/python benchmarks/adam/bench_adam.py [--subjects 100000] [--seed 1]

The study is generated as SDTM text tables (DM, DS, EX, RS, TR, CM, AE), as a CSV or XPT reader would hand
them over. Both implementations start from those same tables and derive ADSL dates, BOR/CBOR/CRSP/CB and the
PFS, OS, PFS-from-enrollment and DoR records under the shipped protocol's rules; the script checks that they
agree on every subject before it prints the timings. The loop is the code a programmer would write first:
rows grouped by subject into lists, then the rules applied subject by subject.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import date

import numpy as np
import polars as pl

from oligotrial.endpoints import derive_adam
from oligotrial.protocol import load_protocol
from oligotrial.rules.schedule import add_months

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


# --- the per-subject loop ------------------------------------------------------------------------------


def _d(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text[:10])


def loop_derive(tables: dict[str, pl.DataFrame], protocol) -> dict[tuple[str, str], tuple]:
    """Per-subject Python: returns {(USUBJID, PARAMCD): (ADT, CNSR)} for ADTTE and {(USUBJID, 'CBOR'): ...}."""
    rows = {name: frame.to_dicts() for name, frame in tables.items()}
    by = defaultdict(lambda: defaultdict(list))
    for name, records in rows.items():
        for r in records:
            by[r["USUBJID"]][name].append(r)
    settings = protocol.response
    periods = protocol.assessments.periods
    result: dict[tuple[str, str], tuple] = {}
    for subject, data in by.items():
        dm = data["DM"][0]
        first = min(_d(r["EXSTDTC"]) for r in data["EX"])
        rand = next((_d(r["DSSTDTC"]) for r in data["DS"] if r["DSDECOD"] == "RANDOMIZED"), None)
        enrl = next((_d(r["DSSTDTC"]) for r in data["DS"] if r["DSDECOD"] == "ENROLLED"), first)
        death = _d(dm["DTHDTC"])
        nat = min((_d(r["CMSTDTC"]) for r in data["CM"]), default=None)
        has_baseline = any(_d(r["TRDTC"]) <= first for r in data["TR"])
        rs = sorted(((_d(r["RSDTC"]), r["RSSTRESC"]) for r in data["RS"]), key=lambda x: x[0])
        alive_dates = [_d(dm["RFICDTC"]), _d(dm["RFSTDTC"])]
        alive_dates += [_d(r["DSSTDTC"]) for r in data["DS"]] + [_d(r["EXSTDTC"]) for r in data["EX"]]
        alive_dates += [_d(r["CMSTDTC"]) for r in data["CM"]] + [_d(r["AESTDTC"]) for r in data["AE"]]
        alive_dates += [d for d, _ in rs]
        last_alive = max(d for d in alive_dates if d)
        if death and last_alive > death:
            last_alive = death
        cbor, resp_date = _confirmed_bor(rs, first, settings)
        result[(subject, "CBOR")] = (cbor,)
        origins = {"PFS": rand, "OS": rand, "PFSENR": enrl, "DOR": resp_date}
        for endpoint in protocol.endpoints:
            if endpoint.kind != "time_to_event":
                continue
            origin = origins[endpoint.paramcd]
            if origin is None:
                continue
            result[(subject, endpoint.paramcd)] = _tte(
                endpoint, origin, rs, death, nat, has_baseline, last_alive, first, periods
            )
    return result


def _confirmed_bor(rs, first, settings):
    seq = []
    seen_cr = False
    for day, code in rs:
        if seen_cr and code in ("PR", "SD", "NON-CR/NON-PD"):
            code = "PD"
        seen_cr = seen_cr or code == "CR"
        seq.append((day, code))
        if code == "PD":
            break
    rank = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]

    def confirmed(i, confirming, allowed):
        ne = 0
        for j in range(i + 1, len(seq)):
            day, code = seq[j]
            if code in confirming and (day - seq[i][0]).days >= settings.confirmation_min_days:
                return True
            if code not in allowed:
                return False
            ne += code == "NE"
            if ne > settings.max_ne_between_confirmation:
                return False
        return False

    codes = []
    first_response = None
    for i, (day, code) in enumerate(seq):
        sd_met = (day - first).days >= settings.sd_min_days
        if code in ("SD", "NON-CR/NON-PD") and not sd_met:
            code = "NE"
        if (code == "CR" and not confirmed(i, ("CR",), ("CR", "NE"))) or (
            code == "PR" and not confirmed(i, ("CR", "PR"), ("CR", "PR", "NE"))
        ):
            code = "SD" if sd_met else "NE"
        if code in ("CR", "PR") and first_response is None:
            first_response = day
        codes.append(code)
    if not codes:
        return "MISSING", None
    best = min(codes, key=rank.index)
    return best, first_response if best in ("CR", "PR") else None


def _tte(endpoint, origin, rs, death, nat, has_baseline, last_alive, first, periods):
    listed = {c.source: c for c in endpoint.censoring}
    events = {e.source for e in endpoint.events}
    since = [(d, c) for d, c in rs if d >= origin]
    adequate = [d for d, c in since if c != "NE"]
    pd = next((d for d, c in since if c == "PD"), None) if "progression" in events else None
    dth = death if "death" in events else None
    event = min((d for d in (pd, dth) if d), default=None)
    if "no_baseline_assessment" in listed and not has_baseline:
        return origin, listed["no_baseline_assessment"].cnsr
    if "new_anticancer_therapy" in listed and nat and nat >= origin and (event is None or nat < event):
        return max((d for d in adequate if d <= nat), default=origin), listed["new_anticancer_therapy"].cnsr
    if "missed_assessments" in listed and event:
        last = max((d for d in adequate if d < event), default=origin)
        period = next((p for p in periods if last <= add_months(first, p.until_months)), periods[-1])
        if (event - last).days > listed[
            "missed_assessments"
        ].count * period.interval_days + period.window_days:
            return last, listed["missed_assessments"].cnsr
    if event:
        return event, 0
    if "last_known_alive" in listed:
        return max(last_alive, origin), listed["last_known_alive"].cnsr
    if "last_adequate_assessment" in listed and adequate:
        return adequate[-1], listed["last_adequate_assessment"].cnsr
    return origin, listed["origin"].cnsr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    protocol = load_protocol()
    tables = generate(args.subjects, args.seed)
    print(f"{args.subjects} subjects: " + ", ".join(f"{k} {v.height:,}" for k, v in tables.items()))

    start = time.perf_counter()
    adam = derive_adam(tables, protocol)
    ours = time.perf_counter() - start

    start = time.perf_counter()
    expected = loop_derive(tables, protocol)
    loop = time.perf_counter() - start

    got = {
        (r["USUBJID"], r["PARAMCD"]): (r["ADT"], r["CNSR"])
        for r in adam.adtte.select("USUBJID", "PARAMCD", "ADT", "CNSR").iter_rows(named=True)
    }
    got.update(
        {
            (r["USUBJID"], "CBOR"): (r["AVALC"],)
            for r in adam.adrs.filter(pl.col("PARAMCD") == "CBOR").iter_rows(named=True)
        }
    )
    mismatches = [key for key in expected if got.get(key) != expected[key]]
    assert not mismatches and len(got) == len(expected), (mismatches[:5], len(got), len(expected))
    print(f"agree on {len(expected):,} records (ADTTE ADT/CNSR and CBOR)")
    print("| implementation | seconds |")
    print("|---|---|")
    print(f"| oligotrial derive_adam (checks + ADSL, ADRS, ADTTE, ADAE) | {ours:.2f} |")
    print(f"| per-subject Python loop (ADTTE + CBOR only) | {loop:.2f} |")
    print(f"speed-up: {loop / ours:.1f}x")


if __name__ == "__main__":
    main()
