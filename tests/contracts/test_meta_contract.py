"""Run the MetaStore contract against SQLite: in memory, and in a file (with reopen)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cloudfs.meta.protocol import MetaStore
from cloudfs.meta.sqlite import SqliteMetaStore
from tests.contracts.meta_contract import MetaContract, Reopen


def ticking_clock() -> Callable[[], int]:
    """A clock that moves 1 µs on every reading, so time bumps are always visible."""
    ticks = itertools.count(1_700_000_000_000_000_000, 1000)
    return lambda: next(ticks)


@pytest.fixture(params=["memory", "file"])
def sqlite_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ":memory:" if request.param == "memory" else str(tmp_path / "meta.db")


@pytest.fixture
async def opened() -> AsyncIterator[list[MetaStore]]:
    """Every store a test opened, closed when it ends."""
    stores: list[MetaStore] = []
    yield stores
    for store in stores:
        await store.close()


@pytest.fixture
async def blank_meta(sqlite_path: str, opened: list[MetaStore]) -> MetaStore:
    store = await SqliteMetaStore.open(sqlite_path, clock=ticking_clock())
    opened.append(store)
    return store


@pytest.fixture
def reopen(sqlite_path: str, opened: list[MetaStore]) -> Reopen | None:
    if sqlite_path == ":memory:":
        return None

    async def reopen(store: MetaStore) -> MetaStore:
        await store.close()
        again = await SqliteMetaStore.open(sqlite_path, clock=ticking_clock())
        opened.append(again)
        return again

    return reopen


class TestSqliteContract(MetaContract):
    pass
