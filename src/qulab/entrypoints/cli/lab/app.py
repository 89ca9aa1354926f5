"""``qulab app``: start the Streamlit lab, bound to localhost unless told otherwise."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from typing import Annotated

import typer

from qulab.core import ConfigurationError
from qulab.entrypoints.cli._common import err, out, print_json, settings

SHUTDOWN_GRACE_SECONDS = 10.0


def register(app: typer.Typer) -> None:
    app.command("app")(run_app)


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line that serves the lab (headless, no usage statistics, no reloading of
    changed sources: see .streamlit/config.toml)."""
    from qulab.entrypoints.app import MAIN_SCRIPT

    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN_SCRIPT),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]


def run_app(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: QULAB_APP_HOST, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default: QULAB_APP_PORT, else 8501)."),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print where it serves as one JSON object first.")
    ] = False,
) -> None:
    """Serve the interactive lab (Streamlit) until interrupted."""
    current = settings()
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigurationError("the lab app needs Streamlit: pip install -e '.[app]'")
    host = host or current.app.host
    port = port or current.app.port
    metrics = current.app
    where = None
    if metrics.metrics_port is not None:
        where = f"http://{metrics.metrics_host}:{metrics.metrics_port}/metrics"
    if json:
        print_json({"url": f"http://{host}:{port}", "metrics": where})
    else:
        out.print(f"QuLab lab on http://{host}:{port}  (Ctrl+C stops it)")
        if where is not None:
            out.print(f"metrics on {where} once the first page is opened")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"note: listening on {host}, reachable from other machines")
    process = subprocess.Popen(streamlit_command(host, port))  # noqa: S603 - fixed argv
    # A service manager stops us with SIGTERM: pass it on so Streamlit is not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to Streamlit too; give it time to shut down cleanly.
        try:
            process.wait(SHUTDOWN_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
        raise
    raise typer.Exit(code)
