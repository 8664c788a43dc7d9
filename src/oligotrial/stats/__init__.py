"""Survival and binary-endpoint statistics, exact as R ``survival`` and batched for simulation.

Pure core: see DESIGN.md. Every survival function works on a ``(replicates, subjects)`` batch with a mask;
the one-trial functions are the batch of one. Error codes ``STAT-nnn`` are listed in
:mod:`oligotrial.stats._validation` (input) and :func:`compute_cox` (computation).
"""

from oligotrial.stats._validation import check_survival_data
from oligotrial.stats.binary import (
    FisherTest,
    MantelHaenszel,
    Rate,
    RateDifference,
    compute_cmh,
    compute_fisher_exact,
    compute_rate_ci,
    compute_rate_difference,
)
from oligotrial.stats.cox import CoxBatch, CoxFit, compute_cox, compute_cox_batch
from oligotrial.stats.design import (
    Boundaries,
    RequiredEvents,
    SampleSize,
    check_design_inputs,
    compute_boundaries,
    compute_event_probability,
    compute_events,
    compute_power,
    compute_sample_size,
    compute_spending,
)
from oligotrial.stats.km import (
    KaplanMeier,
    KmMedians,
    Rmst,
    RmstDifference,
    SurvivalAt,
    compute_confint,
    compute_km,
    compute_km_at,
    compute_km_median_batch,
    compute_rmst,
    compute_rmst_difference,
)
from oligotrial.stats.logrank import LogRank, LogRankBatch, compute_logrank, compute_logrank_batch

__all__ = [
    "Boundaries",
    "CoxBatch",
    "CoxFit",
    "FisherTest",
    "KaplanMeier",
    "KmMedians",
    "LogRank",
    "LogRankBatch",
    "MantelHaenszel",
    "Rate",
    "RateDifference",
    "RequiredEvents",
    "Rmst",
    "RmstDifference",
    "SampleSize",
    "SurvivalAt",
    "check_design_inputs",
    "check_survival_data",
    "compute_boundaries",
    "compute_cmh",
    "compute_confint",
    "compute_cox",
    "compute_cox_batch",
    "compute_event_probability",
    "compute_events",
    "compute_fisher_exact",
    "compute_km",
    "compute_km_at",
    "compute_km_median_batch",
    "compute_logrank",
    "compute_logrank_batch",
    "compute_power",
    "compute_rate_ci",
    "compute_rate_difference",
    "compute_rmst",
    "compute_rmst_difference",
    "compute_sample_size",
    "compute_spending",
]
