"""ThrottledStore: bandwidth is shared per direction, concurrency is capped."""

from __future__ import annotations

import asyncio
import time

import pytest

from cloudfs.store.config import MemoryStoreConfig, open_store
from cloudfs.store.faulty import FaultyStore
from cloudfs.store.protocol import ObjectMeta, ObjectStore
from cloudfs.store.throttled import ThrottledStore


@pytest.fixture
def inner() -> ObjectStore:
    return open_store(MemoryStoreConfig())


async def timed(coro: object) -> float:
    started = time.monotonic()
    await coro  # type: ignore[misc]
    return time.monotonic() - started


async def test_unlimited_is_transparent(inner: ObjectStore) -> None:
    store = ThrottledStore(inner)
    await store.put("k", b"v")
    assert await store.get("k") == b"v"
    assert await store.get_range("k", 0, 5) == b"v"
    assert isinstance(await store.head("k"), ObjectMeta)
    assert [m.key async for m in store.list()] == ["k"]
    await store.delete("k")
    await store.close()


async def test_uploads_take_size_over_bandwidth(inner: ObjectStore) -> None:
    store = ThrottledStore(inner, bytes_per_second=1_000_000)
    elapsed = await timed(store.put("k", b"x" * 100_000))
    assert 0.09 <= elapsed < 0.3


async def test_concurrent_downloads_share_the_bandwidth(inner: ObjectStore) -> None:
    await inner.put("k", b"x" * 50_000)
    store = ThrottledStore(inner, bytes_per_second=1_000_000)
    elapsed = await timed(asyncio.gather(*(store.get("k") for _ in range(4))))
    assert 0.19 <= elapsed < 0.5


async def test_directions_are_independent(inner: ObjectStore) -> None:
    await inner.put("k", b"x" * 100_000)
    store = ThrottledStore(inner, bytes_per_second=1_000_000)
    elapsed = await timed(asyncio.gather(store.get("k"), store.put("j", b"y" * 100_000)))
    assert 0.09 <= elapsed < 0.18


async def test_concurrency_is_capped(inner: ObjectStore) -> None:
    slow = FaultyStore(inner, latency=0.05)
    store = ThrottledStore(slow, max_concurrency=2)
    elapsed = await timed(asyncio.gather(*(store.put(f"k{i}", b"") for i in range(6))))
    assert 0.15 <= elapsed < 0.4


@pytest.mark.parametrize("kwargs", [{"bytes_per_second": 0}, {"max_concurrency": 0}])
def test_nonsense_limits_are_refused(inner: ObjectStore, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ThrottledStore(inner, **kwargs)
