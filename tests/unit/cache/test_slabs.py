"""Clean blocks in slab files: slots, reuse, hole punching, reopening, the v1 index."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from cloudfs.cache import DiskCache
from cloudfs.cache._slabs import SlotAllocator, pages_for
from tests.unit.cache.conftest import KIB, abandon, block, footprint


def slot_of(cache: DiskCache, block_id: bytes) -> tuple[Path, int]:
    where = cache.where(block_id)
    assert where is not None
    return where[0], where[1]


async def test_a_fetched_block_goes_to_a_slot_not_a_file(cache: DiskCache) -> None:
    bid, data = block(5 * KIB)  # two pages
    await cache.put_clean(bid, data)
    path, offset = slot_of(cache, bid)
    assert path == cache.root / "slabs" / "2.slab"
    assert path.read_bytes()[offset : offset + len(data)] == data  # the sealed bytes as given
    assert not [p for p in (cache.root / "blocks").rglob("*") if p.is_file()]
    assert await cache.get(bid) == data


async def test_blocks_of_one_size_share_a_slab_in_consecutive_slots(cache: DiskCache) -> None:
    blocks = [block(3 * KIB) for _ in range(3)]
    for b in blocks:
        await cache.put_clean(*b)
    offsets = sorted(slot_of(cache, bid)[1] for bid, _ in blocks)
    assert offsets == [0, 4 * KIB, 8 * KIB]


async def test_an_evicted_slot_is_punched_out_and_reused(tmp_path: Path) -> None:
    cache = await DiskCache.open(tmp_path / "c", capacity_bytes=16 * KIB)
    try:
        first = [block() for _ in range(4)]  # fills the cache: slots 0-3
        for b in first:
            await cache.put_clean(*b)
        slab = cache.root / "slabs" / "1.slab"
        assert slab.stat().st_size == 16 * KIB
        # Each evicts one; its slot is free only once the row naming it is gone, so
        # the new block takes a fifth slot, and from then on the slot freed before.
        for _ in range(8):
            await cache.put_clean(*block())
            assert slab.stat().st_size == 20 * KIB
            on_disk, expected = footprint(cache)
            assert on_disk == expected == 16 * KIB
        await cache.discard([bid for bid in list(cache._entries)[:2]])
        on_disk, expected = footprint(cache)
        assert on_disk == expected == 8 * KIB  # the discarded slots hold no disk space
    finally:
        await cache.close()


async def test_slots_survive_close_and_kill(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    kept = [block(), block(6 * KIB)]
    for b in kept:
        await cache.put_clean(*b)
    await cache.close()
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    more = block()
    await cache.put_clean(*more)  # a free slot after the reopened ones, not over them
    abandon(cache)
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    try:
        for bid, data in [*kept, more]:
            assert await cache.get(bid) == data
        assert cache.open_report.dropped_rows == 0
    finally:
        await cache.close()


async def test_a_clean_slot_block_made_dirty_moves_to_a_durable_file(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    bid, data = block()
    await cache.put_clean(bid, data)
    slab, offset = slot_of(cache, bid)
    await cache.put_dirty(bid, data)
    path, _ = slot_of(cache, bid)
    assert path == root / "blocks" / bid.hex()[:2] / bid.hex()
    assert path.read_bytes() == data
    assert slab.stat().st_size == offset + 4 * KIB  # the slot is free (and punched)
    on_disk, expected = footprint(cache)
    assert on_disk == expected
    abandon(cache)
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    try:
        assert await cache.dirty_ids() == [bid]
        assert await cache.get(bid) == data
    finally:
        await cache.close()


async def test_two_rows_naming_one_slot_keep_only_one(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    a, b = block(), block()
    for x in (a, b):
        await cache.put_clean(*x)
    abandon(cache)
    with closing(sqlite3.connect(root / "index.sqlite")) as conn, conn:
        conn.execute("UPDATE blocks SET slot = 0")  # cannot happen; must not be believed
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    try:
        assert cache.open_report.dropped_rows == 1
        assert (await cache.usage()).entries == 1
        c = block()
        await cache.put_clean(*c)  # does not take the surviving row's slot
        assert slot_of(cache, c[0])[1] == 4 * KIB
        assert await cache.get(c[0]) == c[1]
    finally:
        await cache.close()


async def test_a_version_1_index_keeps_its_blocks_as_files(tmp_path: Path) -> None:
    """A cache written before slabs existed: its rows gain the ``slot`` column (NULL)."""
    root = tmp_path / "c"
    bid, data = block()
    (root / "blocks" / bid.hex()[:2]).mkdir(parents=True)
    (root / "blocks" / bid.hex()[:2] / bid.hex()).write_bytes(data)
    with closing(sqlite3.connect(root / "index.sqlite")) as conn, conn:
        conn.execute(
            "CREATE TABLE blocks (id BLOB PRIMARY KEY, size INTEGER NOT NULL, dirty INTEGER "
            "NOT NULL, pins INTEGER NOT NULL, last_seq INTEGER NOT NULL) WITHOUT ROWID"
        )
        conn.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        conn.execute("INSERT INTO blocks VALUES (?, ?, 1, 0, 1)", (bid, len(data)))
        conn.execute("PRAGMA user_version = 1")
    cache = await DiskCache.open(root, capacity_bytes=64 * KIB)
    try:
        assert await cache.dirty_ids() == [bid]
        assert await cache.get(bid) == data
        assert cache.open_report.dropped_rows == 0
    finally:
        await cache.close()


def test_the_allocator_reuses_the_lowest_free_slot() -> None:
    slots = SlotAllocator.from_taken([(1, 0), (1, 3), (2, 1)])
    assert [slots.take(1) for _ in range(3)] == [1, 2, 4]
    slots.give(1, 2)
    slots.give(1, 1)
    assert slots.take(1) == 1
    assert slots.take(2) == 0
    assert slots.ends() == {1: 5, 2: 2}


def test_pages_round_up_to_whole_4k_pages() -> None:
    assert [pages_for(n) for n in (0, 1, 4096, 4097, (1 << 20) + 456)] == [1, 1, 1, 2, 257]
