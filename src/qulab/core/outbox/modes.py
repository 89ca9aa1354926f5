"""Which relay runs: the polling one, or the log-tailing one (``QULAB_RELAY_MODE``)."""

from __future__ import annotations

from typing import Any

from qulab.core.db import Database
from qulab.core.errors import ConfigurationError
from qulab.core.outbox.publisher import Publisher
from qulab.core.outbox.relay import Relay


def relay_for(db: Database, publisher: Publisher, **options: Any) -> Relay:
    """The relay ``QULAB_RELAY_MODE`` asks for on ``db``: ``polling`` (the default, and the only
    mode on SQLite) or ``wal`` (PostgreSQL with ``wal_level=logical``). ``options`` are
    ``Relay``'s keyword arguments."""
    if db.settings.relay.mode != "wal":
        return Relay(db, publisher, **options)
    if db.dialect != "postgresql":
        raise ConfigurationError(
            "QULAB_RELAY_MODE=wal needs PostgreSQL (it tails the write-ahead log); "
            "on SQLite the relay polls: unset QULAB_RELAY_MODE"
        )
    from qulab.core.outbox.wal_relay import WalRelay

    return WalRelay(db, publisher, **options)
