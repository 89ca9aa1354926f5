"""The codelab's names, kept callable so its text stays true.

The codelab introduced these names before the code grew its own; they are the contract in
ARCHITECTURE.md ("Seed names"). This module is the one place that says where each lives. Most are
the implementation itself; the rest are thin aliases of the repositories' common verbs (``get``
raises NotFound, ``get_one_or_none``, ``list``, ``count``, ``add``, ``update``, ``delete``):

==============================================================  ====================================
seed name                                                       implementation
==============================================================  ====================================
``UserRepository.get_by_id``                                    alias of ``get_one_or_none``
``UserRepository.create``                                       alias of ``add``
``UserRepository.get_latest_score``                             ``ScoreRepository``
                                                                ``.get_latest_or_none``
``UserRepository.get_by_email / get_user_with_scores_eager /``  ``qulab.platform.repositories``
``get_all_users_with_scores_eager``
``CachedUserRepository.get_by_id_cached /``                     ``.value`` of ``fetch_user`` /
``get_latest_score_cached``                                     ``fetch_latest_score``
``CachedUserRepository.invalidate_user_cache``                  ``qulab.platform.cache``
``DomainEventRepository.add / get_pending_events /``            ``qulab.core.outbox.repository``
``mark_as_published``                                           (``OutboxRepository``)
``calculate_and_store_airscore``                                ``qulab.platform.services.scoring``
``create_sample_airscore``, ``run_db_setup_and_create_user``    ``qulab.lab``
``event_publisher``                                             ``qulab.core.outbox.relay``
==============================================================  ====================================

``DomainEventRepository(session).mark_as_published`` and the relay run the same statement, so a
row marked either way looks the same: published, one more attempt, no retry scheduled.
"""

from __future__ import annotations

from qulab.core.outbox.relay import event_publisher
from qulab.core.outbox.repository import OutboxRepository
from qulab.lab import create_sample_airscore, run_db_setup_and_create_user
from qulab.platform.cache import CachedUserRepository
from qulab.platform.repositories import UserRepository
from qulab.platform.services.scoring import calculate_and_store_airscore

DomainEventRepository = OutboxRepository
"""The codelab's name for the outbox repository (same class, same methods)."""

__all__ = [
    "CachedUserRepository",
    "DomainEventRepository",
    "UserRepository",
    "calculate_and_store_airscore",
    "create_sample_airscore",
    "event_publisher",
    "run_db_setup_and_create_user",
]
