"""The four relationship types, compiled for SQLite and PostgreSQL without a database; the
throwaway schema never reaches QuLab's metadata."""

from __future__ import annotations

import pytest

from qulab.lab.relationships import catalogue, dialect_for
from qulab.platform.models import Base


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_each_type_comes_with_its_declaration_ddl_and_join(dialect: str) -> None:
    examples = {example.kind: example for example in catalogue(dialect)}
    assert list(examples) == ["one-to-many", "many-to-one", "one-to-one", "many-to-many"]

    one_to_many = examples["one-to-many"]
    assert one_to_many.from_models
    assert 'scores: Mapped[list[AIRScore]] = relationship(back_populates="user"' in (
        one_to_many.declaration
    )
    assert 'lazy="raise_on_sql"' in one_to_many.declaration
    assert "FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE" in one_to_many.ddl[0]
    assert "CREATE INDEX ix_air_scores_user_id ON air_scores (user_id)" in one_to_many.ddl
    assert "JOIN air_scores ON users.id = air_scores.user_id" in one_to_many.query

    many_to_one = examples["many-to-one"]
    assert 'user: Mapped[User] = relationship(back_populates="scores"' in many_to_one.declaration
    assert many_to_one.ddl[0].startswith("CREATE TABLE assessments (")

    one_to_one = examples["one-to-one"]
    assert not one_to_one.from_models
    assert "uselist=False" in one_to_one.declaration
    assert "PRIMARY KEY (user_id)" in one_to_one.ddl[0]
    assert "FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE" in one_to_one.ddl[0]

    many_to_many = examples["many-to-many"]
    association = next(ddl for ddl in many_to_many.ddl if "user_skills" in ddl)
    assert "PRIMARY KEY (user_id, skill_id)" in association
    assert "REFERENCES skills (id) ON DELETE CASCADE" in association
    assert "JOIN user_skills AS user_skills_1 ON users.id = user_skills_1.user_id" in (
        many_to_many.query
    )


def test_the_ddl_is_the_configured_dialects() -> None:
    sqlite = {e.kind: e for e in catalogue("sqlite")}["one-to-many"].ddl[0]
    postgresql = {e.kind: e for e in catalogue("postgresql")}["one-to-many"].ddl[0]
    assert "created_at DATETIME NOT NULL" in sqlite
    assert "created_at TIMESTAMP WITH TIME ZONE NOT NULL" in postgresql


def test_the_throwaway_tables_are_not_quLabs() -> None:
    catalogue("sqlite")
    assert not {"user_profiles", "skills", "user_skills"} & set(Base.metadata.tables)


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="no dialect 'mysql'"):
        dialect_for("mysql")
