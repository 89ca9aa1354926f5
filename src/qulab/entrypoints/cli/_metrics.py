"""The ``--metrics-port`` / ``--metrics-host`` options of long-running commands, and serving
``/metrics`` for the life of the command.

A command declares ``metrics_port: MetricsPort = None, metrics_host: MetricsHost =
DEFAULT_METRICS_HOST`` and runs its work inside ``with serving_metrics(port, host) as metrics``:
``metrics`` is None when no port was given, else the process's ``Metrics`` to hand recorders
from (``metrics.relay``, ``metrics.consumer(name)``, ``metrics.watch(db=…, cache=…)``). The
port is taken before anything else happens, so a port in use stops the command at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from qulab.entrypoints.cli._common import err

if TYPE_CHECKING:
    from qulab.core.metrics import Metrics

# Localhost unless asked otherwise (the same default as the metrics server's own). Kept here so
# the option can be declared without importing the Prometheus client at start-up.
DEFAULT_METRICS_HOST = "127.0.0.1"

MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics on this port (/metrics).",
    ),
]
MetricsHost = Annotated[
    str,
    typer.Option("--metrics-host", help="Address the metrics are served on."),
]


@contextmanager
def serving_metrics(port: int | None, host: str = DEFAULT_METRICS_HOST) -> Iterator[Metrics | None]:
    """This process's metrics served on ``host:port`` until the block ends (None: no port)."""
    if port is None:
        yield None
        return
    from qulab.core.metrics import Metrics, serve_metrics

    server = serve_metrics(Metrics(), port, host)
    err.print(f"metrics on {server.url}", markup=False)
    try:
        yield server.metrics
    finally:
        server.close()
