"""The SDTM export from the database: domains and variables the analysis path reads, XPORT files, the
permission to export, and the trial design domains from the protocol."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pyreadstat
import pytest

from oligotrial.endpoints import derive_adam
from oligotrial.endpoints.sdtm import REQUIRED
from oligotrial.errors import PermissionDeniedError
from oligotrial.exports.datasets import read_datasets
from oligotrial.exports.sdtm import SDTM_DOMAINS, derive_sdtm, export_sdtm
from oligotrial.protocol import load_protocol
from oligotrial.reports.tables import screen_failure_reasons
from oligotrial.services import data
from oligotrial.services import workflow as wf
from workflow_data import adverse_event, assessment, eligible, induction_dose

D0 = date(2024, 1, 8)


@pytest.fixture
def captured(world):
    edc, inv = world.edc, world.actor("investigator.cn01")
    code = data.create_subject(edc, inv, "CN01").code
    wf.save_eligibility(edc, inv, code, eligible(D0 - timedelta(days=10)))
    wf.enroll_subject(edc, inv, code, D0 - timedelta(days=5))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 - timedelta(days=4), 30, 20))
    wf.record_dose(edc, inv, code, induction_dose(1, D0))
    wf.record_tumour_assessment(edc, inv, code, assessment(D0 + timedelta(days=42), 18, 15))
    wf.record_adverse_event(edc, inv, code, adverse_event(D0 + timedelta(days=9)))
    return world


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_domains_hold_what_was_captured(captured):
    tables, problems = derive_sdtm(captured.edc, captured.actor("statistician"))
    assert problems == [] and set(tables) == set(SDTM_DOMAINS)
    for domain, required in REQUIRED.items():
        if domain in tables:
            assert set(required) <= set(tables[domain].columns), domain
    dm = tables["DM"].row(0, named=True)
    assert (dm["USUBJID"], dm["RFICDTC"], dm["RFSTDTC"], dm["AGE"], dm["SEX"], dm["ARMNRS"]) == (
        "ESO-OLIGO-RT-CN01-0001",
        "2023-12-27",
        "2024-01-08",
        61,
        "M",
        "NOT ASSIGNED",
    )
    # the baseline disease of the eligibility form, which ADSL reads from SUPPDM (HISTOL, ECOGBL, METORGN)
    assert tables["SUPPDM"].select("QNAM", "QVAL", "QORIG").rows() == [
        ("HISTOL", "squamous cell carcinoma", "CRF"),
        ("ECOG", "1", "CRF"),
        ("METORGN", "2", "DERIVED"),
        ("METLESN", "2", "DERIVED"),
    ]
    adsl = derive_adam(tables, load_protocol()).adsl.row(0, named=True)
    assert (adsl["HISTOL"], adsl["ECOGBL"], adsl["METORGN"], adsl["METLESN"]) == (
        "squamous cell carcinoma",
        1,
        2,
        2,
    )
    assert tables["DS"].select("DSDECOD", "DSSTDTC").rows() == [
        ("INFORMED CONSENT OBTAINED", "2023-12-27"),
        ("ENROLLED", "2024-01-03"),
    ]
    assert tables["EX"].select("EXTRT", "EXDOSE", "EPOCH").rows() == [
        ("PACLITAXEL", 300.0, "INDUCTION"),
        ("CISPLATIN", 130.0, "INDUCTION"),
        ("CAMRELIZUMAB", 200.0, "INDUCTION"),
    ]
    assert tables["RS"].filter(pl.col("RSTESTCD") == "OVRLRESP").select("RSSTRESC", "RSDTC").rows() == [
        ("PR", "2024-02-19")
    ]
    assert tables["AE"].select("AEDECOD", "AETOXGR", "AESER", "AEREL").rows() == [
        ("NEUTROPHIL COUNT DECREASED", 3, "N", "RELATED")
    ]
    assert tables["TR"].filter(pl.col("TRBLFL") == "Y").height == 3
    assert tables["TA"].filter(pl.col("ARMCD") == "RT")["ETCD"].to_list() == [
        "SCRN",
        "IND",
        "RT",
        "MAINT",
        "FU",
    ]
    assert tables["TV"]["VISIT"].head(3).to_list() == ["BASELINE", "C1D1", "C2D1"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_export_writes_csv_and_xpt_and_needs_the_export_permission(captured, tmp_path):
    with pytest.raises(PermissionDeniedError):
        derive_sdtm(captured.edc, captured.actor("investigator.cn01"))
    result = export_sdtm(captured.edc, captured.actor("statistician"), tmp_path / "out", ["csv", "xpt"])
    assert result["records"]["DM"] == 1
    assert result["problems"] == []  # every dataset and variable is described: nothing is left out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {f"{name.lower()}.{fmt}" for name in SDTM_DOMAINS for fmt in ("csv", "xpt")} == set(written)
    suppae, meta = pyreadstat.read_xport(tmp_path / "out" / "suppae.xpt")
    assert meta.table_name == "SUPPAE" and meta.file_label == "Supplemental Qualifiers for AE"
    assert suppae["QNAM"].tolist() == ["AEREL1", "AEREL2", "AEREL3"]
    _, ae = pyreadstat.read_xport(tmp_path / "out" / "ae.xpt", metadataonly=True)
    assert ae.column_names_to_labels["AESPID"] == "Sponsor-Defined Identifier"
    (tmp_path / "csv").mkdir()
    for path in (tmp_path / "out").glob("*.csv"):
        path.rename(tmp_path / "csv" / path.name)
    csv = read_datasets(tmp_path / "csv", ["DM", "RS"])
    assert csv["RS"].filter(pl.col("RSTESTCD") == "OVRLRESP")["RSSTRESC"].to_list() == ["PR"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_screen_failures_give_ie_and_their_stated_reason_in_ds(world):
    """A screen failure on ECOG 3 gives one IE record (INC-08 not met); one with no criterion failed but a stated
    reason gives none, and DS keeps the reason as DSTERM (DSDECOD SCREEN FAILURE). The CONSORT reasons come from
    both."""
    edc, inv = world.edc, world.actor("investigator.cn01")
    ecog, withdrew = (data.create_subject(edc, inv, "CN01").code for _ in range(2))
    wf.save_eligibility(edc, inv, ecog, eligible(D0, ecog=3))
    wf.record_screen_failure(edc, inv, ecog, D0 + timedelta(days=1))
    wf.save_eligibility(edc, inv, withdrew, eligible(D0))
    wf.record_screen_failure(edc, inv, withdrew, D0 + timedelta(days=2), "consent withdrawn")
    tables, _ = derive_sdtm(edc, world.actor("statistician"))
    ie = tables["IE"].select("USUBJID", "IESEQ", "IETESTCD", "IETEST", "IECAT", "IEORRES", "VISIT", "IEDTC")
    assert ie.rows() == [
        (
            f"ESO-OLIGO-RT-{ecog}",
            1,
            "INC08",
            "ECOG performance status 0-1",
            "INCLUSION",
            "N",
            "SCREENING",
            "2024-01-09",
        )
    ]
    failures = (
        tables["DS"].filter(pl.col("DSDECOD") == "SCREEN FAILURE").select("USUBJID", "DSTERM").sort("USUBJID")
    )
    assert failures.rows() == [
        (f"ESO-OLIGO-RT-{ecog}", "SCREEN FAILURE"),
        (f"ESO-OLIGO-RT-{withdrew}", "consent withdrawn"),
    ]
    reasons = screen_failure_reasons(tables["IE"], tables["DS"])
    assert reasons is not None and sorted(reasons.rows()) == [
        (f"ESO-OLIGO-RT-{ecog}", "not met: ECOG performance status 0-1"),
        (f"ESO-OLIGO-RT-{withdrew}", "consent withdrawn"),
    ]
