"""Keys of what a browser session remembers between pages (ids only; data stays in the database)."""

from typing import Any

CREATED_USER_ID = "created_user_id"
SAMPLE_USER_IDS = "sample_user_ids"
CREATED_USER_IDS = "created_user_ids"


def remember_created(state: Any, user_id: str) -> None:
    """Remember a user the learner created (the latest first), for every later picker."""
    state[CREATED_USER_ID] = user_id
    earlier = [uid for uid in state.get(CREATED_USER_IDS, []) if uid != user_id]
    state[CREATED_USER_IDS] = [user_id, *earlier]


def created_ids(state: Any) -> list[str]:
    """The users the learner created in this session, the latest first."""
    ids = list(state.get(CREATED_USER_IDS, []))
    last = state.get(CREATED_USER_ID)
    if last and last not in ids:
        ids.insert(0, last)
    return ids
