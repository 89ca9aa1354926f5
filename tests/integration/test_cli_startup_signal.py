"""SIGTERM while ``qulab`` is still loading: the relay stops before its first pass and exits 0;
any other command dies of it as before."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import qulab
from tests.waiting import wait_until

STATUS = Path("/proc/self/status")


def handles_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler yet (Linux: the SigCgt mask)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return False
    caught = int(next(line for line in lines if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _as_from_a_terminal() -> None:
    """Ctrl-C at its default in the child, even when this run was started with SIGINT
    ignored (a background job inherits SIG_IGN, and Python then never raises
    KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_as_soon_as_sigterm_is_handled(
    args: list[str], env: dict[str, str], signum: int = signal.SIGTERM
) -> tuple[int, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "qulab", *args],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )

    def sigterm_handled() -> bool:
        if handles_sigterm(process.pid):
            return True
        assert process.poll() is None, "qulab exited before handling SIGTERM"
        return False

    try:
        wait_until(sigterm_handled, "qulab to handle SIGTERM", timeout=20, interval=0.002)
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait(10)
    return process.returncode, err


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    if not STATUS.exists():
        pytest.skip("needs /proc to see when the process handles SIGTERM")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    url = f"sqlite+aiosqlite:///{tmp_path / 'qulab.db'}"
    return clean | {"QULAB_DATABASE_URL": url, "QULAB_BROKER_URL": "memory://"}


def test_a_relay_terminated_while_starting_exits_0_without_a_pass(env: dict[str, str]) -> None:
    upgraded = subprocess.run(
        [sys.executable, "-m", "qulab", "db", "upgrade"], env=env, capture_output=True, timeout=60
    )
    assert upgraded.returncode == 0, upgraded.stderr  # a relay needs its database to exist
    code, err = signal_as_soon_as_sigterm_is_handled(["outbox", "relay", "--yes"], env)
    assert code == 0, err
    assert "relaying to" not in err
    assert err == "published 0, retrying 0, failed 0\n"


def test_another_command_terminated_while_starting_still_dies_of_sigterm(
    env: dict[str, str],
) -> None:
    code, err = signal_as_soon_as_sigterm_is_handled(["db", "current"], env)
    assert code == -signal.SIGTERM, err
    assert err == ""


def test_ctrl_c_while_starting_is_one_line_and_exit_130(env: dict[str, str]) -> None:
    code, err = signal_as_soon_as_sigterm_is_handled(
        ["outbox", "relay", "--yes"], env, signal.SIGINT
    )
    assert (code, err) == (130, "interrupted\n")


def test_ctrl_c_in_the_middle_of_a_command_is_one_line_and_exit_130(
    env: dict[str, str],
) -> None:
    """The command is waiting on a database that accepted the connection and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        url = f"postgresql+asyncpg://qulab@127.0.0.1:{port}/qulab"
        process = subprocess.Popen(
            [sys.executable, "-m", "qulab", "db", "current"],
            env=env | {"QULAB_DATABASE_URL": url, "QULAB_DB_CONNECT_TIMEOUT": "60"},
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_as_from_a_terminal,
        )
        try:
            silent.settimeout(30)
            connection, _ = silent.accept()  # the command is running and waiting on us
            with connection:
                process.send_signal(signal.SIGINT)
                _, err = process.communicate(timeout=30)
        finally:
            process.kill()
            process.wait(10)
    assert (process.returncode, err) == (130, "interrupted\n")


def test_every_public_name_has_a_home_module() -> None:
    assert sorted(qulab._HOMES) == sorted(qulab.__all__)


def test_importing_qulab_loads_no_database_or_broker_client() -> None:
    probe = (
        "import sys, qulab; print(sorted({'sqlalchemy', 'redis', 'aio_pika'} & set(sys.modules)))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert shown.stdout == "[]\n", shown.stderr
