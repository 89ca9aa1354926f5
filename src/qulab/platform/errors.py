"""The platform's own errors, on the core's tree (``qulab.core.errors``)::

    DuplicateError
    └── DuplicateEmailError

A taken email is the caller's to fix (the CLI exits 2), like every ``UserError``.
"""

from __future__ import annotations

from qulab.core import DuplicateError


class DuplicateEmailError(DuplicateError):
    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"email: a user with email {email} already exists")
