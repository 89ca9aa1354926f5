"""The sandbox's checks before anything runs: the code's syntax tree, the statement object and
the SQL text. Each breach is refused with one sentence; ordinary answers pass."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from qulab.lab.exercises import EXERCISES, TOOL_NAMES
from qulab.lab.sandbox import Refused, check_source
from qulab.lab.sandbox.guard import check_sql, check_statement
from qulab.platform import User

REFUSED_SOURCE = {
    "import subprocess": "`import subprocess` is not allowed",
    "from os import path": "Importing from `os` is not allowed",
    "from sqlalchemy import text": "`text` is not on the sandbox's allow-list",
    "from sqlalchemy import select as s": "Renaming an import (`select as s`) is not allowed",
    "x = __builtins__": "`__builtins__` is refused",
    "x = select.__globals__": "`.__globals__` is refused",
    "x = '{0.__class__}'.format(1)": "`.format` is refused",
    "x = eval('1')": "`eval` is not available in the sandbox",
    "x = open('f')": "`open` is not available: the sandbox has no file or network access.",
    "class A: pass": "Classes are not needed here",
    "def f():\n    global g": "`global` and `nonlocal` are not allowed here.",
    "x = (1 for i in ()).gi_frame": "`.gi_frame` is refused",
    "x = User.name.op('||')": "`.op` is refused: it passes raw SQL text",
    "x = select(User).suffix_with('x')": "`.suffix_with` is refused",
    "def f(:": "Python cannot read line 1",
}


@pytest.mark.parametrize("source", list(REFUSED_SOURCE))
def test_a_breach_in_the_code_is_refused_with_its_sentence(source: str) -> None:
    with pytest.raises(Refused) as refused:
        check_source(source, TOOL_NAMES)
    assert REFUSED_SOURCE[source] in str(refused.value)
    assert "\n" not in str(refused.value)


def test_every_starter_and_model_answer_passes_the_policy() -> None:
    for exercise in EXERCISES:
        check_source(exercise.starter, TOOL_NAMES)
        check_source(exercise.reference, TOOL_NAMES)
    check_source("from sqlalchemy import select, func\nfor _ in range(3):\n    pass", TOOL_NAMES)


def test_only_selects_with_allowed_functions_pass_the_statement_check() -> None:
    check_statement(select(User.email, func.count(User.id)).group_by(User.email))
    with pytest.raises(Refused, match="this was a DELETE statement"):
        check_statement(delete(User))
    with pytest.raises(Refused, match="this was SQL text in a string"):
        check_statement("SELECT 1")
    with pytest.raises(Refused, match="`pg_sleep` is not allowed"):
        check_statement(select(func.pg_sleep(10)))
    with pytest.raises(Refused, match="`version` is not allowed"):
        check_statement(select(func.pg_catalog.version()))
    with pytest.raises(Refused, match="raw SQL text"):
        check_statement(select(User).prefix_with("/*+ x */"))


def test_the_sql_text_check_reads_every_call_and_the_first_word() -> None:
    check_sql("SELECT count(air_scores.id) AS n FROM users WHERE users.id IN ($1, $2)")
    check_sql('SELECT CAST(x AS INTEGER) FROM (SELECT max("a") AS x FROM t) AS anon_1')
    with pytest.raises(Refused, match="began with 'DROP'"):
        check_sql("DROP TABLE users")
    with pytest.raises(Refused, match="`pg_read_file` is not allowed"):
        check_sql("SELECT 1 FROM t WHERE pg_catalog.pg_read_file($1) != $2")
    with pytest.raises(Refused, match="`lo_import` is not allowed"):
        check_sql('SELECT "lo_import"($1)')
