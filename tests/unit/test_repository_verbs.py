"""Repositories share one set of verbs; the codelab's spellings are aliases, not second copies."""

from __future__ import annotations

import inspect

from qulab.platform.repositories import AssessmentRepository, ScoreRepository, UserRepository


def public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if name[0] != "_"}


def test_user_repository_speaks_the_common_verbs() -> None:
    assert {"get", "get_one_or_none", "list", "count", "add", "update", "delete"} <= (
        public_methods(UserRepository)
    )


def test_score_and_assessment_repositories_list_by_user() -> None:
    assert {"add", "list", "get_latest_or_none"} <= public_methods(ScoreRepository)
    assert {"add", "get", "list"} <= public_methods(AssessmentRepository)
    assert not {"for_user", "latest"} & public_methods(ScoreRepository)
    assert not {"for_user", "start"} & public_methods(AssessmentRepository)


def test_seed_names_are_aliases_of_the_verbs() -> None:
    assert UserRepository.get_by_id is UserRepository.get_one_or_none
    assert UserRepository.create is UserRepository.add
