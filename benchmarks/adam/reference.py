"""A straightforward per-subject Python implementation of the ADaM derivation, for the benchmark only.

It starts from the same SDTM text tables as :func:`oligotrial.endpoints.derive_adam` and does the same work
in three plain stages, each timed by the benchmark:

1. :func:`reference_rows`: tables to Python rows (``DataFrame.to_dicts``).
2. :func:`reference_checks`: the input rules of ``check_sdtm`` and of the best-overall-response engine
   (required variables, ISO dates and whole numbers, codes, duplicates, subjects absent from DM,
   randomization before consent or twice, arm without randomization, death before the first dose, death
   flag against date, an assessment after death, conflicting responses on one day), then the typed rows
   grouped by subject.
3. :func:`reference_derive`: per subject, ADSL (dates, flags, arms, induction response, strata, last known
   alive, end of study), ADRS (OVR, BOR, CBOR, CRSP, CB), ADTTE (every time-to-event endpoint of the
   protocol, its event and censoring sources applied in the declared order) and ADAE (treatment-emergent
   flag, grade, phase, arm).

The rules are those of PROTOCOL.md sections 5, 6 and 9 as documented in ``oligotrial.endpoints`` (the
docstrings of derive_adsl, derive_adrs, derive_adtte and derive_adae); this file is an independent plain
reading of them, written the way a programmer would first write it: dicts and lists, one subject at a time.
It covers the domains the benchmark's study has (DM, DS, EX, PR, CM, RS, TR, AE, SV; no TU, no SUPPDM).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import polars as pl

from oligotrial.protocol.models import Protocol, TimeToEventEndpoint
from oligotrial.rules.schedule import add_months

REQUIRED = {
    "DM": ("USUBJID", "SITEID", "RFICDTC", "RFSTDTC", "DTHDTC", "DTHFL", "ARMCD", "ACTARMCD"),
    "DS": ("USUBJID", "DSCAT", "DSDECOD", "DSSTDTC"),
    "EX": ("USUBJID", "EXTRT", "EXSTDTC"),
    "PR": ("USUBJID", "PRTRT", "PRSTDTC"),
    "CM": ("USUBJID", "CMCAT", "CMSTDTC"),
    "RS": ("USUBJID", "RSTESTCD", "RSSTRESC", "RSDTC"),
    "TR": ("USUBJID", "TRLNKID", "TRTESTCD", "TRDTC"),
    "AE": ("USUBJID", "AETERM", "AEDECOD", "AESTDTC", "AETOXGR"),
    "SV": ("USUBJID", "SVSTDTC"),
}
DATES = {
    "DM": ("RFICDTC", "RFSTDTC", "RFXENDTC", "DTHDTC"),
    "DS": ("DSSTDTC",),
    "EX": ("EXSTDTC", "EXENDTC"),
    "PR": ("PRSTDTC", "PRENDTC"),
    "CM": ("CMSTDTC", "CMENDTC"),
    "RS": ("RSDTC",),
    "AE": ("AESTDTC", "AEENDTC"),
    "SV": ("SVSTDTC", "SVENDTC"),
}
INTEGERS = {
    "DM": ("AGE",),
    "DS": ("DSSEQ",),
    "EX": ("EXSEQ",),
    "PR": ("PRSEQ",),
    "CM": ("CMSEQ",),
    "RS": ("RSSEQ",),
    "AE": ("AESEQ", "AETOXGR"),
}
CODES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}(T[\d:.]+)?")
ADRS_ORDER = ("BOR", "CBOR", "CRSP", "CB")


# --- 1. tables to rows ------------------------------------------------------------------------------------


def reference_rows(tables: dict[str, pl.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    return {name.upper(): frame.to_dicts() for name, frame in tables.items()}


# --- 2. checks --------------------------------------------------------------------------------------------


def _parse_date(text: str) -> date | None:
    if not ISO.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def reference_checks(
    rows: dict[str, list[dict[str, Any]]], protocol: Protocol
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The input rules, plainly; returns typed rows grouped by subject (``{USUBJID: {domain: rows}}``).
    Raises ValueError listing the problems (rule code, domain, row, variable, value)."""
    problems: list[tuple[Any, ...]] = []
    if "DM" not in rows:
        raise ValueError([("SDTM-001", "DM")])
    for name, records in rows.items():
        if name in REQUIRED and records:
            missing = [v for v in REQUIRED[name] if v not in records[0]]
            problems += [("SDTM-001", name, v) for v in missing]
    # types: dates and whole numbers, row by row
    for name, records in rows.items():
        dates = [c for c in DATES.get(name, ()) if records and c in records[0]]
        integers = [c for c in INTEGERS.get(name, ()) if records and c in records[0]]
        for number, r in enumerate(records, 1):
            for column in dates:
                text = r[column]
                if text is not None:
                    value = _parse_date(text)
                    if value is None:
                        problems.append(("SDTM-002", name, number, column, text))
                    r[column] = value
            for column in integers:
                text = r[column]
                if text is not None:
                    try:
                        r[column] = int(text.strip())
                    except ValueError:
                        problems.append(("SDTM-003", name, number, column, text))
                        r[column] = None
    if problems:
        raise ValueError(problems[:20])
    # codes
    arms = {a.armcd for a in protocol.arms}
    dm: dict[str, dict[str, Any]] = {}
    for number, r in enumerate(rows["DM"], 1):
        for column in ("ARMCD", "ACTARMCD"):
            if r[column] is not None and r[column] not in arms:
                problems.append(("SDTM-004", "DM", number, column, r[column]))
        if r["DTHFL"] is not None and r["DTHFL"] != "Y":
            problems.append(("SDTM-004", "DM", number, "DTHFL", r["DTHFL"]))
        if r["USUBJID"] in dm:
            problems.append(("SDTM-005", "DM", number, "USUBJID", r["USUBJID"]))
        dm[r["USUBJID"]] = r
    for number, r in enumerate(rows.get("RS", ()), 1):
        if r["RSTESTCD"] == "OVRLRESP" and r["RSSTRESC"] is not None and r["RSSTRESC"] not in CODES:
            problems.append(("SDTM-004", "RS", number, "RSSTRESC", r["RSSTRESC"]))
    for number, r in enumerate(rows.get("AE", ()), 1):
        if r["AETOXGR"] is not None and not 1 <= r["AETOXGR"] <= 5:
            problems.append(("SDTM-004", "AE", number, "AETOXGR", r["AETOXGR"]))
    if problems:
        raise ValueError(problems[:20])
    # subject level: every record's subject in DM, grouped by subject
    by: dict[str, dict[str, list[dict[str, Any]]]] = {s: defaultdict(list) for s in dm}
    for name, records in rows.items():
        if name == "DM":
            for r in records:
                by[r["USUBJID"]]["DM"].append(r)
            continue
        for number, r in enumerate(records, 1):
            subject = by.get(r["USUBJID"])
            if subject is None:
                problems.append(("SDTM-101", name, number, "USUBJID", r["USUBJID"]))
            else:
                subject[name].append(r)
    for subject, data in by.items():
        d = data["DM"][0]
        randomized = [
            r for r in data["DS"] if r["DSCAT"] == "PROTOCOL MILESTONE" and r["DSDECOD"] == "RANDOMIZED"
        ]
        if len(randomized) > 1:
            problems.append(("SDTM-107", "DS", subject))
        for r in randomized:
            if r["DSSTDTC"] is not None and d["RFICDTC"] is not None and r["DSSTDTC"] < d["RFICDTC"]:
                problems.append(("SDTM-102", "DS", subject, r["DSSTDTC"]))
        randdt = randomized[0]["DSSTDTC"] if randomized else None
        if (d["ARMCD"] is not None) != (randdt is not None):
            problems.append(("SDTM-106", "DM", subject, d["ARMCD"]))
        death = d["DTHDTC"]
        if death is not None and d["RFSTDTC"] is not None and death < d["RFSTDTC"]:
            problems.append(("SDTM-103", "DM", subject, death))
        if (d["DTHFL"] == "Y") != (death is not None):
            problems.append(("SDTM-105", "DM", subject, d["DTHFL"]))
        seen: dict[date, str] = {}
        for r in data["RS"]:
            if death is not None and r["RSDTC"] is not None and r["RSDTC"] > death:
                problems.append(("SDTM-104", "RS", subject, r["RSDTC"]))
            if r["RSTESTCD"] != "OVRLRESP":
                continue
            # the response engine's rules: a date, one response per day
            if r["RSDTC"] is None:
                problems.append(("RECIST-022", "RS", subject))
            elif seen.setdefault(r["RSDTC"], r["RSSTRESC"]) != r["RSSTRESC"]:
                problems.append(("RECIST-026", "RS", subject, r["RSDTC"]))
    if problems:
        raise ValueError(problems[:20])
    return by


# --- 3. derivation ----------------------------------------------------------------------------------------


def _best(
    responses: list[tuple[date, str, int | None]], reference: date, settings: Any
) -> tuple[str, date | None, str, date | None, date | None]:
    """BOR, its date, CBOR, its date and the first confirmed response date (RECIST 1.1 section 4.4)."""
    seq: list[tuple[date, str]] = []
    seen_cr = False
    for day, code, _ in responses:
        if seen_cr and code in ("PR", "SD", "NON-CR/NON-PD"):
            code = "PD"
        seen_cr = seen_cr or code == "CR"
        seq.append((day, code))
        if code == "PD":
            break
    if not seq:
        return "MISSING", None, "MISSING", None, None

    def confirmed(i: int, confirming: tuple[str, ...], allowed: tuple[str, ...]) -> bool:
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

    unconfirmed: list[str] = []
    confirmed_codes: list[str] = []
    first_response = None
    for i, (day, code) in enumerate(seq):
        sd_met = (day - reference).days >= settings.sd_min_days
        plain = "NE" if code in ("SD", "NON-CR/NON-PD") and not sd_met else code
        unconfirmed.append(plain)
        ok = (code == "CR" and confirmed(i, ("CR",), ("CR", "NE"))) or (
            code == "PR" and confirmed(i, ("CR", "PR"), ("CR", "PR", "NE"))
        )
        if ok and first_response is None:
            first_response = day
        confirmed_codes.append(plain if ok or code not in ("CR", "PR") else ("SD" if sd_met else "NE"))
    bor = min(unconfirmed, key=CODES.index)
    cbor = min(confirmed_codes, key=CODES.index)
    return (
        bor,
        seq[unconfirmed.index(bor)][0],
        cbor,
        seq[confirmed_codes.index(cbor)][0],
        first_response,
    )


def reference_derive(
    by: dict[str, dict[str, list[dict[str, Any]]]], protocol: Protocol, *, tr_supplied: bool
) -> dict[str, list[tuple[Any, ...]]]:
    """ADSL, ADRS, ADTTE and ADAE records, subject by subject (the variables the benchmark compares). AE
    start dates are taken as present (AESTDTC is required; the benchmark's study has them all)."""
    settings = protocol.response
    periods = protocol.assessments.periods
    induction_days = protocol.induction.cycles * protocol.induction.cycle_length_days + periods[0].window_days
    ae_window = timedelta(days=protocol.adverse_events.reporting_days_after_last_treatment)
    endpoints = [e for e in protocol.endpoints if isinstance(e, TimeToEventEndpoint)]
    stratum_maps = [
        (
            s.source,
            {str(v): label for label, values in s.levels.items() for v in values} if s.levels else None,
        )
        for s in protocol.randomization.strata
    ]
    adsl: list[tuple[Any, ...]] = []
    adrs: list[tuple[Any, ...]] = []
    adae: list[tuple[Any, ...]] = []
    tte: dict[str, list[tuple[Any, ...]]] = {e.paramcd: [] for e in endpoints}
    for subject, data in by.items():
        dm = data["DM"][0]
        # ADSL
        ex_start = min((r["EXSTDTC"] for r in data["EX"]), default=None)
        ex_end = max(
            ((r.get("EXENDTC") or r["EXSTDTC"]) for r in data["EX"]),
            default=None,
        )
        trtsdt = ex_start or dm["RFSTDTC"]
        trtedt = ex_end or dm.get("RFXENDTC") or ex_start or dm["RFSTDTC"]
        randdt = None
        enrolled = []
        disposition = []
        for r in data["DS"]:
            if r["DSCAT"] == "PROTOCOL MILESTONE":
                if r["DSDECOD"] == "RANDOMIZED":
                    randdt = r["DSSTDTC"]
                elif r["DSDECOD"] == "ENROLLED":
                    enrolled.append(r["DSSTDTC"])
            elif r["DSCAT"] == "DISPOSITION EVENT":
                disposition.append(r)
        enrldt = min((d for d in enrolled if d), default=None) or trtsdt
        rtsdt = min((r["PRSTDTC"] for r in data["PR"] if r["PRSTDTC"]), default=None)
        rtedt = max(
            (r.get("PRENDTC") or r["PRSTDTC"] for r in data["PR"] if r.get("PRENDTC") or r["PRSTDTC"]),
            default=None,
        )
        natsdt = min(
            (
                r["CMSTDTC"]
                for r in data["CM"]
                if r["CMCAT"] == "SUBSEQUENT ANTICANCER THERAPY" and r["CMSTDTC"]
            ),
            default=None,
        )
        enrlfl = "Y" if enrldt else "N"
        ittfl = "Y" if randdt else "N"
        saffl = "Y" if ex_start else "N"
        trt01p = dm.get("ARM") if randdt else ("INDUCTION ONLY" if enrldt else None)
        trt01a = dm.get("ACTARM") if randdt else ("INDUCTION ONLY" if ex_start else None)
        responses = sorted(
            (r["RSDTC"], r["RSSTRESC"], r.get("RSSEQ")) for r in data["RS"] if r["RSTESTCD"] == "OVRLRESP"
        )
        cutoff = randdt or (trtsdt + timedelta(days=induction_days) if trtsdt else None)
        induction = [x for x in responses if cutoff and x[0] <= cutoff]
        indresp = induction[-1][1] if induction else None
        indbor = _best(induction, trtsdt, settings)[0] if trtsdt else None
        death = dm["DTHDTC"]
        known = [dm["RFICDTC"], dm["RFSTDTC"], dm.get("RFXENDTC")]
        known += [r["DSSTDTC"] for r in data["DS"]]
        known += [r["EXSTDTC"] for r in data["EX"]] + [r.get("EXENDTC") for r in data["EX"]]
        known += [r["PRSTDTC"] for r in data["PR"]] + [r.get("PRENDTC") for r in data["PR"]]
        known += [r["CMSTDTC"] for r in data["CM"]]
        known += [r["AESTDTC"] for r in data["AE"]] + [r.get("AEENDTC") for r in data["AE"]]
        known += [r["SVSTDTC"] for r in data["SV"]] + [r["RSDTC"] for r in data["RS"]]
        lstalvdt = max((d for d in known if d), default=None)
        if death and lstalvdt and lstalvdt > death:
            lstalvdt = death
        eos = max(disposition, key=lambda r: r["DSSTDTC"], default=None)
        eosstt = (
            "ONGOING" if eos is None else ("COMPLETED" if eos["DSDECOD"] == "COMPLETED" else "DISCONTINUED")
        )
        strata = []
        for source, mapping in stratum_maps:
            value = {"site": dm["SITEID"], "induction_response": indresp}.get(source)
            strata.append(mapping.get(value) if mapping is not None and value is not None else value)
        adsl.append(
            (subject, enrldt, randdt, trtsdt, trtedt, rtsdt, rtedt, natsdt, enrlfl, ittfl, saffl, trt01p,
             trt01a, indresp, indbor, dm["DTHFL"], death, lstalvdt, eosstt, *strata)
        )  # fmt: skip
        # ADRS (enrolled subjects)
        first_response = None
        if enrlfl == "Y":
            seq_of = {day: seq for day, _, seq in responses}
            for day, code, seq in responses:
                adrs.append((subject, "OVR", code, day, "RS", "RSSTRESC", seq))
            if trtsdt:
                bor, bor_day, cbor, cbor_day, first_response = _best(responses, trtsdt, settings)
                crsp = "Y" if cbor in ("CR", "PR") else "N"
                cb = "Y" if cbor in ("CR", "PR", "SD", "NON-CR/NON-PD") else "N"
                for paramcd, value, day in (
                    ("BOR", bor, bor_day),
                    ("CBOR", cbor, cbor_day),
                    ("CRSP", crsp, first_response if crsp == "Y" else None),
                    ("CB", cb, cbor_day if cb == "Y" else None),
                ):
                    source = day is not None and day in seq_of
                    adrs.append(
                        (subject, paramcd, value, day, "RS" if source else None,
                         "RSSTRESC" if source else None, seq_of.get(day) if source else None)
                    )  # fmt: skip
                if crsp == "N":
                    first_response = None
        # ADTTE
        first_tr = min((_parse_date(r["TRDTC"]) for r in data["TR"] if r["TRDTC"]), default=None)
        has_baseline = bool(data["TR"]) and (trtsdt is None or (first_tr is not None and first_tr <= trtsdt))
        if not tr_supplied:
            has_baseline = True
        origins = {
            "randomization": (randdt, "ADSL", "RANDDT"),
            "enrollment": (enrldt, "ADSL", "ENRLDT"),
            "first_response": (first_response, "ADRS", "ADT"),
        }
        flags = {"ITT": ittfl, "ENROLLED": enrlfl, "SAFETY": saffl}
        for endpoint in endpoints:
            origin, origin_dom, origin_var = origins[endpoint.origin]
            if origin is None or flags.get(endpoint.population, "Y") != "Y":
                continue
            record = _tte(
                endpoint, origin, origin_dom, origin_var, responses, death, natsdt, has_baseline, lstalvdt,
                trtsdt, periods,
            )  # fmt: skip
            adt = record[0]
            aval = float((adt - origin).days + 1) if adt else None
            tte[endpoint.paramcd].append((subject, endpoint.paramcd, origin, adt, aval, *record[1:]))
        # ADAE
        restart = min((r["EXSTDTC"] for r in data["EX"] if rtedt and r["EXSTDTC"] > rtedt), default=None)
        for r in data["AE"]:
            start = r["AESTDTC"]
            if trtsdt is None or start < trtsdt:
                phase = "SCREENING"
            elif start > trtedt:
                phase = "FOLLOW-UP"
            elif randdt is None or start < randdt:
                phase = "INDUCTION"
            elif rtsdt is not None and (restart is None or start < restart):
                phase = "RADIOTHERAPY"
            else:
                phase = "MAINTENANCE"
            emergent = "Y" if trtsdt and trtsdt <= start <= trtedt + ae_window else "N"
            grade = r["AETOXGR"]
            trta = "INDUCTION ONLY" if phase in ("SCREENING", "INDUCTION") or randdt is None else trt01a
            adae.append(
                (subject, start, str(grade) if grade is not None else None, grade, emergent, phase, trta)
            )
    return {
        "ADSL": adsl,
        "ADRS": adrs,
        "ADTTE": [record for e in endpoints for record in tte[e.paramcd]],
        "ADAE": adae,
    }


def _tte(
    endpoint: TimeToEventEndpoint,
    origin: date,
    origin_dom: str,
    origin_var: str,
    responses: list[tuple[date, str, int | None]],
    death: date | None,
    natsdt: date | None,
    has_baseline: bool,
    lstalvdt: date | None,
    trtsdt: date | None,
    periods: Any,
) -> tuple[Any, ...]:
    """(ADT, CNSR, EVNTDESC, CNSDTDSC, SRCDOM, SRCVAR, SRCSEQ): the first declared rule that applies."""
    listed = {c.source: c for c in endpoint.censoring}
    events = {e.source: e.description for e in endpoint.events}
    since = [x for x in responses if x[0] >= origin]
    adequate = [x for x in since if x[1] != "NE"]
    pd = next((x for x in since if x[1] == "PD"), None) if "progression" in events else None
    dth = death if "death" in events else None
    event = min((d for d in (pd and pd[0], dth) if d), default=None)

    def at_origin(source: Any) -> tuple[Any, ...]:
        return origin, source.cnsr, None, source.description, origin_dom, origin_var, None

    def at(found: tuple[date, str, int | None] | None, source: Any) -> tuple[Any, ...]:
        if found is None:
            return at_origin(source)
        return found[0], source.cnsr, None, source.description, "RS", "RSDTC", found[2]

    def last(candidates: list[tuple[date, str, int | None]]) -> tuple[date, str, int | None] | None:
        return candidates[-1] if candidates else None

    before_event = last([x for x in adequate if event and x[0] < event])
    if "no_baseline_assessment" in listed and not has_baseline:
        return at_origin(listed["no_baseline_assessment"])
    if (
        "new_anticancer_therapy" in listed
        and natsdt
        and natsdt >= origin
        and (event is None or natsdt < event)
    ):
        return at(last([x for x in adequate if x[0] <= natsdt]), listed["new_anticancer_therapy"])
    if "missed_assessments" in listed and event:
        rule = listed["missed_assessments"]
        seen = before_event[0] if before_event else origin
        period = next(
            (p for p in periods if trtsdt is not None and seen <= add_months(trtsdt, p.until_months)),
            periods[-1],
        )
        if (event - seen).days > rule.count * period.interval_days + period.window_days:
            return at(before_event, rule)
    is_pd = pd is not None and pd[0] == event
    if "death_before_first_assessment" in listed and event and not is_pd and before_event is None:
        return at_origin(listed["death_before_first_assessment"])
    if event:
        if is_pd:
            assert pd is not None
            return event, 0, events["progression"], None, "RS", "RSDTC", pd[2]
        return event, 0, events["death"], None, "DM", "DTHDTC", None
    if "last_known_alive" in listed:
        source = listed["last_known_alive"]
        day = max(d for d in (lstalvdt, origin) if d)
        return day, source.cnsr, None, source.description, "ADSL", "LSTALVDT", None
    if "last_adequate_assessment" in listed and adequate:
        return at(adequate[-1], listed["last_adequate_assessment"])
    if "origin" in listed:
        return at_origin(listed["origin"])
    return None, None, None, None, None, None, None
