"""Consistency tokens: PostgreSQL's LSN form both ways, and what a read in a context must see."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from qulab.core import InvalidInput, Token, consistency, last_commit_token


def test_a_token_prints_and_parses_as_postgresql_writes_an_lsn() -> None:
    token = Token((0x3A << 32) | 0x2B1C8)
    assert str(token) == "3A/2B1C8"
    assert Token.parse("3A/2B1C8") == token == Token.parse(" 3a/2b1c8 ")
    assert Token.parse("0/0") < Token.parse("0/1") < Token.parse("1/0")
    assert Token.of(None) is None and Token.of(token) is token and Token.of("3A/2B1C8") == token


@pytest.mark.parametrize("text", ["", "3A", "/1", "1/", "x/1", "1/2/3", "-1/0", "123456789/0"])
def test_anything_else_is_refused_as_a_bad_token(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a consistency token"):
        Token.parse(text)


async def test_a_write_is_remembered_in_its_context_and_the_tasks_it_starts() -> None:
    async def writer() -> tuple[Token | None, Token | None, Token | None]:
        consistency.wrote(Token(20))
        consistency.wrote(Token(10))  # an older commit never lowers what was seen
        child = await asyncio.create_task(asyncio.sleep(0, consistency.required()))
        with consistency.requiring(Token(30)):
            floored = consistency.required()
        return last_commit_token(), child, floored

    assert await asyncio.create_task(writer(), context=contextvars.Context()) == (
        Token(20),
        Token(20),
        Token(30),
    )
    other = contextvars.Context()
    assert other.run(consistency.required) is None  # another request has seen no write
    assert other.run(consistency.required, "0/5") == Token(5)
