"""A small chaos round for the lab: the plan, and what a configuration needs before it can run.

The round is ``run_chaos`` with a few processes, 100 events and three SIGKILLs, so it finishes
in seconds. It needs a broker that the relay and consumer processes reach (the embedded
broker lives inside one process) and, for more than one relay, PostgreSQL.
"""

from __future__ import annotations

from qulab.core import Settings
from qulab.lab.chaos import ChaosPlan

REACHABLE_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://", "nats://", "tls://")
ROUND_EVENTS = 100
ROUND_KILLS = 3
ROUND_TIMEOUT = 60.0

BROKER_NEEDED = (
    "A chaos round starts relays and consumers as separate processes, and the embedded "
    "broker lives inside this server process, where they cannot reach it. Set "
    "`QULAB_BROKER_URL` to a broker they share, for example "
    "`QULAB_BROKER_URL=redis://127.0.0.1:6379/0` (or `amqp://127.0.0.1:5672/`, or "
    "`nats://127.0.0.1:4222`), optionally `QULAB_DATABASE_URL=postgresql+asyncpg://postgres@"
    "127.0.0.1:5432/qulab` for two relays, and restart the app."
)


def chaos_round_problem(settings: Settings) -> str | None:
    """Why a round cannot run with ``settings`` (None when it can)."""
    url = settings.broker.url
    if url is None or not url.startswith(REACHABLE_SCHEMES):
        return BROKER_NEEDED
    return None


def chaos_round_plan(settings: Settings, seed: int = 0) -> ChaosPlan:
    """The lab's small round: two relays on PostgreSQL (one on SQLite), two consumers."""
    if settings.broker.url is None:
        raise ValueError("a chaos round needs a broker URL")
    return ChaosPlan(
        broker=settings.broker.url,
        relays=1 if settings.database.is_sqlite else 2,
        consumers=2,
        events=ROUND_EVENTS,
        kills=ROUND_KILLS,
        seed=seed,
        timeout=ROUND_TIMEOUT,
    )
