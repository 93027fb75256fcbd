"""Fixtures for the metadata engine tests: SQLite stores that are closed afterwards."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from cloudfs.meta.sqlite import SqliteMetaStore

OpenStore = Callable[..., Awaitable[SqliteMetaStore]]


def ticking_clock() -> Callable[[], int]:
    ticks = itertools.count(1_700_000_000_000_000_000, 1000)
    return lambda: next(ticks)


@pytest.fixture
async def open_store() -> AsyncIterator[OpenStore]:
    """``await open_store(path)`` opens a store that is closed when the test ends."""
    stores: list[SqliteMetaStore] = []

    async def open_(path: str | Path, **kwargs: object) -> SqliteMetaStore:
        store = await SqliteMetaStore.open(path, clock=ticking_clock(), **kwargs)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield open_
    for store in stores:
        await store.close()


@pytest.fixture
async def formatted(open_store: OpenStore, tmp_path: Path) -> SqliteMetaStore:
    store = await open_store(tmp_path / "meta.db")
    await store.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0)
    return store
