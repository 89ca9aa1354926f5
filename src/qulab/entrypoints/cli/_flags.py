"""Errors name what the user typed: a field refused by validation becomes its option's flag
(or its argument's name in the usage line).

A command's options are passed on to schemas and services under their field names
(``--occupation`` as ``occupation_code``, ``--read-ratio`` as ``read_ratio``). When one of them
is refused, the message names the field; the user typed the flag. Each command's callback is
wrapped so that an ``InvalidInput`` naming a field one of its options feeds is raised again
naming that option. Fields no option feeds (inside a design file, say) keep their name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

from qulab.core import InvalidInput

# Schema fields fed by an option of another name.
FIELD_OPTIONS = {
    "occupation_code": "occupation",
    "education_level": "education",
    "years_experience": "years",
}


def flag_for(command: Any, field: str) -> str | None:
    """What the user typed for ``field`` in ``command``: the flag whose value became it
    (``--read-ratio``), or the argument as the usage line names it (``ID``); None if neither."""
    wanted = {field, FIELD_OPTIONS.get(field, field)}
    for param in command.params:
        if param.name not in wanted:
            continue
        if isinstance(param, TyperOption):
            long = [opt for opt in param.opts if opt.startswith("--")]
            return str((long or param.opts)[0])
        if isinstance(param, TyperArgument):
            return str(param.metavar or param.name.upper())
    return None


def name_flags(command: Any) -> None:
    """Wrap the callback of ``command`` (a Typer-built command) and of every command below it
    (see the module)."""
    if isinstance(command, TyperGroup):
        for child in command.commands.values():
            name_flags(child)
    if command.callback is not None:
        command.callback = _naming(command, command.callback)


def _naming(command: Any, callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except InvalidInput as error:
            flag = flag_for(command, error.field)
            if flag is None or flag == error.field:
                raise
            raise InvalidInput(flag, error.detail) from error

    return call
