"""The VFS while its object store is away for a while (``FaultyStore.down()``/``up()``).

What is promised (docs/semantics.md, "When the object store is unreachable"):

- cached data (memory or disk cache) keeps reading, and so do open, stat and readdir:
  nothing on those paths touches the store;
- a read of uncached data retries for at most ``store_wait_seconds`` and then fails with
  ``OSError(EIO)`` — never a hang, never ENOENT; readers of one block share that wait;
- only transient store errors are waited for: a missing object fails at once;
- nothing is remembered about the failure, so the first read after ``up()`` succeeds;
- writes and ``close`` keep working (journaled locally) and upload after ``up()``.

The assertions are about behaviour, not wall-clock time: a small configured wait, and
``asyncio.wait_for`` with a generous limit only to turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudfs.blocks.layout import object_key
from cloudfs.errors import ConfigurationError, IntegrityError, StoreUnavailableError
from cloudfs.meta.protocol import ROOT_INO
from cloudfs.store.config import MemoryStoreConfig, open_store
from cloudfs.store.faulty import FaultyStore
from cloudfs.vfs.core import Vfs, VfsOptions
from cloudfs.vfs.fetch import DEFAULT_STORE_WAIT, STORE_WAIT_ENV
from tests.contracts.vfs_contract import BS, VfsDriver
from tests.fault.faultutil import all_refs_exist, committed, eventually, still_waiting
from tests.vfsutil import close_vfs, make_vfs_with_cache

SHORT_WAIT = 0.3  # seconds: the configured bound of the tests that expect EIO
HANG = 10.0  # seconds: a read still running after this is a hang, not a bounded wait


@pytest.fixture
def faulty() -> FaultyStore:
    return FaultyStore(open_store(MemoryStoreConfig()), seed=3)


async def _open(faulty: FaultyStore, tmp_path: Path, wait: float) -> Vfs:
    options = VfsOptions(store_wait_seconds=wait)
    return await make_vfs_with_cache(faulty, state_dir=tmp_path / "state", options=options)


@pytest.fixture
async def vfs(faulty: FaultyStore, tmp_path: Path) -> AsyncIterator[Vfs]:
    """A VFS with the real disk cache whose reads wait ``SHORT_WAIT`` for the store."""
    v = await _open(faulty, tmp_path, SHORT_WAIT)
    yield v
    faulty.up()
    await close_vfs(v)


@pytest.fixture
async def patient(faulty: FaultyStore, tmp_path: Path) -> AsyncIterator[Vfs]:
    """A VFS with the default wait (10 s)."""
    v = await _open(faulty, tmp_path, DEFAULT_STORE_WAIT)
    yield v
    faulty.up()
    await close_vfs(v)


async def stored_file(vfs: Vfs, path: str, size: int) -> bytes:
    """Write ``size`` random bytes to ``path`` and wait until they are in the store."""
    data = os.urandom(size)
    await VfsDriver(vfs).write_bytes(path, data)
    await vfs.sync_all()
    return data


async def uncache(vfs: Vfs, path: str) -> None:
    """Drop ``path``'s blocks from the memory and disk caches: reads must go to the store."""
    inode = await vfs.meta.lookup(ROOT_INO, vfs.cipher.seal_name(ROOT_INO, path.lstrip("/")))
    refs = await vfs.meta.get_blocks(inode.ino, 0, 100_000)
    await vfs.disk.discard([ref.id for ref in refs.values()])
    vfs.fetcher.clear()


async def expect_eio(call: asyncio.Future[bytes] | asyncio.Task[bytes]) -> OSError:
    with pytest.raises(OSError) as info:
        await asyncio.wait_for(call, HANG)
    assert info.value.errno == errno.EIO, repr(info.value)
    assert isinstance(info.value, StoreUnavailableError), repr(info.value)
    return info.value


async def test_cached_data_reads_without_the_store(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = await stored_file(vfs, "/cached", 3 * BS + 123)
    assert await fs.read_bytes("/cached") == data  # now in memory and on disk
    faulty.down()
    touched = faulty.injected
    assert await fs.listdir("/") == ["cached"]
    assert (await fs.stat("/cached")).size == len(data)
    assert await fs.read_bytes("/cached") == data  # from memory
    vfs.fetcher.clear()
    assert await fs.read_bytes("/cached") == data  # from the disk cache
    vfs.fetcher.clear()
    assert await fs.read_bytes("/cached", BS + 7, 100) == data[BS + 7 : BS + 107]  # small read
    assert faulty.injected == touched, "a cached read reached the store"


async def test_uncached_read_fails_with_eio_after_retrying(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    await stored_file(vfs, "/f", 2 * BS)
    await uncache(vfs, "/f")
    faulty.down()
    error = await expect_eio(asyncio.ensure_future(fs.read_bytes("/f")))
    assert "unreachable" in str(error)
    assert faulty.injected > 1, "the read gave up without retrying"
    await expect_eio(asyncio.ensure_future(fs.read_bytes("/f", 10, 100)))  # a small read too
    assert not vfs.fetcher._inflight  # no fetch left behind


async def test_a_read_waits_for_the_store_to_come_back(patient: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(patient)
    data = await stored_file(patient, "/f", 2 * BS)
    await uncache(patient, "/f")
    faulty.down()
    read = asyncio.ensure_future(fs.read_bytes("/f"))
    assert await still_waiting(read)  # retrying, not failed
    faulty.up()
    assert await asyncio.wait_for(read, HANG) == data


async def test_readers_of_one_block_share_one_wait(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    await stored_file(vfs, "/f", BS)
    await uncache(vfs, "/f")
    faulty.down()
    misses = vfs.fetcher.misses
    whole = [fs.read_bytes("/f") for _ in range(4)]
    small = [fs.read_bytes("/f", 100 * i, 50) for i in range(1, 5)]
    results = await asyncio.wait_for(asyncio.gather(*whole, *small, return_exceptions=True), HANG)
    assert all(isinstance(r, StoreUnavailableError) for r in results), results
    assert vfs.fetcher.misses - misses == 1  # one fetch of the block, one wait


async def test_reads_recover_when_the_store_returns(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = await stored_file(vfs, "/f", 3 * BS)
    await uncache(vfs, "/f")
    h = await fs.open("/f", os.O_RDONLY)
    faulty.down()
    for offset in (0, BS - 1, 2 * BS):
        await expect_eio(asyncio.ensure_future(fs.pread(h, BS, offset)))
    faulty.up()
    assert await fs.pread(h, 3 * BS, 0) == data  # no sticky failure, no poisoned entry
    await fs.close(h)
    await vfs.fetcher.settle()  # disk-cache inserts run in the background
    faulty.down()
    vfs.fetcher.clear()
    assert await fs.read_bytes("/f") == data  # what the recovery fetched is cached


async def test_a_missing_object_is_not_waited_for(patient: Vfs, faulty: FaultyStore) -> None:
    """Only transient errors are retried: a block the store does not have fails at once
    (an integrity error, EIO), even with the 10 s default wait."""
    fs = VfsDriver(patient)
    await stored_file(patient, "/f", BS)
    await uncache(patient, "/f")
    inode = await patient.meta.lookup(ROOT_INO, patient.cipher.seal_name(ROOT_INO, "f"))
    (ref,) = (await patient.meta.get_blocks(inode.ino, 0, 10)).values()
    await faulty.inner.delete(object_key(ref.id))
    read = asyncio.ensure_future(fs.read_bytes("/f"))
    done, _ = await asyncio.wait([read], timeout=DEFAULT_STORE_WAIT / 2)
    assert done, "a missing object was retried like an outage"
    with pytest.raises(IntegrityError) as info:
        read.result()
    assert info.value.errno == errno.EIO


async def test_writes_during_an_outage_upload_after_it(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    faulty.down()
    data = os.urandom(3 * BS + 5)
    await asyncio.wait_for(fs.write_bytes("/new", data), HANG)  # open, write, close
    await fs.write_bytes("/small", b"tiny")
    await eventually(lambda: vfs.queue.status().retrying)
    assert await fs.read_bytes("/new") == data  # our own write, from the local cache
    assert await all_refs_exist(vfs, faulty.inner) == 0  # nothing uploaded yet
    sync = asyncio.ensure_future(vfs.sync_all())
    assert await still_waiting(sync)
    faulty.up()
    await asyncio.wait_for(sync, HANG)
    assert await committed(vfs, faulty.inner, "/new") == data
    assert await committed(vfs, faulty.inner, "/small") == b"tiny"
    assert await all_refs_exist(vfs, faulty.inner) == 5


def test_the_wait_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORE_WAIT_ENV, raising=False)
    assert VfsOptions().store_wait_seconds == DEFAULT_STORE_WAIT == 10.0
    monkeypatch.setenv(STORE_WAIT_ENV, "2.5")
    assert VfsOptions().store_wait_seconds == 2.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv(STORE_WAIT_ENV, bad)
        with pytest.raises(ConfigurationError, match=STORE_WAIT_ENV):
            VfsOptions()
