"""The lab app's Prometheus endpoint: served on a port of its own when
``QULAB_APP_METRICS_PORT`` is set, bound to ``QULAB_APP_METRICS_HOST`` (localhost by default).

One server per server process (a ``st.cache_resource``), started by the runtime every page goes
through and released (its port freed) with the app's other resources. It reports the current
runtime's pool and cache, and the lab's background publisher (relay_control) while it runs.
"""

from __future__ import annotations

import logging

import streamlit as st

from qulab.core import Settings
from qulab.core.metrics import Metrics, MetricsServer, serve_metrics

log = logging.getLogger(__name__)


def start_app_metrics(settings: Settings) -> MetricsServer | None:
    """Serve this process's metrics as the settings say (None: metrics are off). A port that
    cannot be had raises ConfigurationError naming the variable."""
    config = settings.app
    if config.metrics_port is None:
        return None
    return serve_metrics(
        Metrics(),
        config.metrics_port,
        config.metrics_host,
        port_option="QULAB_APP_METRICS_PORT",
        host_option="QULAB_APP_METRICS_HOST",
    )


def _close(server: MetricsServer | None) -> None:
    if server is not None:
        server.close()


@st.cache_resource(show_spinner=False, max_entries=1, on_release=_close)
def _served(port: int | None, host: str, _settings: Settings) -> MetricsServer | None:
    return start_app_metrics(_settings)


def app_metrics(settings: Settings) -> Metrics | None:
    """The metrics of this server process, started on first use (None when off). New port or
    host settings start a new server and stop the old one."""
    config = settings.app
    server = _served(config.metrics_port, config.metrics_host, settings)
    return None if server is None else server.metrics
