"""requirements/constraints.txt pins what pyproject.toml asks for, and is refreshed whenever
pyproject's dependency lists change (its header records their hash)."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _lock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qulab_lock", ROOT / "requirements" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lock = _lock_module()


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names = [*project["dependencies"], *(r for name in lock.EXTRAS for r in extras[name])]
    return [Requirement(text) for text in names]


def test_the_lock_was_refreshed_after_the_last_dependency_change() -> None:
    assert lock.recorded_hash() == lock.dependency_hash(), (
        "pyproject.toml's dependencies changed: run `make lock` and commit "
        "requirements/constraints.txt"
    )


def test_every_direct_dependency_is_pinned_within_its_range() -> None:
    pinned = lock.pins()
    for requirement in _requirements():
        version = pinned.get(lock.canonical(requirement.name))
        assert version is not None, f"{requirement.name} is not in the lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} is outside {requirement.specifier}"
        )


def test_the_lock_holds_only_exact_pins_and_not_the_project_itself() -> None:
    lines = [
        line for line in lock.LOCK.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[a-z0-9-]+==[^\s]+", line) for line in lines)
    assert "qulab" not in lock.pins()


def test_a_changed_dependency_list_changes_the_hash_and_nothing_else_does(tmp_path: Path) -> None:
    original = (ROOT / "pyproject.toml").read_text()
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(original.replace('description = "', 'description = "Renamed. ', 1))
    added = tmp_path / "added.toml"
    added.write_text(original.replace('"orjson>=', '"extra-package>=1",\n    "orjson>=', 1))

    assert lock.dependency_hash(renamed) == lock.dependency_hash()
    assert lock.dependency_hash(added) != lock.dependency_hash()


def test_check_mode_exits_1_in_one_line_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock.main(["--check"]) == 0
    stale = tmp_path / "constraints.txt"
    stale.write_text(lock.LOCK.read_text().replace(lock.dependency_hash(), "0" * 64))
    monkeypatch.setattr(lock, "LOCK", stale)
    monkeypatch.setattr(lock, "ROOT", tmp_path)

    assert lock.main(["--check"]) == 1
    assert capsys.readouterr().err == "constraints.txt is stale: run `make lock`\n"
