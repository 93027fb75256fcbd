"""The fetch path's fill: reserve at once, write in a worker thread, commit in batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloudfs.cache import DiskCache
from cloudfs.cache._index import Index
from tests.unit.cache.conftest import KIB, block, footprint


async def fill(cache: DiskCache, bid: bytes, data: bytes, *, write: bool = True) -> bool:
    reserved = cache.reserve_fill(bid, len(data))
    if reserved is None:
        return False
    if write:
        await asyncio.to_thread(cache.write_fill, reserved, data)
    cache.end_fill(reserved)
    return True


async def settled(cache: DiskCache) -> None:
    """Wait for the batch commit of the fills ended so far."""
    while (committer := cache._committer) is not None:
        await committer


async def test_a_fill_is_cached_once_its_batch_commits(cache: DiskCache) -> None:
    bid, data = block()
    reserved = cache.reserve_fill(bid, len(data))
    assert reserved is not None
    assert bid not in cache  # reserved: busy, not readable yet
    assert cache.reserve_fill(bid, len(data)) is None  # one fill per block
    await asyncio.to_thread(cache.write_fill, reserved, data)
    cache.end_fill(reserved)
    await settled(cache)
    assert bid in cache
    assert await cache.get(bid) == data
    assert cache.reserve_fill(bid, len(data)) is None  # cached already
    u = await cache.usage()
    assert (u.used, u.entries) == (len(data), 1)


async def test_fills_survive_close_and_reopen(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    blocks = [block() for _ in range(5)]
    for b in blocks:
        assert await fill(cache, *b)
    await cache.close()  # waits for the commit in flight
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    try:
        for bid, data in blocks:
            assert await cache.get(bid) == data
        assert cache.open_report.dropped_rows == 0
    finally:
        await cache.close()


async def test_fills_ended_together_commit_in_few_transactions(
    cache: DiskCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    put_many = Index.put_many

    def counting(self: Index, rows: list, evicted: object) -> None:  # type: ignore[type-arg]
        batches.append(len(rows))
        put_many(self, rows, evicted)  # type: ignore[arg-type]

    monkeypatch.setattr(Index, "put_many", counting)
    await asyncio.gather(*(fill(cache, *block(KIB)) for _ in range(40)))
    await settled(cache)
    assert sum(batches) == 40
    assert len(batches) < 40
    assert (await cache.usage()).entries == 40


async def test_an_unwritten_fill_caches_nothing_but_still_evicts(tmp_path: Path) -> None:
    """A block that failed authentication is not written; the victims chosen for it are
    gone all the same (forgotten when it was reserved), rows and slots alike."""
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=16 * KIB)
    try:
        first = [block() for _ in range(4)]
        for b in first:
            assert await fill(cache, *b)
        await settled(cache)
        bad = block()
        assert await fill(cache, *bad, write=False)
        await settled(cache)
        assert bad[0] not in cache
        u = await cache.usage()
        assert (u.used, u.entries) == (12 * KIB, 3)
        on_disk, expected = footprint(cache)
        assert on_disk == expected
        assert await fill(cache, *block())  # takes a slot given back: the file never grew
        await settled(cache)
        assert (cache.root / "slabs" / "1.slab").stat().st_size == 16 * KIB
    finally:
        await cache.close()


async def test_fills_keep_the_bound_and_never_evict_dirty_or_pinned(tmp_path: Path) -> None:
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=32 * KIB)
    try:
        dirty, pinned = block(), block()
        await cache.put_dirty(*dirty)
        await cache.put_clean(*pinned, pin=True)
        for _ in range(4):
            await asyncio.gather(*(fill(cache, *block()) for _ in range(10)))
            await settled(cache)
            u = await cache.usage()
            assert u.used <= u.capacity
        assert await cache.get(dirty[0]) == dirty[1]
        assert await cache.get(pinned[0]) == pinned[1]
        on_disk, expected = footprint(cache)
        assert on_disk == expected
    finally:
        await cache.close()


async def test_no_room_left_by_dirty_blocks_means_no_fill(tmp_path: Path) -> None:
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=16 * KIB)
    try:
        for _ in range(3):
            await cache.put_dirty(*block())
        bid, data = block(5 * KIB)
        assert cache.reserve_fill(bid, len(data)) is None
        assert (await cache.usage()).entries == 3
    finally:
        await cache.close()


async def test_a_fill_ended_after_close_is_dropped_quietly(tmp_path: Path) -> None:
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=64 * KIB)
    bid, data = block()
    reserved = cache.reserve_fill(bid, len(data))
    assert reserved is not None
    closing = asyncio.ensure_future(cache.close())
    await asyncio.sleep(0.01)  # close waits for the reserved block
    cache.write_fill(reserved, data)
    cache.end_fill(reserved)
    await closing
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=64 * KIB)
    try:
        assert await cache.get(bid) is None  # never committed: as if killed
        assert cache.open_report.dropped_rows == 0
    finally:
        await cache.close()
