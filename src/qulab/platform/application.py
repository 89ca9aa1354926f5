"""InnovateAI's AI-R platform as an application of the core, declared once, and its bootstrap.

``PLATFORM`` names what the platform brings: its migrations, its unit of work (users, scores,
assessments), its cache families (``user``, ``latest_airscore``) and the consumers ``qulab
consume`` can run. ``bootstrap(settings)`` builds its runtime with the core's one assembly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qulab.core.bootstrap import Application, Runtime
from qulab.core.bootstrap import bootstrap as assemble
from qulab.platform.cache import families
from qulab.platform.migrate import MIGRATIONS
from qulab.platform.uow import PlatformUnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from qulab.core.cache import Cache
    from qulab.core.config import Settings
    from qulab.core.db import Database
    from qulab.core.outbox import Publisher
    from qulab.platform.projection import ScoreSummaryProjection

SCORE_SUMMARY = "score-summary"  # ScoreSummaryProjection.name


def _score_summary() -> ScoreSummaryProjection:
    """The projection, imported when a consumer runs it (not by every command that bootstraps)."""
    from qulab.platform.projection import ScoreSummaryProjection

    return ScoreSummaryProjection()


PLATFORM = Application(
    name="ai-readiness",
    migrations=MIGRATIONS,
    unit_of_work=PlatformUnitOfWork,
    families=families,
    consumers={SCORE_SUMMARY: _score_summary},
)


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    database: Database | None = None,
    cache: Cache | None = None,
    publisher: Publisher | None = None,
) -> Runtime:
    """The platform's runtime for ``settings`` (see ``qulab.core.bootstrap.bootstrap``)."""
    return assemble(
        PLATFORM, settings, engine=engine, database=database, cache=cache, publisher=publisher
    )
