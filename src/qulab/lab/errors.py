"""The lab's own errors, on the core's tree (``qulab.core.errors``)::

    UserError
    ├── Refused
    ├── AnswerFailed
    └── WrongShape

Each is the learner's to fix, and its message is the sentence the lab shows: code the sandbox
will not run (``Refused``), an answer that ran and failed (``AnswerFailed``), or one that ran but
returned something other than what the task asks for (``WrongShape``).
"""

from __future__ import annotations

from qulab.core import UserError


class Refused(UserError):
    """Learner code the sandbox will not run; the message is the sentence to show."""


class AnswerFailed(UserError):
    """The answer ran and failed; the message is the sentence to show, ``statements`` what it
    had sent by then."""

    def __init__(self, sentence: str, statements: tuple[str, ...] = ()) -> None:
        super().__init__(sentence)
        self.statements = statements


class WrongShape(UserError):
    """The answer ran but returned something other than what the task asks for."""
