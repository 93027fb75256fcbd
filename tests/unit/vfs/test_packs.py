"""Packs (filespace format 4, ADR 20): neighbouring blocks of one commit as one object.

A real VFS over a memory store that counts calls; blocks of 64 KiB, four to a pack.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from tests.fault.faultutil import forget_cached
from tests.vfsutil import SMALL_BLOCK, close_vfs, make_vfs, make_vfs_with_cache

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.layout import blocks_per_pack, pack_offsets
from cloudfs.blocks.ref import BlockRef
from cloudfs.cache import DiskCache
from cloudfs.codec.envelope import framed_size
from cloudfs.meta.protocol import ROOT_INO, AttrChanges
from cloudfs.store.config import MemoryStoreConfig
from cloudfs.store.faulty import CountingStore, FaultyStore
from cloudfs.store.obstore_backend import open_store
from cloudfs.store.protocol import ObjectStore
from cloudfs.vfs import pinning
from cloudfs.vfs.core import Vfs
from cloudfs.vfs.pinning import tree_refs, warm_up

BS = SMALL_BLOCK
SLOT = pack_offsets([framed_size(BS)] * 2, BS)[1]  # where a pack's second raw block starts
FOUR = 4 * SLOT  # pack_bytes that make packs of four blocks


@pytest.fixture
async def counted() -> AsyncIterator[tuple[Vfs, CountingStore]]:
    store = CountingStore(open_store(MemoryStoreConfig()))
    vfs = await make_vfs(cast(ObjectStore, store), pack_bytes=FOUR)
    yield vfs, store
    await close_vfs(vfs)


async def write_file(vfs: Vfs, name: str, data: bytes) -> int:
    handle, inode = await vfs.create(ROOT_INO, name, 0o644, os.O_WRONLY, 0, 0)
    await vfs.write(handle.fh, 0, data)
    await vfs.release(handle.fh)
    await vfs.sync_all()
    return inode.ino


async def read(vfs: Vfs, ino: int, offset: int, size: int) -> bytes:
    handle = await vfs.open(ino, os.O_RDONLY)
    try:
        return await vfs.read(handle.fh, offset, size)
    finally:
        await vfs.release(handle.fh)


async def keys(store: ObjectStore, prefix: str) -> list[str]:
    return [m.key async for m in store.list(prefix)]


def test_pack_groups_are_runs_within_one_span() -> None:
    blocks = BlockStore(open_store(MemoryStoreConfig()), None, BS, pack_bytes=FOUR)  # type: ignore[arg-type]
    assert blocks.pack_span == 4
    refs = {i: BlockRef(bytes([i]) * 16, BS, 10) for i in (0, 1, 2, 3, 4, 6, 7, 9, 11, 12)}
    groups = [[r.id[0] for r in g] for g in blocks.pack_groups(refs)]
    assert groups == [[0, 1, 2, 3], [4], [6, 7], [9], [11], [12]]
    assert blocks.pack_groups(dict(reversed(refs.items()))) == blocks.pack_groups(refs)


def test_blocks_per_pack_by_block_size() -> None:
    """Four default (4,032 KiB) blocks, each starting on a 4 MiB radosgw stripe; none of
    16 MiB; at most 16 small ones."""
    assert blocks_per_pack(4032 * 1024) == 4
    raw = framed_size(4032 * 1024)
    assert pack_offsets([raw] * 4, 4032 * 1024) == [i * 4 * 1024 * 1024 for i in range(4)]
    assert pack_offsets([raw, 1000, raw], 4032 * 1024) == [0, raw + 4096 - raw % 4096, 4 << 20]
    assert blocks_per_pack(16 * 1024 * 1024) == blocks_per_pack(16320 * 1024) == 1
    assert blocks_per_pack(64 * 1024) == 16


async def test_a_sequential_write_goes_up_in_packs_and_reads_back_in_runs(
    counted: tuple[Vfs, CountingStore],
) -> None:
    vfs, store = counted
    data = os.urandom(10 * BS + 100)
    ino = await write_file(vfs, "f", data)
    packs, own = await keys(store, "packs/"), await keys(store, "blocks/")
    assert (len(packs), len(own)) == (3, 0)  # blocks 0-3, 4-7 and 8-10
    forget_cached(vfs)
    store.reset()
    handle = await vfs.open(ino, os.O_RDONLY)
    got = b"".join([await vfs.read(handle.fh, pos, BS) for pos in range(0, len(data), BS)])
    await vfs.release(handle.fh)
    assert got == data
    # The first block, the rest of its pack (read ahead), then one request per pack.
    assert store.count("get") == store.count() == 4
    assert store.bytes_moved() < len(data) + 4 * SLOT  # each block fetched once


async def test_one_block_of_a_pack_is_fetched_alone_whole_or_in_part() -> None:
    """Blocks of four 64 KiB frames here, so that a small read can take one frame."""
    big = 4 * BS
    store = CountingStore(open_store(MemoryStoreConfig()))
    slot = pack_offsets([framed_size(big)] * 2, big)[1]
    vfs = await make_vfs(cast(ObjectStore, store), block_size=big, pack_bytes=4 * slot)
    try:
        data = os.urandom(4 * big)
        ino = await write_file(vfs, "f", data)
        forget_cached(vfs)
        store.reset()
        assert await read(vfs, ino, 2 * big + BS + 5, 100) == data[2 * big + BS + 5 :][:100]
        assert store.count("get_range") == store.count() == 1
        assert store.bytes_moved() < BS + 100  # one frame of block 2, not the block or pack
        forget_cached(vfs)
        store.reset()
        assert await read(vfs, ino, big, big) == data[big : 2 * big]
        assert store.count("get") == store.count() == 1
        assert store.bytes_moved() == framed_size(big)  # that block only
    finally:
        await close_vfs(vfs)


async def test_a_pack_stays_until_its_last_block_goes(counted: tuple[Vfs, CountingStore]) -> None:
    vfs, store = counted
    data = os.urandom(4 * BS)
    ino = await write_file(vfs, "f", data)
    [pack] = await keys(store, "packs/")
    handle = await vfs.open(ino, os.O_WRONLY)
    await vfs.write(handle.fh, BS + 10, b"changed")
    await vfs.release(handle.fh)
    await vfs.sync_all()
    assert await vfs.collect_garbage() == 0  # block 1 now has its own object
    assert await keys(store, "packs/") == [pack]
    forget_cached(vfs)
    expected = data[: BS + 10] + b"changed" + data[BS + 17 :]
    assert await read(vfs, ino, 0, 4 * BS) == expected
    await vfs.setattr(ino, AttrChanges(size=BS))  # blocks 2, 3 go; block 0 keeps it
    assert await vfs.collect_garbage() == 1  # block 1's own object
    assert await keys(store, "packs/") == [pack]
    await vfs.setattr(ino, AttrChanges(size=0))
    assert await vfs.collect_garbage() == 1  # the pack
    assert await keys(store, "packs/") == []
    assert await keys(store, "blocks/") == []


@pytest.mark.parametrize("damage", ["flip", "truncate"])
async def test_a_damaged_pack_is_refused_block_by_block(damage: str) -> None:
    store = open_store(MemoryStoreConfig())
    vfs = await make_vfs(store, pack_bytes=FOUR)
    try:
        data = os.urandom(4 * BS)
        ino = await write_file(vfs, "f", data)
        [key] = await keys(store, "packs/")
        raw = bytearray(await store.get(key))
        if damage == "flip":
            raw[3 * SLOT + 100] ^= 1  # inside block 3
        else:
            del raw[-1]
        await store.put(key, raw)
        forget_cached(vfs)
        for index in range(3):
            assert await read(vfs, ino, index * BS, BS) == data[index * BS : (index + 1) * BS]
        forget_cached(vfs)
        with pytest.raises(OSError) as e:
            await read(vfs, ino, 3 * BS, BS)
        assert e.value.errno == errno.EIO
        forget_cached(vfs)
        with pytest.raises(OSError):  # all of it, read ahead in one run: refused, not returned
            await read(vfs, ino, 0, 4 * BS)
    finally:
        await close_vfs(vfs)


async def test_a_pack_upload_that_fails_is_retried_whole() -> None:
    """Half the puts fail: every pack goes up eventually, each under the same key."""
    flaky = FaultyStore(open_store(MemoryStoreConfig()), error_rate=0.5, operations={"put"}, seed=7)
    vfs = await make_vfs(cast(ObjectStore, flaky), pack_bytes=FOUR)
    try:
        data = os.urandom(9 * BS)
        ino = await write_file(vfs, "f", data)
        assert flaky.injected > 0
        assert len(await keys(flaky, "packs/")) == 2  # each retry wrote the same pack
        forget_cached(vfs)
        assert await read(vfs, ino, 0, len(data)) == data
    finally:
        await close_vfs(vfs)


async def test_a_read_that_raced_the_commit_into_a_pack_finds_the_pack(
    counted: tuple[Vfs, CountingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that took a block's ref from the journaled record (no pack yet) and fetches
    after the queue committed it into a pack and the cache let it go: the block's own
    object was never written, so the read asks the block map again and reads the pack."""
    vfs, _ = counted
    handle, inode = await vfs.create(ROOT_INO, "f", 0o644, os.O_WRONLY, 0, 0)
    data = os.urandom(4 * BS)
    await vfs.write(handle.fh, 0, data)
    await vfs.release(handle.fh)
    pending = vfs.queue.overlay(inode.ino)
    assert pending is not None
    stale = pending.blocks[2]
    assert stale.pack is None
    await vfs.sync_all()  # committed: block 2 now lives in a pack
    reader = await vfs.open(inode.ino, os.O_RDONLY)
    forget_cached(vfs)
    f = reader.file
    real = f.committed_ref
    calls = 0

    async def first_stale(index: int) -> BlockRef | None:
        nonlocal calls
        calls += 1
        return stale if calls == 1 else await real(index)

    monkeypatch.setattr(f, "committed_ref", first_stale)
    try:
        assert await vfs.read(reader.fh, 2 * BS, BS) == data[2 * BS : 3 * BS]
        assert calls == 2
    finally:
        await vfs.release(reader.fh)


async def test_warm_up_and_pinning_fetch_a_pack_by_one_request(tmp_path: Path) -> None:
    """`cloudfs warmup` and pins fetch the uncached neighbours of a pack together."""
    store = CountingStore(open_store(MemoryStoreConfig()))
    vfs = await make_vfs_with_cache(cast(ObjectStore, store), state_dir=tmp_path, pack_bytes=FOUR)
    try:
        data = os.urandom(10 * BS + 100)
        ino = await write_file(vfs, "f", data)
        _, refs = await tree_refs(vfs, ino)
        assert len(refs) == 11
        disk = cast(DiskCache, vfs.disk)
        await disk.discard([ref.id for ref in refs if ref is not refs[1]])  # keep block 1
        forget_cached(vfs)
        store.reset()
        done: list[int] = []
        assert await warm_up(vfs, disk, ROOT_INO, done.append) == (1, len(data))
        assert sum(done) == len(data)
        # One GET per pack; pack 0's spans cached block 1 rather than making two requests.
        assert store.count("get") == store.count() == 3
        assert all([await disk.is_cached(ref.id) for ref in refs])
        await disk.discard([ref.id for ref in refs])
        store.reset()
        await pinning._fetch(vfs, disk, refs, pin=True)
        assert store.count("get") == store.count() == 3
        assert await disk.pinned_ids() == {ref.id for ref in refs}
        vfs.fetcher.clear()
        assert await read(vfs, ino, 0, len(data)) == data
        assert store.count() == 3  # read from the cache
    finally:
        await close_vfs(vfs)
