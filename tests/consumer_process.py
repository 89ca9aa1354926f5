"""A consumer process that dies the worst way: SIGKILL after its first batch committed, before
the ack. ``python -m tests.consumer_process GROUP`` with QULAB_* settings in the environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from qulab.core.config import load_settings
from qulab.core.consumers import Consumer, Delivery, apply_once, build_source
from qulab.core.db import Database
from qulab.platform.projection import ScoreSummaryProjection


class DiesBeforeAck(Consumer):
    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            await apply_once(self.db, self.name, delivery, self.handler.apply)
        sys.stderr.write(f"committed {len(deliveries)}, dying before the ack\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


async def main(group: str) -> None:
    settings = load_settings()
    db = Database(settings)
    handler = ScoreSummaryProjection()
    source = build_source(None, settings, group=group, aggregate_types=handler.aggregate_types)
    await DiesBeforeAck(db, source, handler, batch_size=1000, wait=5).run_once()
    sys.stderr.write("nothing to consume\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
