"""The lab never reloads changed sources under a running server.

Streamlit's file watcher evicts every watched module when a source file changes, and the next
run imports fresh copies, while the runtime, the broker behind the outage switch and the relay
stay the cached ones built from the first copies. The two then disagree about their own classes:
an outage the old switch raises as the old BrokerUnavailable is not an outage to the new relay
(the pass reads "1 claimed, 0 published ... The broker refused 1 event: BrokerUnavailable"), and
the cache refuses a family "holding UserRead" that is another UserRead. So both ways of serving
the lab, ``qulab app`` and ``streamlit run app.py`` from the project (the browser tests' way),
turn the watcher off.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from qulab.entrypoints.cli.lab.app import streamlit_command

ROOT = Path(__file__).resolve().parents[2]


def test_qulab_app_serves_without_a_file_watcher() -> None:
    command = streamlit_command("127.0.0.1", 8501)
    flag = command.index("--server.fileWatcherType")
    assert command[flag + 1] == "none"


def test_streamlit_run_from_the_project_serves_without_a_file_watcher() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["fileWatcherType"] == "none"
