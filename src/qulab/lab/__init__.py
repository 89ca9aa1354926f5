"""The codelab's scenarios: plain async functions returning result objects, no UI code.

The app, the CLI and the benchmarks all run these, so what the lab shows is what the code does.
"""

from qulab.lab.nplusone import (
    Comparison,
    StrategyRun,
    compare_all_users,
    compare_single_user,
    eager_queries,
    fetch_single_user,
    load_eager,
    load_per_row,
    run_eager,
    run_per_row,
)
from qulab.lab.pooling import (
    ExhaustionResult,
    HolderOutcome,
    LoadRun,
    PoolingComparison,
    compare_pooling,
    demonstrate_pool_exhaustion,
    request_unit,
    run_load,
)
from qulab.lab.setup import (
    DEMO_USERS,
    SetupResult,
    create_sample_airscore,
    run_db_setup_and_create_user,
)
from qulab.platform import sample_score

__all__ = [
    "DEMO_USERS",
    "Comparison",
    "ExhaustionResult",
    "HolderOutcome",
    "LoadRun",
    "PoolingComparison",
    "SetupResult",
    "StrategyRun",
    "compare_all_users",
    "compare_pooling",
    "compare_single_user",
    "create_sample_airscore",
    "demonstrate_pool_exhaustion",
    "eager_queries",
    "fetch_single_user",
    "load_eager",
    "load_per_row",
    "request_unit",
    "run_db_setup_and_create_user",
    "run_eager",
    "run_load",
    "run_per_row",
    "sample_score",
]
