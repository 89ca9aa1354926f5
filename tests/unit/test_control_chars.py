"""Control and bidi characters: refused in user text, shown as escapes everywhere else."""

from __future__ import annotations

import json

import pytest

from qulab.core.control_chars import first_unsafe, visible, visible_json
from qulab.core.errors import InvalidInput
from qulab.platform.schemas import UserCreate, UserUpdate, parse, validate_occupation

REFUSED = ["\x00", "\x07", "\x1b", "\n", "\t", "\x7f", "\x80", "\x9b", "\x9f"] + [
    chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
]
ALLOWED = ["José Núñez", "李小龙", "محمد", "O'Neil-Smith", "\u200d", "\u00a0x"]


@pytest.mark.parametrize("char", REFUSED)
@pytest.mark.parametrize("field", ["name", "occupation_code", "education_level"])
def test_user_text_with_a_control_character_is_refused_naming_the_field(
    char: str, field: str
) -> None:
    values = {"email": "a@example.com", "name": "Ann", field: f"a{char}b"}
    with pytest.raises(InvalidInput) as raised:
        parse(UserCreate, **values)
    assert raised.value.field == field
    assert str(raised.value) == (
        f"{field}: must not contain control or bidirectional override characters "
        f"(U+{ord(char):04X})"
    )
    with pytest.raises(InvalidInput) as update:
        parse(UserUpdate, **{field: f"a{char}b"})
    assert update.value.field == field


@pytest.mark.parametrize("text", ALLOWED)
def test_ordinary_text_in_any_script_is_accepted(text: str) -> None:
    assert parse(UserUpdate, name=text).name == text.strip()


def test_a_scored_occupation_code_refuses_control_characters() -> None:
    with pytest.raises(InvalidInput, match=r"^occupation_code: .*\(U\+202E\)$"):
        validate_occupation("SW\u202eENG")
    assert validate_occupation(" SW_ENG ") == "SW_ENG"


def test_visible_escapes_every_unsafe_character_and_nothing_else() -> None:
    assert visible("a\x1b[31mb\u202ec\x85\x7f\x00") == "a\\x1b[31mb\\u202ec\\x85\\x7f\\x00"
    assert visible("line\nnext\ttab") == "line\\x0anext\\x09tab"
    assert visible("line\nnext\ttab\r", keep_layout=True) == "line\nnext\ttab\\x0d"
    for text in ALLOWED:
        assert visible(text) == text and first_unsafe(text) is None
    for char in REFUSED:
        assert first_unsafe(f"ok{char}") == char


def test_visible_json_decodes_to_the_same_value() -> None:
    value = {"name": "abc\u202eevil\x85\x7f\u2069", "n": 1}
    text = visible_json(json.dumps(value, ensure_ascii=False, indent=2))
    assert first_unsafe(text.replace("\n", "")) is None
    assert json.loads(text) == value
