"""The VFS when its object store fails: uploads, torn writes, lost replies, outages.

The write path promises: upload first, commit second, so the metadata never points at a
missing object; a failed upload keeps its bytes so that a later flush, close or
``sync_all`` retries and commits them; a close that could not commit says so.  Reads during
an outage fail with ``OSError`` and never return wrong bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.contracts.vfs_contract import BS, VfsDriver
from tests.vfsutil import close_vfs, make_vfs

from cloudfs.blocks.layout import object_key
from cloudfs.errors import ObjectNotFoundError, StoreError
from cloudfs.meta.protocol import ROOT_INO, InodeKind
from cloudfs.store.config import LocalStoreConfig, MemoryStoreConfig, open_store
from cloudfs.store.faulty import FaultyStore
from cloudfs.vfs.core import Vfs


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


async def all_refs_exist(vfs: Vfs, store: FaultyStore) -> int:
    """Check every block ref in the engine names an object in the store; return how many."""
    count = 0
    todo = [ROOT_INO]
    while todo:
        for entry in await vfs.meta.readdir(todo.pop(), 0, 10_000):
            if entry.kind == InodeKind.DIR:
                todo.append(entry.ino)
            elif entry.kind == InodeKind.FILE:
                for ref in (await vfs.meta.get_blocks(entry.ino, 0, 100_000)).values():
                    try:
                        meta = await store.inner.head(object_key(ref.id))
                    except ObjectNotFoundError:
                        pytest.fail(f"inode {entry.ino} points at missing block {ref.id.hex()}")
                    assert meta.size == ref.stored
                    count += 1
    return count


async def committed(vfs: Vfs, path: str) -> bytes:
    """What a fresh client reads: committed metadata, blocks fetched from the store."""
    vfs.fetcher.clear()
    inode = await vfs.meta.lookup(ROOT_INO, vfs.cipher.seal_name(ROOT_INO, path.lstrip("/")))
    refs = await vfs.meta.get_blocks(inode.ino, 0, 100_000)
    out = bytearray(inode.size)
    for index, ref in refs.items():
        block = await vfs.blocks.get(ref)
        out[index * BS : index * BS + len(block)] = block
    return bytes(out)


async def test_outage_during_close_fails_clearly_then_retry_commits(
    vfs: Vfs, faulty: FaultyStore
) -> None:
    fs = VfsDriver(vfs)
    await fs.write_bytes("/f", b"v1" * 100)
    data = os.urandom(3 * BS + 10)
    h = await fs.open("/f", os.O_RDWR)
    await fs.pwrite(h, data, 0)
    faulty.down()
    with pytest.raises(OSError) as info:
        await fs.close(h)
    assert isinstance(info.value, StoreError)
    assert info.value.errno == errno.EIO
    faulty.up()
    await all_refs_exist(vfs, faulty)
    assert await committed(vfs, "/f") == b"v1" * 100  # nothing half-committed
    await vfs.sync_all()
    assert await committed(vfs, "/f") == data
    assert await all_refs_exist(vfs, faulty) == 4
    assert await fs.read_bytes("/f") == data


async def test_outage_during_background_uploads_then_fsync_after_recovery(
    vfs: Vfs, faulty: FaultyStore
) -> None:
    """Full blocks upload in the background while the store is down; the store comes back
    before the fsync, which must then commit everything (the bytes were kept)."""
    fs = VfsDriver(vfs)
    data = os.urandom(6 * BS)
    h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
    faulty.down()
    await fs.pwrite(h, data, 0)  # buffered: the failures happen in background uploads
    for task in list(handle_file(vfs, h).uploading.values()):
        await task
    faulty.up()
    await fs.fsync(h)
    assert await committed(vfs, "/f") == data
    await fs.close(h)
    assert await all_refs_exist(vfs, faulty) == 6


async def test_outage_then_close_after_recovery_commits(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(4 * BS + 1)
    h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
    faulty.down()
    await fs.pwrite(h, data, 0)
    for task in list(handle_file(vfs, h).uploading.values()):
        await task
    faulty.up()
    await fs.close(h)  # the store is back: the close must not report the stale failure
    assert await committed(vfs, "/f") == data


def handle_file(vfs: Vfs, fh: int):  # type: ignore[no-untyped-def]
    return vfs.handle(fh).file


@pytest.mark.parametrize("seed", range(4))
async def test_flaky_uploads_never_leave_dangling_refs(
    vfs: Vfs, faulty: FaultyStore, seed: int
) -> None:
    fs = VfsDriver(vfs)
    faulty.operations = frozenset({"put"})
    expected: dict[str, bytes] = {}
    for i in range(6):
        name = f"/f{i}"
        data = os.urandom((i + 1) * BS // 2 + seed)
        faulty.error_rate = 0.4
        with contextlib.suppress(StoreError):
            await fs.write_bytes(name, data)
        expected[name] = data
        await all_refs_exist(vfs, faulty)
    faulty.error_rate = 0.0
    await vfs.sync_all()
    for name, data in expected.items():
        assert await committed(vfs, name) == data
        assert await fs.read_bytes(name) == data
    await all_refs_exist(vfs, faulty)


async def test_torn_write_never_becomes_visible(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    old = os.urandom(2 * BS)
    await fs.write_bytes("/f", old)
    new = os.urandom(2 * BS)
    faulty.torn_writes = 1.0
    faulty.operations = frozenset({"put"})
    with pytest.raises(StoreError):
        await fs.write_bytes("/f", new)
    assert faulty.injected > 0
    assert await committed(vfs, "/f") == old
    await all_refs_exist(vfs, faulty)
    faulty.torn_writes = 0.0
    await vfs.sync_all()
    assert await committed(vfs, "/f") == new
    await all_refs_exist(vfs, faulty)


async def test_lost_replies_still_commit_the_right_bytes(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(3 * BS)
    faulty.lost_replies = 1.0
    faulty.operations = frozenset({"put"})
    with pytest.raises(StoreError):
        await fs.write_bytes("/f", data)
    faulty.lost_replies = 0.0
    await vfs.sync_all()
    assert await committed(vfs, "/f") == data
    await all_refs_exist(vfs, faulty)


async def test_reads_during_an_outage_fail_then_recover(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    data = os.urandom(3 * BS)
    await fs.write_bytes("/f", data)
    vfs.fetcher.clear()
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
    faulty.operations = frozenset({"get", "get_range"})
    faulty.error_rate = 0.5
    failures: list[int | None] = []
    for i in range(40):
        vfs.fetcher.clear()
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


async def test_write_during_outage_then_flush_after_recovery(vfs: Vfs, faulty: FaultyStore) -> None:
    fs = VfsDriver(vfs)
    h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
    faulty.down()
    await fs.pwrite(h, b"small", 0)
    with pytest.raises(StoreError):
        await fs.fsync(h)
    assert await fs.pread(h, 10, 0) == b"small"  # the bytes are still there
    faulty.up()
    await fs.fsync(h)
    assert await committed(vfs, "/f") == b"small"
    await fs.close(h)
