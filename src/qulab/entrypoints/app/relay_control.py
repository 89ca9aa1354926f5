"""The background event publisher: qulab's Relay running as a task on the app loop.

One controller per server process (``st.cache_resource``): "Start" in any browser session
starts the relay, every session sees it running, and it keeps running across reruns until
"Stop" (which lets the current batch finish). On SQLite the relay holds the single-relay file
lock while it runs; the controller takes it before starting, so a second relay (another
server, or ``qulab outbox relay``) is refused at once, and gives it back when the relay ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from qulab.core import ConflictError, Database, RelayRecorder, Settings, utcnow
from qulab.core.outbox import OutboxMessage, PassResult, Publisher, Relay, RetryPolicy
from qulab.entrypoints.app import cache_resource, runtime
from qulab.entrypoints.app.background import BackgroundTask, Work, release
from qulab.entrypoints.app.broker import LabBroker, broker_key, lab_broker
from qulab.entrypoints.app.errors import PublisherAlreadyRunning
from qulab.entrypoints.app.loop import LoopThread
from qulab.entrypoints.app.metrics import app_metrics

log = logging.getLogger(__name__)

RELEASE_TIMEOUT = 15.0
LAB_BACKOFF_CAP = 5.0
MAX_PUBLISH_DELAY = 5.0


def lab_retry_policy(settings: Settings) -> RetryPolicy:
    """The configured retry policy with its backoff capped at a few seconds, so a recovered
    broker drains the backlog while the learner watches."""
    policy = RetryPolicy.from_settings(settings)
    return RetryPolicy(
        max_attempts=policy.max_attempts,
        base=min(policy.base, LAB_BACKOFF_CAP),
        cap=min(policy.cap, LAB_BACKOFF_CAP),
        jitter=policy.jitter,
    )


class LabRelay(Relay):
    """A Relay that also counts its passes and remembers the last error, for the status panel.

    ``publish_delay`` seconds pass between claiming a batch and publishing it, so a learner can
    watch the batch's events stay pending (0 by default; ``stop()`` cuts the wait short)."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        policy: RetryPolicy,
        metrics: RelayRecorder | None = None,
    ) -> None:
        super().__init__(db, publisher, policy=policy, metrics=metrics, before_publish=self._hold)
        self.passes = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_pass_at: datetime | None = None
        self.publish_delay = 0.0

    async def _hold(self, messages: list[OutboxMessage]) -> None:
        delay = self.publish_delay
        if delay > 0 and not self.stopping:
            log.info("holding %d claimed events %.1f s before publishing", len(messages), delay)
            await self.pause(delay)

    def _failed(self, error: str) -> None:
        self.last_error = error
        self.last_error_at = utcnow()

    async def publish_pending(self, max_batches: int | None = None) -> PassResult:
        try:
            result = await super().publish_pending(max_batches)
        except Exception as error:
            self._failed(str(error))
            raise
        finally:
            self.passes += 1
            self.last_pass_at = utcnow()
        if result.outage:
            self._failed(result.outage)
        return result


@dataclass(frozen=True)
class RelayStatus:
    running: bool
    passes: int
    published: int
    retried: int
    dead: int
    started_at: datetime | None
    stopped_at: datetime | None
    last_pass_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    broker_down: bool


class RelayController:
    """Start and stop one background relay on the app loop; thread-safe."""

    def __init__(
        self,
        db: Database,
        broker: LabBroker,
        loop: LoopThread,
        metrics: RelayRecorder | None = None,
    ) -> None:
        self.db = db
        self.broker = broker
        self.metrics = metrics
        self.task: BackgroundTask[PassResult] = BackgroundTask(
            loop, name="qulab-lab-relay", label="the lab's event publisher", timeout=RELEASE_TIMEOUT
        )
        self._relay: LabRelay | None = None
        self._publish_delay = 0.0

    @property
    def publish_delay(self) -> float:
        """Seconds the relay holds each claimed batch before publishing it (0 to 5)."""
        return self._publish_delay

    def set_publish_delay(self, seconds: float) -> None:
        """Set the delay for the running relay's next batch and every relay started later."""
        self._publish_delay = min(max(float(seconds), 0.0), MAX_PUBLISH_DELAY)
        relay = self._relay
        if relay is not None:
            relay.publish_delay = self._publish_delay

    @property
    def running(self) -> bool:
        return self.task.running

    def start(self) -> bool:
        """Start the relay; False when it already runs here. Raises PublisherAlreadyRunning
        when another relay holds this SQLite database's outbox."""
        return self.task.start(self._relay_work)

    def _relay_work(self) -> Work[PassResult]:
        policy = lab_retry_policy(self.db.settings)
        relay = LabRelay(self.db, self.broker.switch, policy, self.metrics)
        relay.publish_delay = self._publish_delay
        try:
            relay.guard.acquire()
        except ConflictError as error:
            raise PublisherAlreadyRunning(str(error)) from None
        self._relay = relay

        async def release() -> None:
            relay.guard.release()

        return Work(relay.run, relay.stop, release)

    def stop(self, timeout: float = RELEASE_TIMEOUT) -> bool:
        """Ask the relay to stop after its current batch and wait for it; False if not running."""
        return self.task.stop(timeout)

    def status(self) -> RelayStatus:
        relay = self._relay
        last_error = self.task.crash or (relay.last_error if relay else None)
        return RelayStatus(
            running=self.running,
            passes=relay.passes if relay else 0,
            published=relay.totals.published if relay else 0,
            retried=relay.totals.retried if relay else 0,
            dead=relay.totals.dead if relay else 0,
            started_at=self.task.started_at,
            stopped_at=self.task.stopped_at,
            last_pass_at=relay.last_pass_at if relay else None,
            last_error=last_error,
            last_error_at=relay.last_error_at if relay else None,
            broker_down=self.broker.outage,
        )


@st.cache_resource(show_spinner=False, max_entries=4, on_release=release)
def _controller(
    key: str,
    loop_id: int,
    _loop: LoopThread,
    _db: Database,
    _broker: LabBroker,
    _metrics: RelayRecorder | None,
) -> RelayController:
    return RelayController(_db, _broker, _loop, _metrics)


def relay_controller(settings: Settings, db: Database) -> RelayController:
    """The process-wide background relay controller for these settings. With Redis
    configured the lab's cache is subscribed to ``db``'s bus first, so the relay repairs the
    invalidations of every batch it publishes. With the app's metrics on, the relay reports
    to them."""
    if settings.cache.redis_url:
        cache_resource.lab_cache(settings, db)
    loop = runtime.event_loop()
    broker = lab_broker(settings)
    metrics = app_metrics(settings)
    key = f"{id(db)}|{broker_key(settings)}|{id(metrics)}"
    return _controller(key, id(loop), loop, db, broker, None if metrics is None else metrics.relay)


def broker_state_line(settings: Settings, db: Database) -> str:
    """The sidebar's live broker line: kind and address, outage switch, relay state."""
    try:
        controller = relay_controller(settings, db)
    except Exception as error:
        return f":red[unavailable ({type(error).__name__}: {error})]"
    broker = controller.broker
    outage = ":red[outage on]" if broker.outage else "outage off"
    relay = ":green[publisher running]" if controller.running else "publisher stopped"
    return f"{broker.kind} `{broker.switch.inner.description}` · {outage} · {relay}"
