"""Serving ``/metrics`` over HTTP with prometheus_client's own server, on a daemon thread.

A port that cannot be had is the caller's to fix: one ConfigurationError naming the option or
variable that chose it (``--metrics-port``, ``QULAB_APP_METRICS_PORT``), never a traceback.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from typing import TYPE_CHECKING

from prometheus_client import start_http_server

from qulab.core.errors import ConfigurationError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from qulab.core.metrics.registry import Metrics

log = logging.getLogger(__name__)

DEFAULT_METRICS_HOST = "127.0.0.1"
JOIN_SECONDS = 5.0


class MetricsServer:
    """A running exposition endpoint; ``close()`` stops it and frees the port."""

    def __init__(
        self,
        metrics: Metrics,
        httpd: WSGIServer,
        thread: threading.Thread,
        host: str,
        port: int,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._httpd = httpd
        self._thread = thread
        self.closed = False

    @property
    def url(self) -> str:
        return f"http://{_address(self.host, self.port)}/metrics"

    def close(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(JOIN_SECONDS)


def serve_metrics(
    metrics: Metrics,
    port: int,
    host: str = DEFAULT_METRICS_HOST,
    *,
    port_option: str = "--metrics-port",
    host_option: str = "--metrics-host",
) -> MetricsServer:
    """Serve ``metrics`` on ``host:port`` (localhost unless told otherwise) until closed."""
    where = _address(host, port)
    try:
        httpd, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except socket.gaierror as error:
        raise ConfigurationError(
            f"{host_option}: cannot listen on {host!r}: {error.strerror}"
        ) from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            message = f"{port_option}: {where} is already in use; choose a free port"
        elif error.errno == errno.EADDRNOTAVAIL:
            message = f"{host_option}: cannot listen on {host!r}: not an address of this machine"
        elif error.errno == errno.EACCES:
            message = (
                f"{port_option}: {where}: permission denied (ports below 1024 need privileges)"
            )
        else:
            message = f"{port_option}: cannot listen on {where}: {error.strerror or error}"
        raise ConfigurationError(message) from None
    server = MetricsServer(metrics, httpd, thread, host, port)
    log.info("serving metrics on %s", server.url)
    return server


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
