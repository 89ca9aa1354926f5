"""Grade a written answer: its rows against the model answer's, its statements against the
budget, like an instant check. The model answer runs in this process on the same rows; the
learner's runs in the sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core import Database, InvalidInput
from qulab.lab.exercise_rows import ensure_exercise_rows
from qulab.lab.exercises import BY_KEY, EXERCISE_USERS, Exercise, Row
from qulab.lab.sandbox import load_entry, run_entry, run_in_sandbox


@dataclass(frozen=True)
class AnswerGrade:
    exercise: str
    passed: bool
    verdict: str
    budget: int
    expected: tuple[Row, ...]
    rows: tuple[Row, ...] | None = None
    statements: tuple[str, ...] = ()
    refused: bool = False

    @property
    def statement_count(self) -> int:
        return len(self.statements)


def exercise_for(key: str) -> Exercise:
    try:
        return BY_KEY[key]
    except KeyError:
        raise InvalidInput("exercise", f"no exercise {key!r}") from None


async def reference_rows(db: Database, exercise: Exercise) -> tuple[tuple[Row, ...], int]:
    """The model answer's rows and statement count, run exactly as an answer is."""
    async with db.session() as session:
        run = await run_entry(session, exercise, load_entry(exercise, exercise.reference))
        await session.rollback()
    return tuple(run.rows), len(run.statements)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _difference(expected: tuple[Row, ...], rows: tuple[Row, ...]) -> str:
    if len(rows) != len(expected):
        return (
            f"Wrong rows: expected {_plural(len(expected), 'row')}, your answer returned "
            f"{len(rows)}."
        )
    index = next(i for i, (want, got) in enumerate(zip(expected, rows, strict=True)) if want != got)
    return f"Wrong rows: row {index + 1} should be {expected[index]!s} but is {rows[index]!s}" + (
        " (check the order)." if sorted(map(repr, rows)) == sorted(map(repr, expected)) else "."
    )


async def grade_answer(db: Database, key: str, source: str) -> AnswerGrade:
    exercise = exercise_for(key)
    await ensure_exercise_rows(db, EXERCISE_USERS)
    expected, _ = await reference_rows(db, exercise)
    result = await run_in_sandbox(db, key, source)
    budget = exercise.budget
    if result.refused is not None or result.error is not None or result.rows is None:
        sentence = result.refused or result.error or "The answer returned nothing."
        return AnswerGrade(
            key,
            False,
            sentence,
            budget,
            expected,
            None,
            result.statements,
            result.refused is not None,
        )
    rows = tuple(result.rows)
    count = len(result.statements)
    if rows != expected:
        return AnswerGrade(
            key, False, _difference(expected, rows), budget, expected, rows, result.statements
        )
    if count > budget:
        verdict = (
            f"Right rows, but {_plural(count, 'statement')} is over the budget of {budget}: "
            "a statement per row is the N+1 pattern; load related rows with the query."
        )
        return AnswerGrade(key, False, verdict, budget, expected, rows, result.statements)
    verdict = (
        f"Correct: {_plural(len(rows), 'row')} equal to the model answer's, in "
        f"{_plural(count, 'statement')} (budget {budget})."
    )
    return AnswerGrade(key, True, verdict, budget, expected, rows, result.statements)
