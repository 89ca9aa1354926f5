"""``qulab app`` serves the lab on localhost and stops cleanly with its launcher."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.server import lab_environment, running
from tests.services import free_port
from tests.waiting import wait_until


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_qulab_app_serves_on_localhost_only_and_stops_with_its_launcher(tmp_path: Path) -> None:
    port = free_port()
    qulab = str(Path(sys.executable).parent / "qulab")
    env = lab_environment(f"sqlite+aiosqlite:///{tmp_path / 'lab.db'}")
    env["QULAB_APP_PORT"] = str(port)
    with running([qulab, "app"], port, env, tmp_path / "server.log") as (_, launcher):
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(30) == 0 or launcher.returncode == -signal.SIGTERM
    wait_until(lambda: not _listening_addresses(port), f"port {port} to be released", interval=0.2)
    assert _listening_addresses(port) == set()
    assert "QuLab lab on http://127.0.0.1:" in (tmp_path / "server.log").read_text()


def test_qulab_app_rejects_a_port_out_of_range() -> None:
    qulab = str(Path(sys.executable).parent / "qulab")
    result = subprocess.run([qulab, "app", "--port", "70000"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--port" in result.stderr and "65535" in result.stderr
