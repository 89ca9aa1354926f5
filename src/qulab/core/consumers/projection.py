"""``Projection``: a consumer handler whose methods are registered per event class.

A method marked ``@handles(SomeEvent)`` is called with the connection (inside the inbox's
transaction), the typed event and its delivery, for every delivered event of that class (a
subclass matches). The delivery is read back into its typed event through the core's event
registry; an event no method handles is recorded in the inbox and changes nothing else::

    class Sales(Projection):
        name = "sales"
        aggregate_types: tuple[str, ...] = ("Order",)

        @handles(OrderPlaced)
        async def placed(self, conn, event: OrderPlaced, delivery: Delivery) -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from qulab.core.consumers.delivery import Delivery
from qulab.core.events import Event, from_wire

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__qulab_handles__"


def handles(*kinds: type[Event]) -> Callable[[F], F]:
    """Register the decorated method of a ``Projection`` for events of these classes."""
    if not kinds:
        raise TypeError("handles() needs at least one event class")

    def mark(method: F) -> F:
        setattr(method, _MARK, kinds)
        return method

    return mark


class Projection:
    """Base of a consumer handler (``qulab.core.consumers.Handler``) dispatching by event
    class. Subclasses set ``name`` (the consumer, and its inbox's key) and
    ``aggregate_types`` (the streams or subjects it reads)."""

    name: str
    aggregate_types: tuple[str, ...]
    _handlers: ClassVar[tuple[tuple[type[Event], str], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[type[Event], str] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                for kind in getattr(value, _MARK, ()):
                    found[kind] = attribute
        cls._handlers = tuple(found.items())

    async def apply(self, conn: AsyncConnection, delivery: Delivery) -> None:
        event = from_wire(
            delivery.type, delivery.aggregate_type, delivery.aggregate_id, delivery.payload
        )
        for kind, attribute in self._handlers:
            if isinstance(event, kind):
                await getattr(self, attribute)(conn, event, delivery)
                return
