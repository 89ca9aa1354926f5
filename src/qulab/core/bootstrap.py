"""``bootstrap(application, settings)``: the one place the core's pieces are built and wired.

An application describes itself once (``Application``: its cache families, its unit of work,
its consumers, its migrations, its own bus handlers); the CLI, the lab app, the benchmarks and
the test fixtures all start here, so the database, the cache subscribed to its bus, and the
publisher are assembled the same way everywhere. ``_subscribe`` is the handler table: who
hears what after a commit. The pieces a command may not need (the broker's publisher, the
relay, the consumers and their broker clients) are imported when first built, so building a
runtime loads only the database and the cache. Tests inject a piece instead of having it built
(``engine=``, ``database=``, ``cache=``, ``publisher=``): what is injected stays the caller's to
close; what was built here is closed by ``Runtime.close()``. ``open_database`` and
``open_publisher`` serve what runs outside a runtime (a scratch database, a second broker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from qulab.core.bus import Handler, MessageBus
from qulab.core.cache import Cache, Family, build_cache
from qulab.core.config import Settings, get_settings
from qulab.core.db import Database, make_engine
from qulab.core.errors import InvalidInput
from qulab.core.events import Event
from qulab.core.migrate import Migrations
from qulab.core.uow import UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from qulab.core.consumers import Consumer
    from qulab.core.consumers import Handler as ConsumerHandler
    from qulab.core.outbox import Publisher
    from qulab.core.outbox.relay import Relay
    from qulab.core.recorders import ConsumerRecorder

log = logging.getLogger(__name__)


def build_publisher(url: str | None = None, settings: Settings | None = None) -> Publisher:
    """The outbox's ``build_publisher``, imported on first use (with the broker's client)."""
    from qulab.core.outbox.factory import build_publisher as build

    return build(url, settings)


def _no_families(settings: Settings) -> Sequence[Family[Any]]:
    return ()


@dataclass(frozen=True)
class Application:
    """What an application brings to the core, declared once.

    ``families`` builds its cache key families from the settings (their TTLs are settings);
    ``unit_of_work`` opens a unit with its repositories; ``consumers`` are the projections
    ``qulab consume run`` can run, by name; ``handlers`` are bus subscriptions of its own beyond
    the cache's invalidation, as (event class, handler, durable) rows.
    """

    name: str
    migrations: Migrations
    unit_of_work: Callable[[Database], UnitOfWork] = UnitOfWork
    families: Callable[[Settings], Sequence[Family[Any]]] = _no_families
    consumers: Mapping[str, Callable[[], ConsumerHandler]] = field(default_factory=dict)
    handlers: Sequence[tuple[type[Event], Handler, bool]] = ()


def _subscribe(application: Application, bus: MessageBus, cache: Cache) -> None:
    """The handler table: who hears what after each commit. The cache first: every event, to
    invalidate what it makes stale (durable when the cache is shared, so the relay repairs what
    a writer could not deliver); then the application's own handlers."""
    cache.subscribe(bus)
    for event_type, handler, durable in application.handlers:
        bus.subscribe(event_type, handler, durable=durable)


def _unsubscribe(application: Application, bus: MessageBus, cache: Cache) -> None:
    cache.unsubscribe(bus)
    for _, handler, _ in application.handlers:
        bus.unsubscribe(handler)


class Runtime:
    """The assembled runtime: settings, database, bus, cache and (built on first use) the
    publisher. Use it as ``async with bootstrap(app) as runtime:`` or call
    ``await runtime.close()``.

    The publisher is built lazily, once: only the relay and the outbox commands publish, and a
    command that never does should not fail on a broker it does not use.
    """

    def __init__(
        self,
        application: Application,
        settings: Settings,
        db: Database,
        cache: Cache,
        *,
        publisher: Publisher | None = None,
        owns_db: bool = True,
        owns_cache: bool = True,
        owns_publisher: bool = True,
    ) -> None:
        self.application = application
        self.settings = settings
        self.db = db
        self.cache = cache
        self._publisher = publisher
        self._owns_db = owns_db
        self._owns_cache = owns_cache
        self._owns_publisher = owns_publisher and publisher is None
        self.closed = False

    @property
    def bus(self) -> MessageBus:
        """The one message bus: units of work dispatch to it after commit, the relay replays
        its durable handlers, the cache's invalidation is subscribed to it."""
        return self.db.bus

    @property
    def publisher(self) -> Publisher:
        """The broker named by the broker settings (built on first use, then reused)."""
        if self._publisher is None:
            self._publisher = build_publisher(settings=self.settings)
        return self._publisher

    def uow(self) -> UnitOfWork:
        """A new unit of work on this runtime's database (the factory services are given)."""
        return self.application.unit_of_work(self.db)

    def relay(self, **options: Any) -> Relay:
        """A relay on this database publishing through this runtime's publisher (which the
        runtime, not the relay, closes), of the mode ``QULAB_RELAY_MODE`` asks for (polling or
        log-tailing). ``options`` are Relay's keyword arguments."""
        from qulab.core.outbox.modes import relay_for

        return relay_for(self.db, self.publisher, **options)

    def consumer(
        self,
        name: str,
        *,
        broker: str | None = None,
        group: str | None = None,
        wait: float | None = None,
        metrics: ConsumerRecorder | None = None,
    ) -> Consumer:
        """The application's consumer ``name`` reading ``broker`` (the configured one by
        default) as consumer group ``group`` (its name by default), with the consumer settings.
        The group is the consumer's identity: its inbox rows are kept under the group's name,
        so another group applies every event again and counts its own. Its source is the
        caller's to close (``await consumer.source.close()``)."""
        from qulab.core.consumers import Consumer, build_source

        factory = self.application.consumers.get(name)
        if factory is None:
            known = ", ".join(sorted(self.application.consumers)) or "none"
            raise InvalidInput("consumer", f"no consumer named {name!r} (known: {known})")
        handler = factory()
        group = group or handler.name
        source = build_source(
            broker,
            self.settings,
            group=group,
            aggregate_types=handler.aggregate_types,
        )
        config = self.settings.consumer
        return Consumer(
            self.db,
            source,
            handler,
            name=group,  # the inbox keeps its rows under the group
            group=group,
            batch_size=config.batch_size,
            wait=config.wait if wait is None else wait,
            metrics=metrics,
        )

    async def close(self) -> None:
        """Unsubscribe the cache, then close what was built here: cache, publisher, engine
        (the engine last, so a cache or publisher closing never finds the pool gone).
        Idempotent."""
        if self.closed:
            return
        self.closed = True
        _unsubscribe(self.application, self.bus, self.cache)
        try:
            if self._owns_cache:
                await self.cache.close()
            if self._owns_publisher and self._publisher is not None:
                try:
                    await self._publisher.close()
                except Exception:
                    log.warning("closing the publisher failed", exc_info=True)
        finally:
            if self._owns_db:
                await self.db.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def open_database(settings: Settings, *, null_pool: bool = False) -> Database:
    """A database of its own for ``settings``, outside any runtime (a scratch database, a pool
    experiment, a health check): the caller disposes it. ``null_pool`` opens a connection per
    checkout instead of pooling them."""
    engine = make_engine(settings, null_pool=True) if null_pool else None
    return Database(settings, engine=engine)


def open_publisher(settings: Settings, url: str | None = None) -> Publisher:
    """A publisher of its own to ``url`` (the configured broker by default): the caller
    closes it."""
    return build_publisher(url, settings)


def bootstrap(
    application: Application,
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    database: Database | None = None,
    cache: Cache | None = None,
    publisher: Publisher | None = None,
) -> Runtime:
    """Build ``application``'s runtime once for ``settings`` (the process settings by default).

    The database gets ``engine`` if given (else one built from ``settings.database``); the cache
    is ``cache`` or the one ``settings.cache`` names (Redis, or the in-process store) holding
    the application's families; the handler table is subscribed to the database's bus, so every
    commit invalidates what it changed. Nothing
    connects yet: engines, Redis clients and brokers open connections on first use. Call it
    on the event loop that will use the pieces (async clients belong to the loop they run on).
    """
    settings = settings or get_settings()
    if database is not None and engine is not None:
        raise ValueError("pass either engine= or database=, not both")
    db = database or Database(settings, engine=engine)
    built_cache = cache or build_cache(settings, application.families(settings))
    _subscribe(application, db.bus, built_cache)
    return Runtime(
        application,
        settings,
        db,
        built_cache,
        publisher=publisher,
        owns_db=database is None,
        owns_cache=cache is None,
        owns_publisher=publisher is None,
    )
