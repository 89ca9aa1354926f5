"""Validated inputs and frozen read models.

Inputs are checked here, at the boundary, so nothing invalid reaches a session. Read models are
what the cache stores (as JSON) and what the CLI and app show; they never carry ORM state.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from qulab.core.control_chars import describe, first_unsafe
from qulab.core.errors import InvalidInput
from qulab.core.ids import validate_id

EMAIL_MAX = 255
NAME_MAX = 255
OCCUPATION_MAX = 20
EDUCATION_MAX = 50
YEARS_MAX = 80.0
COMPONENT_MAX = 50
ABILITY_LIMIT = 10.0
ITEMS_MAX = 10_000

M = TypeVar("M", bound=BaseModel)


def _email_address(value: str) -> str:
    """``value`` checked and normalised as pydantic's ``EmailStr`` does it, with the same errors;
    email-validator (slow to import) loads with the first address checked, not with this module,
    so that commands that only read users never import it."""
    from pydantic.networks import validate_email

    return validate_email(value)[1]


EmailAddress = Annotated[str, AfterValidator(_email_address)]


def _strip_nonblank(value: str | None, *, required: bool) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        if required:
            raise ValueError("must not be blank")
        return None
    if problem := _control_char_problem(stripped):
        raise ValueError(problem)
    return stripped


def _control_char_problem(value: str) -> str | None:
    """Text shown to people must not steer their terminal (see qulab.core.control_chars)."""
    char = first_unsafe(value)
    if char is None:
        return None
    return f"must not contain control or bidirectional override characters ({describe(char)})"


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class _UserText(_Input):
    """Text clean-up shared by user inputs: names must not be blank; a blank optional field
    means "none"."""

    @field_validator("name", mode="before", check_fields=False)
    @classmethod
    def _name(cls, value: Any) -> Any:
        return _strip_nonblank(value, required=True) if isinstance(value, str) else value

    @field_validator("occupation_code", "education_level", mode="before", check_fields=False)
    @classmethod
    def _optional_text(cls, value: Any) -> Any:
        return _strip_nonblank(value, required=False) if isinstance(value, str) else value


class UserCreate(_UserText):
    email: EmailAddress = Field(max_length=EMAIL_MAX, json_schema_extra={"format": "email"})
    name: str = Field(min_length=1, max_length=NAME_MAX)
    occupation_code: str | None = Field(default=None, max_length=OCCUPATION_MAX)
    education_level: str | None = Field(default=None, max_length=EDUCATION_MAX)
    years_experience: float | None = Field(default=None, ge=0, le=YEARS_MAX)

    @field_validator("email", mode="before")
    @classmethod
    def _normalise_email(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if len(value) > EMAIL_MAX:
                raise ValueError(f"must be at most {EMAIL_MAX} characters")
        return value


class UserUpdate(_UserText):
    """A partial update: only the fields that are set change."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    occupation_code: str | None = Field(default=None, max_length=OCCUPATION_MAX)
    education_level: str | None = Field(default=None, max_length=EDUCATION_MAX)
    years_experience: float | None = Field(default=None, ge=0, le=YEARS_MAX)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class UpdateUser(UserUpdate):
    """Change some fields of one user; ``changes()`` leaves the id out."""

    user_id: str

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return validate_id(value, "user_id")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"user_id"})


class DeleteUser(_Input):
    user_id: str

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return validate_id(value, "user_id")


class CalculateScore(_Input):
    """Score one user for one occupation (also the input of a sample score)."""

    user_id: str
    occupation_code: str = "SW_ENG"

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return validate_id(value, "user_id")

    @field_validator("occupation_code", mode="before")
    @classmethod
    def _occupation(cls, value: Any) -> str:
        return validate_occupation(value)


class StartAssessment(_Input):
    user_id: str
    component: str

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return validate_id(value, "user_id")

    @field_validator("component", mode="before")
    @classmethod
    def _component(cls, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise InvalidInput("component", "must not be blank")
        if len(text) > COMPONENT_MAX:
            raise InvalidInput("component", f"must be at most {COMPONENT_MAX} characters")
        return text


class CompleteAssessment(_Input):
    """The final ability estimate of an assessment and how many items it took."""

    assessment_id: str
    ability: float
    items_administered: int

    @field_validator("assessment_id", mode="before")
    @classmethod
    def _assessment_id(cls, value: Any) -> str:
        return validate_id(value, "assessment_id")

    @field_validator("ability")
    @classmethod
    def _ability(cls, value: float) -> float:
        if not math.isfinite(value) or abs(value) > ABILITY_LIMIT:
            raise InvalidInput(
                "ability", f"must be a finite number in [-{ABILITY_LIMIT:g}, {ABILITY_LIMIT:g}]"
            )
        return value

    @field_validator("items_administered")
    @classmethod
    def _items(cls, value: int) -> int:
        if not 0 <= value <= ITEMS_MAX:
            raise InvalidInput("items_administered", f"must be between 0 and {ITEMS_MAX}")
        return value


def parse(model: type[M], **values: Any) -> M:
    """Validate ``values`` into ``model``; a failure becomes InvalidInput naming the field."""
    try:
        return model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "input"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(field, message) from None


def validate_occupation(value: object, field: str = "occupation_code") -> str:
    """A required occupation code: non-blank text of at most 20 characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "must not be blank")
    code = value.strip()
    if len(code) > OCCUPATION_MAX:
        raise InvalidInput(field, f"must be at most {OCCUPATION_MAX} characters")
    if problem := _control_char_problem(code):
        raise InvalidInput(field, problem)
    return code


class _ReadModel(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class UserRead(_ReadModel):
    id: str
    email: str
    name: str
    occupation_code: str | None
    education_level: str | None
    years_experience: float | None
    created_at: datetime
    updated_at: datetime


class ScoreRead(_ReadModel):
    id: str
    user_id: str
    occupation_code: str
    air_score: float
    vr_score: float
    hr_score: float
    synergy_score: float
    ci_lower: float
    ci_upper: float
    parameter_version: str
    calculation_metadata: dict[str, Any]
    created_at: datetime


class UserWithScores(_ReadModel):
    user: UserRead
    scores: list[ScoreRead]


class AssessmentRead(_ReadModel):
    id: str
    user_id: str
    status: str
    component: str
    current_ability: float
    items_administered: int
    created_at: datetime
    updated_at: datetime
