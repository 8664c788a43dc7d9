"""Endpoints: SDTM-shaped tables in, ADaM-shaped tables out (ADSL, ADRS, ADTTE, ADAE), traceable to the
source records, the rule and the protocol version."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

import polars as pl

from oligotrial.endpoints._parallel import start
from oligotrial.endpoints.adae import derive_adae
from oligotrial.endpoints.adrs import ADRS_PARAMS, derive_adrs
from oligotrial.endpoints.adsl import derive_adsl, derive_adsl_parts
from oligotrial.endpoints.adtr import derive_adtr
from oligotrial.endpoints.adtte import derive_adtte, derive_adtte_from
from oligotrial.endpoints.sdtm import Study, check_sdtm
from oligotrial.protocol.models import Protocol

__all__ = [
    "ADRS_PARAMS",
    "AdamDatasets",
    "Study",
    "check_sdtm",
    "derive_adae",
    "derive_adam",
    "derive_adrs",
    "derive_adsl",
    "derive_adtr",
    "derive_adtte",
]


@dataclass(frozen=True)
class AdamDatasets:
    adsl: pl.DataFrame
    adrs: pl.DataFrame
    adtte: pl.DataFrame
    adae: pl.DataFrame
    adtr: pl.DataFrame

    def as_dict(self) -> dict[str, pl.DataFrame]:
        return {
            "ADSL": self.adsl,
            "ADRS": self.adrs,
            "ADTTE": self.adtte,
            "ADAE": self.adae,
            "ADTR": self.adtr,
        }


def derive_adam(
    tables: Mapping[str, pl.DataFrame],
    protocol: Protocol,
    *,
    confirmation_min_days: int | None = None,
    max_ne_between_confirmation: int | None = None,
    sd_min_days: int | None = None,
) -> AdamDatasets:
    """Check the SDTM tables and derive ADSL, ADRS, ADTTE, ADAE and ADTR (the response settings default to the
    protocol's). Raises :class:`~oligotrial.errors.InputError` naming domain, row, variable and value.

    Notes
    -----
    The datasets are those of :func:`check_sdtm`, :func:`derive_adsl`, :func:`derive_adrs`,
    :func:`derive_adtte`, :func:`derive_adae` and :func:`derive_adtr` called in that order, and so is the
    error raised (the first one in that order). Independent parts run side by side on a small thread pool
    (:mod:`oligotrial.endpoints._parallel`): ADRS as soon as ADSL's dates, flags and arms are known (it reads
    nothing else of ADSL), the TR first dates that only ADTTE reads queued behind it; ADSL's induction best
    response, ADAE and ADTR once the rest of ADSL is known, while this thread derives ADTTE (its endpoints
    but the first offered to a free worker, :func:`~oligotrial.endpoints._parallel.offer`; DoR as soon as
    ADRS knows the confirmed responders, before it builds its records).
    """
    study = check_sdtm(tables, protocol)
    start(lambda: study.coded_responses)  # read by ADSL's induction response and ADRS (a cached property)
    responders: Future[pl.DataFrame] = Future()  # published by ADRS before its records are built
    adrs_started: list[Future[pl.DataFrame]] = []
    tumour_results: list[Future[object]] = []  # read by ADTTE only: queued behind ADRS, the longest part

    def adrs_part(adsl_dates: pl.DataFrame) -> pl.DataFrame:
        try:
            return derive_adrs(
                study,
                adsl_dates,
                protocol,
                confirmation_min_days=confirmation_min_days,
                max_ne_between_confirmation=max_ne_between_confirmation,
                sd_min_days=sd_min_days,
                on_responders=responders.set_result,
            )
        except BaseException as error:
            if not responders.done():  # ADTTE's DoR waits on it: hand it the error
                responders.set_exception(error)
            raise

    def dates_known(adsl_dates: pl.DataFrame) -> None:
        adrs_started.append(start(partial(adrs_part, adsl_dates)))
        tumour_results.append(start(lambda: study.first_tumour_results))

    # ADRS reads only ADSL's dates, flags and arms: it starts as soon as they are known
    adsl_without_bor, induction_bor = derive_adsl_parts(study, protocol, on_dates=dates_known)
    (adrs,) = adrs_started
    indbor = start(induction_bor)
    adae = start(partial(derive_adae, study, adsl_without_bor, protocol))
    adtr = start(partial(derive_adtr, study, adsl_without_bor))
    try:
        for task in tumour_results:
            task.result()
        adtte = derive_adtte_from(study, adsl_without_bor, responders.result, protocol)
    except Exception:
        indbor.result()  # an error of a dataset derived before ADTTE comes first
        adrs.result()
        raise
    adsl = adsl_without_bor.with_columns(indbor.result())
    return AdamDatasets(adsl=adsl, adrs=adrs.result(), adtte=adtte, adae=adae.result(), adtr=adtr.result())
