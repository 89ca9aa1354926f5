from __future__ import annotations

import importlib

import qulab


def test_public_names_are_unique_and_importable() -> None:
    names = qulab.__all__  # ruff (RUF022) keeps it sorted
    assert len(set(names)) == len(names)
    module = importlib.import_module("qulab")
    for name in names:
        assert getattr(module, name) is not None


def test_the_seed_names_are_public() -> None:
    for name in (
        "UserRepository",
        "CachedUserRepository",
        "DomainEventRepository",
        "calculate_and_store_airscore",
        "create_sample_airscore",
        "run_db_setup_and_create_user",
        "event_publisher",
    ):
        assert name in qulab.__all__
    for method in (
        "get_by_id",
        "get_by_email",
        "create",
        "get_latest_score",
        "get_user_with_scores_eager",
        "get_all_users_with_scores_eager",
    ):
        assert callable(getattr(qulab.UserRepository, method))
    for method in ("get_by_id_cached", "get_latest_score_cached", "invalidate_user_cache"):
        assert callable(getattr(qulab.CachedUserRepository, method))
    for method in ("add", "get_pending_events", "mark_as_published"):
        assert callable(getattr(qulab.DomainEventRepository, method))


def test_the_seed_names_live_in_one_place_and_are_the_public_ones() -> None:
    from qulab import seed_names
    from qulab.core.outbox.repository import OutboxRepository

    assert seed_names.DomainEventRepository is OutboxRepository
    for name in seed_names.__all__:
        assert getattr(qulab, name) is getattr(seed_names, name), name
