"""The write-back queue under faults, with the real disk cache and journal.

What issue 3 promises of write-back, each checked here:

* an outage of seconds: writes and closes keep succeeding, the status shows the pending
  files and bytes and that the queue is retrying; when the store is back ``sync_all``
  completes and every file is committed as written;
* transient errors: every upload eventually commits the right bytes;
* replay: a client that stops without draining (or is abandoned, as kill -9 would leave
  it) loses nothing it closed: the next client on the same state folder replays the
  journal; blocks staged by a writer that never closed are discarded;
* dirty blocks are never evicted: writes larger than the whole cache wait for uploads
  instead of failing, and every byte is right after ``sync_all``;
* a corrupt cache file is never returned: a clean block is fetched again from the store,
  a dirty one (the only copy) reads as EIO.

The meaning of "in the store" is always checked against the real (unwrapped) store and
the metadata engine: see :mod:`tests.fault.faultutil`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudfs.blocks.ref import BlockRef
from cloudfs.cache.disk import DiskCache, write_capacity
from cloudfs.store.config import LocalStoreConfig, open_store
from cloudfs.store.faulty import CountingStore, FaultyStore
from cloudfs.vfs.core import Vfs, VfsOptions
from tests.contracts.vfs_contract import BS, VfsDriver
from tests.fault.faultutil import (
    all_refs_exist,
    committed,
    eventually,
)
from tests.vfsutil import close_vfs, make_vfs_with_cache


@dataclass
class Site:
    """One client's world: an object folder, a metadata file, a state folder, keys."""

    root: Path
    master: bytes
    filespace_id: bytes

    @property
    def state(self) -> Path:
        return self.root / "state"

    def store(self) -> FaultyStore:
        return FaultyStore(open_store(LocalStoreConfig(root=self.root / "objects")), seed=3)

    async def open(self, store: FaultyStore | None = None, **kwargs: object) -> Vfs:
        """A client on this site (a fresh VFS on the same files: what a restart opens)."""
        return await make_vfs_with_cache(
            store or self.store(),
            state_dir=self.state,
            meta_path=str(self.root / "meta.sqlite"),
            master=self.master,
            filespace_id=self.filespace_id,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path, secrets.token_bytes(32), secrets.token_bytes(16))


@pytest.fixture
async def vfs(site: Site) -> AsyncIterator[Vfs]:
    v = await site.open()
    yield v
    faulty_of(v).up()
    await close_vfs(v)


def faulty_of(vfs: Vfs) -> FaultyStore:
    store = vfs.blocks.store
    assert isinstance(store, FaultyStore)
    return store


def disk_of(vfs: Vfs) -> DiskCache:
    assert isinstance(vfs.disk, DiskCache)
    return vfs.disk


async def abandon(vfs: Vfs) -> None:
    """Leave a client as kill -9 would: no drain, no flush, nothing closed cleanly.

    Background tasks stop (a dead process runs none) and the locks are let go so that the
    next client in this test process can open the same files; nothing is written.
    """
    await vfs.queue.close(drain=False)
    disk = disk_of(vfs)
    disk._closed = True
    if disk._housekeeper is not None:
        disk._housekeeper.cancel()
    disk._worker.stop()
    os.close(disk._lock_fd)


async def refs_of(vfs: Vfs, path: str) -> list[BlockRef]:
    """The committed block refs of ``path`` in order."""
    ino = (await VfsDriver(vfs).stat(path)).ino
    refs = await vfs.meta.get_blocks(ino, 0, 100_000)
    return [refs[i] for i in sorted(refs)]


def cache_file(vfs: Vfs, block_id: bytes) -> Path:
    return disk_of(vfs)._files.path(block_id)


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


# -- outages and flaky stores ------------------------------------------------------------
async def test_queue_rides_out_an_outage_of_seconds(vfs: Vfs) -> None:
    store, fs = faulty_of(vfs), VfsDriver(vfs)
    rng = random.Random(1)
    expected = {f"/f{i}": rng.randbytes(rng.randrange(1, 4 * BS)) for i in range(8)}
    store.down()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for name, data in expected.items():  # every close returns at local speed
        await fs.write_bytes(name, data)
    await eventually(lambda: vfs.queue.status().retrying)
    status = vfs.queue.status()
    assert status.files == len(expected)
    assert status.bytes >= sum(len(d) for d in expected.values())
    assert "StoreUnavailableError" in status.last_error
    sync = asyncio.ensure_future(vfs.sync_all())
    while loop.time() - start < 3.0:  # the store stays down for seconds
        assert not sync.done()
        assert await all_refs_exist(vfs, store.inner) == 0
        name = rng.choice(sorted(expected))
        assert await fs.read_bytes(name) == expected[name]  # from the local cache
        await asyncio.sleep(0.1)
    assert vfs.queue.status().files == len(expected)
    store.up()
    await asyncio.wait_for(sync, 15)
    status = vfs.queue.status()
    assert (status.records, status.files, status.bytes, status.retrying) == (0, 0, 0, False)
    for name, data in expected.items():
        assert await committed(vfs, store.inner, name) == data
    assert await all_refs_exist(vfs, store.inner) == sum(
        -(-len(d) // BS) for d in expected.values()
    )
    assert (await disk_of(vfs).usage()).dirty_count == 0


async def test_transient_errors_all_commit_correctly(vfs: Vfs) -> None:
    store, fs = faulty_of(vfs), VfsDriver(vfs)
    store.error_rate = 0.3
    rng = random.Random(2)
    expected = {f"/f{i}": rng.randbytes(rng.randrange(0, 6 * BS)) for i in range(12)}
    expected["/big"] = rng.randbytes(40 * BS)  # one record of many blocks
    for name, data in expected.items():
        await fs.write_bytes(name, data)
        await all_refs_exist(vfs, store.inner)
    await asyncio.wait_for(vfs.sync_all(), 60)
    assert store.injected > 0
    store.error_rate = 0.0
    for name, data in expected.items():
        assert await committed(vfs, store.inner, name) == data
    await all_refs_exist(vfs, store.inner)


# -- replay --------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["no drain", "abandoned"])
async def test_journal_replays_after_a_crash(site: Site, how: str) -> None:
    rng = random.Random(3)
    first = await site.open()
    fs = VfsDriver(first)
    await fs.write_bytes("/old", b"committed before")
    await first.sync_all()
    faulty_of(first).down()  # nothing below reaches the store before the crash
    expected = {f"/f{i}": rng.randbytes(rng.randrange(1, 5 * BS)) for i in range(6)}
    expected["/old"] = b"overwritten, journaled only"
    for name, data in expected.items():
        await fs.write_bytes(name, data)
    h = await fs.open("/open", os.O_WRONLY | os.O_CREAT)
    await fs.pwrite(h, rng.randbytes(3 * BS + 5), 0)  # three whole blocks get staged
    staging = first.handle(h).file.staging
    if staging:
        await asyncio.wait(list(staging.values()))
    never_closed = {ref.id for ref in first.handle(h).file.staged.values()}
    assert len(never_closed) == 3
    assert set(await disk_of(first).dirty_ids()) >= never_closed
    if how == "no drain":
        await close_vfs(first, drain=False)
    else:
        await abandon(first)

    second = await site.open()
    try:
        dirty_now = set(await disk_of(second).dirty_ids())
        assert not dirty_now & never_closed  # staged but never acknowledged: discarded
        assert second.queue.status().files == len(expected)
        fs = VfsDriver(second)
        for name, data in expected.items():  # readable before the upload, from the cache
            assert await fs.read_bytes(name) == data
        await asyncio.wait_for(second.sync_all(), 30)
        store = faulty_of(second).inner
        for name, data in expected.items():
            assert await committed(second, store, name) == data
        assert await fs.read_bytes("/open") == b""  # created, never closed: empty
        await all_refs_exist(second, store)
        assert (await disk_of(second).usage()).dirty_count == 0
    finally:
        await close_vfs(second)


async def test_replay_after_the_upload_but_before_the_commit(site: Site) -> None:
    """A crash after the blocks were uploaded (and could have been evicted as clean) but
    before the metadata commit: the replay must still commit them."""
    first = await site.open()
    data = os.urandom(3 * BS)
    commits = 0

    async def crash_at_commit(*args: object, **kwargs: object) -> object:
        nonlocal commits
        commits += 1
        await asyncio.Event().wait()  # the process dies here
        raise AssertionError("unreachable")

    first.meta.commit_write = crash_at_commit  # type: ignore[method-assign]
    await VfsDriver(first).write_bytes("/f", data)
    await eventually(lambda: commits > 0)
    await abandon(first)
    # Whatever the cache now holds of /f may be evicted before the next client replays:
    # a smaller size set meanwhile (`cloudfs cache set-size`) makes it so on open.
    await write_capacity(site.state / "cache", BS)

    second = await site.open()
    try:
        await asyncio.wait_for(second.sync_all(), 30)
        assert await committed(second, faulty_of(second).inner, "/f") == data
        assert await VfsDriver(second).read_bytes("/f") == data
    finally:
        await close_vfs(second)


# -- dirty blocks and a full cache -----------------------------------------------------
@pytest.mark.parametrize("chunk", [BS // 2, 5 * BS, None])
async def test_writes_larger_than_the_cache_wait_for_uploads(site: Site, chunk: int | None) -> None:
    """A cache of 8 blocks (6 may be dirty) takes 64 blocks of writes: writers wait for
    the (slow) uploads; nothing fails, nothing dirty is evicted, every byte is right."""
    store = site.store()
    store.latency = 0.01
    vfs = await site.open(store, capacity=8 * BS)
    try:
        fs, disk = VfsDriver(vfs), disk_of(vfs)
        rng = random.Random(4)
        expected = {f"/f{i}": rng.randbytes(16 * BS + i) for i in range(4)}
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                usage = await disk.usage()
                peak = max(peak, usage.dirty_bytes)
                await asyncio.sleep(0.002)

        watcher = asyncio.ensure_future(watch())
        for name, data in expected.items():
            h = await fs.open(name, os.O_WRONLY | os.O_CREAT)
            step = chunk or len(data)  # None: the whole file in one write call
            for offset in range(0, len(data), step):
                await asyncio.wait_for(fs.pwrite(h, data[offset : offset + step], offset), 30)
            await fs.close(h)
        await asyncio.wait_for(vfs.sync_all(), 30)
        watcher.cancel()
        assert 0 < peak <= disk.dirty_limit + BS + 64  # one lone block may pass the limit
        for name, data in expected.items():
            assert await committed(vfs, store.inner, name) == data
            assert await fs.read_bytes(name) == data
        assert (await disk.usage()).used <= disk.capacity
        await all_refs_exist(vfs, store.inner)
    finally:
        await close_vfs(vfs)


# -- corrupt cache files ---------------------------------------------------------------
@pytest.mark.parametrize("damage", ["flip", "truncate"])
async def test_corrupt_clean_cache_file_is_refetched(site: Site, damage: str) -> None:
    counting = CountingStore(open_store(LocalStoreConfig(root=site.root / "objects")))
    vfs = await site.open(FaultyStore(counting))
    try:
        fs = VfsDriver(vfs)
        data = os.urandom(2 * BS + 10)
        await fs.write_bytes("/f", data)
        await vfs.sync_all()
        [ref, *_] = await refs_of(vfs, "/f")
        assert await disk_of(vfs).is_cached(ref.id)
        path = cache_file(vfs, ref.id)
        if damage == "flip":
            flip(path, len(path.read_bytes()) // 2)
        else:
            path.write_bytes(path.read_bytes()[:-1])
        vfs.fetcher.clear()
        counting.reset()
        assert await fs.read_bytes("/f") == data  # never the damaged bytes
        assert counting.count("get") + counting.count("get_range") >= 1  # fetched again
        await vfs.fetcher.settle()  # the refetched block is cached in the background
        vfs.fetcher.clear()
        counting.reset()
        assert await fs.read_bytes("/f") == data
        assert counting.count("get") + counting.count("get_range") == 0  # cached again
    finally:
        await close_vfs(vfs)


async def test_corrupt_dirty_cache_file_is_eio(site: Site) -> None:
    """A dirty block is the only copy: a damaged one reads as EIO, is never uploaded as
    if it were good, and sync_all reports that the write is lost.  (No block is held in
    memory for its upload here: the next test is the case where one is.)"""
    vfs = await site.open(options=VfsOptions(upload_hold_bytes=0))
    store = faulty_of(vfs)
    try:
        fs = VfsDriver(vfs)
        await fs.write_bytes("/f", b"old" * 100)
        await vfs.sync_all()
        store.down()
        data = os.urandom(2 * BS)
        await fs.write_bytes("/f", data)
        pending = vfs.queue.overlay((await fs.stat("/f")).ino)
        assert pending is not None
        assert sorted(pending.blocks) == [0, 1]
        flip(cache_file(vfs, pending.blocks[0].id), 40)  # the first block, still dirty
        vfs.fetcher.clear()
        # The intact block still reads.  (Checked before the damaged one: reading that
        # discards it, and the queue, once it notices, fails the whole record, after
        # which block 1 is no longer pending: when it notices is a race.)
        assert await fs.read_bytes("/f", BS, BS) == data[BS:]
        with pytest.raises(OSError) as info:
            await fs.read_bytes("/f", 0, 10)
        assert info.value.errno == errno.EIO  # refused; the store (down) has no other copy
        store.up()
        with pytest.raises(OSError) as info:
            await asyncio.wait_for(vfs.sync_all(), 10)
        assert info.value.errno == errno.EIO
        assert await committed(vfs, store.inner, "/f") == b"old" * 100  # not half-committed
        await all_refs_exist(vfs, store.inner)
        vfs.fetcher.clear()
        assert await fs.read_bytes("/f") == b"old" * 100  # the last good version, not damage
        with pytest.raises(OSError) as info:
            await vfs.sync_all()  # and every later sync still says the write was lost
        assert info.value.errno == errno.EIO
    finally:
        await close_vfs(vfs, drain=False)


async def test_a_block_held_for_its_upload_is_uploaded_intact_from_memory(site: Site) -> None:
    """Staging hands each sealed block to the upload queue while it is in memory; the
    upload uses that copy, not the cache file (which a reader still refuses if damaged)."""
    vfs = await site.open()
    store = faulty_of(vfs)
    try:
        fs = VfsDriver(vfs)
        store.down()
        data = os.urandom(2 * BS)
        await fs.write_bytes("/f", data)
        pending = vfs.queue.overlay((await fs.stat("/f")).ino)
        assert pending is not None
        flip(cache_file(vfs, pending.blocks[0].id), 40)
        vfs.fetcher.clear()
        with pytest.raises(OSError) as info:
            await fs.read_bytes("/f", 0, 10)
        assert info.value.errno == errno.EIO  # the damaged file is never returned
        store.up()
        await asyncio.wait_for(vfs.sync_all(), 10)
        # The cache file was damaged (and dropped when the read refused it): what went up
        # is the copy held in memory, exactly what was acknowledged.
        assert await committed(vfs, store.inner, "/f") == data
        await all_refs_exist(vfs, store.inner)
        assert vfs.queue.status().bytes == 0
        assert not vfs.queue._held
    finally:
        await close_vfs(vfs, drain=False)


@pytest.mark.parametrize("files", [4, 5, 6, 7])
async def test_idle_open_files_holding_staged_blocks_do_not_stall_a_writer(
    site: Site, files: int
) -> None:
    """Files left open after writing hold staged (unjournaled) blocks in the dirty room;
    when they fill it, another writer must still progress (their blocks get journaled)."""
    vfs = await site.open(capacity=16 * BS)  # 12 blocks may be dirty; journal every 3
    try:
        fs = VfsDriver(vfs)
        idle = []
        for i in range(files):
            h = await fs.open(f"/idle{i}", os.O_WRONLY | os.O_CREAT)
            await asyncio.wait_for(fs.pwrite(h, bytes([i]) * (2 * BS + 10), 0), 30)
            idle.append(h)
        data = os.urandom(20 * BS)
        h = await fs.open("/writer", os.O_WRONLY | os.O_CREAT)
        await asyncio.wait_for(fs.pwrite(h, data, 0), 30)
        await fs.close(h)
        for handle in idle:
            await fs.close(handle)
        await asyncio.wait_for(vfs.sync_all(), 30)
        assert await fs.read_bytes("/writer") == data
        for i in range(files):
            assert await fs.read_bytes(f"/idle{i}") == bytes([i]) * (2 * BS + 10)
    finally:
        await close_vfs(vfs)
