"""Characters that must never reach a terminal or a page as themselves.

C0 controls (NUL, ESC, CR...), DEL and C1 controls can move the cursor, recolour or clear a
terminal; the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder the
text around them so that what is shown is not what is stored. User text rejects them on input
(``qulab.platform.schemas``); output shows them as Python-style escapes (``\\x1b``, ``\\u202e``),
so that rows written before the validation existed still print as inert text.
"""

from __future__ import annotations

import re

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"

UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
"""Every character that is shown escaped, newline and tab included."""

_UNSAFE_KEEPING_LAYOUT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_UNSAFE_ABOVE_C0 = re.compile(f"[\x7f-\x9f{_BIDI_CONTROLS}]")


def first_unsafe(text: str) -> str | None:
    """The first unsafe character of ``text``, or None when there is none."""
    found = UNSAFE.search(text)
    return found.group() if found else None


def escape(char: str) -> str:
    """``\\x1b`` for a character up to U+00FF, ``\\u202e`` above."""
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, keep_layout: bool = False) -> str:
    """``text`` with every unsafe character replaced by its escape.

    ``keep_layout`` leaves newline and tab alone, for messages the program composed; data (a
    table cell, a name) shows those escaped too, so it cannot fake extra lines.
    """
    pattern = _UNSAFE_KEEPING_LAYOUT if keep_layout else UNSAFE
    return pattern.sub(lambda match: escape(match.group()), text)


def visible_json(text: str) -> str:
    """JSON text with DEL, C1 and bidi controls written as ``\\u`` escapes.

    JSON encoders escape C0 inside strings but may leave these raw; outside strings JSON holds
    none of them, so the replacement decodes to the same value.
    """
    return _UNSAFE_ABOVE_C0.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def describe(char: str) -> str:
    """``U+001B`` style, for error messages."""
    return f"U+{ord(char):04X}"
