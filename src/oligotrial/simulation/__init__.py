"""Design Monte Carlo (batched arrays), patient-level synthetic data and the distributed backend.

Pure core: see DESIGN.md. A :class:`Scenario` (YAML, codes ``SIM-nnn``) on top of the protocol is compiled
into a :class:`Design`; :func:`run_simulation` simulates and analyses whole batches of trials as
``(replicates, patients)`` arrays, seeded by blocks so that any chunking or number of workers gives the
same result; :func:`run_simulation_distributed` runs the chunks as Dask tasks. :func:`generate_subjects`
produces complete subject histories from the same trial model, and :func:`derive_sdtm_tables` stacks them
into SDTM tables.
"""

from oligotrial.simulation._dask import run_simulation_distributed, start_local_cluster
from oligotrial.simulation.model import (
    TrialBatch,
    TrialDraws,
    TrialModel,
    build_trials,
    compile_model,
    compute_event_times,
    draw_trials,
)
from oligotrial.simulation.montecarlo import (
    SEED_BLOCK,
    Chunk,
    ChunkResult,
    Design,
    SimulationResult,
    analyse_trials,
    compile_design,
    compute_logrank_z,
    get_block_generator,
    plan_chunks,
    run_simulation,
    simulate_chunk,
    summarize_simulation,
)
from oligotrial.simulation.scenario import Scenario, load_scenario, parse_scenario
from oligotrial.simulation.synth import SubjectRecords, derive_sdtm_tables, generate_subjects

__all__ = [
    "SEED_BLOCK",
    "Chunk",
    "ChunkResult",
    "Design",
    "Scenario",
    "SimulationResult",
    "SubjectRecords",
    "TrialBatch",
    "TrialDraws",
    "TrialModel",
    "analyse_trials",
    "build_trials",
    "compile_design",
    "compile_model",
    "compute_event_times",
    "compute_logrank_z",
    "derive_sdtm_tables",
    "draw_trials",
    "generate_subjects",
    "get_block_generator",
    "load_scenario",
    "parse_scenario",
    "plan_chunks",
    "run_simulation",
    "run_simulation_distributed",
    "simulate_chunk",
    "start_local_cluster",
    "summarize_simulation",
]
