"""The VFS when its object store fails: uploads, torn writes, lost replies, outages.

The write path promises: ``close`` returns once the write is journaled locally, whatever
the store is doing; the upload queue retries until the store takes the blocks, and
commits the metadata only after that, so the metadata never points at a missing (or
partial) object — checked while the store is down and after; ``fsync`` and ``sync_all``
wait for that commit, through an outage; this client reads its own writes from its cache
meanwhile.  Reads of blocks it does not hold fail with ``OSError(EIO)`` during an outage
and never return wrong bytes.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudfs.store.config import LocalStoreConfig, MemoryStoreConfig, open_store
from cloudfs.store.faulty import FaultyStore
from cloudfs.vfs.core import Vfs
from tests.contracts.vfs_contract import BS, VfsDriver
from tests.fault.faultutil import (
    all_refs_exist,
    committed,
    eventually,
    forget_cached,
    still_waiting,
)
from tests.vfsutil import close_vfs, make_vfs


@pytest.fixture(params=["memory", "local"])
def faulty(request: pytest.FixtureRequest, tmp_path: Path) -> FaultyStore:
    if request.param == "memory":
        inner = open_store(MemoryStoreConfig())
    else:
        inner = open_store(LocalStoreConfig(root=tmp_path / "objects"))
    return FaultyStore(inner, seed=11)


@pytest.fixture
async def vfs(faulty: FaultyStore) -> AsyncIterator[Vfs]:
    v = await make_vfs(faulty)
    yield v
    faulty.up()
    faulty.error_rate = faulty.torn_writes = faulty.lost_replies = 0.0
    await close_vfs(v)


def handle_file(vfs: Vfs, fh: int):  # type: ignore[no-untyped-def]
    return vfs.handle(fh).file


async def staged(vfs: Vfs, fh: int) -> None:
    """Wait until the blocks the handle's writes moved past are in the disk cache."""
    tasks = list(handle_file(vfs, fh).staging.values())
    if tasks:
        await asyncio.wait(tasks)


async def test_close_during_outage_succeeds_and_commits_after_recovery(
    vfs: Vfs, faulty: FaultyStore
) -> None:
    fs = VfsDriver(vfs)
    await fs.write_bytes("/f", b"v1" * 100)
    await vfs.sync_all()
    data = os.urandom(3 * BS + 10)
    h = await fs.open("/f", os.O_RDWR)
    await fs.pwrite(h, data, 0)
    faulty.down()
    await fs.close(h)  # journaled: the outage does not fail it
    await eventually(lambda: vfs.queue.status().retrying)
    # While down: this client reads its write from its cache; the engine still has v1
    # and points only at whole objects.
    forget_cached(vfs)
    assert await fs.read_bytes("/f") == data
    assert (await fs.stat("/f")).size == len(data)
    assert await committed(vfs, faulty.inner, "/f") == b"v1" * 100
    assert await all_refs_exist(vfs, faulty.inner) == 1
    status = vfs.queue.status()
    assert (status.files, status.retrying) == (1, True)
    assert status.bytes >= len(data)
    sync = asyncio.ensure_future(vfs.sync_all())
    assert await still_waiting(sync)
    assert await all_refs_exist(vfs, faulty.inner) == 1
    faulty.up()
    await asyncio.wait_for(sync, 10)
    assert await committed(vfs, faulty.inner, "/f") == data
    assert await all_refs_exist(vfs, faulty.inner) == 4
    assert vfs.queue.status().records == 0
    forget_cached(vfs)
    assert await fs.read_bytes("/f") == data


async def test_fsync_during_an_outage_waits_for_the_store(vfs: Vfs, faulty: FaultyStore) -> None:
    """Full blocks are staged locally while the store is down; fsync waits for the store
    to come back, then returns with everything committed."""
    fs = VfsDriver(vfs)
    data = os.urandom(6 * BS)
    h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
    faulty.down()
    await fs.pwrite(h, data, 0)
    await staged(vfs, h)
    fsync = asyncio.ensure_future(fs.fsync(h))
    assert await still_waiting(fsync)
    assert await fs.pread(h, 6 * BS, 0) == data  # reads keep working from the cache
    assert await all_refs_exist(vfs, faulty.inner) == 0
    faulty.up()
    await asyncio.wait_for(fsync, 10)
    assert await committed(vfs, faulty.inner, "/f") == data
    await fs.close(h)
    assert await all_refs_exist(vfs, faulty.inner) == 6


async def test_outage_then_close_after_recovery_commits(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(4 * BS + 1)
    h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
    faulty.down()
    await fs.pwrite(h, data, 0)
    await staged(vfs, h)
    faulty.up()
    await fs.close(h)
    await vfs.sync_all()
    assert await committed(vfs, faulty.inner, "/f") == data


async def test_write_during_outage_then_fsync_after_recovery(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
    faulty.down()
    await fs.pwrite(h, b"small", 0)
    await vfs.flush(h)  # journaled: durable locally, the store is not needed
    fsync = asyncio.ensure_future(fs.fsync(h))
    assert await still_waiting(fsync)
    assert await fs.pread(h, 10, 0) == b"small"  # the bytes are still there
    faulty.up()
    await asyncio.wait_for(fsync, 10)
    assert await committed(vfs, faulty.inner, "/f") == b"small"
    await fs.close(h)


@pytest.mark.parametrize("seed", range(4))
async def test_flaky_uploads_never_leave_dangling_refs(
    vfs: Vfs, faulty: FaultyStore, seed: int
) -> None:
    """Every close succeeds; a watcher checks the engine against the store all along."""
    fs = VfsDriver(vfs)
    faulty.operations = frozenset({"put"})
    faulty.error_rate = 0.4
    stop = asyncio.Event()

    async def watch() -> int:
        rounds = 0
        while not stop.is_set():
            await all_refs_exist(vfs, faulty.inner)
            rounds += 1
            await asyncio.sleep(0.005)
        return rounds

    watcher = asyncio.ensure_future(watch())
    expected: dict[str, bytes] = {}
    for i in range(12):  # a dozen puts at least (multi-block files go up as one pack)
        name = f"/f{i}"
        data = os.urandom((i + 1) * BS // 2 + seed)
        await fs.write_bytes(name, data)
        expected[name] = data
        assert await fs.read_bytes(name) == data  # our own write, pending or not
    await asyncio.wait_for(vfs.sync_all(), 30)  # retries ride out the 40 % failures
    stop.set()
    assert await watcher > 0
    assert faulty.injected > 0
    faulty.error_rate = 0.0
    for name, data in expected.items():
        assert await committed(vfs, faulty.inner, name) == data
        forget_cached(vfs)
        assert await fs.read_bytes(name) == data
    await all_refs_exist(vfs, faulty.inner)


async def test_torn_write_never_becomes_visible(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    old = os.urandom(2 * BS)
    await fs.write_bytes("/f", old)
    await vfs.sync_all()
    new = os.urandom(2 * BS)
    faulty.torn_writes = 1.0  # every put stores a prefix, then fails
    faulty.operations = frozenset({"put"})
    await fs.write_bytes("/f", new)
    await eventually(lambda: faulty.injected >= 4)  # torn, retried, torn again
    assert await committed(vfs, faulty.inner, "/f") == old
    await all_refs_exist(vfs, faulty.inner)
    forget_cached(vfs)
    assert await fs.read_bytes("/f") == new  # from the dirty copy, never a torn object
    faulty.torn_writes = 0.0
    await asyncio.wait_for(vfs.sync_all(), 10)
    assert await committed(vfs, faulty.inner, "/f") == new
    assert await all_refs_exist(vfs, faulty.inner) == 2
    forget_cached(vfs)
    assert await fs.read_bytes("/f") == new


async def test_some_torn_writes_end_with_the_right_bytes(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    faulty.torn_writes = 0.5
    faulty.operations = frozenset({"put"})
    expected = {f"/f{i}": os.urandom(i * BS + 77) for i in range(5)}
    for name, data in expected.items():
        await fs.write_bytes(name, data)
    await asyncio.wait_for(vfs.sync_all(), 30)
    assert faulty.injected > 0
    for name, data in expected.items():
        assert await committed(vfs, faulty.inner, name) == data
    await all_refs_exist(vfs, faulty.inner)


@pytest.mark.parametrize("rate", [0.5, 1.0])
async def test_lost_replies_still_commit_the_right_bytes(
    vfs: Vfs, faulty: FaultyStore, rate: float
) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(3 * BS)
    faulty.lost_replies = rate
    faulty.operations = frozenset({"put"})
    await fs.write_bytes("/f", data)
    if rate == 1.0:  # no put is ever acknowledged: nothing may be committed yet
        await eventually(lambda: faulty.injected >= 6)
        assert await committed(vfs, faulty.inner, "/f") == b""
        assert vfs.queue.status().retrying
        await all_refs_exist(vfs, faulty.inner)
        faulty.lost_replies = 0.0
    await asyncio.wait_for(vfs.sync_all(), 10)
    assert faulty.injected > 0
    assert await committed(vfs, faulty.inner, "/f") == data
    assert await all_refs_exist(vfs, faulty.inner) == 3


async def test_reads_during_an_outage_fail_then_recover(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(3 * BS)
    await fs.write_bytes("/f", data)
    await vfs.sync_all()
    forget_cached(vfs)
    h = await fs.open("/f", os.O_RDONLY)
    faulty.down()
    for offset in (0, BS - 1, 2 * BS):
        with pytest.raises(OSError) as info:
            await fs.pread(h, BS, offset)
        assert info.value.errno == errno.EIO
    faulty.up()
    assert await fs.pread(h, 3 * BS, 0) == data
    await fs.close(h)


async def test_flaky_reads_never_return_wrong_bytes(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(5 * BS)
    await fs.write_bytes("/f", data)
    await vfs.sync_all()
    faulty.operations = frozenset({"get", "get_range"})
    faulty.error_rate = 0.5
    failures: list[int | None] = []
    for i in range(40):
        forget_cached(vfs)
        offset = (i * 7919) % len(data)
        try:
            got = await fs.read_bytes("/f", offset, BS)
        except OSError as e:
            failures.append(e.errno)
            continue
        assert got == data[offset : offset + BS]
    assert failures
    assert set(failures) == {errno.EIO}
    faulty.error_rate = 0.0
    assert await fs.read_bytes("/f") == data
