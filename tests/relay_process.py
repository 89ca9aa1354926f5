"""Run ``qulab outbox relay`` as a real process and follow what it says on stderr."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

# A text log line: its time (UTC), then "LEVEL logger: message".
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)", re.DOTALL)


async def start_relay(
    url: str, *args: str, broker: str = "memory://", **settings: str
) -> asyncio.subprocess.Process:
    """``qulab outbox relay ARGS`` on ``url``, polling fast; returns once it says it runs.
    ``settings`` are more QULAB_* variables (``outbox_exchange="x"``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    env |= {
        "QULAB_DATABASE_URL": url,
        "QULAB_BROKER_URL": broker,
        "QULAB_RELAY_INTERVAL": "0.2",
        "QULAB_RELAY_BACKOFF_BASE": "0.1",
    }
    env |= {f"QULAB_{name.upper()}": value for name, value in settings.items()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qulab",
        "outbox",
        "relay",
        *(["--yes"] if broker.startswith("memory://") else []),
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await read_line_containing(process, "relaying to ", [])
    return process


async def read_line_containing(
    process: asyncio.subprocess.Process, needle: str, seen: list[str], timeout: float = 30
) -> str:
    """Read stderr lines (kept in ``seen``) until one contains ``needle``."""
    assert process.stderr is not None
    try:
        async with asyncio.timeout(timeout):
            while line := (await process.stderr.readline()).decode():
                seen.append(line)
                if needle in line:
                    return line
    except TimeoutError:
        pass
    raise AssertionError(f"no {needle!r} on stderr, only: {''.join(seen)}")


async def stop(process: asyncio.subprocess.Process, seen: list[str]) -> int:
    """SIGTERM, then the exit code; the relay gets a few seconds, no more."""
    assert process.stderr is not None
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(8):
        seen.extend(line.decode() for line in (await process.stderr.read()).splitlines())
        return await process.wait()


def log_records(seen: list[str]) -> list[str]:
    """The log lines among ``seen``, each without its time: ``LEVEL logger: message``."""
    return [found.group(1) for line in seen if (found := LOG_LINE.fullmatch(line))]
