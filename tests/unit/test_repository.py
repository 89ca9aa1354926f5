"""The core's ``Repository`` base on two tiny models of this test's own (shelves and their
books), on SQLite and PostgreSQL: the verbs, the errors a refused write becomes, and that
nothing is ever committed by a repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from qulab.core.config import Settings
from qulab.core.db import Database, count_session_statements
from qulab.core.db_errors import IntegrityFailure
from qulab.core.errors import (
    ConflictError,
    DuplicateError,
    InvalidInput,
    NotFound,
    UserError,
)
from qulab.core.ids import new_id
from qulab.core.repository import Repository, Write


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelves"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    label: Mapped[str] = mapped_column(String(50), unique=True)


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shelf_id: Mapped[str] = mapped_column(ForeignKey("shelves.id"))
    title: Mapped[str] = mapped_column(String(100))
    pages: Mapped[int] = mapped_column(Integer, default=0)


class ShelfRepository(Repository[Shelf]):
    model = Shelf
    id_field = "shelf_id"
    default_order = (Shelf.label,)


class BookRepository(Repository[Book]):
    model = Book


class LabelledShelves(ShelfRepository):
    """A subclass giving one constraint its own meaning."""

    def refused(
        self,
        failure: IntegrityFailure,
        write: Write,
        *,
        row: Shelf | None = None,
        ident: object = None,
    ) -> UserError:
        if row is not None and failure.is_unique("shelves", "label"):
            return InvalidInput("label", f"{row.label!r} is taken")
        return super().refused(failure, write, row=row, ident=ident)


@pytest.fixture
def url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'shelves.db'}"


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    database = Database(Settings().replace(database_url=url))
    async with database.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()


async def shelf_with_books(db: Database, label: str, *titles: str) -> tuple[str, list[int]]:
    async with db.session_scope() as session:
        shelf = await ShelfRepository(session).add(Shelf(label=label))
        books = BookRepository(session)
        ids = [
            (await books.add(Book(shelf_id=shelf.id, title=title, pages=100 * n))).id
            for n, title in enumerate(titles, 1)
        ]
        return shelf.id, ids


async def test_add_flushes_and_never_commits(db: Database) -> None:
    async with db.session() as session:
        shelf = await ShelfRepository(session).add(Shelf(label="fiction"))
        assert len(shelf.id) == 36  # the default ran: the row was flushed
        assert await ShelfRepository(session).count() == 1
    async with db.session() as session:
        assert await ShelfRepository(session).count() == 0


async def test_get_finds_a_row_and_an_unknown_id_is_not_found(db: Database) -> None:
    shelf_id, [first, _] = await shelf_with_books(db, "poetry", "Odes", "Sonnets")
    async with db.session() as session:
        assert (await BookRepository(session).get(first)).title == "Odes"
        with pytest.raises(NotFound, match=r"^book 999 not found$"):
            await BookRepository(session).get(999)
        assert (await ShelfRepository(session).get(shelf_id)).label == "poetry"


async def test_a_malformed_id_is_refused_before_any_sql(db: Database) -> None:
    async with db.session() as session:
        async with count_session_statements(session) as counter:
            with pytest.raises(InvalidInput, match=r"^shelf_id: 'nope' is not a valid UUID$"):
                await ShelfRepository(session).get("nope")
            with pytest.raises(InvalidInput, match=r"^shelf_id: "):
                await ShelfRepository(session).delete("nope")
        assert counter.count == 0


async def test_get_one_or_none_by_columns_and_by_key_from_the_identity_map(db: Database) -> None:
    shelf_id, [first, second] = await shelf_with_books(db, "history", "Rome", "Athens")
    async with db.session() as session:
        books = BookRepository(session)
        found = await books.get_one_or_none(title="Athens", shelf_id=shelf_id)
        assert found is not None and found.id == second
        assert await books.get_one_or_none(title="Carthage") is None
        async with count_session_statements(session) as counter:
            assert await books.get_one_or_none(id=second) is found
        assert counter.count == 0  # already loaded: no statement
        assert (await books.get_one_or_none(id=first)) is not None


async def test_list_filters_orders_and_pages(db: Database) -> None:
    shelf_id, ids = await shelf_with_books(db, "maps", "Alps", "Andes", "Atlas", "Zagros")
    await shelf_with_books(db, "atlases", "World")
    async with db.session() as session:
        books = BookRepository(session)
        on_shelf = await books.list(Book.shelf_id == shelf_id)
        assert [book.id for book in on_shelf] == ids  # primary key order by default
        longest = await books.list(Book.pages >= 200, order_by=Book.pages.desc(), limit=2)
        assert [book.title for book in longest] == ["Zagros", "Atlas"]
        page = await books.list(Book.shelf_id == shelf_id, order_by=[Book.title], limit=2, offset=1)
        assert [book.title for book in page] == ["Andes", "Atlas"]
        assert [shelf.label for shelf in await ShelfRepository(session).list()] == [
            "atlases",
            "maps",
        ]  # the repository's default order
        assert await books.count() == 5
        assert await books.count(Book.shelf_id == shelf_id, Book.pages > 250) == 2


async def test_update_sets_columns_from_a_mapping_and_keywords(db: Database) -> None:
    _, [book_id] = await shelf_with_books(db, "drafts", "Untitled")
    async with db.session_scope() as session:
        book = await BookRepository(session).update(book_id, {"title": "Titled"}, pages=7)
        assert (book.title, book.pages) == ("Titled", 7)
    async with db.session() as session:
        stored = await session.get(Book, book_id)
        assert stored is not None and (stored.title, stored.pages) == ("Titled", 7)


async def test_update_refuses_an_unknown_column_before_any_sql(db: Database) -> None:
    async with db.session() as session:
        async with count_session_statements(session) as counter:
            with pytest.raises(InvalidInput, match=r"^colour: book has no such field$"):
                await BookRepository(session).update(1, colour="red")
        assert counter.count == 0


async def test_updating_a_row_deleted_since_it_was_read_is_not_found(db: Database) -> None:
    _, [book_id] = await shelf_with_books(db, "fleeting", "Gone Soon")
    async with db.session() as session:
        books = BookRepository(session)
        await books.get(book_id)
        async with db.session_scope() as other:
            await BookRepository(other).delete(book_id)
        with pytest.raises(NotFound, match=f"^book {book_id} not found$"):
            await books.update(book_id, title="Too Late")


async def test_delete_is_one_statement_and_returns_the_row(db: Database) -> None:
    _, [book_id] = await shelf_with_books(db, "discard", "Old")
    async with db.session_scope() as session:
        async with count_session_statements(session) as counter:
            deleted = await BookRepository(session).delete(book_id)
        assert deleted.title == "Old"
        assert counter.count == 1
        assert counter.statements[0].startswith("DELETE FROM books WHERE books.id = ")
        with pytest.raises(NotFound, match=f"^book {book_id} not found$"):
            await BookRepository(session).delete(book_id)
    async with db.session() as session:
        assert await BookRepository(session).count() == 0


async def test_a_taken_unique_value_is_a_duplicate_and_nothing_is_written(db: Database) -> None:
    await shelf_with_books(db, "science")
    async with db.session() as session:
        with pytest.raises(DuplicateError) as caught:
            await ShelfRepository(session).add(Shelf(label="science"))
    message = str(caught.value)
    assert isinstance(caught.value, ConflictError)
    assert message.startswith("shelf could not be created: ")
    assert "shelves" in message and len(message.splitlines()) == 1
    async with db.session() as session:
        assert await ShelfRepository(session).count() == 1


async def test_a_missing_parent_is_a_conflict_not_a_duplicate(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(ConflictError) as caught:
            await BookRepository(session).add(Book(shelf_id=new_id(), title="Orphan"))
    assert not isinstance(caught.value, DuplicateError)
    assert str(caught.value).startswith("book could not be created: a row it refers to does not")


async def test_deleting_a_referenced_row_is_a_one_line_conflict(db: Database) -> None:
    shelf_id, _ = await shelf_with_books(db, "kept", "Still Here")
    async with db.session() as session:
        with pytest.raises(ConflictError) as caught:
            await ShelfRepository(session).delete(shelf_id)
    message = str(caught.value)
    assert message.startswith(f"shelf {shelf_id} could not be deleted: other rows still refer")
    assert len(message.splitlines()) == 1
    async with db.session() as session:
        assert await ShelfRepository(session).count() == 1


async def test_a_subclass_gives_a_constraint_its_own_meaning(db: Database) -> None:
    await shelf_with_books(db, "travel")
    async with db.session() as session:
        with pytest.raises(InvalidInput, match=r"^label: 'travel' is taken$"):
            await LabelledShelves(session).add(Shelf(label="travel"))
    async with db.session() as session:
        labels = (await session.execute(select(Shelf.label))).scalars().all()
    assert labels == ["travel"]
