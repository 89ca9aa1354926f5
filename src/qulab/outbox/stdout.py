"""``stdout://``: every message as one JSON line, for piping into other tools."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

from qulab.outbox.message import OutboxMessage
from qulab.outbox.publisher import Failures


class StdoutPublisher:
    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    @property
    def description(self) -> str:
        return "stdout://"

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        stream = self._stream or sys.stdout.buffer
        stream.write(b"".join(message.to_json() + b"\n" for message in messages))
        stream.flush()
        return {}

    async def close(self) -> None:
        return None
