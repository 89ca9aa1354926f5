"""The four relationship types, each with the declaration and the SQL it produces.

One-to-many and many-to-one come from QuLab's own models (User → Assessment / AIRScore): the
``relationship()`` declarations are read back from the mappers, the DDL is QuLab's metadata
compiled for the dialect. One-to-one and many-to-many are shown on a throwaway ``MetaData``
(``user_profiles``, ``skills`` and the ``user_skills`` association table) that is only compiled,
never created: nothing here touches a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    RelationshipProperty,
    mapped_column,
    relationship,
)
from sqlalchemy.schema import CreateIndex, CreateTable

from qulab.platform import AIRScore, Assessment, Base, User

DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class RelationshipExample:
    kind: str
    summary: str
    declaration: str  # the Python that declares it
    ddl: tuple[str, ...]  # CREATE TABLE / CREATE INDEX for the tables that carry it
    query: str  # a join along it, compiled
    from_models: bool  # True: QuLab's own models; False: the throwaway scratch schema


class _Scratch(DeclarativeBase):
    """A registry and MetaData of its own: never QuLab's ``Base.metadata``."""


user_skills = Table(
    "user_skills",
    _Scratch.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True),
)


class _ScratchUser(_Scratch):
    # Only the key, as the target of the scratch tables' foreign keys (its DDL is not shown).
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    profile: Mapped[_Profile | None] = relationship(back_populates="user", uselist=False)
    skills: Mapped[list[_Skill]] = relationship(secondary=user_skills, back_populates="users")


class _Profile(_Scratch):
    __tablename__ = "user_profiles"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    headline: Mapped[str] = mapped_column(String(200))
    user: Mapped[_ScratchUser] = relationship(back_populates="profile")


class _Skill(_Scratch):
    __tablename__ = "skills"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    users: Mapped[list[_ScratchUser]] = relationship(secondary=user_skills, back_populates="skills")


def dialect_for(name: str) -> Dialect:
    if name == "postgresql":
        return postgresql.dialect()  # type: ignore[no-untyped-call]
    if name == "sqlite":
        return sqlite.dialect()
    raise ValueError(f"no dialect {name!r}: choose one of {', '.join(DIALECTS)}")


def _ddl(table: Table, dialect: Dialect) -> list[str]:
    statements = [str(CreateTable(table).compile(dialect=dialect)).strip()]
    statements += [
        str(CreateIndex(index).compile(dialect=dialect)).strip()
        for index in sorted(table.indexes, key=lambda i: str(i.name))
    ]
    return statements


def _sql(statement: object, dialect: Dialect) -> str:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    return str(compiled).strip()


def declaration(owner: type, name: str) -> str:
    """``name: Mapped[...] = relationship(...)`` as the mapper has it configured."""
    prop = owner.__mapper__.relationships[name]  # type: ignore[attr-defined]
    assert isinstance(prop, RelationshipProperty)
    target = prop.mapper.class_.__name__
    annotation = f"list[{target}]" if prop.uselist else target
    options = []
    if prop.back_populates:
        options.append(f'back_populates="{prop.back_populates}"')
    cascade = sorted(str(c) for c in prop.cascade)
    if set(cascade) >= {"delete", "delete-orphan", "merge", "refresh-expire", "expunge"}:
        options.append('cascade="all, delete-orphan"')
    if prop.passive_deletes:
        options.append("passive_deletes=True")
    options.append(f'lazy="{prop.lazy}"')
    return f"{name}: Mapped[{annotation}] = relationship({', '.join(options)})"


def catalogue(dialect_name: str) -> list[RelationshipExample]:
    """One example of each relationship type, compiled for ``dialect_name``."""
    dialect = dialect_for(dialect_name)
    scores = Base.metadata.tables["air_scores"]
    assessments = Base.metadata.tables["assessments"]
    return [
        RelationshipExample(
            kind="one-to-many",
            summary="A user has many scores (and many assessments): the foreign key lives on "
            "the many side, air_scores.user_id → users.id.",
            declaration="class User(Base):\n    "
            + declaration(User, "scores")
            + "\n    "
            + declaration(User, "assessments"),
            ddl=tuple(_ddl(scores, dialect)),
            query=_sql(select(User.id, AIRScore.air_score).join(User.scores), dialect),
            from_models=True,
        ),
        RelationshipExample(
            kind="many-to-one",
            summary="Each score and each assessment belongs to one user: the same foreign key "
            "seen from the other end.",
            declaration="class AIRScore(Base):\n    "
            + declaration(AIRScore, "user")
            + "\n\nclass Assessment(Base):\n    "
            + declaration(Assessment, "user"),
            ddl=tuple(_ddl(assessments, dialect)),
            query=_sql(select(Assessment.id, User.email).join(Assessment.user), dialect),
            from_models=True,
        ),
        RelationshipExample(
            kind="one-to-one",
            summary="A user has at most one profile: the profile's primary key is also its "
            "foreign key to users, so a second profile for the same user cannot exist.",
            declaration=(
                "class User(Base):\n"
                '    profile: Mapped[Profile | None] = relationship(back_populates="user", '
                "uselist=False)\n\n"
                "class Profile(Base):\n"
                '    __tablename__ = "user_profiles"\n'
                "    user_id: Mapped[str] = mapped_column(\n"
                '        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True\n'
                "    )\n"
                '    user: Mapped[User] = relationship(back_populates="profile")'
            ),
            ddl=tuple(_ddl(_Scratch.metadata.tables["user_profiles"], dialect)),
            query=_sql(
                select(_ScratchUser.id, _Profile.headline).join(_ScratchUser.profile), dialect
            ),
            from_models=False,
        ),
        RelationshipExample(
            kind="many-to-many",
            summary="A user has many skills and a skill many users: an association table "
            "holds one row per pair, its primary key the two foreign keys.",
            declaration=(
                "user_skills = Table(\n"
                '    "user_skills", Base.metadata,\n'
                '    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), '
                "primary_key=True),\n"
                '    Column("skill_id", ForeignKey("skills.id", ondelete="CASCADE"), '
                "primary_key=True),\n"
                ")\n\n"
                "class User(Base):\n"
                "    skills: Mapped[list[Skill]] = relationship(secondary=user_skills, "
                'back_populates="users")\n\n'
                "class Skill(Base):\n"
                '    __tablename__ = "skills"\n'
                "    users: Mapped[list[User]] = relationship(secondary=user_skills, "
                'back_populates="skills")'
            ),
            ddl=tuple(
                _ddl(_Scratch.metadata.tables["skills"], dialect)
                + _ddl(_Scratch.metadata.tables["user_skills"], dialect)
            ),
            query=_sql(select(_ScratchUser.id, _Skill.name).join(_ScratchUser.skills), dialect),
            from_models=False,
        ),
    ]
