"""User data inside the lab's Markdown, shown as the characters it is made of.

``st.markdown``, captions and the ``st.success`` / ``info`` / ``warning`` / ``error`` boxes render
GitHub Markdown plus Streamlit's ``:red[...]``, ``:emoji:``, ``:material/icon:`` and ``$math$``.
Data gets a backslash before every character that can open one of those (CommonMark shows an
escaped ASCII punctuation mark as itself), and before a leading list, quote or heading marker,
so links, images, emphasis, code, HTML, entities and directives never form. Punctuation that
opens nothing mid-line (``.``, ``@``, ``-``, ``'``...) is left alone, so text reads unchanged.
Control and bidi characters are made visible first (qulab.core.control_chars).
"""

from __future__ import annotations

import re

from qulab.core import visible

_OPENS_SYNTAX = re.compile(r"([\\`*_\[\]<>!&~$:|{}#])")
_LEADING_BLOCK_MARKER = re.compile(r"^(\s*)([-+=]|\d+[.)])")


def literal(value: object) -> str:
    """``value`` as Markdown source that renders exactly as ``str(value)`` (escapes visible)."""
    text = _OPENS_SYNTAX.sub(r"\\\1", visible(str(value)))
    return _LEADING_BLOCK_MARKER.sub(_escape_last, text, count=1)


def _escape_last(match: re.Match[str]) -> str:
    marker = match.group(2)
    return match.group(1) + marker[:-1] + "\\" + marker[-1]


def label(value: object) -> str:
    """``value`` for plain-text places (select box options): control characters visible."""
    return visible(str(value))
