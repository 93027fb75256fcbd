"""The VFS on a real codec, SQLite engine and memory store: data paths and semantics."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from tests.vfsutil import SMALL_BLOCK, close_vfs, make_vfs

from cloudfs.codec.envelope import FRAME_OVERHEAD, HEADER_V2_SIZE
from cloudfs.errors import IntegrityError
from cloudfs.meta.protocol import ROOT_INO, AttrChanges, InodeKind, RenameFlags, XattrFlags
from cloudfs.store.config import MemoryStoreConfig
from cloudfs.store.faulty import CountingStore, FaultyStore
from cloudfs.store.obstore_backend import open_store
from cloudfs.store.protocol import ObjectStore
from cloudfs.vfs.core import Vfs, VfsOptions

BS = SMALL_BLOCK


@pytest.fixture
async def vfs() -> AsyncIterator[Vfs]:
    v = await make_vfs()
    yield v
    await close_vfs(v)


async def write_file(vfs: Vfs, name: str, data: bytes, parent: int = ROOT_INO) -> int:
    handle, inode = await vfs.create(parent, name, 0o644, os.O_WRONLY, 0, 0)
    await vfs.write(handle.fh, 0, data)
    await vfs.release(handle.fh)
    return inode.ino


async def read_all(vfs: Vfs, ino: int) -> bytes:
    handle = await vfs.open(ino, os.O_RDONLY)
    try:
        return await vfs.read(handle.fh, 0, (await vfs.getattr(ino)).size + 10)
    finally:
        await vfs.release(handle.fh)


async def test_write_read_across_blocks(vfs: Vfs) -> None:
    data = os.urandom(3 * BS + 123)
    ino = await write_file(vfs, "f", data)
    assert (await vfs.getattr(ino)).size == len(data)
    assert await read_all(vfs, ino) == data


async def test_reads_at_any_offset(vfs: Vfs) -> None:
    data = os.urandom(2 * BS + 7)
    ino = await write_file(vfs, "f", data)
    h = await vfs.open(ino, os.O_RDONLY)
    for offset, size in [
        (0, 1),
        (BS - 1, 2),
        (BS, BS),
        (2 * BS, 100),
        (len(data) - 1, 5),
        (len(data), 10),
        (len(data) + 100, 10),
    ]:
        assert await vfs.read(h.fh, offset, size) == data[offset : offset + size]
    await vfs.release(h.fh)


async def test_read_view_returns_what_read_returns_without_copying_one_block(vfs: Vfs) -> None:
    data = os.urandom(2 * BS + 7)
    ino = await write_file(vfs, "f", data)
    h = await vfs.open(ino, os.O_RDWR)
    await vfs.write(h.fh, 3 * BS, b"past a hole")  # uncommitted, after a hole
    data += bytes(BS - 7) + b"past a hole"
    ranges = [(0, 1), (10, BS - 10), (BS - 1, 2), (BS, 2 * BS), (2 * BS, BS), (0, 5 * BS)]
    for offset, size in ranges:
        view = await vfs.read_view(h.fh, offset, size)
        assert view == data[offset : offset + size] == await vfs.read(h.fh, offset, size)
        if isinstance(view, memoryview):
            assert view.readonly
    assert isinstance(await vfs.read_view(h.fh, 10, 100), memoryview)  # one cached block
    await vfs.release(h.fh)


async def test_holes_read_as_zeros(vfs: Vfs) -> None:
    handle, inode = await vfs.create(ROOT_INO, "sparse", 0o644, os.O_RDWR, 0, 0)
    await vfs.write(handle.fh, 3 * BS + 10, b"end")
    await vfs.release(handle.fh)
    data = await read_all(vfs, inode.ino)
    assert data == bytes(3 * BS + 10) + b"end"


async def test_overwrite_middle_keeps_the_rest(vfs: Vfs) -> None:
    data = bytearray(os.urandom(2 * BS))
    ino = await write_file(vfs, "f", bytes(data))
    h = await vfs.open(ino, os.O_RDWR)
    await vfs.write(h.fh, BS - 5, b"X" * 10)
    await vfs.release(h.fh)
    data[BS - 5 : BS + 5] = b"X" * 10
    assert await read_all(vfs, ino) == bytes(data)


async def test_truncate_shrink_then_grow_reads_zeros(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"a" * (BS + 100))
    await vfs.setattr(ino, AttrChanges(size=10))
    assert await read_all(vfs, ino) == b"a" * 10
    await vfs.setattr(ino, AttrChanges(size=BS + 50))
    assert await read_all(vfs, ino) == b"a" * 10 + bytes(BS + 40)


async def test_truncate_while_open_with_pending_writes(vfs: Vfs) -> None:
    handle, inode = await vfs.create(ROOT_INO, "f", 0o644, os.O_RDWR, 0, 0)
    await vfs.write(handle.fh, 0, b"b" * (2 * BS))
    await vfs.setattr(inode.ino, AttrChanges(size=5))
    await vfs.write(handle.fh, 10, b"c")
    await vfs.release(handle.fh)
    assert await read_all(vfs, inode.ino) == b"bbbbb" + bytes(5) + b"c"


async def test_two_handles_see_each_others_writes(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"0123456789")
    a = await vfs.open(ino, os.O_RDWR)
    b = await vfs.open(ino, os.O_RDONLY)
    await vfs.write(a.fh, 2, b"ab")
    assert await vfs.read(b.fh, 0, 100) == b"01ab456789"
    assert (await vfs.getattr(ino)).size == 10
    await vfs.release(a.fh)
    await vfs.release(b.fh)


async def test_append_writes_at_end(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"start")
    h = await vfs.open(ino, os.O_WRONLY | os.O_APPEND)
    await vfs.write(h.fh, 0, b"-end")
    await vfs.release(h.fh)
    assert await read_all(vfs, ino) == b"start-end"


async def test_open_trunc_empties_the_file(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"old content")
    h = await vfs.open(ino, os.O_WRONLY | os.O_TRUNC)
    await vfs.release(h.fh)
    assert (await vfs.getattr(ino)).size == 0


async def test_read_only_handle_refuses_writes(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"x")
    h = await vfs.open(ino, os.O_RDONLY)
    with pytest.raises(OSError) as e:
        await vfs.write(h.fh, 0, b"y")
    assert e.value.errno == errno.EBADF
    await vfs.release(h.fh)


async def test_unlinked_open_file_stays_readable_then_goes(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"still here")
    h = await vfs.open(ino, os.O_RDONLY)
    await vfs.unlink(ROOT_INO, "f")
    with pytest.raises(FileNotFoundError):
        await vfs.lookup(ROOT_INO, "f")
    assert await vfs.read(h.fh, 0, 100) == b"still here"
    await vfs.release(h.fh)
    with pytest.raises(FileNotFoundError):
        await vfs.meta.getattr(ino)


@pytest.fixture
async def unpacked() -> AsyncIterator[Vfs]:
    """A VFS whose blocks are each their own object (formats 1-3; packs: test_packs.py)."""
    v = await make_vfs(pack_bytes=0)
    yield v
    await close_vfs(v)


async def test_replaced_blocks_become_garbage_and_are_collected(unpacked: Vfs) -> None:
    vfs = unpacked
    ino = await write_file(vfs, "f", os.urandom(2 * BS))
    await write_file(vfs, "g", b"other")
    h = await vfs.open(ino, os.O_WRONLY | os.O_TRUNC)
    await vfs.write(h.fh, 0, b"new")
    await vfs.release(h.fh)
    await vfs.sync_all()  # release journals; the queue uploads in the background
    keys_before = [m.key async for m in vfs.blocks.store.list("blocks/")]
    assert await vfs.collect_garbage() == 2
    keys_after = [m.key async for m in vfs.blocks.store.list("blocks/")]
    assert len(keys_after) == len(keys_before) - 2
    assert await read_all(vfs, ino) == b"new"


async def test_rename_replaces_and_noreplace_refuses(vfs: Vfs) -> None:
    await write_file(vfs, "a", b"A")
    b = await write_file(vfs, "b", b"B")
    with pytest.raises(FileExistsError):
        await vfs.rename(ROOT_INO, "a", ROOT_INO, "b", RenameFlags.NOREPLACE)
    await vfs.rename(ROOT_INO, "a", ROOT_INO, "b")
    assert await read_all(vfs, (await vfs.lookup(ROOT_INO, "b")).ino) == b"A"
    with pytest.raises(FileNotFoundError):
        await vfs.meta.getattr(b)


async def test_rename_exchange_swaps(vfs: Vfs) -> None:
    a = await write_file(vfs, "a", b"A")
    b = await write_file(vfs, "b", b"B")
    await vfs.rename(ROOT_INO, "a", ROOT_INO, "b", RenameFlags.EXCHANGE)
    assert (await vfs.lookup(ROOT_INO, "a")).ino == b
    assert (await vfs.lookup(ROOT_INO, "b")).ino == a


async def test_rename_open_file_then_write_commits(vfs: Vfs) -> None:
    handle, inode = await vfs.create(ROOT_INO, "a", 0o644, os.O_RDWR, 0, 0)
    await vfs.write(handle.fh, 0, b"one")
    await vfs.flush(handle.fh)
    await vfs.rename(ROOT_INO, "a", ROOT_INO, "b")
    await vfs.setxattr(inode.ino, "user.k", b"v")
    await vfs.write(handle.fh, 3, b"two")
    await vfs.release(handle.fh)
    assert await read_all(vfs, inode.ino) == b"onetwo"


async def test_hard_links_share_content(vfs: Vfs) -> None:
    ino = await write_file(vfs, "a", b"shared")
    d = await vfs.mkdir(ROOT_INO, "d", 0o755, 0, 0)
    await vfs.link(ino, d.ino, "b")
    assert (await vfs.getattr(ino)).nlink == 2
    await vfs.unlink(ROOT_INO, "a")
    assert await read_all(vfs, (await vfs.lookup(d.ino, "b")).ino) == b"shared"


async def test_symlink_round_trip(vfs: Vfs) -> None:
    link = await vfs.symlink(ROOT_INO, "l", "../some/where ü", 0, 0)
    assert link.kind == InodeKind.SYMLINK
    assert link.size == len("../some/where ü".encode())
    assert (await vfs.getattr(link.ino)).size == link.size
    assert await vfs.readlink(link.ino) == "../some/where ü"


async def test_xattrs(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", b"")
    await vfs.setxattr(ino, "user.a", b"1")
    await vfs.setxattr(ino, "user.b", b"\x00\xff")
    assert sorted(await vfs.listxattr(ino)) == ["user.a", "user.b"]
    assert await vfs.getxattr(ino, "user.b") == b"\x00\xff"
    with pytest.raises(FileExistsError):
        await vfs.setxattr(ino, "user.a", b"2", XattrFlags.CREATE)
    await vfs.removexattr(ino, "user.a")
    with pytest.raises(OSError) as e:
        await vfs.getxattr(ino, "user.a")
    assert e.value.errno == errno.ENODATA


@pytest.mark.parametrize(
    "name", ["security.selinux", "security.capability", "system.posix_acl_access"]
)
async def test_kernel_xattr_namespaces_are_not_supported(vfs: Vfs, name: str) -> None:
    ino = await write_file(vfs, "f", b"")
    for call in (
        vfs.getxattr(ino, name),
        vfs.setxattr(ino, name, b"x"),
        vfs.removexattr(ino, name),
    ):
        with pytest.raises(OSError) as e:
            await call
        assert e.value.errno == errno.EOPNOTSUPP
    await vfs.setxattr(ino, "trusted.note", b"kept")  # other namespaces are data
    assert await vfs.getxattr(ino, "trusted.note") == b"kept"


async def test_readdir_pages_without_repeats_while_changing(vfs: Vfs) -> None:
    for i in range(30):
        await vfs.mknod(ROOT_INO, f"f{i:02}", 0o644, 0, 0)
    seen: list[str] = []
    cookie = 0
    pages = 0
    while batch := await vfs.readdir(ROOT_INO, cookie, limit=7):
        seen.extend(item.name for item in batch)
        cookie = batch[-1].cookie
        pages += 1
        if pages <= 3:  # change the directory between pages
            await vfs.mknod(ROOT_INO, f"new{pages}", 0o644, 0, 0)
            await vfs.unlink(ROOT_INO, f"f{29 - pages}")
    stable = [n for n in seen if n.startswith("f") and int(n[1:]) < 26]
    assert sorted(stable) == [f"f{i:02}" for i in range(26)]
    assert len(seen) == len(set(seen))


async def test_bad_names_are_refused(vfs: Vfs) -> None:
    for name, code in [("", errno.EINVAL), ("a/b", errno.EINVAL), ("x" * 256, errno.ENAMETOOLONG)]:
        with pytest.raises(OSError) as e:
            await vfs.mkdir(ROOT_INO, name, 0o755, 0, 0)
        assert e.value.errno == code


async def test_statfs_reports_sizes(vfs: Vfs) -> None:
    await write_file(vfs, "f", os.urandom(BS))
    await vfs.sync_all()  # statfs counts committed data, as every client sees it
    st = await vfs.statfs()
    assert st.block_size == BS
    assert st.total_bytes > st.free_bytes > 0
    assert st.files == 2  # the root and f


async def test_big_write_keeps_memory_bounded(vfs: Vfs) -> None:
    handle, inode = await vfs.create(ROOT_INO, "big", 0o644, os.O_WRONLY, 0, 0)
    chunk = os.urandom(BS // 2)
    peak = 0
    for i in range(200):
        await vfs.write(handle.fh, i * len(chunk), chunk)
        f = handle.file
        peak = max(peak, len(f.dirty) + len(f.staging))
    await vfs.release(handle.fh)
    assert peak <= 2 * vfs.options.max_inflight_per_file + 1
    assert (await vfs.getattr(inode.ino)).size == 200 * len(chunk)


class PeakPuts:
    """Counts how many puts are in flight at most (wrap a store whose puts take a while)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.now, self.peak = inner, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put(self, key: str, data: Any, *, if_absent: bool = False) -> str | None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.inner.put(key, data, if_absent=if_absent)
        finally:
            self.now -= 1


@pytest.mark.parametrize(("budget_blocks", "expected"), [(3, 3), (1, 2), (100, 8)])
async def test_blocks_in_flight_are_bounded_in_bytes_too(budget_blocks: int, expected: int) -> None:
    """Blocks being sealed for one file and uploads in flight stay within
    ``inflight_bytes`` (at least 2 blocks, at most their counts), so a filespace of large
    blocks does not hold 8 of them at each stage (docs/decisions/0019)."""
    slow = FaultyStore(open_store(MemoryStoreConfig()), latency=0.002, operations={"put"})
    store = PeakPuts(cast(ObjectStore, slow))
    options = VfsOptions(inflight_bytes=budget_blocks * BS)
    vfs = await make_vfs(cast(ObjectStore, store), options=options, pack_bytes=0)
    data = os.urandom(40 * BS)
    try:
        handle, inode = await vfs.create(ROOT_INO, "big", 0o644, os.O_WRONLY, 0, 0)
        sealing = 0
        for i in range(40):
            await vfs.write(handle.fh, i * BS, data[i * BS : (i + 1) * BS])
            sealing = max(sealing, len(handle.file.staging))
        await vfs.release(handle.fh)
        await vfs.sync_all()
        assert sealing <= expected
        assert store.peak == expected  # 40 blocks: the queue fills what it may
        assert await read_all(vfs, inode.ino) == data
    finally:
        await close_vfs(vfs)


async def test_read_ahead_window_grows_when_sequential_and_shrinks_when_random(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", os.urandom(40 * BS))
    h = await vfs.open(ino, os.O_RDONLY)
    windows = []
    for i in range(6):
        await vfs.read(h.fh, i * BS, BS)
        windows.append(h.window)
    assert windows == sorted(windows)
    assert windows[-1] > windows[0] >= 1
    grown = h.window
    for offset in (30 * BS, 3 * BS, 20 * BS):
        await vfs.read(h.fh, offset, 100)
    assert h.window < grown
    await vfs.release(h.fh)


async def test_small_random_read_fetches_only_its_block(vfs: Vfs) -> None:
    ino = await write_file(vfs, "f", os.urandom(10 * BS))
    await vfs.sync_all()
    vfs.fetcher.clear()
    vfs.disk.blocks.clear()  # the in-memory stand-in of the disk cache: cold
    h = await vfs.open(ino, os.O_RDONLY)
    before = vfs.fetcher.misses
    await vfs.read(h.fh, 5 * BS + 17, 4096)  # not where the previous read ended
    await vfs.read(h.fh, 2 * BS + 3, 4096)
    assert vfs.fetcher.misses - before == 2
    await vfs.release(h.fh)


async def test_small_random_reads_fetch_only_the_frames_they_touch() -> None:
    store = CountingStore(open_store(MemoryStoreConfig()))
    vfs = await make_vfs(store, block_size=1 << 20)
    try:
        data = os.urandom(3 * (1 << 20) + 5000)  # the last block is short
        ino = await write_file(vfs, "f", data)
        await vfs.sync_all()
        vfs.fetcher.clear()
        vfs.disk.blocks.clear()  # cold
        store.reset()
        h = await vfs.open(ino, os.O_RDONLY)
        for offset in (2 * (1 << 20) + 70_000, 100_000, 65_530, 3 * (1 << 20) + 4000):
            assert await vfs.read(h.fh, offset, 4096) == data[offset : offset + 4096]
        assert store.count("get") == 1  # the short last block is one frame: read whole
        assert store.count("get_range") == 3
        assert store.bytes_moved("get_range") <= 4 * (2 * FRAME_OVERHEAD + (1 << 16)) + 4096
        before = store.count("get_range")
        assert await vfs.read(h.fh, 100_000, 10) == data[100_000:100_010]  # memory
        assert store.count("get_range") == before
        await vfs.release(h.fh)
    finally:
        await close_vfs(vfs)


async def test_a_tampered_frame_is_refused_on_a_partial_read() -> None:
    store = open_store(MemoryStoreConfig())
    vfs = await make_vfs(store, block_size=1 << 20)
    try:
        data = os.urandom(1 << 20)
        ino = await write_file(vfs, "f", data)
        await vfs.sync_all()
        vfs.fetcher.clear()
        vfs.disk.blocks.clear()
        [key] = [k async for k in _keys(store, "blocks/")]
        sealed = bytearray(await store.get(key))
        sealed[HEADER_V2_SIZE + 5 * (FRAME_OVERHEAD + (1 << 16)) + 100] ^= 1  # frame 5
        await store.put(key, bytes(sealed))
        h = await vfs.open(ino, os.O_RDONLY)
        await vfs.read(h.fh, 1000, 1)  # first read: treated as sequential, whole block
        vfs.fetcher.clear()
        assert await vfs.read(h.fh, 9 * (1 << 16), 100) == data[9 * (1 << 16) :][:100]
        with pytest.raises(IntegrityError):
            await vfs.read(h.fh, 5 * (1 << 16) + 50, 100)
        await vfs.release(h.fh)
    finally:
        await close_vfs(vfs)


async def _keys(store: ObjectStore, prefix: str) -> AsyncIterator[str]:
    async for item in store.list(prefix):
        yield item.key


async def test_a_file_just_created_asks_the_engine_for_no_blocks(
    vfs: Vfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its block map is known to be empty: a first partial write needs no engine call
    (with a remote engine each is a round trip), and the data reads back."""
    asked: list[int] = []
    get_blocks = vfs.meta.get_blocks

    async def counting(ino: int, first: int, count: int):  # type: ignore[no-untyped-def]
        asked.append(ino)
        return await get_blocks(ino, first, count)

    monkeypatch.setattr(vfs.meta, "get_blocks", counting)
    handle, inode = await vfs.create(ROOT_INO, "new", 0o644, os.O_RDWR, 0, 0)
    await vfs.write(handle.fh, 100, b"tail")
    await vfs.write(handle.fh, 2 * BS + 5, b"far")
    assert (
        await vfs.read(handle.fh, 0, 2 * BS + 8)
        == bytes(100) + b"tail" + bytes(2 * BS - 104 + 5) + b"far"
    )
    await vfs.release(handle.fh)
    assert asked == []
    await vfs.sync_all()
    vfs.fetcher.clear()
    assert (await read_all(vfs, inode.ino))[100:104] == b"tail"


async def test_a_read_and_its_read_ahead_share_one_block_map_lookup(
    vfs: Vfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read of a file asks for the block map chunk, and so does the read-ahead
    it starts: one query, not two, and the read-ahead is started before the next read."""
    data = os.urandom(4 * BS)
    ino = await write_file(vfs, "f", data)
    await vfs.sync_all()  # committed: the refs come from the engine, not the journal
    lookups: list[int] = []
    get_blocks = vfs.meta.get_blocks

    async def counted(ino_: int, first: int, count: int) -> Any:
        lookups.append(first)
        return await get_blocks(ino_, first, count)

    monkeypatch.setattr(vfs.meta, "get_blocks", counted)
    vfs.fetcher.clear()
    handle = await vfs.open(ino, os.O_RDONLY)
    assert await vfs.read(handle.fh, 0, BS) == data[:BS]
    assert lookups == [0]
    second = handle.file.block_map[1]
    assert second is not None
    assert second.id in vfs.fetcher._inflight or second.id in vfs.fetcher.memory  # read ahead
    assert await vfs.read(handle.fh, BS, 3 * BS) == data[BS:]
    assert lookups == [0]
    await vfs.release(handle.fh)
