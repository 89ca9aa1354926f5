"""``stdout://``: every message as one JSON line, for piping into other tools.

Lines often end up on a terminal, so control and bidi characters inside them are written as
JSON ``\\u`` escapes (qulab.core.control_chars.visible_json): the decoded values are unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

from qulab.core.control_chars import visible_json
from qulab.core.outbox.message import OutboxMessage
from qulab.core.outbox.publisher import Failures


class StdoutPublisher:
    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    @property
    def description(self) -> str:
        return "stdout://"

    async def publish(self, messages: Sequence[OutboxMessage]) -> Failures:
        stream = self._stream or sys.stdout.buffer
        lines = (visible_json(message.to_json().decode()) + "\n" for message in messages)
        stream.write("".join(lines).encode())
        stream.flush()
        return {}

    async def close(self) -> None:
        return None
