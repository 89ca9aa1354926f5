"""The codelab's scenarios: plain async functions returning result objects, no UI code.

The app, the CLI and the benchmarks all run these, so what the lab shows is what the code does.
"""

from qulab.lab.setup import (
    DEMO_USERS,
    SetupResult,
    create_sample_airscore,
    run_db_setup_and_create_user,
    sample_score,
)

__all__ = [
    "DEMO_USERS",
    "SetupResult",
    "create_sample_airscore",
    "run_db_setup_and_create_user",
    "sample_score",
]
