"""Shared inputs of the report tests: the worked ADaM study and small synthetic studies for edge cases."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import DOMAINS
from oligotrial.exports.datasets import read_datasets, write_datasets
from oligotrial.protocol import load_protocol
from oligotrial.reports import ReportInputs, build_report, prepare_adam

ROOT = Path(__file__).resolve().parents[2]
WORKED = ROOT / "tests" / "data" / "adam" / "worked"
ARTIFACTS = ROOT / "build" / "test-artifacts" / "reports"
ARMS = {
    "CTRL": "chemo-immunotherapy then camrelizumab maintenance",
    "RT": "chemo-immunotherapy then radiotherapy and camrelizumab maintenance",
}


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


@pytest.fixture(scope="session")
def worked_adam(protocol):
    return derive_adam(read_datasets(WORKED, DOMAINS), protocol)


@pytest.fixture(scope="session")
def adam_dir(worked_adam, tmp_path_factory) -> Path:
    """The worked study's ADaM datasets written as CSV, as ``oligotrial adam`` writes them."""
    folder = tmp_path_factory.mktemp("adam")
    write_datasets(worked_adam.as_dict(), folder, ["csv"])
    return folder


@pytest.fixture(scope="session")
def worked_inputs(worked_adam) -> ReportInputs:
    return prepare_adam(worked_adam.as_dict())


@pytest.fixture(scope="session")
def worked_report(worked_inputs, protocol):
    return build_report(worked_inputs, protocol)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def make_study(subjects: list[dict]) -> dict[str, pl.DataFrame]:
    """ADaM frames (text, as read from CSV) of a synthetic study.

    Each subject: ``id``, ``arm`` (``CTRL``, ``RT`` or ``None`` for not randomized), ``pfs`` and ``os``
    ``(days, is_event)``, ``crsp``/``cb`` ``Y``/``N``, optional ``pchg`` list of ``(day, percent)``, ``aes``
    list of ``(term, soc, grade, serious)``.
    """
    start = date(2026, 1, 5)
    rand = date(2026, 4, 1)
    adsl, adtte, adrs, adae = [], [], [], []
    for i, s in enumerate(subjects):
        arm = s.get("arm")
        trt = ARMS[arm] if arm else "INDUCTION ONLY"
        itt = "Y" if arm else "N"
        strata = {
            "STRAT1V": f"0{1 + i % 2}",
            "STRAT2V": "CR/PR" if i % 3 == 0 else "SD",
            "STRAT3V": "1" if i % 2 else "2-3",
        }
        dead = s.get("os", (0, False))[1]
        os_days = s.get("os", (100, False))[0]
        adsl.append(
            {
                "USUBJID": s["id"],
                "SITEID": strata["STRAT1V"],
                "AGE": str(50 + i),
                "SEX": "MF"[i % 2],
                "TRT01P": trt,
                "TRT01A": trt,
                "ENRLFL": "Y",
                "ITTFL": itt,
                "SAFFL": "Y",
                "ENRLDT": str(start),
                "TRTSDT": str(start),
                "TRTEDT": str(start + timedelta(days=150)),
                "RANDDT": str(rand) if arm else None,
                "RTFL": "N",
                "RTSDT": None,
                "RTEDT": None,
                "INDRESP": s.get("indresp", "SD" if arm else "PD"),
                "DTHFL": "Y" if dead else None,
                "DTHDT": str(rand + timedelta(days=os_days - 1)) if dead else None,
                "EOSSTT": "DISCONTINUED" if dead else "ONGOING",
                "DCSREAS": "DEATH" if dead else None,
                "EOSDT": str(rand + timedelta(days=os_days - 1)) if dead else None,
                **strata,
            }
        )
        if arm:
            for paramcd in ("PFS", "OS"):
                days, event = s[paramcd.lower()]
                adtte.append(
                    {
                        "USUBJID": s["id"],
                        "PARAMCD": paramcd,
                        "PARAM": paramcd,
                        "STARTDT": str(rand),
                        "ADT": str(rand + timedelta(days=days - 1)),
                        "AVAL": f"{days}.0",
                        "CNSR": "0" if event else "1",
                        "TRT01P": trt,
                        "ITTFL": itt,
                        "ENRLFL": "Y",
                        **strata,
                    }
                )
        for paramcd in ("CRSP", "CB"):
            adrs.append(
                {
                    "USUBJID": s["id"],
                    "PARAMCD": paramcd,
                    "AVALC": s.get(paramcd.lower(), "N"),
                    "ADT": str(start + timedelta(days=42)),
                    "TRT01P": trt,
                    "ITTFL": itt,
                    "ENRLFL": "Y",
                    "PCHG": None,
                }
            )
        for day, pchg in s.get("pchg", []):
            adrs.append(
                {
                    "USUBJID": s["id"],
                    "PARAMCD": "OVR",
                    "AVALC": "PR" if pchg <= -30 else "SD",
                    "ADT": str(start + timedelta(days=day)),
                    "TRT01P": trt,
                    "ITTFL": itt,
                    "ENRLFL": "Y",
                    "PCHG": str(pchg),
                }
            )
        for term, soc, grade, serious in s.get("aes", []):
            adae.append(
                {
                    "USUBJID": s["id"],
                    "AETERM": term,
                    "AEDECOD": term,
                    "AEBODSYS": soc,
                    "ATOXGRN": str(grade),
                    "AESER": "Y" if serious else "N",
                    "TRTEMFL": "Y",
                    "APHASE": "MAINTENANCE" if arm else "INDUCTION",
                }
            )
    schema = lambda rows: {k: pl.Utf8 for k in rows[0]}  # noqa: E731
    ae_cols = ["USUBJID", "AETERM", "AEDECOD", "AEBODSYS", "ATOXGRN", "AESER", "TRTEMFL", "APHASE"]
    tte_cols = ["USUBJID", "PARAMCD", "PARAM", "STARTDT", "ADT", "AVAL", "CNSR", "TRT01P", "ITTFL", "ENRLFL"]
    return {
        "ADSL": pl.DataFrame(adsl, schema=schema(adsl)),
        "ADTTE": pl.DataFrame(adtte, schema=schema(adtte))
        if adtte
        else pl.DataFrame(schema={c: pl.Utf8 for c in tte_cols}),
        "ADRS": pl.DataFrame(adrs, schema=schema(adrs)),
        "ADAE": pl.DataFrame(adae, schema=schema(adae))
        if adae
        else pl.DataFrame(schema={c: pl.Utf8 for c in ae_cols}),
    }
