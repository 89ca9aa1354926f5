"""Run one answer's function on a session and turn what it returns into plain rows.

The same path runs the model answer (in the lab's process) and the learner's answer (in the
sandbox's worker process), so both are shaped and counted alike. Learner code is executed in a
namespace holding only the exercise's tools and a few builtins; imports resolve only to those
tools.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from qulab.core import count_session_statements
from qulab.lab.errors import AnswerFailed, Refused, WrongShape
from qulab.lab.exercises import Exercise, Row, tools
from qulab.lab.sandbox.guard import ReadSession
from qulab.lab.sandbox.policy import IMPORTABLE_MODULES, check_source

SAFE_BUILTINS = (
    "abs",
    "all",
    "any",
    "bool",
    "dict",
    "enumerate",
    "filter",
    "float",
    "int",
    "len",
    "list",
    "map",
    "max",
    "min",
    "range",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
    "Exception",
    "ValueError",
    "KeyError",
)


@dataclass(frozen=True)
class AnswerRun:
    rows: list[Row]
    statements: tuple[str, ...]


def _importer(provided: dict[str, Any]) -> Callable[..., Any]:
    def restricted_import(
        name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        wanted = tuple(fromlist or ())
        if level or name not in IMPORTABLE_MODULES or not all(n in provided for n in wanted):
            raise Refused(f"Importing `{name}` is not allowed in the sandbox.")
        return SimpleNamespace(**{item: provided[item] for item in wanted})

    return restricted_import


def namespace() -> dict[str, Any]:
    provided = tools()
    allowed = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    allowed["__import__"] = _importer(provided)
    return {"__builtins__": allowed, **provided}


def load_entry(exercise: Exercise, source: str) -> Callable[..., Any]:
    """The answer's function, after the policy check; raises Refused or AnswerFailed."""
    tree = check_source(source, tools())
    scope = namespace()
    try:
        # The tree passed the policy and the scope holds only the tools: docs/lab-sandbox.md.
        exec(compile(tree, "<answer>", "exec"), scope)  # noqa: S102
    except Refused:
        raise
    except Exception as error:
        raise AnswerFailed(f"Defining the answer failed: {_describe(error)}") from None
    entry = scope.get(exercise.entry)
    if not callable(entry):
        raise AnswerFailed(f"Define the function `{exercise.entry}` the task asks for.")
    return cast(Callable[..., Any], entry)


async def run_entry(
    session: AsyncSession, exercise: Exercise, entry: Callable[..., Any]
) -> AnswerRun:
    """Call ``entry`` as the exercise says, count its statements, shape what it returns."""
    reader = ReadSession(session)
    await session.connection()  # the counter listens on the session's connection
    sent: list[str] = []
    try:
        async with count_session_statements(session) as counter:
            sent = counter.statements  # grows as statements are sent, kept if the answer fails
            if exercise.kind == "query":
                statement = await _resolved(entry())
                rows = exercise.shape(await reader.execute(statement))
            else:
                rows = exercise.shape(await _resolved(entry(reader, **exercise.arguments)))
    except Refused:
        raise
    except Exception as error:
        raise AnswerFailed(_sentence(error), tuple(sent)) from None
    return AnswerRun(rows, tuple(sent))


def _sentence(error: Exception) -> str:
    if isinstance(error, AnswerFailed | WrongShape):
        return str(error)
    if isinstance(error, InvalidRequestError):
        return _loading_sentence(error)
    if isinstance(error, DBAPIError):
        return _database_sentence(error)
    if isinstance(error, MemoryError):
        return "The answer asked for more memory than the sandbox allows."
    if isinstance(error, RecursionError):
        return "The answer recursed too deeply and was stopped."
    return f"The answer raised {_describe(error)}"


async def _resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _loading_sentence(error: InvalidRequestError) -> str:
    text = str(error).split("\n")[0]
    if "lazy='raise" in text:
        attribute = text.split("'")[1] if text.count("'") >= 2 else "a relationship"
        return (
            f"`{attribute}` was not loaded by your statement, and reading it would send one more "
            "statement per row (it is set to refuse that): add a loading option for it."
        )
    return f"SQLAlchemy refused the statement: {text}"


def _database_sentence(error: DBAPIError) -> str:
    text = " ".join(str(error.orig).split()) if error.orig is not None else str(error)
    if "statement timeout" in text:
        return "The query ran past the sandbox's statement timeout and was cancelled."
    if "read-only" in text or "readonly" in text:
        return f"The database refused a write: the transaction is read-only ({text})."
    return f"The database refused the statement: {text}"
