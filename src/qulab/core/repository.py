"""A typed repository over one model: the verbs every application's repositories share.

``Repository[Model]`` works on an ``AsyncSession``:

- ``get(id)`` returns the row or raises ``NotFound``; ``get_one_or_none(**filters)`` returns
  the one row whose columns equal ``filters``, or None (by primary key alone it goes through
  the session's identity map, so a row already loaded costs no statement);
- ``list(*where, order_by=, limit=, offset=)`` and ``count(*where)`` take SQLAlchemy
  conditions (``Product.price_cents > 100``);
- ``add(row)``, ``update(id, changes, **values)`` and ``delete(id)`` (one ``DELETE ...
  RETURNING`` statement: the database applies its ON DELETE rules, nothing is loaded first).

A subclass names its model, and may name how messages call a row (``kind``), the input its ids
are validated as before any SQL (``id_field``: ids are then canonical UUIDs) and the default
order of ``list``::

    class ProductRepository(Repository[Product]):
        model = Product
        id_field = "product_id"
        default_order = (Product.created_at, Product.id)

Repositories flush and never commit: the unit of work owns the transaction. A write the
database refuses is translated here, once, through ``classify_integrity``: a unique
constraint becomes ``DuplicateError``, any other constraint ``ConflictError``, and a row gone
before its update or delete ``NotFound``. ``refused`` is the hook a subclass overrides to give
one constraint its domain meaning (a taken email, a parent deleted meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, and_, delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute
from sqlalchemy.orm.exc import StaleDataError

from qulab.core.db_errors import IntegrityFailure, Violation, classify_integrity
from qulab.core.errors import ConflictError, DuplicateError, InvalidInput, NotFound, UserError
from qulab.core.ids import validate_id

ModelT = TypeVar("ModelT", bound=DeclarativeBase)

Ordering = ColumnElement[Any] | QueryableAttribute[Any]
"""A column (``Product.name``) or an ordering of one (``Product.created_at.desc()``)."""

Write = Literal["created", "updated", "deleted"]


class Repository(Generic[ModelT]):
    """Rows of ``model`` in one session. See the module docstring for what a subclass sets."""

    model: type[ModelT]
    kind: ClassVar[str] = ""
    """How error messages name a row ("product"); the model's name in lower case if unset."""
    id_field: ClassVar[str | None] = None
    """When set, ids are validated as canonical UUIDs (reported as this input) before any SQL."""
    default_order: ClassVar[tuple[Ordering, ...]] = ()
    """The order of ``list`` when none is given; the primary key if empty."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def noun(self) -> str:
        return self.kind or self.model.__name__.lower()

    # -- reads --------------------------------------------------------------------------------

    async def get(self, ident: Any, /) -> ModelT:
        """The row with this primary key; NotFound if there is none."""
        ident = self.checked_id(ident)
        row = await self.session.get(self.model, ident)
        if row is None:
            raise NotFound(self.noun, str(ident))
        return row

    async def get_one_or_none(self, **filters: Any) -> ModelT | None:
        """The row whose columns equal ``filters``, or None (more than one match is an error:
        ``MultipleResultsFound``)."""
        keys = self._primary_key()
        if len(keys) == 1 and set(filters) == set(keys):
            return await self.session.get(self.model, self.checked_id(filters[keys[0]]))
        statement = select(self.model).filter_by(**filters)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def list(
        self,
        *where: ColumnElement[bool],
        order_by: Ordering | Sequence[Ordering] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Sequence[ModelT]:
        """The rows meeting every condition in ``where``, in ``order_by`` order (the
        repository's default order if not given), ``limit`` of them from ``offset``."""
        if order_by is None:
            ordering: Sequence[Ordering] = self.default_order or [
                getattr(self.model, key) for key in self._primary_key()
            ]
        elif isinstance(order_by, Sequence):
            ordering = order_by
        else:
            ordering = [order_by]
        statement = select(self.model).where(*where).order_by(*ordering)
        statement = statement.limit(limit).offset(offset)
        return (await self.session.scalars(statement)).all()

    async def count(self, *where: ColumnElement[bool]) -> int:
        """How many rows meet every condition in ``where``."""
        statement = select(func.count()).select_from(self.model).where(*where)
        return int((await self.session.execute(statement)).scalar_one())

    # -- writes -------------------------------------------------------------------------------

    async def add(self, row: ModelT, /) -> ModelT:
        """Add ``row`` and flush it (its defaults, such as a new id, are then set)."""
        self.session.add(row)
        await self._flush("created", row=row)
        return row

    async def update(
        self, ident: Any, changes: Mapping[str, Any] | None = None, /, **values: Any
    ) -> ModelT:
        """Set the given columns of the row ``ident`` and flush; no change, no statement but
        the read. An unknown column is InvalidInput before any SQL; a row deleted since it was
        read is NotFound."""
        ident = self.checked_id(ident)
        merged = {**(changes or {}), **values}
        columns = {attribute.key for attribute in inspect(self.model).column_attrs}
        for name in merged:
            if name not in columns:
                raise InvalidInput(name, f"{self.noun} has no such field")
        row = await self.get(ident)
        for name, value in merged.items():
            setattr(row, name, value)
        if merged:
            await self._flush("updated", row=row, ident=ident)
        return row

    async def delete(self, ident: Any, /) -> ModelT:
        """Delete the row ``ident`` in one statement and return it as it was; NotFound if
        there is none."""
        ident = self.checked_id(ident)
        try:
            row = await self._delete_row(ident)
        except IntegrityError as error:
            raise self.refused(classify_integrity(error), "deleted", ident=ident) from None
        if row is None:
            raise NotFound(self.noun, str(ident))
        return row

    # -- what a subclass may refine -----------------------------------------------------------

    def checked_id(self, ident: Any) -> Any:
        """``ident`` as the database stores it: validated when ``id_field`` is set."""
        return validate_id(ident, self.id_field) if self.id_field else ident

    def refused(
        self,
        failure: IntegrityFailure,
        write: Write,
        *,
        row: ModelT | None = None,
        ident: Any = None,
    ) -> UserError:
        """The error a write the database refused becomes, in one line: ``DuplicateError`` for
        a unique constraint, ``ConflictError`` otherwise. ``row`` is the row written (created
        or updated), ``ident`` the id updated or deleted. Override to give a constraint its
        domain meaning, and defer to this for the rest."""
        subject = self.noun if write == "created" else f"{self.noun} {ident}"
        reason = failure.reason
        if failure.violation is Violation.FOREIGN_KEY and write == "deleted":
            reason = f"other rows still refer to it ({reason})"
        elif failure.violation is Violation.FOREIGN_KEY:
            reason = f"a row it refers to does not exist ({reason})"
        message = f"{subject} could not be {write}: {reason}"
        if failure.violation is Violation.UNIQUE:
            return DuplicateError(message)
        return ConflictError(message)

    # -- internals ----------------------------------------------------------------------------

    async def _flush(self, write: Write, *, row: ModelT, ident: Any = None) -> None:
        try:
            await self.session.flush()
        except IntegrityError as error:
            raise self.refused(classify_integrity(error), write, row=row, ident=ident) from None
        except StaleDataError:
            # The UPDATE matched nothing: the row was deleted after it was read.
            raise NotFound(self.noun, str(ident)) from None

    def _primary_key(self) -> tuple[str, ...]:
        mapper = inspect(self.model)
        return tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)

    async def _delete_row(self, ident: Any) -> ModelT | None:
        keys = self._primary_key()
        values = ident if isinstance(ident, tuple) else (ident,)
        statement = delete(self.model).where(
            and_(
                *(
                    getattr(self.model, key) == value
                    for key, value in zip(keys, values, strict=True)
                )
            )
        )
        if self.session.get_bind().dialect.delete_returning:
            result = await self.session.execute(statement.returning(self.model))
            return result.scalar_one_or_none()
        # SQLite before 3.35 has no RETURNING: read the row, then delete it. If another writer
        # deleted it in between, this DELETE matches nothing and the row is NotFound.
        row = await self.session.get(self.model, ident)
        deleted = await self.session.execute(statement.execution_options(synchronize_session=False))
        return row if getattr(deleted, "rowcount", 0) == 1 else None
