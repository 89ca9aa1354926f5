"""The platform's own settings: how long its cached reads live.

The core's cache settings say where entries go and how the cache behaves; how long a user or a
latest score may be served from it is the platform's to say. Read with
``settings.group(PlatformCacheSettings)``.
"""

from __future__ import annotations

from pydantic import Field

from qulab.core import SettingsGroup


class PlatformCacheSettings(SettingsGroup):
    """Lifetimes of the platform's cache families, in seconds (``QULAB_CACHE_USER_TTL``,
    ``QULAB_CACHE_SCORE_TTL``), each spread by the cache's ``QULAB_CACHE_TTL_JITTER``."""

    env_prefix = "QULAB_CACHE_"

    user_ttl: int = Field(3600, ge=1)
    score_ttl: int = Field(300, ge=1)
