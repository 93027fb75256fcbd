"""The contract every :class:`cloudfs.meta.protocol.MetaStore` engine must pass.

Engine-agnostic: an engine's test module provides a fixture ``blank_meta`` (a fresh,
unformatted store, closed by the fixture afterwards) and, optionally, ``reopen`` (an
``async (store) -> store`` that closes a store and opens the same database again, or
``None`` when the engine keeps nothing), then subclasses :class:`MetaContract`::

    class TestSqliteContract(MetaContract):
        pass

The ``meta`` fixture here formats ``blank_meta``.  Tests assume the engine's clock moves
forward between operations (so "mtime was bumped" means "is greater"); fixtures with a
fake clock should tick on every reading.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cloudfs.errors import ConflictError
from cloudfs.meta.protocol import (
    ROOT_INO,
    AttrChanges,
    BlockRef,
    Change,
    ChangeKind,
    DirEntry,
    Garbage,
    Inode,
    InodeKind,
    MetaStats,
    MetaStore,
    RenameFlags,
    XattrFlags,
)

DESCRIPTOR = b"descriptor-v1"
BLOCK_SIZE = 4096
UID, GID = 1000, 1000
FILE, DIR, SYMLINK = InodeKind.FILE, InodeKind.DIR, InodeKind.SYMLINK

Reopen = Callable[[MetaStore], Awaitable[MetaStore]]

_ERRNO_TYPES: dict[int, type[OSError]] = {
    errno.ENOENT: FileNotFoundError,
    errno.EEXIST: FileExistsError,
    errno.ENOTDIR: NotADirectoryError,
    errno.EISDIR: IsADirectoryError,
    errno.EPERM: PermissionError,
}


async def fails(code: int, call: Awaitable[Any]) -> OSError:
    """Await ``call`` and check it raised the builtin ``OSError`` for ``code``."""
    error: OSError | None = None
    try:
        await call
    except OSError as exc:
        error = exc
    if error is None:
        pytest.fail(f"expected OSError({errno.errorcode[code]}), nothing was raised")
    assert error.errno == code, f"expected {errno.errorcode[code]}, got {error!r}"
    assert isinstance(error, _ERRNO_TYPES.get(code, OSError)), repr(error)
    return error


async def mkfile(meta: MetaStore, parent: int, name: bytes, mode: int = 0o644) -> Inode:
    return await meta.mknod(parent, name, FILE, mode, UID, GID)


async def mkdir(meta: MetaStore, parent: int, name: bytes, mode: int = 0o755) -> Inode:
    return await meta.mknod(parent, name, DIR, mode, UID, GID)


async def listdir(meta: MetaStore, parent: int, page: int = 1000) -> list[DirEntry]:
    """Every entry of ``parent``, paging by cookie."""
    entries: list[DirEntry] = []
    after = 0
    while batch := await meta.readdir(parent, after, page):
        entries.extend(batch)
        after = batch[-1].cookie
    return entries


async def names(meta: MetaStore, parent: int) -> set[bytes]:
    return {entry.name for entry in await listdir(meta, parent)}


async def changes_after(meta: MetaStore, seq: int) -> list[tuple[ChangeKind, int, int | None]]:
    return [(c.kind, c.ino, c.parent) for c in await meta.changes_since(seq)]


async def garbage_ids(meta: MetaStore) -> list[bytes]:
    """The ids of the objects waiting for the collector (none of them packs)."""
    garbage = await meta.take_garbage()
    assert not any(g.pack for g in garbage)
    return [g.id for g in garbage]


def packed(tag: str, pack: bytes, offset: int = 0, size: int = BLOCK_SIZE) -> BlockRef:
    return BlockRef(tag.encode(), size, 100, pack, offset)


def ref(tag: str, size: int = BLOCK_SIZE, stored: int = 100) -> BlockRef:
    return BlockRef(tag.encode(), size, stored)


class MetaFixtures:
    @pytest.fixture
    async def meta(self, blank_meta: MetaStore) -> MetaStore:
        await blank_meta.format(
            DESCRIPTOR, block_size=BLOCK_SIZE, root_mode=0o755, uid=UID, gid=GID
        )
        return blank_meta


class LifecycleContract(MetaFixtures):
    async def test_it_is_a_meta_store(self, meta: MetaStore) -> None:
        assert isinstance(meta, MetaStore)

    async def test_format_creates_the_root_directory(self, meta: MetaStore) -> None:
        root = await meta.getattr(ROOT_INO)
        assert (root.ino, root.kind, root.mode, root.nlink) == (ROOT_INO, DIR, 0o755, 2)
        assert (root.uid, root.gid, root.size) == (UID, GID, 0)
        assert root.btime_ns == root.mtime_ns == root.ctime_ns > 0
        assert await meta.readdir(ROOT_INO) == []
        assert await meta.block_size() == BLOCK_SIZE

    async def test_format_twice_is_refused(self, meta: MetaStore) -> None:
        await fails(errno.EEXIST, meta.format(b"x", block_size=8192, root_mode=0, uid=0, gid=0))
        assert (await meta.get_descriptor())[0] == DESCRIPTOR

    async def test_an_unformatted_store_has_no_descriptor(self, blank_meta: MetaStore) -> None:
        await fails(errno.ENOENT, blank_meta.get_descriptor())
        await fails(errno.ENOENT, blank_meta.block_size())
        await fails(errno.ENOENT, blank_meta.getattr(ROOT_INO))

    async def test_descriptor_is_compare_and_set(self, meta: MetaStore) -> None:
        descriptor, version = await meta.get_descriptor()
        assert descriptor == DESCRIPTOR
        new_version = await meta.put_descriptor(b"v2", expected_version=version)
        assert new_version > version
        assert await meta.get_descriptor() == (b"v2", new_version)
        with pytest.raises(ConflictError):
            await meta.put_descriptor(b"v3", expected_version=version)
        assert await meta.get_descriptor() == (b"v2", new_version)

    async def test_reopen_keeps_everything(self, meta: MetaStore, reopen: Reopen | None) -> None:
        if reopen is None:
            pytest.skip("this engine keeps nothing across a reopen")
        d = await mkdir(meta, ROOT_INO, b"d")
        f = await mkfile(meta, d.ino, b"f")
        await meta.link(f.ino, ROOT_INO, b"f-link")
        await meta.commit_write(
            f.ino, size=5000, blocks={0: ref("a"), 1: ref("b", 904)}, mtime_ns=7
        )
        await meta.commit_write(f.ino, size=5000, blocks={0: ref("c")}, mtime_ns=8)
        await meta.set_xattr(f.ino, b"user.k", b"v")
        gone = await mkfile(meta, ROOT_INO, b"gone")
        await meta.unlink(ROOT_INO, b"gone")
        before = (
            await meta.getattr(f.ino),
            await listdir(meta, ROOT_INO),
            await listdir(meta, d.ino),
            await meta.get_blocks(f.ino, 0, 10),
            await meta.take_garbage(),
            await meta.stats(),
            await meta.changes_since(0),
            await meta.last_seq(),
            await meta.get_descriptor(),
            await meta.list_xattrs(f.ino),
            await meta.getattr(gone.ino),
        )
        meta = await reopen(meta)
        after = (
            await meta.getattr(f.ino),
            await listdir(meta, ROOT_INO),
            await listdir(meta, d.ino),
            await meta.get_blocks(f.ino, 0, 10),
            await meta.take_garbage(),
            await meta.stats(),
            await meta.changes_since(0),
            await meta.last_seq(),
            await meta.get_descriptor(),
            await meta.list_xattrs(f.ino),
            await meta.getattr(gone.ino),
        )
        assert after == before
        assert await meta.block_size() == BLOCK_SIZE
        new = await mkfile(meta, ROOT_INO, b"new")
        assert new.ino > gone.ino
        assert (await meta.changes_since(before[7]))[0].seq == before[7] + 1
        assert await meta.purge_orphans() == 1


class NamespaceContract(MetaFixtures):
    async def test_mknod_creates_each_kind(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f", 0o640)
        d = await mkdir(meta, ROOT_INO, b"d", 0o750)
        s = await meta.mknod(ROOT_INO, b"s", SYMLINK, 0o777, UID, GID, target=b"target")
        assert (f.kind, f.mode, f.nlink, f.size, f.uid, f.gid) == (FILE, 0o640, 1, 0, UID, GID)
        assert (d.kind, d.mode, d.nlink) == (DIR, 0o750, 2)
        assert (s.kind, s.nlink) == (SYMLINK, 1)
        assert len({f.ino, d.ino, s.ino, ROOT_INO}) == 4
        assert f.atime_ns == f.mtime_ns == f.ctime_ns == f.btime_ns > 0
        for inode, name in ((f, b"f"), (d, b"d"), (s, b"s")):
            assert await meta.lookup(ROOT_INO, name) == inode
            assert await meta.getattr(inode.ino) == inode
        assert await meta.readlink(s.ino) == b"target"

    async def test_mknod_keeps_permission_bits_only(self, meta: MetaStore) -> None:
        f = await meta.mknod(ROOT_INO, b"f", FILE, 0o100644, UID, GID)
        assert f.mode == 0o644
        g = await meta.setattr(f.ino, AttrChanges(mode=0o104755))
        assert g.mode == 0o4755

    async def test_mknod_updates_the_parent(self, meta: MetaStore) -> None:
        root = await meta.getattr(ROOT_INO)
        await mkfile(meta, ROOT_INO, b"f")
        after_file = await meta.getattr(ROOT_INO)
        assert after_file.nlink == 2
        assert after_file.mtime_ns > root.mtime_ns
        assert after_file.ctime_ns > root.ctime_ns
        assert after_file.version > root.version
        await mkdir(meta, ROOT_INO, b"d")
        after_dir = await meta.getattr(ROOT_INO)
        assert after_dir.nlink == 3
        assert after_dir.version > after_file.version

    async def test_mknod_errors(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.EEXIST, mkfile(meta, ROOT_INO, b"f"))
        await fails(errno.EEXIST, mkdir(meta, ROOT_INO, b"f"))
        await fails(errno.ENOTDIR, mkfile(meta, f.ino, b"x"))
        await fails(errno.ENOENT, mkfile(meta, 999_999, b"x"))
        await fails(errno.EINVAL, meta.mknod(ROOT_INO, b"s", SYMLINK, 0o777, UID, GID))
        assert await names(meta, ROOT_INO) == {b"f"}

    async def test_names_are_opaque_bytes(self, meta: MetaStore) -> None:
        odd = [b"\x00\xff", b"a/b", b".", b"..", bytes(range(256)), b"A", b"a"]
        for name in odd:
            await mkfile(meta, ROOT_INO, name)
        assert await names(meta, ROOT_INO) == set(odd)
        for name in odd:
            assert (await meta.lookup(ROOT_INO, name)).kind is FILE

    async def test_lookup_errors(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.ENOENT, meta.lookup(ROOT_INO, b"missing"))
        await fails(errno.ENOTDIR, meta.lookup(f.ino, b"x"))
        await fails(errno.ENOENT, meta.lookup(999_999, b"x"))
        await fails(errno.ENOENT, meta.getattr(999_999))

    async def test_readlink_of_a_non_symlink_is_einval(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.EINVAL, meta.readlink(f.ino))
        await fails(errno.EINVAL, meta.readlink(ROOT_INO))
        await fails(errno.ENOENT, meta.readlink(999_999))

    async def test_link(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        f = await mkfile(meta, ROOT_INO, b"f")
        d_before = await meta.getattr(d.ino)
        linked = await meta.link(f.ino, d.ino, b"g")
        assert linked.nlink == 2
        assert linked.version > f.version
        assert linked.ctime_ns > f.ctime_ns
        assert await meta.getattr(f.ino) == linked
        assert (await meta.lookup(d.ino, b"g")).ino == f.ino
        d_after = await meta.getattr(d.ino)
        assert d_after.mtime_ns > d_before.mtime_ns
        assert d_after.nlink == 2
        entry = (await meta.readdir(d.ino))[0]
        assert (entry.name, entry.ino, entry.kind) == (b"g", f.ino, FILE)

    async def test_link_errors(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.EPERM, meta.link(d.ino, ROOT_INO, b"d2"))
        await fails(errno.EEXIST, meta.link(f.ino, ROOT_INO, b"d"))
        await fails(errno.ENOTDIR, meta.link(f.ino, f.ino, b"x"))
        await fails(errno.ENOENT, meta.link(999_999, ROOT_INO, b"x"))
        await fails(errno.ENOENT, meta.link(f.ino, 999_999, b"x"))
        assert (await meta.getattr(f.ino)).nlink == 1

    async def test_unlink(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await meta.link(f.ino, ROOT_INO, b"g")
        root = await meta.getattr(ROOT_INO)
        one = await meta.unlink(ROOT_INO, b"f")
        assert one.nlink == 1
        assert (await meta.getattr(ROOT_INO)).mtime_ns > root.mtime_ns
        zero = await meta.unlink(ROOT_INO, b"g")
        assert zero.nlink == 0
        assert zero.version > one.version
        assert await meta.getattr(f.ino) == zero  # an orphan stays until purge
        await fails(errno.ENOENT, meta.lookup(ROOT_INO, b"f"))
        assert await meta.readdir(ROOT_INO) == []

    async def test_unlink_errors(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.EISDIR, meta.unlink(ROOT_INO, b"d"))
        await fails(errno.ENOENT, meta.unlink(ROOT_INO, b"missing"))
        await fails(errno.ENOTDIR, meta.unlink(f.ino, b"x"))
        assert (await meta.getattr(d.ino)).nlink == 2

    async def test_rmdir(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        root = await meta.getattr(ROOT_INO)
        assert root.nlink == 3
        removed = await meta.rmdir(ROOT_INO, b"d")
        assert (removed.ino, removed.nlink) == (d.ino, 0)
        root_after = await meta.getattr(ROOT_INO)
        assert root_after.nlink == 2
        assert root_after.mtime_ns > root.mtime_ns
        await fails(errno.ENOENT, meta.getattr(d.ino))  # purged at once
        await fails(errno.ENOENT, meta.lookup(ROOT_INO, b"d"))

    async def test_rmdir_errors(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        await mkfile(meta, d.ino, b"f")
        await fails(errno.ENOTEMPTY, meta.rmdir(ROOT_INO, b"d"))
        await fails(errno.ENOTDIR, meta.rmdir(d.ino, b"f"))
        await fails(errno.ENOENT, meta.rmdir(ROOT_INO, b"missing"))
        await fails(errno.ENOTDIR, meta.rmdir((await meta.lookup(d.ino, b"f")).ino, b"x"))
        assert (await meta.getattr(d.ino)).nlink == 2
        await meta.unlink(d.ino, b"f")
        await meta.rmdir(ROOT_INO, b"d")

    async def test_readdir_orders_by_cookie_and_pages(self, meta: MetaStore) -> None:
        made = [await mkfile(meta, ROOT_INO, b"f%03d" % i) for i in range(25)]
        sub = await mkdir(meta, ROOT_INO, b"sub")
        whole = await meta.readdir(ROOT_INO)
        assert [e.name for e in whole] == [b"f%03d" % i for i in range(25)] + [b"sub"]
        assert [e.ino for e in whole] == [m.ino for m in made] + [sub.ino]
        assert whole[-1].kind is DIR
        cookies = [e.cookie for e in whole]
        assert cookies == sorted(set(cookies))
        assert await listdir(meta, ROOT_INO, page=4) == whole
        assert await meta.readdir(ROOT_INO, cookies[9], 3) == whole[10:13]
        assert await meta.readdir(ROOT_INO, cookies[-1]) == []

    async def test_readdir_plus_matches_readdir_and_getattr(self, meta: MetaStore) -> None:
        for i in range(12):
            await mkfile(meta, ROOT_INO, b"p%02d" % i)
        await mkdir(meta, ROOT_INO, b"sub")
        entries = await meta.readdir(ROOT_INO, 0, 5)
        plus = await meta.readdir_plus(ROOT_INO, 0, 5)
        assert [e for e, _ in plus] == entries
        assert [i for _, i in plus] == [await meta.getattr(e.ino) for e in entries]
        rest = await meta.readdir_plus(ROOT_INO, entries[-1].cookie)
        assert [e for e, _ in rest] == await meta.readdir(ROOT_INO, entries[-1].cookie)
        await fails(errno.ENOTDIR, meta.readdir_plus(plus[0][1].ino))

    async def test_readdir_errors(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.ENOTDIR, meta.readdir(f.ino))
        await fails(errno.ENOENT, meta.readdir(999_999))

    async def test_cookies_are_not_reused(self, meta: MetaStore) -> None:
        await mkfile(meta, ROOT_INO, b"a")
        first = (await meta.readdir(ROOT_INO))[0].cookie
        await meta.unlink(ROOT_INO, b"a")
        await mkfile(meta, ROOT_INO, b"a")
        assert (await meta.readdir(ROOT_INO))[0].cookie > first

    async def test_readdir_is_stable_while_entries_change(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        stable = {b"s%03d" % i for i in range(40)}
        volatile = [b"v%03d" % i for i in range(40)]
        for i in range(40):
            await mkfile(meta, d.ino, b"s%03d" % i)
            await mkfile(meta, d.ino, volatile[i])
        seen: list[DirEntry] = []
        after, step = 0, 0
        while page := await meta.readdir(d.ino, after, 7):
            seen.extend(page)
            after = page[-1].cookie
            step += 1
            # Between pages: remove one seen and one unseen volatile entry, rename one,
            # and add new entries (which may or may not be listed).
            for name in (volatile.pop(0), volatile.pop()) if len(volatile) > 2 else ():
                await meta.unlink(d.ino, name)
            if volatile:
                renamed = volatile.pop(len(volatile) // 2)
                await meta.rename(d.ino, renamed, d.ino, b"r%03d" % step)
            if step <= 8:  # (adding on every page would keep the listing going forever)
                await mkfile(meta, d.ino, b"n%03d" % step)
        cookies = [e.cookie for e in seen]
        assert cookies == sorted(set(cookies)), "an entry was listed twice"
        assert len({e.name for e in seen}) == len(seen)
        assert stable <= {e.name for e in seen}, "a stable entry was skipped"


class AttributeContract(MetaFixtures):
    async def test_setattr_changes_what_it_is_given(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        g = await meta.setattr(
            f.ino, AttrChanges(mode=0o600, uid=1, gid=2, atime_ns=11, mtime_ns=22)
        )
        assert (g.mode, g.uid, g.gid, g.atime_ns, g.mtime_ns) == (0o600, 1, 2, 11, 22)
        assert g.ctime_ns > f.ctime_ns
        assert g.version > f.version
        assert (g.btime_ns, g.size, g.nlink) == (f.btime_ns, f.size, f.nlink)
        assert await meta.getattr(f.ino) == g
        h = await meta.setattr(f.ino, AttrChanges(ctime_ns=33))
        assert (h.ctime_ns, h.mode, h.mtime_ns) == (33, 0o600, 22)
        assert h.version > g.version

    async def test_setattr_compare_and_set(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        g = await meta.setattr(f.ino, AttrChanges(mode=0o600), expected_version=f.version)
        with pytest.raises(ConflictError) as info:
            await meta.setattr(f.ino, AttrChanges(mode=0o666), expected_version=f.version)
        assert (info.value.ino, info.value.expected, info.value.actual) == (
            f.ino,
            f.version,
            g.version,
        )
        assert await meta.getattr(f.ino) == g

    async def test_setattr_errors(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        await fails(errno.ENOENT, meta.setattr(999_999, AttrChanges(mode=0o600)))
        await fails(errno.EISDIR, meta.setattr(d.ino, AttrChanges(size=0)))
        assert (await meta.getattr(d.ino)).version == d.version

    async def test_truncate_drops_and_clamps_blocks(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        blocks = {i: ref(f"b{i}") for i in range(4)}
        f = await meta.commit_write(f.ino, size=4 * BLOCK_SIZE, blocks=blocks, mtime_ns=1)
        g = await meta.setattr(f.ino, AttrChanges(size=BLOCK_SIZE + 10))
        assert g.size == BLOCK_SIZE + 10
        assert g.mtime_ns > f.mtime_ns  # truncate(2) sets mtime
        assert await meta.get_blocks(f.ino, 0, 10) == {0: ref("b0"), 1: ref("b1", 10)}
        assert sorted(await garbage_ids(meta)) == [b"b2", b"b3"]
        stats = await meta.stats()
        assert (stats.data_bytes, stats.stored_bytes, stats.garbage_blocks) == (
            BLOCK_SIZE + 10,
            200,
            2,
        )
        # Growing again keeps the blocks (the tail past each block's size reads as zeros).
        await meta.setattr(f.ino, AttrChanges(size=3 * BLOCK_SIZE))
        assert await meta.get_blocks(f.ino, 0, 10) == {0: ref("b0"), 1: ref("b1", 10)}
        assert (await meta.stats()).data_bytes == 3 * BLOCK_SIZE
        await meta.setattr(f.ino, AttrChanges(size=BLOCK_SIZE))
        assert await meta.get_blocks(f.ino, 0, 10) == {0: ref("b0")}
        await meta.setattr(f.ino, AttrChanges(size=0))
        assert await meta.get_blocks(f.ino, 0, 10) == {}
        assert sorted(await garbage_ids(meta)) == [b"b0", b"b1", b"b2", b"b3"]
        assert (await meta.stats()).stored_bytes == 0


class DataContract(MetaFixtures):
    async def test_commit_write_sets_blocks_and_size(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        g = await meta.commit_write(
            f.ino, size=3 * BLOCK_SIZE, blocks={0: ref("a"), 2: ref("c")}, mtime_ns=5
        )
        assert (g.size, g.mtime_ns) == (3 * BLOCK_SIZE, 5)
        assert g.ctime_ns > f.ctime_ns
        assert g.version > f.version
        assert await meta.getattr(f.ino) == g
        assert await meta.get_blocks(f.ino, 0, 3) == {0: ref("a"), 2: ref("c")}  # hole at 1
        assert await meta.get_blocks(f.ino, 1, 1) == {}
        assert await meta.get_blocks(f.ino, 2, 5) == {2: ref("c")}
        assert await garbage_ids(meta) == []
        stats = await meta.stats()
        assert (stats.data_bytes, stats.stored_bytes) == (3 * BLOCK_SIZE, 200)

    async def test_replaced_refs_become_garbage(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await meta.commit_write(
            f.ino, size=2 * BLOCK_SIZE, blocks={0: ref("a"), 1: ref("b")}, mtime_ns=1
        )
        await meta.commit_write(
            f.ino, size=2 * BLOCK_SIZE, blocks={1: ref("b2", stored=70)}, mtime_ns=2
        )
        assert await garbage_ids(meta) == [b"b"]
        assert await meta.get_blocks(f.ino, 0, 2) == {0: ref("a"), 1: ref("b2", stored=70)}
        # Committing the object a slot already holds (a retry) makes no garbage.
        await meta.commit_write(f.ino, size=2 * BLOCK_SIZE, blocks={0: ref("a")}, mtime_ns=3)
        assert await garbage_ids(meta) == [b"b"]
        stats = await meta.stats()
        assert (stats.stored_bytes, stats.garbage_blocks) == (170, 1)

    async def test_packed_refs_keep_their_pack_and_offset(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        blocks = {i: packed(f"p{i}", b"P", 200 * i) for i in range(3)}
        await meta.commit_write(f.ino, size=3 * BLOCK_SIZE, blocks=blocks, mtime_ns=1)
        assert await meta.get_blocks(f.ino, 0, 3) == blocks
        # A slot moving out of a pack into its own object, and back, keeps the columns true.
        await meta.commit_write(f.ino, size=3 * BLOCK_SIZE, blocks={1: ref("own")}, mtime_ns=2)
        assert (await meta.get_blocks(f.ino, 1, 1))[1] == ref("own")
        assert await garbage_ids(meta) == []  # p1 went, but its pack holds p0 and p2

    async def test_a_pack_is_garbage_when_its_last_block_goes(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        g = await mkfile(meta, ROOT_INO, b"g")
        blocks = {i: packed(f"p{i}", b"P", 200 * i) for i in range(4)}
        await meta.commit_write(f.ino, size=4 * BLOCK_SIZE, blocks=blocks, mtime_ns=1)
        await meta.commit_write(g.ino, size=BLOCK_SIZE, blocks={0: packed("q", b"Q")}, mtime_ns=1)
        await meta.commit_write(f.ino, size=4 * BLOCK_SIZE, blocks={0: ref("a")}, mtime_ns=2)
        await meta.setattr(f.ino, AttrChanges(size=2 * BLOCK_SIZE))  # p2, p3 go too
        assert await meta.take_garbage() == []
        await meta.commit_write(f.ino, size=2 * BLOCK_SIZE, blocks={1: ref("b")}, mtime_ns=3)
        assert await meta.take_garbage() == [Garbage(b"P", pack=True)]
        await meta.forget_garbage([b"P"])
        await meta.unlink(ROOT_INO, b"f")
        await meta.unlink(ROOT_INO, b"g")
        await meta.purge_orphans()
        taken = await meta.take_garbage()
        assert sorted(taken, key=lambda x: x.id) == [
            Garbage(b"Q", pack=True),
            Garbage(b"a"),
            Garbage(b"b"),
        ]
        assert (await meta.stats()).garbage_blocks == 3

    async def test_what_live_packs_hold_unreferenced_is_counted_until_they_go(
        self, meta: MetaStore
    ) -> None:
        async def counts() -> tuple[int, int, int]:
            s = await meta.stats()
            return s.stored_bytes, s.dead_bytes, s.storage_bytes

        f = await mkfile(meta, ROOT_INO, b"f")
        # Four blocks of 100 bytes 200 apart: a pack of 700 bytes, 300 of them padding.
        blocks = {i: packed(f"p{i}", b"P", 200 * i) for i in range(4)}
        await meta.commit_write(f.ino, size=4 * BLOCK_SIZE, blocks=blocks, mtime_ns=1)
        assert await counts() == (400, 300, 700)
        await meta.commit_write(f.ino, size=4 * BLOCK_SIZE, blocks=blocks, mtime_ns=2)  # retry
        assert await counts() == (400, 300, 700)
        # A block rewritten into its own object: its old bytes stay in the pack, dead.
        await meta.commit_write(f.ino, size=4 * BLOCK_SIZE, blocks={1: ref("own")}, mtime_ns=3)
        assert await counts() == (400, 400, 800)
        await meta.setattr(f.ino, AttrChanges(size=BLOCK_SIZE))  # own, p2 and p3 go
        assert await counts() == (100, 600, 700)
        assert await meta.take_garbage() == [Garbage(b"own")]
        await meta.forget_garbage([b"own"])
        # The pack's last block goes: the whole pack is garbage and nothing is dead.
        await meta.commit_write(f.ino, size=BLOCK_SIZE, blocks={0: ref("a")}, mtime_ns=4)
        assert await counts() == (100, 0, 100)
        assert await meta.take_garbage() == [Garbage(b"P", pack=True)]
        # Two packs in one commit, and a file deleted with its blocks still packed.
        g = await mkfile(meta, ROOT_INO, b"g")
        two = {0: packed("q0", b"Q"), 1: packed("q1", b"Q", 100), 2: packed("r0", b"R")}
        await meta.commit_write(g.ino, size=3 * BLOCK_SIZE, blocks=two, mtime_ns=5)
        assert await counts() == (400, 0, 400)
        await meta.unlink(ROOT_INO, b"g")
        await meta.purge_orphans()
        assert await counts() == (100, 0, 100)

    async def test_refs_with_a_bad_pack_location_are_refused(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        for bad in (packed("a", b"P", -1), BlockRef(b"a", 10, 10, None, 5), packed("a", b"")):
            await fails(
                errno.EINVAL, meta.commit_write(f.ino, size=10, blocks={0: bad}, mtime_ns=1)
            )
        assert await meta.get_blocks(f.ino, 0, 1) == {}

    async def test_commit_write_drops_blocks_past_the_size(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        blocks = {0: ref("a"), 1: ref("b"), 2: ref("c")}
        await meta.commit_write(f.ino, size=3 * BLOCK_SIZE, blocks=blocks, mtime_ns=1)
        g = await meta.commit_write(f.ino, size=100, blocks={}, mtime_ns=2)
        assert g.size == 100
        assert await meta.get_blocks(f.ino, 0, 3) == {0: ref("a", 100)}
        assert sorted(await garbage_ids(meta)) == [b"b", b"c"]

    async def test_commit_write_compare_and_set(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        g = await meta.commit_write(
            f.ino, size=10, blocks={0: ref("a", 10)}, mtime_ns=1, expected_version=f.version
        )
        with pytest.raises(ConflictError):
            await meta.commit_write(
                f.ino, size=20, blocks={0: ref("b", 20)}, mtime_ns=2, expected_version=f.version
            )
        assert await meta.getattr(f.ino) == g
        assert await meta.get_blocks(f.ino, 0, 1) == {0: ref("a", 10)}
        assert await garbage_ids(meta) == []

    async def test_data_errors(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        await fails(errno.EISDIR, meta.commit_write(d.ino, size=1, blocks={}, mtime_ns=1))
        await fails(errno.ENOENT, meta.commit_write(999_999, size=1, blocks={}, mtime_ns=1))
        await fails(errno.ENOENT, meta.get_blocks(999_999, 0, 1))

    async def test_an_open_orphan_can_still_be_written(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await meta.unlink(ROOT_INO, b"f")
        g = await meta.commit_write(f.ino, size=10, blocks={0: ref("a", 10)}, mtime_ns=1)
        assert (g.nlink, g.size) == (0, 10)


class XattrContract(MetaFixtures):
    async def test_set_get_list_remove(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await meta.set_xattr(f.ino, b"user.b", b"1")
        await meta.set_xattr(f.ino, b"user.a", b"2")
        await meta.set_xattr(f.ino, b"user.b", b"3")
        assert await meta.get_xattr(f.ino, b"user.b") == b"3"
        assert sorted(await meta.list_xattrs(f.ino)) == [b"user.a", b"user.b"]
        g = await meta.getattr(f.ino)
        assert g.version > f.version
        assert g.ctime_ns > f.ctime_ns
        await meta.remove_xattr(f.ino, b"user.b")
        assert await meta.list_xattrs(f.ino) == [b"user.a"]
        assert (await meta.getattr(f.ino)).version > g.version

    async def test_flags_and_errors(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.ENODATA, meta.set_xattr(f.ino, b"k", b"v", XattrFlags.REPLACE))
        await meta.set_xattr(f.ino, b"k", b"v", XattrFlags.CREATE)
        await fails(errno.EEXIST, meta.set_xattr(f.ino, b"k", b"w", XattrFlags.CREATE))
        await meta.set_xattr(f.ino, b"k", b"w", XattrFlags.REPLACE)
        assert await meta.get_xattr(f.ino, b"k") == b"w"
        await fails(errno.ENODATA, meta.get_xattr(f.ino, b"missing"))
        await fails(errno.ENODATA, meta.remove_xattr(f.ino, b"missing"))
        await fails(errno.ENOENT, meta.get_xattr(999_999, b"k"))
        await fails(errno.ENOENT, meta.set_xattr(999_999, b"k", b"v"))
        await fails(errno.ENOENT, meta.list_xattrs(999_999))
        await fails(errno.ENOENT, meta.remove_xattr(999_999, b"k"))

    async def test_directories_have_xattrs_too(self, meta: MetaStore) -> None:
        await meta.set_xattr(ROOT_INO, b"user.k", b"\x00binary\xff")
        assert await meta.get_xattr(ROOT_INO, b"user.k") == b"\x00binary\xff"


class RenameContract(MetaFixtures):
    async def test_rename_within_a_directory(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"a")
        root = await meta.getattr(ROOT_INO)
        assert await meta.rename(ROOT_INO, b"a", ROOT_INO, b"b") is None
        assert await names(meta, ROOT_INO) == {b"b"}
        moved = await meta.lookup(ROOT_INO, b"b")
        assert moved.ino == f.ino
        assert moved.ctime_ns > f.ctime_ns
        root_after = await meta.getattr(ROOT_INO)
        assert root_after.mtime_ns > root.mtime_ns
        assert root_after.nlink == 2

    async def test_moving_a_directory_moves_its_link(self, meta: MetaStore) -> None:
        a = await mkdir(meta, ROOT_INO, b"a")
        b = await mkdir(meta, ROOT_INO, b"b")
        c = await mkdir(meta, a.ino, b"c")
        await mkfile(meta, c.ino, b"f")
        await meta.rename(a.ino, b"c", b.ino, b"c2")
        assert (await meta.getattr(a.ino)).nlink == 2
        assert (await meta.getattr(b.ino)).nlink == 3
        assert (await meta.getattr(ROOT_INO)).nlink == 4
        assert (await meta.lookup(b.ino, b"c2")).ino == c.ino
        assert await names(meta, c.ino) == {b"f"}
        # The moved directory's new place counts for the subtree check.
        await fails(errno.EINVAL, meta.rename(ROOT_INO, b"b", c.ino, b"b"))
        await meta.rename(b.ino, b"c2", ROOT_INO, b"c")
        await meta.rename(ROOT_INO, b"b", c.ino, b"b")
        assert (await meta.getattr(c.ino)).nlink == 3

    async def test_replacing_a_file(self, meta: MetaStore) -> None:
        src = await mkfile(meta, ROOT_INO, b"src")
        dst = await mkfile(meta, ROOT_INO, b"dst")
        replaced = await meta.rename(ROOT_INO, b"src", ROOT_INO, b"dst")
        assert replaced is not None
        assert (replaced.ino, replaced.nlink) == (dst.ino, 0)
        assert await meta.getattr(dst.ino) == replaced  # an orphan until purged
        assert (await meta.lookup(ROOT_INO, b"dst")).ino == src.ino
        assert await names(meta, ROOT_INO) == {b"dst"}

    async def test_replacing_a_hard_linked_file(self, meta: MetaStore) -> None:
        await mkfile(meta, ROOT_INO, b"src")
        dst = await mkfile(meta, ROOT_INO, b"dst")
        await meta.link(dst.ino, ROOT_INO, b"other")
        replaced = await meta.rename(ROOT_INO, b"src", ROOT_INO, b"dst")
        assert replaced is not None
        assert (replaced.ino, replaced.nlink) == (dst.ino, 1)

    async def test_replacing_an_empty_directory(self, meta: MetaStore) -> None:
        a = await mkdir(meta, ROOT_INO, b"a")
        b = await mkdir(meta, ROOT_INO, b"b")
        p = await mkdir(meta, ROOT_INO, b"p")
        x = await mkdir(meta, p.ino, b"x")
        replaced = await meta.rename(ROOT_INO, b"a", ROOT_INO, b"b")
        assert replaced is not None
        assert (replaced.ino, replaced.nlink) == (b.ino, 0)
        assert (await meta.lookup(ROOT_INO, b"b")).ino == a.ino
        assert (await meta.getattr(ROOT_INO)).nlink == 4  # root: ., .., b, p
        await fails(errno.ENOENT, meta.getattr(b.ino))
        # Across parents: the new parent loses the replaced dir and gains the moved one.
        await meta.rename(p.ino, b"x", ROOT_INO, b"b")
        assert (await meta.getattr(ROOT_INO)).nlink == 4
        assert (await meta.getattr(p.ino)).nlink == 2
        assert (await meta.lookup(ROOT_INO, b"b")).ino == x.ino

    async def test_replace_type_errors(self, meta: MetaStore) -> None:
        d = await mkdir(meta, ROOT_INO, b"d")
        full = await mkdir(meta, ROOT_INO, b"full")
        await mkfile(meta, full.ino, b"f")
        await mkfile(meta, ROOT_INO, b"file")
        await fails(errno.ENOTDIR, meta.rename(ROOT_INO, b"d", ROOT_INO, b"file"))
        await fails(errno.EISDIR, meta.rename(ROOT_INO, b"file", ROOT_INO, b"d"))
        await fails(errno.ENOTEMPTY, meta.rename(ROOT_INO, b"d", ROOT_INO, b"full"))
        # The target is the source's parent (an ancestor): not empty.
        await fails(errno.ENOTEMPTY, meta.rename(full.ino, b"f", ROOT_INO, b"full"))
        assert await names(meta, ROOT_INO) == {b"d", b"full", b"file"}
        assert (await meta.getattr(d.ino)).version == d.version

    async def test_a_directory_cannot_move_into_itself(self, meta: MetaStore) -> None:
        a = await mkdir(meta, ROOT_INO, b"a")
        b = await mkdir(meta, a.ino, b"b")
        c = await mkdir(meta, b.ino, b"c")
        await fails(errno.EINVAL, meta.rename(ROOT_INO, b"a", a.ino, b"x"))
        await fails(errno.EINVAL, meta.rename(ROOT_INO, b"a", c.ino, b"x"))
        await fails(errno.EINVAL, meta.rename(a.ino, b"b", c.ino, b"c"))
        # Moving up or sideways is fine.
        await meta.rename(b.ino, b"c", ROOT_INO, b"c")
        assert (await meta.getattr(ROOT_INO)).nlink == 4

    async def test_same_inode_is_a_no_op(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await meta.link(f.ino, ROOT_INO, b"g")
        d = await mkdir(meta, ROOT_INO, b"d")
        before = (await meta.getattr(f.ino), await meta.getattr(ROOT_INO), await meta.last_seq())
        assert await meta.rename(ROOT_INO, b"f", ROOT_INO, b"g") is None
        assert await meta.rename(ROOT_INO, b"f", ROOT_INO, b"f") is None
        assert await meta.rename(ROOT_INO, b"d", ROOT_INO, b"d") is None
        assert await meta.rename(ROOT_INO, b"f", ROOT_INO, b"g", RenameFlags.EXCHANGE) is None
        after = (await meta.getattr(f.ino), await meta.getattr(ROOT_INO), await meta.last_seq())
        assert after == before
        assert await names(meta, ROOT_INO) == {b"f", b"g", b"d"}
        assert (await meta.getattr(d.ino)).version == d.version

    async def test_noreplace(self, meta: MetaStore) -> None:
        a = await mkfile(meta, ROOT_INO, b"a")
        b = await mkfile(meta, ROOT_INO, b"b")
        await fails(
            errno.EEXIST, meta.rename(ROOT_INO, b"a", ROOT_INO, b"b", RenameFlags.NOREPLACE)
        )
        assert (await meta.lookup(ROOT_INO, b"b")).ino == b.ino
        assert await meta.rename(ROOT_INO, b"a", ROOT_INO, b"c", RenameFlags.NOREPLACE) is None
        assert (await meta.lookup(ROOT_INO, b"c")).ino == a.ino

    async def test_exchange_in_one_directory(self, meta: MetaStore) -> None:
        a = await mkfile(meta, ROOT_INO, b"a")
        b = await mkdir(meta, ROOT_INO, b"b")
        assert await meta.rename(ROOT_INO, b"a", ROOT_INO, b"b", RenameFlags.EXCHANGE) is None
        assert (await meta.lookup(ROOT_INO, b"a")).ino == b.ino
        assert (await meta.lookup(ROOT_INO, b"b")).ino == a.ino
        kinds = {e.name: e.kind for e in await meta.readdir(ROOT_INO)}
        assert kinds == {b"a": DIR, b"b": FILE}
        assert (await meta.getattr(ROOT_INO)).nlink == 3

    async def test_exchange_across_directories_fixes_nlink(self, meta: MetaStore) -> None:
        p = await mkdir(meta, ROOT_INO, b"p")
        q = await mkdir(meta, ROOT_INO, b"q")
        d = await mkdir(meta, p.ino, b"d")
        f = await mkfile(meta, q.ino, b"f")
        await mkfile(meta, d.ino, b"inside")
        await meta.rename(p.ino, b"d", q.ino, b"f", RenameFlags.EXCHANGE)
        assert (await meta.lookup(p.ino, b"d")).ino == f.ino
        assert (await meta.lookup(q.ino, b"f")).ino == d.ino
        assert (await meta.getattr(p.ino)).nlink == 2
        assert (await meta.getattr(q.ino)).nlink == 3
        assert await names(meta, d.ino) == {b"inside"}
        # Two directories in different parents: nlinks stay, subtrees travel.
        e = await mkdir(meta, p.ino, b"e")
        await meta.rename(p.ino, b"e", q.ino, b"f", RenameFlags.EXCHANGE)
        assert (await meta.lookup(q.ino, b"f")).ino == e.ino
        assert (await meta.lookup(p.ino, b"e")).ino == d.ino
        assert ((await meta.getattr(p.ino)).nlink, (await meta.getattr(q.ino)).nlink) == (3, 3)
        # d now lives in p: moving p into d is moving p into its own subtree.
        await fails(errno.EINVAL, meta.rename(ROOT_INO, b"p", d.ino, b"p"))

    async def test_exchange_errors(self, meta: MetaStore) -> None:
        a = await mkdir(meta, ROOT_INO, b"a")
        await mkdir(meta, a.ino, b"b")
        await fails(
            errno.ENOENT, meta.rename(ROOT_INO, b"a", ROOT_INO, b"missing", RenameFlags.EXCHANGE)
        )
        # Either side landing inside the other's subtree.
        await fails(errno.EINVAL, meta.rename(ROOT_INO, b"a", a.ino, b"b", RenameFlags.EXCHANGE))
        await fails(errno.EINVAL, meta.rename(a.ino, b"b", ROOT_INO, b"a", RenameFlags.EXCHANGE))
        await fails(
            errno.EINVAL,
            meta.rename(
                ROOT_INO, b"a", ROOT_INO, b"x", RenameFlags.EXCHANGE | RenameFlags.NOREPLACE
            ),
        )

    async def test_rename_errors(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await fails(errno.ENOENT, meta.rename(ROOT_INO, b"missing", ROOT_INO, b"x"))
        await fails(errno.ENOTDIR, meta.rename(f.ino, b"x", ROOT_INO, b"y"))
        await fails(errno.ENOTDIR, meta.rename(ROOT_INO, b"f", f.ino, b"y"))
        await fails(errno.ENOENT, meta.rename(999_999, b"x", ROOT_INO, b"y"))
        assert await names(meta, ROOT_INO) == {b"f"}


class HousekeepingContract(MetaFixtures):
    async def test_purge_deletes_orphans_only(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await meta.commit_write(
            f.ino, size=5000, blocks={0: ref("a"), 1: ref("b", 904)}, mtime_ns=1
        )
        await meta.set_xattr(f.ino, b"k", b"v")
        assert await meta.purge(f.ino) is False  # still linked
        assert await meta.purge(ROOT_INO) is False
        assert await meta.purge(999_999) is False
        await meta.unlink(ROOT_INO, b"f")
        assert await meta.purge(f.ino) is True
        await fails(errno.ENOENT, meta.getattr(f.ino))
        assert sorted(await garbage_ids(meta)) == [b"a", b"b"]
        assert await meta.purge(f.ino) is False  # idempotent
        stats = await meta.stats()
        assert (stats.files, stats.data_bytes, stats.stored_bytes, stats.garbage_blocks) == (
            0,
            0,
            0,
            2,
        )

    async def test_purge_orphans(self, meta: MetaStore) -> None:
        for name in (b"a", b"b", b"c"):
            await mkfile(meta, ROOT_INO, name)
        await meta.link((await meta.lookup(ROOT_INO, b"c")).ino, ROOT_INO, b"c2")
        for name in (b"a", b"b", b"c"):
            await meta.unlink(ROOT_INO, name)
        assert await meta.purge_orphans() == 2
        assert await meta.purge_orphans() == 0
        assert (await meta.stats()).files == 1

    async def test_garbage_is_taken_oldest_first_and_forgotten(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        for i in range(5):
            await meta.commit_write(f.ino, size=10, blocks={0: ref(f"g{i}", 10)}, mtime_ns=i)
        assert await garbage_ids(meta) == [b"g0", b"g1", b"g2", b"g3"]
        assert await meta.take_garbage(limit=2) == [Garbage(b"g0"), Garbage(b"g1")]
        assert await garbage_ids(meta) == [b"g0", b"g1", b"g2", b"g3"]  # not removed
        await meta.forget_garbage([b"g0", b"g2", b"unknown"])
        assert await garbage_ids(meta) == [b"g1", b"g3"]
        assert (await meta.stats()).garbage_blocks == 2
        await meta.forget_garbage([b"g1", b"g3", b"g1"])
        assert await garbage_ids(meta) == []
        assert (await meta.stats()).garbage_blocks == 0

    async def test_stats_count_everything(self, meta: MetaStore) -> None:
        assert await meta.stats() == MetaStats(0, 1, 0, 0, 0, 0)  # the root
        d = await mkdir(meta, ROOT_INO, b"d")
        f = await mkfile(meta, d.ino, b"f")
        await meta.mknod(d.ino, b"s", SYMLINK, 0o777, UID, GID, target=b"f")
        await meta.link(f.ino, ROOT_INO, b"f2")  # a link is not another file
        await meta.commit_write(f.ino, size=100, blocks={0: ref("a", 100, 60)}, mtime_ns=1)
        stats = await meta.stats()
        assert (stats.files, stats.directories, stats.symlinks) == (1, 2, 1)
        assert (stats.data_bytes, stats.stored_bytes, stats.garbage_blocks) == (100, 60, 0)
        await meta.unlink(d.ino, b"s")
        await meta.purge_orphans()
        await meta.unlink(d.ino, b"f")
        await meta.rmdir(ROOT_INO, b"d")
        stats = await meta.stats()
        assert (stats.files, stats.directories, stats.symlinks, stats.data_bytes) == (
            1,
            1,
            0,
            100,
        )


class ChangeLogContract(MetaFixtures):
    async def test_each_operation_logs_the_inodes_it_touched(self, meta: MetaStore) -> None:
        start = await meta.last_seq()
        d = await mkdir(meta, ROOT_INO, b"d")
        f = await mkfile(meta, d.ino, b"f")
        await meta.link(f.ino, ROOT_INO, b"g")
        await meta.setattr(f.ino, AttrChanges(mode=0o600))
        await meta.commit_write(f.ino, size=1, blocks={0: ref("a", 1)}, mtime_ns=1)
        await meta.set_xattr(f.ino, b"k", b"v")
        await meta.remove_xattr(f.ino, b"k")
        await meta.rename(d.ino, b"f", ROOT_INO, b"h")
        await meta.rename(ROOT_INO, b"h", ROOT_INO, b"i")
        await meta.unlink(ROOT_INO, b"g")
        await meta.unlink(ROOT_INO, b"i")
        await meta.purge(f.ino)
        await meta.rmdir(ROOT_INO, b"d")
        C = ChangeKind
        assert await changes_after(meta, start) == [
            (C.CREATE, d.ino, ROOT_INO),
            (C.CREATE, f.ino, d.ino),
            (C.LINK, f.ino, ROOT_INO),
            (C.ATTR, f.ino, None),
            (C.DATA, f.ino, None),
            (C.XATTR, f.ino, None),
            (C.XATTR, f.ino, None),
            (C.RENAME, f.ino, d.ino),
            (C.RENAME, f.ino, ROOT_INO),
            (C.RENAME, f.ino, ROOT_INO),
            (C.UNLINK, f.ino, ROOT_INO),
            (C.UNLINK, f.ino, ROOT_INO),
            (C.PURGE, f.ino, None),
            (C.UNLINK, d.ino, ROOT_INO),
            (C.PURGE, d.ino, None),
        ]

    async def test_rename_logs_replacements_and_exchanges(self, meta: MetaStore) -> None:
        p = await mkdir(meta, ROOT_INO, b"p")
        a = await mkfile(meta, ROOT_INO, b"a")
        b = await mkfile(meta, p.ino, b"b")
        e = await mkdir(meta, ROOT_INO, b"e")
        start = await meta.last_seq()
        await meta.rename(ROOT_INO, b"a", p.ino, b"b")
        await meta.rename(p.ino, b"b", ROOT_INO, b"e", RenameFlags.EXCHANGE)
        C = ChangeKind
        assert await changes_after(meta, start) == [
            (C.UNLINK, b.ino, p.ino),
            (C.RENAME, a.ino, ROOT_INO),
            (C.RENAME, a.ino, p.ino),
            (C.RENAME, a.ino, p.ino),
            (C.RENAME, a.ino, ROOT_INO),
            (C.RENAME, e.ino, ROOT_INO),
            (C.RENAME, e.ino, p.ino),
        ]

    async def test_sequence_is_gap_free_and_pages(self, meta: MetaStore) -> None:
        for i in range(30):
            await mkfile(meta, ROOT_INO, b"f%d" % i)
        everything = await meta.changes_since(0)
        seqs = [c.seq for c in everything]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert seqs[-1] == await meta.last_seq()
        paged: list[Change] = []
        while batch := await meta.changes_since(paged[-1].seq if paged else 0, limit=7):
            assert len(batch) <= 7
            paged.extend(batch)
        assert paged == everything
        assert await meta.changes_since(await meta.last_seq()) == []

    async def test_failed_operations_change_nothing(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        await mkdir(meta, ROOT_INO, b"d")
        before = (await meta.last_seq(), await meta.getattr(ROOT_INO), await meta.stats())
        await fails(errno.EEXIST, mkfile(meta, ROOT_INO, b"f"))
        await fails(errno.EISDIR, meta.rename(ROOT_INO, b"f", ROOT_INO, b"d"))
        await fails(errno.ENOENT, meta.unlink(ROOT_INO, b"x"))
        with pytest.raises(ConflictError):
            await meta.setattr(f.ino, AttrChanges(mode=0), expected_version=f.version + 7)
        after = (await meta.last_seq(), await meta.getattr(ROOT_INO), await meta.stats())
        assert after == before
        assert (await meta.getattr(f.ino)).version == f.version


class VersionContract(MetaFixtures):
    async def test_every_inode_change_bumps_its_version(self, meta: MetaStore) -> None:
        f = await mkfile(meta, ROOT_INO, b"f")
        versions = [f.version]

        async def bumped() -> None:
            version = (await meta.getattr(f.ino)).version
            assert version > versions[-1]
            versions.append(version)

        await meta.link(f.ino, ROOT_INO, b"g")
        await bumped()
        await meta.unlink(ROOT_INO, b"g")
        await bumped()
        await meta.rename(ROOT_INO, b"f", ROOT_INO, b"h")
        await bumped()
        await meta.setattr(f.ino, AttrChanges(atime_ns=5))
        await bumped()
        await meta.commit_write(f.ino, size=0, blocks={}, mtime_ns=5)
        await bumped()
        await meta.set_xattr(f.ino, b"k", b"v")
        await bumped()
        await meta.remove_xattr(f.ino, b"k")
        await bumped()


class MetaContract(
    LifecycleContract,
    NamespaceContract,
    AttributeContract,
    DataContract,
    XattrContract,
    RenameContract,
    HousekeepingContract,
    ChangeLogContract,
    VersionContract,
):
    """Every contract test; subclass it once per engine configuration."""
