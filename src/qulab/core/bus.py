"""The message bus: in-process handlers for the events a committed unit of work recorded.

Handlers are registered per event class (a subclass matches too) and run in registration
order, each once per dispatch with the matching events of that commit, so a handler can act on
a whole batch at once (one cache round for many users). They run only after the commit has
succeeded; a handler that fails is logged and never undoes the commit or stops the next one.

A handler registered as ``durable`` is idempotent and is applied again by the relay to every
batch it publishes: the repair path when the writer could not deliver it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from qulab.core.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Event]], Awaitable[None]]


@dataclass(frozen=True)
class _Subscription:
    event_type: type[Event]
    handler: Handler
    durable: bool


class MessageBus:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def subscribe(
        self, event_type: type[Event], handler: Handler, *, durable: bool = False
    ) -> None:
        """Run ``handler`` after each commit that recorded ``event_type`` events (registering
        the same handler for the same type twice changes nothing)."""
        subscription = _Subscription(event_type, handler, durable)
        if subscription not in self._subscriptions:
            self._subscriptions.append(subscription)

    def unsubscribe(self, handler: Handler) -> None:
        self._subscriptions = [s for s in self._subscriptions if s.handler != handler]

    def handlers(self, *, durable_only: bool = False) -> list[Handler]:
        return [s.handler for s in self._subscriptions if s.durable or not durable_only]

    async def dispatch(self, events: Sequence[Event]) -> None:
        """Hand committed events to every matching handler, in registration order."""
        await self._run(events, durable_only=False)

    async def replay(self, events: Sequence[Event]) -> None:
        """Apply only the durable (idempotent) handlers, as the relay does after publishing."""
        await self._run(events, durable_only=True)

    async def _run(self, events: Sequence[Event], *, durable_only: bool) -> None:
        if not events:
            return
        for subscription in list(self._subscriptions):
            if durable_only and not subscription.durable:
                continue
            matching = [e for e in events if isinstance(e, subscription.event_type)]
            if not matching:
                continue
            try:
                await subscription.handler(matching)
            except Exception:
                log.exception(
                    "handler %r failed for %d event(s); the commit stands",
                    subscription.handler,
                    len(matching),
                )
