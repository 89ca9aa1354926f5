"""The chaos check: relays and consumers as real processes, killed and restarted at random.

``run_chaos`` builds a scratch database and a broker namespace of its own, starts R relays
(``qulab outbox relay``) and C consumers (``qulab consume run score-summary``) as processes,
writes events through the services (users created, renamed, scored and deleted) while SIGKILLing a
random relay or consumer at K random moments and starting it again, waits until everything
has settled (every event published and applied, or the timeout), and verifies the outcome
from the outside (:mod:`qulab.lab.chaos_check`). Everything it created is removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qulab.core import (
    Database,
    EventStatus,
    NotFound,
    OutboxRepository,
    ServiceUnavailable,
    Settings,
    open_database,
    redact_url,
)
from qulab.core.consumers import inbox_counts
from qulab.lab.broker_log import BrokerNamespace, broker_namespace
from qulab.lab.chaos_check import ChaosReport, event_positions, verify
from qulab.lab.chaos_record import keep_record
from qulab.lab.chaos_replicas import ReplicaChaos, Standbys, replica_settings, standbys
from qulab.lab.scratch import scratch_database
from qulab.platform import (
    CalculateScore,
    DeleteUser,
    ScoreSummaryProjection,
    UpdateUser,
    UserCreate,
    bootstrap,
    calculate_score,
    create_user,
    delete_user,
    parse,
    uow_factory,
    update_user,
)

CONSUMER = ScoreSummaryProjection.name
READY = {"relay": "relaying to ", "consumer": "consuming "}


@dataclass(frozen=True)
class ChaosPlan:
    broker: str
    relays: int = 1
    consumers: int = 2
    events: int = 200
    kills: int = 4
    seed: int = 0
    rate: float = 100.0  # events written per second
    timeout: float = 120.0  # seconds to wait for everything to settle
    relay_mode: str = "polling"  # or "wal": relays tail the write-ahead log (PostgreSQL)
    replicas: int = 0  # standbys read through the cache under lag (qulab.lab.chaos_replicas)

    @property
    def wal(self) -> bool:
        return self.relay_mode == "wal"


@dataclass
class Progress:
    phase: str = "starting"
    produced: int = 0
    published: int = 0
    applied: int = 0
    kills: int = 0
    note: str = ""


Report = Callable[[Progress], None]


@dataclass
class _Worker:
    role: str
    index: int
    log: Path
    process: asyncio.subprocess.Process | None = None


@dataclass
class _Fleet:
    """The relay and consumer processes of one run, each restartable."""

    env: dict[str, str]
    folder: Path
    workers: list[_Worker] = field(default_factory=list)

    def command(self, role: str) -> list[str]:
        if role == "relay":
            return [sys.executable, "-m", "qulab", "outbox", "relay"]
        return [sys.executable, "-m", "qulab", "consume", "run", CONSUMER]

    async def start(self, worker: _Worker) -> None:
        with worker.log.open("ab") as log:
            worker.process = await asyncio.create_subprocess_exec(
                *self.command(worker.role),
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )

    async def add(self, role: str, count: int) -> None:
        for index in range(count):
            worker = _Worker(role, index, self.folder / f"{role}{index}.log")
            self.workers.append(worker)
            await self.start(worker)

    async def ready(self, within: float) -> None:
        """Wait until every process has said it runs (or one has died)."""
        async with asyncio.timeout(within):
            while not all(self._said_ready(w) for w in self.workers):
                for worker in self.workers:
                    if worker.process is not None and worker.process.returncode is not None:
                        tail = worker.log.read_text(errors="replace").strip().splitlines()[-1:]
                        said = tail[0] if tail else "nothing"
                        raise ServiceUnavailable(f"{worker.role} {worker.index} exited: {said}")
                await asyncio.sleep(0.05)

    def _said_ready(self, worker: _Worker) -> bool:
        return READY[worker.role] in worker.log.read_text(errors="replace")

    async def kill_and_restart(self, worker: _Worker) -> None:
        process = worker.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        await self.start(worker)

    async def stop(self) -> None:
        for worker in self.workers:
            process = worker.process
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            process = worker.process
            if process is None:
                continue
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def _environment(
    plan: ChaosPlan, database_url: str, namespace: BrokerNamespace, replica_urls: str = ""
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QULAB_")}
    if plan.wal:  # slot names are cluster-wide: the scratch database's own
        env |= {"QULAB_RELAY_MODE": "wal", "QULAB_RELAY_SLOT": database_url.rpartition("/")[2]}
    if replica_urls:  # relays repair invalidations with the position their commits reached
        env["QULAB_DATABASE_REPLICA_URLS"] = replica_urls
    return env | {
        "QULAB_DATABASE_URL": database_url,
        "QULAB_BROKER_URL": plan.broker,
        "QULAB_RELAY_INTERVAL": "0.2",
        "QULAB_RELAY_BACKOFF_BASE": "0.1",
        "QULAB_RELAY_BACKOFF_MAX": "1",
        "QULAB_RELAY_MAX_ATTEMPTS": "1000",
        "QULAB_CONSUMER_CLAIM_IDLE": "1",
        "QULAB_CONSUMER_ACK_WAIT": "3",
        "QULAB_CONSUMER_WAIT": "0.2",
        **namespace.settings,
    }


async def _produce(
    db: Database,
    plan: ChaosPlan,
    rng: random.Random,
    progress: Progress,
    replicas: ReplicaChaos | None = None,
) -> None:
    """Write ``plan.events`` events through the services, one transaction each, at ``rate``;
    with ``replicas``, the writer reads each rename back (``ReplicaChaos.check_own_write``)."""
    factory = uow_factory(db)
    live: list[str] = [] if replicas is None else replicas.live
    loop = asyncio.get_running_loop()
    started = loop.time()
    while progress.produced < plan.events:
        choice = rng.random()
        if not live or choice < 0.15:
            email = f"chaos{progress.produced}.{rng.getrandbits(32):08x}@example.com"
            create = parse(
                UserCreate,
                email=email,
                name=f"Chaos {progress.produced}",
                occupation_code="SW_ENG",
                education_level="bachelor",
                years_experience=float(rng.randint(0, 30)),
            )
            live.append((await create_user(create, factory)).id)
        elif choice < 0.22 and len(live) > 3:
            user_id = live.pop(rng.randrange(len(live)))
            await delete_user(parse(DeleteUser, user_id=user_id), factory)
        elif choice < 0.40:  # several events per user aggregate, so their order can be checked
            update = parse(UpdateUser, user_id=rng.choice(live), name=f"Chaos {progress.produced}")
            await update_user(update, factory)
            if replicas is not None:
                await replicas.check_own_write(update.user_id, f"Chaos {progress.produced}")
        else:
            command = parse(CalculateScore, user_id=rng.choice(live), occupation_code="SW_ENG")
            with contextlib.suppress(NotFound):
                await calculate_score(command, factory)
        progress.produced += 1
        ahead = started + progress.produced / plan.rate - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)


async def _kill_at_random(
    fleet: _Fleet, plan: ChaosPlan, rng: random.Random, progress: Progress, report: Report
) -> None:
    """K SIGKILLs at random moments over the production time (and a little after)."""
    span = plan.events / plan.rate + 2.0
    moments = sorted(rng.uniform(0.2, span) for _ in range(plan.kills))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for moment in moments:
        await asyncio.sleep(max(0.0, started + moment - loop.time()))
        worker = rng.choice(fleet.workers)
        await fleet.kill_and_restart(worker)
        progress.kills += 1
        progress.note = f"killed {worker.role} {worker.index} (SIGKILL), started it again"
        report(progress)


async def _counts(db: Database, plan: ChaosPlan) -> tuple[int, int, int]:
    """(events, published, applied by the consumer)."""
    if plan.wal:
        statuses = [status for _, status in (await event_positions(db, recorded=True)).values()]
        by_status = {EventStatus.PUBLISHED.value: statuses.count(EventStatus.PUBLISHED.value)}
        total = len(statuses)
    else:
        async with db.connect() as conn:
            by_status = await OutboxRepository(conn).count_by_status()
        total = sum(by_status.values())
    applied = (await inbox_counts(db)).get(CONSUMER, (0, 0))[0]
    return total, by_status.get(EventStatus.PUBLISHED.value, 0), applied


async def _settle(db: Database, plan: ChaosPlan, progress: Progress, report: Report) -> bool:
    """Wait until every event is published and applied; False after ``plan.timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.timeout
    while True:
        total, progress.published, progress.applied = await _counts(db, plan)
        report(progress)
        if total and progress.published == total and progress.applied == total:
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.25)


async def _watch(db: Database, plan: ChaosPlan, progress: Progress, report: Report) -> None:
    while True:
        _, progress.published, progress.applied = await _counts(db, plan)
        report(progress)
        await asyncio.sleep(0.5)


async def run_chaos(plan: ChaosPlan, settings: Settings, report: Report) -> ChaosReport:
    if plan.replicas:
        async with standbys(settings, plan.replicas) as source:
            return await _run(plan, source.settings, report, source)
    return await _run(plan, settings, report, None)


async def _run(
    plan: ChaosPlan, settings: Settings, report: Report, source: Standbys | None
) -> ChaosReport:
    rng = random.Random(plan.seed)
    progress = Progress()
    clock = time.monotonic()
    aggregate_types = ScoreSummaryProjection.aggregate_types
    namespace = broker_namespace(plan.broker, aggregate_types, "chaos")
    replicas: ReplicaChaos | None = None
    async with scratch_database(settings, "chaos") as url:
        db = open_database(settings.replace(database_url=url, broker_url=plan.broker))
        replica_urls = source.for_database(url) if source is not None else ()
        runtime = None
        if replica_urls:
            runtime = bootstrap(replica_settings(settings, url, replica_urls))
            replicas = ReplicaChaos(runtime, replica_urls, random.Random(plan.seed + 1))
        try:
            await namespace.prepare(CONSUMER)
            if plan.wal:
                await keep_record(db)
            with tempfile.TemporaryDirectory(prefix="qulab_chaos_") as folder:
                env = _environment(plan, url, namespace, ",".join(replica_urls))
                fleet = _Fleet(env, Path(folder))
                try:
                    progress.phase = "starting processes"
                    report(progress)
                    await fleet.add("relay", plan.relays)
                    await fleet.add("consumer", plan.consumers)
                    await fleet.ready(60)
                    progress.phase = "producing, killing"
                    watcher = asyncio.create_task(_watch(db, plan, progress, report))
                    readers = [asyncio.create_task(t) for t in replicas.tasks()] if replicas else []
                    try:
                        await asyncio.gather(
                            _produce(runtime.db if runtime else db, plan, rng, progress, replicas),
                            _kill_at_random(fleet, plan, rng, progress, report),
                        )
                    finally:
                        if replicas is not None:
                            replicas.stop.set()
                            await asyncio.gather(*readers)
                        watcher.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await watcher
                    progress.phase = "settling"
                    progress.note = ""
                    settled = await _settle(db, plan, progress, report)
                finally:
                    await fleet.stop()
            progress.phase = "verifying"
            report(progress)
            result = await verify(db, await namespace.read(), CONSUMER, recorded=plan.wal)
        finally:
            if runtime is not None:
                await runtime.close()
            await db.dispose()
            with contextlib.suppress(Exception):
                await namespace.remove()
    result.settled = settled
    result.kills = progress.kills
    result.relays, result.consumers, result.seed = plan.relays, plan.consumers, plan.seed
    result.relay_mode = plan.relay_mode
    result.broker = redact_url(plan.broker)
    result.scratch_database = url.rpartition("/")[2]
    result.scratch_namespace = namespace.name
    result.seconds = round(time.monotonic() - clock, 2)
    if replicas is not None:
        result.add_replica_reads(replicas.finish())
    return result
