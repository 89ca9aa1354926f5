"""The README's configuration table names exactly the settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import qulab.platform.settings  # noqa: F401  (declares the platform's settings group)
from qulab.core.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| variable | default | meaning |"


def _table_cells(readme: str) -> list[str]:
    """The first cell of each row of the table under "## Configuration"."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    lines = section.split(f"\n{HEADER}\n", 1)[1].splitlines()
    assert re.fullmatch(r"\|(-+\|)+", lines[0]), lines[0]
    rows = []
    for line in lines[1:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1].strip())
    return rows


def _variables(cell: str) -> list[str]:
    """``QULAB_A_B`` / ``_C`` names ``QULAB_A_B`` and ``QULAB_A_C``."""
    names = [part.strip().strip("`") for part in cell.split(" / ")]
    first = names[0]
    stem = first.rsplit("_", 1)[0]
    return [first] + [stem + name if name.startswith("_") else name for name in names[1:]]


def _documented() -> list[str]:
    cells = _table_cells(README.read_text(encoding="utf-8"))
    return [variable for cell in cells for variable in _variables(cell)]


def test_a_row_may_name_several_variables_and_shorten_the_later_ones() -> None:
    assert _variables("`QULAB_CACHE_USER_TTL` / `QULAB_CACHE_SCORE_TTL`") == [
        "QULAB_CACHE_USER_TTL",
        "QULAB_CACHE_SCORE_TTL",
    ]
    assert _variables("`QULAB_RELAY_BACKOFF_BASE` / `_MAX` / `_JITTER`") == [
        "QULAB_RELAY_BACKOFF_BASE",
        "QULAB_RELAY_BACKOFF_MAX",
        "QULAB_RELAY_BACKOFF_JITTER",
    ]


def test_the_table_is_read_to_its_last_row() -> None:
    readme = f"## Configuration\n\ntext\n\n{HEADER}\n|---|---|---|\n| `QULAB_A` | 1 | a |\n"
    readme += "| `QULAB_B_C` / `_D` | 2 | b |\n\n### More\n\n| `QULAB_E` | 3 | e |\n"
    cells = _table_cells("intro\n" + readme)
    assert [variable for cell in cells for variable in _variables(cell)] == [
        "QULAB_A",
        "QULAB_B_C",
        "QULAB_B_D",
    ]


def test_the_readme_names_every_setting_once_and_nothing_else() -> None:
    documented = _documented()
    assert len(documented) == len(set(documented)), "a variable is listed twice"
    # The core's settings and the platform's own (its group is declared once it is imported).
    declared = {name for name in Settings.variables() if name.startswith("QULAB_")}
    assert {"QULAB_CACHE_USER_TTL", "QULAB_POOL_SIZE"} <= declared
    assert declared - set(documented) == set(), "settings missing from the README"
    assert set(documented) - declared == set(), "the README names settings that do not exist"
