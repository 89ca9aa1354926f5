"""The README's walk through the lab names the buttons the app shows, by their labels."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import qulab.entrypoints.app as app_package

ROOT = Path(__file__).resolve().parents[2]
QUOTED = re.compile(r"“([^”]+)”")


def _lab_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## The lab", 1)[1].split("\n## ", 1)[0]


def _app_labels() -> set[str]:
    """Every module-level string of the app's modules (labels resolved, f-strings included)."""
    labels: set[str] = set()
    for info in pkgutil.walk_packages(app_package.__path__, app_package.__name__ + "."):
        if info.name.endswith(".main"):
            continue
        module = importlib.import_module(info.name)
        labels |= {value for name, value in vars(module).items() if name.endswith("_LABEL")}
    return labels


def test_every_button_the_lab_section_names_is_labelled_so_in_the_app() -> None:
    named = QUOTED.findall(_lab_table())
    assert len(named) >= 12
    assert sorted(set(named) - _app_labels()) == []
