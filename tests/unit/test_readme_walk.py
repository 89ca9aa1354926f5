"""The README's walk of one write names at most six files, each one the code really uses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEP = re.compile(r"^\d\. `(?P<path>src/[\w/]+\.py)`(?: `(?P<name>\w+)`)?", re.M)


def walk() -> list[tuple[str, str | None]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Follow one write.**", 1)[1].split("\n\n", 2)[1]
    return [(m["path"], m["name"]) for m in STEP.finditer(section)]


def test_the_walk_names_at_most_six_files() -> None:
    steps = walk()
    assert 4 <= len(steps) <= 6
    assert len({path for path, _ in steps}) == len(steps)


def test_every_file_of_the_walk_exists_and_defines_what_it_names() -> None:
    for path, name in walk():
        source = (ROOT / path).read_text(encoding="utf-8")
        if name is not None:
            assert re.search(rf"^\s*(async )?def {name}\b", source, re.M), f"{path}: no {name}"


def test_the_walk_follows_the_calls_the_code_makes() -> None:
    sources = {path: (ROOT / path).read_text(encoding="utf-8") for path, _ in walk()}
    command = sources["src/qulab/entrypoints/cli/users.py"]
    assert "update_user(" in command
    service = sources["src/qulab/platform/services/users.py"]
    assert "UserUpdated(" in service and "work.commit()" in service
    assert "bus.dispatch(" in sources["src/qulab/core/uow.py"]
    assert (
        "invalidated_by" in sources["src/qulab/platform/cache.py"]
        or "Family(" in sources["src/qulab/platform/cache.py"]
    )
    assert "replay(" in sources["src/qulab/core/outbox/relay.py"]
