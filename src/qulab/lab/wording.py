"""Counts as people read them: "1 statement", "2 statements"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless the count is exactly one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
