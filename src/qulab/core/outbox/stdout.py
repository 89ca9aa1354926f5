"""``stdout://``: every message as one JSON line, for piping into other tools.

Lines often end up on a terminal, so control and bidi characters inside them are written as
JSON ``\\u`` escapes (qulab.core.control_chars.visible_json): the decoded values are unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

from qulab.core.control_chars import visible_json
from qulab.core.outbox import cloudevents
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures


class StdoutPublisher:
    def __init__(
        self,
        stream: BinaryIO | None = None,
        *,
        event_format: str = "qulab",
        event_source: str = "/qulab",
    ) -> None:
        self._stream = stream
        self.event_format = event_format
        self.event_source = event_source

    def line(self, message: OutboxMessage) -> str:
        """The message as JSON: its fields, or a structured CloudEvent."""
        if self.event_format == "cloudevents":
            return cloudevents.structured(message, self.event_source).decode()
        return message.to_json().decode()

    @property
    def description(self) -> str:
        return "stdout://"

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        stream = self._stream or sys.stdout.buffer
        lines = (visible_json(self.line(message)) + "\n" for message in messages)
        stream.write("".join(lines).encode())
        stream.flush()
        return {}

    async def close(self) -> None:
        return None
