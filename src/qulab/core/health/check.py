"""One line of ``qulab doctor``: a component, its status and what was found.

Every probe runs under ``bounded``: a time limit, and QuLab's own errors turned into a ``down``
line, so one component that hangs or fails never hides the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from qulab.core.errors import ConfigurationError, QulabError

log = logging.getLogger(__name__)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but worth a look (behind, idle, in-process only)
    SKIPPED = "skipped"  # could not be checked because something it needs is down
    DOWN = "down"  # cannot be reached: exit 1
    MISCONFIGURED = "misconfigured"  # the settings are wrong: exit 2


@dataclass(frozen=True)
class Check:
    component: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"status": str(self.status)}


def exit_code(checks: list[Check]) -> int:
    """2 when anything is misconfigured, else 1 when anything is down, else 0."""
    statuses = {check.status for check in checks}
    if Status.MISCONFIGURED in statuses:
        return 2
    return 1 if Status.DOWN in statuses else 0


async def bounded(component: str, probe: Awaitable[Check], within: float) -> Check:
    """``probe``'s line, or a ``down`` line when it fails or takes longer than ``within``."""
    try:
        async with asyncio.timeout(within):
            return await probe
    except TimeoutError:
        return Check(component, Status.DOWN, f"no answer within {within:g} s")
    except ConfigurationError as error:
        return Check(component, Status.MISCONFIGURED, str(error))
    except QulabError as error:
        return Check(component, Status.DOWN, str(error))
    except OSError as error:
        log.debug("%s check failed", component, exc_info=True)
        return Check(component, Status.DOWN, f"{type(error).__name__}: {error.strerror or error}")
    except Exception as error:  # a driver's own error: one line, and its text (which may quote
        # a URL with its password) only in the debug log
        log.debug("%s check failed", component, exc_info=True)
        return Check(component, Status.DOWN, f"the check failed: {type(error).__name__}")
