"""The report's inputs: ADaM datasets (and optional SDTM: PR/EX for radiotherapy, IE/DS for the screen failures),
typed, cut off, checksummed.

ADaM datasets arrive as text columns (:func:`oligotrial.exports.datasets.read_datasets`) or as the typed frames
of :func:`oligotrial.endpoints.derive_adam`; :func:`prepare_adam` turns either into the same typed frames, so
the tables see one shape whichever way the data came in.

Data cutoff (:func:`apply_cutoff`), documented rule
--------------------------------------------------
The cutoff keeps data on or before the cutoff date, applied to the analysis datasets (not a re-derivation from
SDTM):

* ADSL: subjects enrolled after the cutoff are dropped, and so are subjects never enrolled whose consent
  (``RFICDT``) is after it; a randomization after the cutoff makes the subject
  not randomized (``ITTFL = N``, ``TRT01P = INDUCTION ONLY``); death, radiotherapy and end-of-study dates after
  the cutoff are removed with their flags (``DTHFL``, ``RTFL``, ``EOSSTT = ONGOING``, ``DCSREAS``).
* ADTTE: records whose origin (``STARTDT``) is after the cutoff are dropped; a record whose analysis date
  ``ADT`` is after the cutoff is re-censored at the cutoff: ``ADT = cutoff``, ``CNSR = 1``, ``EVNTDESC``
  empty, ``CNSDTDSC = DATA CUTOFF``, ``AVAL = cutoff - STARTDT + 1`` days.
* ADRS: ``OVR`` records after the cutoff are dropped; a derived response (``BOR CBOR CRSP CB``) dated after
  the cutoff no longer counts: ``CRSP``/``CB`` become ``N`` and ``BOR``/``CBOR`` ``NE``. A confirmation that
  falls after the cutoff is not re-checked: for a formal cut, derive ADaM again from SDTM cut at that date.
* ADAE: records starting after the cutoff are dropped.
* SDTM PR and EX records starting after the cutoff are dropped; IE and DS records follow their subjects in
  ADSL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import polars as pl

from oligotrial.errors import InputError
from oligotrial.exports.datasets import read_datasets

__all__ = [
    "ADAM_NAMES",
    "ReportInputs",
    "apply_cutoff",
    "compute_checksums",
    "load_report_inputs",
    "prepare_adam",
]

ADAM_NAMES = ("ADSL", "ADTTE", "ADRS", "ADAE")
_REQUIRED = {
    "ADSL": ("USUBJID", "TRT01P", "ITTFL", "ENRLFL", "SAFFL"),
    "ADTTE": ("USUBJID", "PARAMCD", "AVAL", "CNSR", "TRT01P"),
    "ADRS": ("USUBJID", "PARAMCD", "AVALC"),
    "ADAE": ("USUBJID", "AEDECOD", "AEBODSYS", "TRTEMFL"),
}
_FLOATS = ("AVAL", "PCHG", "CHG", "NADIR", "PCHGNAD", "PCHGBL", "SOD", "BASE", "PRDOSE", "PRDOSTOT", "AGE")
_INTS = ("CNSR", "ATOXGRN")
_SDTM_DOMAINS = ("PR", "EX", "SUPPDM", "IE", "DS")


@dataclass(frozen=True)
class ReportInputs:
    """Typed datasets of one report.

    Attributes
    ----------
    adsl, adtte, adrs, adae
        ADaM datasets (every ``*DT`` column a date, ``AVAL``/``PCHG`` floats, ``CNSR``/``ATOXGRN`` ints).
    adtr
        ADTR (sums of diameters with their percent changes), or ``None`` when the ADaM folder has none.
    pr, ex
        SDTM radiotherapy (PR) and exposure (EX), or ``None`` when no SDTM folder was given.
    ie, ds
        SDTM eligibility criteria not met (IE) and disposition (DS): the reasons of the screen failures, or
        ``None`` when not given.
    checksums
        SHA-256 of every input file, by file name (``sdtm/<name>`` for SDTM files).
    cutoff
        The data cutoff applied, or ``None``.
    """

    adsl: pl.DataFrame
    adtte: pl.DataFrame
    adrs: pl.DataFrame
    adae: pl.DataFrame
    adtr: pl.DataFrame | None = None
    pr: pl.DataFrame | None = None
    ex: pl.DataFrame | None = None
    ie: pl.DataFrame | None = None
    ds: pl.DataFrame | None = None
    checksums: tuple[tuple[str, str], ...] = ()
    cutoff: date | None = None


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column to text, then dates (``*DT``, ``*DTC`` of PR/EX), floats and ints parsed."""
    frame = frame.with_columns(
        [
            pl.col(c).dt.to_string("%Y-%m-%d") if dtype == pl.Date else pl.col(c).cast(pl.Utf8)
            for c, dtype in frame.schema.items()
        ]
    )
    casts: list[pl.Expr] = []
    for column in frame.columns:
        if column.endswith(("DT", "STDTC", "ENDTC")):
            casts.append(pl.col(column).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
        elif column in _FLOATS:
            casts.append(pl.col(column).cast(pl.Float64, strict=False))
        elif column in _INTS:
            casts.append(pl.col(column).cast(pl.Float64, strict=False).cast(pl.Int64, strict=False))
    return frame.with_columns(casts) if casts else frame


def prepare_adam(frames: dict[str, pl.DataFrame]) -> ReportInputs:
    """Type the ADaM frames (text or typed) of ``ADSL ADTTE ADRS ADAE`` and the optional ``ADTR``.

    Raises
    ------
    InputError
        ``REPORT-001`` when a dataset is missing, ``REPORT-002`` when it lacks a required variable.
    """
    missing = [name for name in ADAM_NAMES if name not in frames]
    if missing:
        raise InputError.single(
            "REPORT-001",
            ",".join(missing),
            f"expected the ADaM datasets {', '.join(ADAM_NAMES)}; missing {', '.join(missing)}: "
            "derive them with `oligotrial adam SDTM_DIR --out ADAM_DIR`",
            missing,
        )
    for name, required in _REQUIRED.items():
        absent = [c for c in required if c not in frames[name].columns]
        if absent:
            raise InputError.single(
                "REPORT-002", name, f"{name} lacks the variables {', '.join(absent)}", absent
            )
    return ReportInputs(
        adsl=_typed(frames["ADSL"]),
        adtte=_typed(frames["ADTTE"]),
        adrs=_typed(frames["ADRS"]),
        adae=_typed(frames["ADAE"]),
        adtr=_typed(frames["ADTR"]) if "ADTR" in frames else None,
    )


def compute_checksums(paths: list[tuple[str, Path]]) -> tuple[tuple[str, str], ...]:
    """SHA-256 of each ``(label, path)``, sorted by label."""
    return tuple(sorted((label, hashlib.sha256(path.read_bytes()).hexdigest()) for label, path in paths))


def _dataset_files(folder: Path, names: tuple[str, ...]) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in {".csv", ".xpt"} and p.stem.upper() in names
    )


def load_report_inputs(adam_dir: Path, sdtm_dir: Path | None = None) -> ReportInputs:
    """Read ADaM datasets (CSV or XPT) from ``adam_dir`` and, when given, PR, EX, IE and DS from ``sdtm_dir``.

    Raises
    ------
    InputError
        As :func:`read_datasets` and :func:`prepare_adam`; ``REPORT-003`` when ``sdtm_dir`` has no PR.
    """
    inputs = prepare_adam(read_datasets(adam_dir, (*ADAM_NAMES, "ADTR"), prefer="xpt"))
    files = [(p.name, p) for p in _dataset_files(adam_dir, (*ADAM_NAMES, "ADTR"))]
    pr = ex = ie = ds = None
    if sdtm_dir is not None:
        sdtm = read_datasets(sdtm_dir, _SDTM_DOMAINS)
        if "PR" not in sdtm:
            raise InputError.single(
                "REPORT-003", str(sdtm_dir), "the SDTM folder has no PR dataset (radiotherapy courses)"
            )
        pr = _typed(sdtm["PR"])
        ex = _typed(sdtm["EX"]) if "EX" in sdtm else None
        ie = _typed(sdtm["IE"]) if "IE" in sdtm else None
        ds = _typed(sdtm["DS"]) if "DS" in sdtm else None
        files += [(f"sdtm/{p.name}", p) for p in _dataset_files(sdtm_dir, _SDTM_DOMAINS)]
    return replace(inputs, pr=pr, ex=ex, ie=ie, ds=ds, checksums=compute_checksums(files))


def _null_after(column: str, cutoff: date) -> pl.Expr:
    return pl.when(pl.col(column) > cutoff).then(None).otherwise(pl.col(column)).alias(column)


def apply_cutoff(inputs: ReportInputs, cutoff: date | None) -> ReportInputs:
    """Keep the data on or before ``cutoff`` (the module docstring states the rule); ``None`` keeps all."""
    if cutoff is None:
        return inputs
    adsl = inputs.adsl
    if "ENRLDT" in adsl.columns:
        never_enrolled = pl.col("ENRLDT").is_null()
        if "RFICDT" in adsl.columns:
            never_enrolled = never_enrolled & (pl.col("RFICDT").is_null() | (pl.col("RFICDT") <= cutoff))
        adsl = adsl.filter(never_enrolled | (pl.col("ENRLDT") <= cutoff))
    if "RANDDT" in adsl.columns:
        late = pl.col("RANDDT").is_not_null() & (pl.col("RANDDT") > cutoff)
        adsl = adsl.with_columns(
            pl.when(late).then(pl.lit("N")).otherwise(pl.col("ITTFL")).alias("ITTFL"),
            pl.when(late).then(pl.lit("INDUCTION ONLY")).otherwise(pl.col("TRT01P")).alias("TRT01P"),
            _null_after("RANDDT", cutoff),
        )
    if "DTHDT" in adsl.columns:
        adsl = adsl.with_columns(
            *(
                [pl.when(pl.col("DTHDT") > cutoff).then(None).otherwise(pl.col("DTHFL")).alias("DTHFL")]
                if "DTHFL" in adsl.columns
                else []
            ),
            _null_after("DTHDT", cutoff),
        )
    if "RTSDT" in adsl.columns and "RTFL" in adsl.columns:
        adsl = adsl.with_columns(
            pl.when(pl.col("RTSDT") > cutoff).then(pl.lit("N")).otherwise(pl.col("RTFL")).alias("RTFL"),
            _null_after("RTSDT", cutoff),
        )
    if "EOSDT" in adsl.columns and "EOSSTT" in adsl.columns:
        late = pl.col("EOSDT") > cutoff
        adsl = adsl.with_columns(
            pl.when(late).then(pl.lit("ONGOING")).otherwise(pl.col("EOSSTT")).alias("EOSSTT"),
            *(
                [pl.when(late).then(None).otherwise(pl.col("DCSREAS")).alias("DCSREAS")]
                if "DCSREAS" in adsl.columns
                else []
            ),
            _null_after("EOSDT", cutoff),
        )
    subjects = adsl.get_column("USUBJID")
    randomized = adsl.filter(pl.col("ITTFL") == "Y").get_column("USUBJID")

    adtte = inputs.adtte.filter(pl.col("USUBJID").is_in(subjects.implode()))
    if "STARTDT" in adtte.columns and "ADT" in adtte.columns:
        late = pl.col("ADT") > cutoff
        adtte = adtte.filter(pl.col("STARTDT").is_null() | (pl.col("STARTDT") <= cutoff))
        adtte = adtte.with_columns(
            pl.when(late)
            .then((pl.lit(cutoff) - pl.col("STARTDT")).dt.total_days().cast(pl.Float64) + 1.0)
            .otherwise(pl.col("AVAL"))
            .alias("AVAL"),
            pl.when(late).then(pl.lit(1, pl.Int64)).otherwise(pl.col("CNSR")).alias("CNSR"),
            *(
                [pl.when(late).then(None).otherwise(pl.col("EVNTDESC")).alias("EVNTDESC")]
                if "EVNTDESC" in adtte.columns
                else []
            ),
            *(
                [pl.when(late).then(pl.lit("DATA CUTOFF")).otherwise(pl.col("CNSDTDSC")).alias("CNSDTDSC")]
                if "CNSDTDSC" in adtte.columns
                else []
            ),
            pl.when(late).then(pl.lit(cutoff)).otherwise(pl.col("ADT")).alias("ADT"),
        )
        # A randomized-population record of a subject randomized after the cutoff no longer exists.
        if "ITTFL" in adtte.columns:
            adtte = adtte.filter((pl.col("ITTFL") != "Y") | pl.col("USUBJID").is_in(randomized.implode()))

    adrs = inputs.adrs.filter(pl.col("USUBJID").is_in(subjects.implode()))
    if "ADT" in adrs.columns:
        late = pl.col("ADT").is_not_null() & (pl.col("ADT") > cutoff)
        adrs = adrs.filter(~((pl.col("PARAMCD") == "OVR") & late)).with_columns(
            pl.when(late & pl.col("PARAMCD").is_in(["CRSP", "CB"]))
            .then(pl.lit("N"))
            .when(late & pl.col("PARAMCD").is_in(["BOR", "CBOR"]))
            .then(pl.lit("NE"))
            .otherwise(pl.col("AVALC"))
            .alias("AVALC"),
            pl.when(late).then(None).otherwise(pl.col("ADT")).alias("ADT"),
        )

    adae = inputs.adae.filter(pl.col("USUBJID").is_in(subjects.implode()))
    if "ASTDT" in adae.columns:
        adae = adae.filter(pl.col("ASTDT").is_null() | (pl.col("ASTDT") <= cutoff))

    def _sdtm(frame: pl.DataFrame | None, column: str) -> pl.DataFrame | None:
        if frame is None or column not in frame.columns:
            return frame
        return frame.filter(pl.col(column).is_null() | (pl.col(column) <= cutoff))

    return replace(
        inputs,
        adsl=adsl,
        adtte=adtte,
        adrs=adrs,
        adae=adae,
        adtr=_sdtm(inputs.adtr, "ADT"),
        pr=_sdtm(inputs.pr, "PRSTDTC"),
        ex=_sdtm(inputs.ex, "EXSTDTC"),
        ie=None if inputs.ie is None else inputs.ie.filter(pl.col("USUBJID").is_in(subjects.implode())),
        ds=None if inputs.ds is None else inputs.ds.filter(pl.col("USUBJID").is_in(subjects.implode())),
        cutoff=cutoff,
    )
