"""The service tests' fake unit of work is a ``Work``, as the real one is."""

from __future__ import annotations

from pathlib import Path

from qulab.core import Database, Settings
from qulab.platform import UnitOfWorkFactory, Work, uow_factory
from tests.unit.fake_uow import FakeFactory, FakeUnitOfWork, Store


def as_factory(factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
    """Accepts only what a service accepts: the type checker holds both factories to it."""
    return factory


async def test_an_entered_fake_unit_is_work() -> None:
    async with as_factory(FakeFactory())() as unit:
        assert isinstance(unit, Work)
    assert isinstance(await FakeUnitOfWork(Store()).__aenter__(), Work)


async def test_an_entered_real_unit_is_work(tmp_path: Path) -> None:
    db = Database(Settings().replace(database_url=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"))
    try:
        async with as_factory(uow_factory(db))() as unit:
            assert isinstance(unit, Work)
    finally:
        await db.dispose()


async def test_a_unit_without_repositories_is_not_work() -> None:
    class Bare:
        async def commit(self) -> None: ...

    assert not isinstance(Bare(), Work)
