"""DiskCache: bounds, dirty and pinned blocks, persistence, kill -9 recovery."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from cloudfs.cache import (
    DiskCache,
    NotCachedError,
    PinLimitError,
    read_usage,
    write_capacity,
)
from cloudfs.errors import ClientError, ConfigurationError
from tests.unit.cache.conftest import KIB, abandon, block, damage, footprint


async def test_put_get_roundtrip_and_counters(cache: DiskCache) -> None:
    bid, data = block()
    assert await cache.get(bid) is None
    assert await cache.put_clean(bid, data)
    assert await cache.put_clean(bid, data)  # idempotent
    assert await cache.get(bid) == data
    assert await cache.is_cached(bid)
    u = await cache.usage()
    assert (u.used, u.entries, u.hits, u.misses, u.hit_ratio) == (len(data), 1, 1, 1, 0.5)


async def test_files_are_the_sealed_bytes_under_sharded_names(cache: DiskCache) -> None:
    bid, data = block()
    await cache.put_dirty(bid, data)
    path = cache.root / "blocks" / bid.hex()[:2] / bid.hex()
    assert path.read_bytes() == data
    assert not list((cache.root / "blocks").rglob("*.tmp"))


async def test_bound_holds_on_every_insert(cache: DiskCache) -> None:
    for _ in range(40):
        assert await cache.put_clean(*block())
        assert (await cache.usage()).used <= cache.capacity
    assert (await cache.usage()).entries == 16


async def test_dirty_and_pinned_are_never_evicted(cache: DiskCache) -> None:
    dirty = [block() for _ in range(4)]
    for bid, data in dirty:
        await cache.put_dirty(bid, data)
    pinned = block()
    await cache.put_clean(*pinned, pin=True)
    for _ in range(30):
        await cache.put_clean(*block())
    for bid, data in [*dirty, pinned]:
        assert await cache.get(bid) == data
    u = await cache.usage()
    assert (u.dirty_count, u.dirty_bytes, u.pinned_count) == (4, 16 * KIB, 1)
    assert await cache.dirty_ids() == [bid for bid, _ in dirty]


async def test_put_clean_refuses_when_everything_is_locked(cache: DiskCache) -> None:
    for _ in range(12):  # 48 KiB dirty = the dirty limit
        await cache.put_dirty(*block())
    pins = [block() for _ in range(4)]
    for b in pins:
        await cache.put_clean(*b)
    await cache.pin([b[0] for b in pins])
    assert not await cache.put_clean(*block())
    assert (await cache.usage()).used == 64 * KIB


async def test_put_dirty_waits_until_mark_clean(cache: DiskCache) -> None:
    first = [block(16 * KIB) for _ in range(3)]  # 48 KiB: the whole dirty limit
    for b in first:
        await cache.put_dirty(*b)
    late = block(16 * KIB)
    waiter = asyncio.create_task(cache.put_dirty(*late))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await cache.mark_clean([first[0][0]])
    await asyncio.wait_for(waiter, 5)
    assert await cache.get(late[0]) == late[1]
    u = await cache.usage()
    assert u.dirty_bytes == 48 * KIB
    assert u.used <= 64 * KIB


async def test_put_dirty_wait_released_by_discard_and_capacity(cache: DiskCache) -> None:
    for _ in range(3):
        await cache.put_dirty(*block(16 * KIB))
    waiters = [asyncio.create_task(cache.put_dirty(*block(16 * KIB))) for _ in range(2)]
    await asyncio.sleep(0.02)
    await cache.discard([(await cache.dirty_ids())[0]])
    await asyncio.sleep(0.05)
    assert sum(w.done() for w in waiters) == 1
    await cache.set_capacity(128 * KIB)  # dirty limit 96 KiB
    await asyncio.wait_for(asyncio.gather(*waiters), 5)


async def test_block_larger_than_dirty_limit_is_admitted(cache: DiskCache) -> None:
    bid, data = block(100 * KIB)
    await cache.put_dirty(bid, data)
    assert await cache.get(bid) == data
    assert (await cache.usage()).used == 100 * KIB
    await cache.mark_clean([bid])
    assert (await cache.usage()).used == 0  # over the bound once clean: evicted


async def test_clean_block_becomes_dirty(cache: DiskCache) -> None:
    bid, data = block()
    await cache.put_clean(bid, data)
    await cache.put_dirty(bid, data)
    assert await cache.dirty_ids() == [bid]


async def test_pin_limits_and_errors(cache: DiskCache) -> None:
    blocks = [block(16 * KIB) for _ in range(4)]
    for b in blocks:
        await cache.put_clean(*b)
    await cache.pin([b[0] for b in blocks[:3]])  # 48 KiB <= 51.2 KiB
    with pytest.raises(PinLimitError):
        await cache.pin([blocks[3][0]])
    with pytest.raises(NotCachedError):
        await cache.pin([b"\0" * 16])
    await cache.pin([blocks[0][0]])  # a second pin costs nothing
    await cache.unpin([blocks[0][0], blocks[1][0], b"nope"])
    u = await cache.usage()
    assert (u.pinned_count, u.pinned_bytes) == (2, 32 * KIB)


async def test_set_capacity_evicts_at_once_but_not_below_locked(cache: DiskCache) -> None:
    dirty = block(16 * KIB)
    await cache.put_dirty(*dirty)
    for _ in range(3):
        await cache.put_clean(*block(16 * KIB))
    await cache.set_capacity(8 * KIB)
    u = await cache.usage()
    assert (u.used, u.entries, u.capacity) == (16 * KIB, 1, 8 * KIB)
    with pytest.raises(ConfigurationError):
        await cache.set_capacity(0)


async def test_clear_keeps_dirty_and_pinned(cache: DiskCache) -> None:
    await cache.put_dirty(*block())
    pinned = block()
    await cache.put_clean(*pinned, pin=True)
    for _ in range(5):
        await cache.put_clean(*block())
    await cache.clear()
    u = await cache.usage()
    assert (u.entries, u.dirty_count, u.pinned_count) == (2, 1, 1)


async def test_many_concurrent_puts_and_gets(cache: DiskCache) -> None:
    blocks = [block(2 * KIB) for _ in range(200)]

    async def one(bid: bytes, data: bytes) -> None:
        if await cache.put_clean(bid, data):
            got = await cache.get(bid)
            assert got in (None, data)  # may be evicted by a neighbour meanwhile

    await asyncio.gather(*(one(*b) for b in blocks), *(one(*b) for b in blocks[:50]))
    dirty = [block(KIB) for _ in range(40)]
    await asyncio.gather(*(cache.put_dirty(*b) for b in dirty))
    for bid, data in dirty:
        assert await cache.get(bid) == data
    u = await cache.usage()
    assert u.used <= max(u.capacity, u.dirty_bytes + u.pinned_bytes)
    on_disk, expected = footprint(cache)
    assert on_disk == expected


async def test_concurrent_puts_of_one_id_share_the_write(cache: DiskCache) -> None:
    bid, data = block()
    await asyncio.gather(*(cache.put_clean(bid, data) for _ in range(10)))
    assert (await cache.usage()).entries == 1


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB, policy="lru")
    clean, dirty, pinned = block(), block(), block()
    await cache.put_clean(*clean)
    await cache.put_dirty(*dirty)
    await cache.put_clean(*pinned, pin=True)
    await cache.get(clean[0])
    await cache.set_capacity(32 * KIB)
    await cache.close()
    await cache.close()
    with pytest.raises(ClientError):
        await cache.get(clean[0])
    cache = await DiskCache.open(root, capacity_bytes=999 * KIB)
    try:
        u = await cache.usage()
        assert (u.capacity, u.entries, u.dirty_count, u.pinned_count, u.hits) == (
            32 * KIB,
            3,
            1,
            1,
            1,
        )
        for bid, data in (clean, dirty, pinned):
            assert await cache.get(bid) == data
        assert cache.open_report.lost_dirty == ()
    finally:
        await cache.close()


async def test_second_process_is_refused(cache: DiskCache) -> None:
    with pytest.raises(ClientError, match="in use"):
        await DiskCache.open(cache.root, capacity_bytes=KIB)


async def test_reopen_after_kill(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    kept_dirty, lost_dirty, lost_clean, truncated = block(), block(), block(), block()
    kept_clean, cut_slot = block(), block()
    for b in (kept_dirty, lost_dirty, lost_clean, truncated):
        await cache.put_dirty(*b)
    await cache.mark_clean([lost_clean[0], truncated[0]])  # clean, in files of their own
    for b in (kept_clean, cut_slot):  # fetched: slots 0 and 1 of one slab
        await cache.put_clean(*b)
    slab, offset, _ = cache.where(cut_slot[0]) or (root, 0, 0)
    abandon(cache)  # kill -9: no close
    files = root / "blocks"
    (files / lost_dirty[0].hex()[:2] / lost_dirty[0].hex()).unlink()
    (files / lost_clean[0].hex()[:2] / lost_clean[0].hex()).unlink()
    (files / truncated[0].hex()[:2] / truncated[0].hex()).write_bytes(b"short")
    (files / "ab" / f".{'ab' * 16}.1234.tmp").write_bytes(b"partial")  # a write cut short
    (files / "cd" / ("cd" * 16)).write_bytes(b"renamed, row never committed")
    os.truncate(slab, offset + 100)  # the last slot's write was cut short
    with caplog.at_level(logging.ERROR, logger="cloudfs.cache"):
        cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    try:
        report = cache.open_report
        assert report.lost_dirty == (lost_dirty[0],)
        assert (report.dropped_rows, report.removed_files) == (3, 3)
        assert lost_dirty[0].hex() in caplog.text
        assert await cache.dirty_ids() == [kept_dirty[0]]
        assert await cache.get(kept_dirty[0]) == kept_dirty[1]
        assert await cache.get(kept_clean[0]) == kept_clean[1]
        assert await cache.get(truncated[0]) is None
        assert await cache.get(cut_slot[0]) is None
        assert sorted(p.name for p in files.rglob("*") if p.is_file()) == [kept_dirty[0].hex()]
        assert slab.stat().st_size == offset  # cut after the last slot in use
    finally:
        await cache.close()


@pytest.mark.parametrize("how", ["truncate", "flip", "zero"])
@pytest.mark.parametrize("kind", ["slot", "file"])
async def test_corrupt_copy_is_refused_discarded_and_refetched(
    cache: DiskCache, how: str, kind: str
) -> None:
    """The VFS pattern: get → the AEAD refuses → discard → fetch again → put_clean."""
    from cloudfs.errors import IntegrityError

    bid, good = block()
    if kind == "file":  # a block written here, uploaded since: in a file of its own
        await cache.put_dirty(bid, good)
        await cache.mark_clean([bid])

    def open_sealed(sealed: bytes) -> bytes:  # stands in for BlockCodec.open
        if sealed != good:
            raise IntegrityError()
        return sealed

    await cache.put_clean(bid, good)
    damage(cache, bid, how)
    sealed = await cache.get(bid)
    assert sealed is not None
    with pytest.raises(IntegrityError):
        open_sealed(sealed)
    await cache.discard([bid])
    assert await cache.get(bid) is None
    assert await cache.put_clean(bid, good)  # refetched from the store
    assert open_sealed(await cache.get(bid) or b"") == good


@pytest.mark.parametrize("kind", ["slot", "file"])
async def test_part_of_a_copy_is_read_alone(tmp_path: Path, kind: str) -> None:
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=1024 * KIB)
    try:
        await _read_parts(cache, kind)
    finally:
        await cache.close()


async def _read_parts(cache: DiskCache, kind: str) -> None:
    bid, data = block(300 * KIB + 123)
    if kind == "file":
        await cache.put_dirty(bid, data)
        await cache.mark_clean([bid])
    else:
        await cache.put_clean(bid, data)
    seen: list[int] = []

    def use(view: memoryview) -> bytes:
        seen.append(len(view))
        return bytes(view)

    for start, length in [(0, 10), (5000, 70_000), (4096, 4096), (300 * KIB, 123), (7, 0)]:
        got = await cache.get_with(bid, use, start=start, length=length)
        assert got == data[start : start + length]
    assert await cache.get_with(bid, use, start=300 * KIB, length=10_000) == data[300 * KIB :]
    assert await cache.get_with(bid, use) == data
    assert max(seen[:-1]) == 70_000  # never the whole copy for a part


async def test_part_of_a_truncated_copy_comes_back_short(cache: DiskCache) -> None:
    bid, data = block(64 * KIB)
    await cache.put_dirty(bid, data)
    await cache.mark_clean([bid])
    damage(cache, bid, "truncate")  # 100 bytes left
    got = await cache.get_with(bid, bytes, start=50, length=8000)  # type: ignore[arg-type]
    assert got == data[50:100]  # short: the caller's AEAD refuses it


async def test_file_deleted_behind_the_cache_is_a_miss(cache: DiskCache) -> None:
    bid, data = block()
    await cache.put_dirty(bid, data)  # uploaded since: a clean block in a file of its own
    await cache.mark_clean([bid])
    (cache.root / "blocks" / bid.hex()[:2] / bid.hex()).unlink()
    assert await cache.get(bid) is None
    assert not await cache.is_cached(bid)
    assert (await cache.usage()).used == 0


async def test_another_process_reads_usage_and_sets_capacity(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB, housekeeping_interval=0.05)
    try:
        bid, data = block()
        await cache.put_clean(bid, data)
        await cache.get(bid)
        await cache.get(b"x" * 16)
        await asyncio.sleep(0.2)  # one housekeeping period flushes the counters
        seen = await read_usage(root)
        assert (seen.used, seen.hits, seen.misses, seen.capacity) == (len(data), 1, 1, 64 * KIB)
        await write_capacity(root, 2 * KIB)
        for _ in range(100):
            if cache.capacity == 2 * KIB:
                break
            await asyncio.sleep(0.02)
        assert cache.capacity == 2 * KIB
        assert (await cache.usage()).used == 0
    finally:
        await cache.close()
    with pytest.raises(FileNotFoundError):
        await read_usage(tmp_path / "none")


async def test_reload_settings_directly(cache: DiskCache) -> None:
    await write_capacity(cache.root, 32 * KIB)
    await cache.reload_settings()
    assert cache.capacity == 32 * KIB


async def test_dirty_row_is_committed_to_the_wal(cache: DiskCache) -> None:
    bid, data = block()
    await cache.put_dirty(bid, data)
    with closing(sqlite3.connect(cache.root / "index.sqlite")) as conn:
        assert conn.execute("SELECT dirty FROM blocks WHERE id = ?", (bid,)).fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_close_wakes_waiting_writers(tmp_path: Path) -> None:
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=4 * KIB)
    await cache.put_dirty(*block(3 * KIB))
    waiter = asyncio.create_task(cache.put_dirty(*block(3 * KIB)))
    await asyncio.sleep(0.02)
    await cache.close()
    with pytest.raises(ClientError):
        await waiter


async def test_open_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        await DiskCache.open(tmp_path, capacity_bytes=0)
    with pytest.raises(ConfigurationError):
        await DiskCache.open(tmp_path, capacity_bytes=1, policy="mru")


async def test_journaled_file_without_its_row_is_adopted(tmp_path: Path) -> None:
    """A dirty block's row is not synced on its own (the journal record naming it is): after
    a power cut the file may be there without its row.  Opening with the journal's block
    ids adopts such a file as dirty; a file nobody names is still removed."""
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    journaled, unnamed = block(), block()
    for b in (journaled, unnamed):
        await cache.put_dirty(*b)
    abandon(cache)
    with closing(sqlite3.connect(root / "index.sqlite")) as conn, conn:
        conn.execute("DELETE FROM blocks")  # the rows the power cut took
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB, journaled=[journaled[0]])
    try:
        assert await cache.dirty_ids() == [journaled[0]]
        assert await cache.get(journaled[0]) == journaled[1]
        assert await cache.get(unnamed[0]) is None
        assert cache.open_report.removed_files == 1
    finally:
        await cache.close()
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)  # the adoption was durable
    try:
        assert await cache.dirty_ids() == [journaled[0]]
    finally:
        await cache.close()
