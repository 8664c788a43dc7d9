"""Allocation methods (pure core, DESIGN.md section 1): stratified permuted blocks with random block sizes,
Pocock-Simon minimization with a reproducible random element, stratum derivation and list validation.

Everything random takes a seeded :class:`numpy.random.Generator` (or a seed) as an argument; nothing here
reads or writes a database or a file.
"""

from oligotrial.randomization._blocks import (
    ListEntry,
    check_list_entries,
    compute_running_imbalance,
    generate_block_list,
    parse_list_rows,
)
from oligotrial.randomization._minimization import (
    MINIMIZATION_IMBALANCE_BOUND,
    Marginals,
    MinimizationDecision,
    add_to_marginals,
    choose_minimization_arm,
    compute_marginal_imbalance,
    draw_minimization_uniform,
)
from oligotrial.randomization._strata import derive_strata, parse_stratum_key, stratum_key

__all__ = [
    "MINIMIZATION_IMBALANCE_BOUND",
    "ListEntry",
    "Marginals",
    "MinimizationDecision",
    "add_to_marginals",
    "check_list_entries",
    "choose_minimization_arm",
    "compute_marginal_imbalance",
    "compute_running_imbalance",
    "derive_strata",
    "draw_minimization_uniform",
    "generate_block_list",
    "parse_list_rows",
    "parse_stratum_key",
    "stratum_key",
]
