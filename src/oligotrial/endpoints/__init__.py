"""Endpoints: SDTM-shaped tables in, ADaM-shaped tables out (ADSL, ADRS, ADTTE, ADAE), traceable to the
source records, the rule and the protocol version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from oligotrial.endpoints.adae import derive_adae
from oligotrial.endpoints.adrs import ADRS_PARAMS, derive_adrs
from oligotrial.endpoints.adsl import derive_adsl
from oligotrial.endpoints.adtr import derive_adtr
from oligotrial.endpoints.adtte import derive_adtte
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
    protocol's). Raises :class:`~oligotrial.errors.InputError` naming domain, row, variable and value."""
    study = check_sdtm(tables, protocol)
    adsl = derive_adsl(study, protocol)
    adrs = derive_adrs(
        study,
        adsl,
        protocol,
        confirmation_min_days=confirmation_min_days,
        max_ne_between_confirmation=max_ne_between_confirmation,
        sd_min_days=sd_min_days,
    )
    return AdamDatasets(
        adsl=adsl,
        adrs=adrs,
        adtte=derive_adtte(study, adsl, adrs, protocol),
        adae=derive_adae(study, adsl, protocol),
        adtr=derive_adtr(study, adsl),
    )
