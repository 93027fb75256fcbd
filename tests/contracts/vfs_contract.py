"""Filesystem behaviour every cloudfs front end must show, against a path-based driver.

The suite speaks only :class:`FsDriver`: paths, bytes and errno.  The same tests run

* through the VFS directly (:class:`VfsDriver`, over a memory, local-folder or S3 store),
* against a local folder with the ``os`` module (:class:`tests.contracts.os_driver.OsDriver`)
  — the reference: what Linux itself does is what cloudfs must do,
* and later through a FUSE mount, again with the ``os`` driver.

Paths are absolute and ``/``-separated, relative to the filesystem under test.  Every
failure is an ``OSError`` whose ``errno`` the tests compare.  Behaviour that only some
drivers can show (xattrs, ``renameat2`` flags, exact directory link counts) is named by a
*feature*; a driver lists the features it supports and the tests that need one skip
elsewhere.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from cloudfs.meta.protocol import AttrChanges, Inode, InodeKind, RenameFlags, XattrFlags
from cloudfs.vfs import paths
from cloudfs.vfs.core import Vfs

__all__ = [
    "BS",
    "FEATURES",
    "FsDriver",
    "FsStat",
    "FsStatFs",
    "VfsContract",
    "VfsDriver",
]

BS = 64 * 1024  # the VFS block size in tests; the local folder does not care
FEATURES = frozenset({"xattr", "rename_flags", "dir_nlink", "statfs_files"})


@dataclass(frozen=True, slots=True)
class FsStat:
    """The attributes the contract compares.  ``kind`` is 'file', 'dir' or 'symlink'."""

    ino: int
    kind: str
    size: int
    nlink: int
    mode: int  # permission bits only
    atime_ns: int
    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True, slots=True)
class FsStatFs:
    block_size: int
    total_bytes: int
    free_bytes: int
    files: int


class FsDriver(Protocol):
    """A filesystem addressed by path.  Every method raises ``OSError`` with ``errno``."""

    features: frozenset[str]

    async def open(self, path: str, flags: int, mode: int = 0o644) -> int: ...
    async def pwrite(self, handle: int, data: bytes, offset: int) -> int: ...
    async def pread(self, handle: int, size: int, offset: int) -> bytes: ...
    async def fsync(self, handle: int) -> None: ...
    async def close(self, handle: int) -> None: ...

    async def write_bytes(self, path: str, data: bytes, offset: int = 0) -> None:
        """Open (creating if missing, never truncating), write at ``offset``, close."""
        ...

    async def read_bytes(self, path: str, offset: int = 0, size: int | None = None) -> bytes:
        """Read ``size`` bytes (everything to the end for ``None``) from ``offset``."""
        ...

    async def create_excl(self, path: str, mode: int = 0o644) -> None: ...
    async def mkdir(self, path: str, mode: int = 0o755) -> None: ...
    async def rmdir(self, path: str) -> None: ...
    async def unlink(self, path: str) -> None: ...
    async def rename(self, src: str, dst: str, flags: RenameFlags = RenameFlags.NONE) -> None: ...
    async def link(self, src: str, dst: str) -> None: ...
    async def symlink(self, target: str, path: str) -> None: ...
    async def readlink(self, path: str) -> str: ...
    async def stat(self, path: str, *, follow: bool = True) -> FsStat: ...
    async def listdir(self, path: str) -> list[str]: ...

    def iterdir(self, path: str) -> AsyncIterator[str]:
        """The names of a directory, read lazily in small pages (for readdir-while-changing)."""
        ...

    async def truncate(self, path: str, size: int) -> None: ...
    async def chmod(self, path: str, mode: int) -> None: ...
    async def utime(self, path: str, atime_ns: int, mtime_ns: int) -> None: ...
    async def setxattr(
        self, path: str, name: str, value: bytes, flags: XattrFlags = XattrFlags.NONE
    ) -> None: ...
    async def getxattr(self, path: str, name: str) -> bytes: ...
    async def listxattr(self, path: str) -> list[str]: ...
    async def removexattr(self, path: str, name: str) -> None: ...
    async def statfs(self) -> FsStatFs: ...


# -- the VFS driver ---------------------------------------------------------------------------
_KINDS = {InodeKind.FILE: "file", InodeKind.DIR: "dir", InodeKind.SYMLINK: "symlink"}
READ_CHUNK = 1024 * 1024


def _fs_stat(inode: Inode) -> FsStat:
    return FsStat(
        inode.ino,
        _KINDS[inode.kind],
        inode.size,
        inode.nlink,
        inode.mode,
        inode.atime_ns,
        inode.mtime_ns,
        inode.ctime_ns,
    )


class VfsDriver:
    """:class:`FsDriver` over a :class:`~cloudfs.vfs.core.Vfs`, resolving with ``vfs.paths``."""

    features = FEATURES

    def __init__(self, vfs: Vfs, *, uid: int = 0, gid: int = 0) -> None:
        self.vfs = vfs
        self.uid = uid
        self.gid = gid

    async def _ino(self, path: str, *, follow: bool = True) -> int:
        return (await paths.resolve(self.vfs, path, follow=follow)).ino

    async def _parent(self, path: str) -> tuple[int, str]:
        parent, name = await paths.resolve_parent(self.vfs, path)
        return parent.ino, name

    # -- handles ------------------------------------------------------------------------
    async def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        try:
            inode = await paths.resolve(self.vfs, path)
        except FileNotFoundError:
            if not flags & os.O_CREAT:
                raise
            dangling = None if flags & os.O_EXCL else await self._dangling_target(path)
            if dangling is not None:  # O_CREAT through a dangling symlink creates its target
                return await self.open(dangling, flags | os.O_EXCL, mode)
            parent, name = await self._parent(path)
            handle, _ = await self.vfs.create(parent, name, mode, flags, self.uid, self.gid)
            return handle.fh
        if flags & os.O_CREAT and flags & os.O_EXCL:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
        if inode.kind == InodeKind.DIR and flags & os.O_ACCMODE == os.O_RDONLY:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        return (await self.vfs.open(inode.ino, flags)).fh

    async def _dangling_target(self, path: str, depth: int = 0) -> str | None:
        """The path a final dangling symlink points to, if ``path`` ends in one."""
        try:
            inode = await paths.resolve(self.vfs, path, follow=False)
        except FileNotFoundError:
            return None
        if inode.kind != InodeKind.SYMLINK or depth >= paths.MAX_SYMLINKS:
            return None
        target = await self.vfs.readlink(inode.ino)
        if not target.startswith("/"):
            target = paths.normalize(path + "/..") + "/" + target
        return await self._dangling_target(target, depth + 1) or paths.normalize(target)

    async def pwrite(self, handle: int, data: bytes, offset: int) -> int:
        return await self.vfs.write(handle, offset, data)

    async def pread(self, handle: int, size: int, offset: int) -> bytes:
        return await self.vfs.read(handle, offset, size)

    async def fsync(self, handle: int) -> None:
        await self.vfs.fsync(handle)

    async def close(self, handle: int) -> None:
        await self.vfs.release(handle)

    async def write_bytes(self, path: str, data: bytes, offset: int = 0) -> None:
        h = await self.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            await self.pwrite(h, data, offset)
        finally:
            await self.close(h)

    async def read_bytes(self, path: str, offset: int = 0, size: int | None = None) -> bytes:
        h = await self.open(path, os.O_RDONLY)
        try:
            return await _read_from(self, h, offset, size)
        finally:
            await self.close(h)

    async def create_excl(self, path: str, mode: int = 0o644) -> None:
        await self.close(await self.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))

    # -- namespace ----------------------------------------------------------------------
    async def mkdir(self, path: str, mode: int = 0o755) -> None:
        parent, name = await self._parent(path)
        await self.vfs.mkdir(parent, name, mode, self.uid, self.gid)

    async def rmdir(self, path: str) -> None:
        parent, name = await self._parent(path)
        await self.vfs.rmdir(parent, name)

    async def unlink(self, path: str) -> None:
        parent, name = await self._parent(path)
        await self.vfs.unlink(parent, name)

    async def rename(self, src: str, dst: str, flags: RenameFlags = RenameFlags.NONE) -> None:
        old_parent, old_name = await self._parent(src)
        new_parent, new_name = await self._parent(dst)
        await self.vfs.rename(old_parent, old_name, new_parent, new_name, flags)

    async def link(self, src: str, dst: str) -> None:
        ino = await self._ino(src, follow=False)
        parent, name = await self._parent(dst)
        await self.vfs.link(ino, parent, name)

    async def symlink(self, target: str, path: str) -> None:
        parent, name = await self._parent(path)
        await self.vfs.symlink(parent, name, target, self.uid, self.gid)

    async def readlink(self, path: str) -> str:
        return await self.vfs.readlink(await self._ino(path, follow=False))

    async def stat(self, path: str, *, follow: bool = True) -> FsStat:
        return _fs_stat(await paths.resolve(self.vfs, path, follow=follow))

    async def listdir(self, path: str) -> list[str]:
        return [name async for name in self.iterdir(path, page=1000)]

    async def iterdir(self, path: str, page: int = 3) -> AsyncIterator[str]:
        inode = await paths.resolve(self.vfs, path)
        if inode.kind != InodeKind.DIR:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        cookie = 0
        while batch := await self.vfs.readdir(inode.ino, cookie, limit=page):
            for item in batch:
                yield item.name
            cookie = batch[-1].cookie

    # -- attributes ---------------------------------------------------------------------
    async def truncate(self, path: str, size: int) -> None:
        await self.vfs.setattr(await self._ino(path), AttrChanges(size=size))

    async def chmod(self, path: str, mode: int) -> None:
        await self.vfs.setattr(await self._ino(path), AttrChanges(mode=mode & 0o7777))

    async def utime(self, path: str, atime_ns: int, mtime_ns: int) -> None:
        await self.vfs.setattr(
            await self._ino(path), AttrChanges(atime_ns=atime_ns, mtime_ns=mtime_ns)
        )

    async def setxattr(
        self, path: str, name: str, value: bytes, flags: XattrFlags = XattrFlags.NONE
    ) -> None:
        await self.vfs.setxattr(await self._ino(path), name, value, flags)

    async def getxattr(self, path: str, name: str) -> bytes:
        return await self.vfs.getxattr(await self._ino(path), name)

    async def listxattr(self, path: str) -> list[str]:
        return await self.vfs.listxattr(await self._ino(path))

    async def removexattr(self, path: str, name: str) -> None:
        await self.vfs.removexattr(await self._ino(path), name)

    async def statfs(self) -> FsStatFs:
        st = await self.vfs.statfs()
        return FsStatFs(st.block_size, st.total_bytes, st.free_bytes, st.files)


async def _read_from(fs: FsDriver, handle: int, offset: int, size: int | None) -> bytes:
    if size is not None:
        return await fs.pread(handle, size, offset)
    out = bytearray()
    while chunk := await fs.pread(handle, READ_CHUNK, offset + len(out)):
        out += chunk
    return bytes(out)


# -- helpers for the tests -------------------------------------------------------------------
async def expect_errno(code: int, call: Callable[[], Any]) -> OSError:
    """Await ``call()`` and check it fails with ``OSError(code)``."""
    with pytest.raises(OSError) as info:
        await call()
    assert info.value.errno == code, f"expected {errno.errorcode[code]}, got {info.value!r}"
    return info.value


async def tick() -> None:
    """Let the clock move on: file times are compared with strict inequality.

    Linux file times come from a coarse clock (a jiffy, up to 10 ms).
    """
    await asyncio.sleep(0.03)


def _needs(fs: FsDriver, feature: str) -> None:
    if feature not in fs.features:
        pytest.skip(f"the driver does not support {feature}")


# -- the suite -------------------------------------------------------------------------------
class VfsContract:
    """Subclass and provide an ``fs`` fixture yielding a driver on an empty filesystem."""

    # ---- files: content ----------------------------------------------------------------
    async def test_write_then_read_back(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"hello")
        assert await fs.read_bytes("/f") == b"hello"
        st = await fs.stat("/f")
        assert (st.kind, st.size, st.nlink) == ("file", 5, 1)

    async def test_empty_file(self, fs: FsDriver) -> None:
        await fs.create_excl("/e")
        assert await fs.read_bytes("/e") == b""
        assert (await fs.stat("/e")).size == 0

    async def test_writes_at_offsets_across_block_boundaries(self, fs: FsDriver) -> None:
        rng = random.Random(1)
        model = bytearray()
        for offset, length in [
            (0, 10),
            (BS - 3, 7),
            (2 * BS - 1, 2),
            (BS, BS),
            (3 * BS - 5, 5),
            (5, 3 * BS),
            (4 * BS + 17, 1),
            (BS // 2, BS),
        ]:
            data = rng.randbytes(length)
            await fs.write_bytes("/f", data, offset)
            if len(model) < offset + length:
                model.extend(bytes(offset + length - len(model)))
            model[offset : offset + length] = data
            assert (await fs.stat("/f")).size == len(model)
        assert await fs.read_bytes("/f") == bytes(model)
        for offset, size in [
            (0, 1),
            (BS - 1, 2),
            (BS, BS),
            (2 * BS - 3, BS + 6),
            (len(model) - 1, 10),
            (len(model), 10),
            (len(model) + 50, 3),
        ]:
            assert await fs.read_bytes("/f", offset, size) == bytes(model[offset : offset + size])

    async def test_overwrite_middle_keeps_the_rest(self, fs: FsDriver) -> None:
        data = bytearray(os.urandom(2 * BS))
        await fs.write_bytes("/f", bytes(data))
        await fs.write_bytes("/f", b"X" * 10, BS - 5)
        data[BS - 5 : BS + 5] = b"X" * 10
        assert await fs.read_bytes("/f") == bytes(data)

    async def test_holes_read_as_zeros(self, fs: FsDriver) -> None:
        await fs.write_bytes("/sparse", b"end", 3 * BS + 10)
        assert (await fs.stat("/sparse")).size == 3 * BS + 13
        assert await fs.read_bytes("/sparse") == bytes(3 * BS + 10) + b"end"
        await fs.write_bytes("/sparse", b"mid", BS + 1)
        expected = bytes(BS + 1) + b"mid" + bytes(2 * BS + 6) + b"end"
        assert await fs.read_bytes("/sparse") == expected

    async def test_large_file(self, fs: FsDriver) -> None:
        data = os.urandom(5 * 1024 * 1024 + 12345)
        h = await fs.open("/big", os.O_WRONLY | os.O_CREAT)
        for pos in range(0, len(data), 1024 * 1024):
            await fs.pwrite(h, data[pos : pos + 1024 * 1024], pos)
        await fs.close(h)
        assert (await fs.stat("/big")).size == len(data)
        assert await fs.read_bytes("/big") == data
        rng = random.Random(2)
        for _ in range(20):
            offset = rng.randrange(len(data))
            size = rng.randrange(1, 3 * BS)
            assert await fs.read_bytes("/big", offset, size) == data[offset : offset + size]

    async def test_truncate_shrink_and_grow(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"a" * (BS + 100))
        await fs.truncate("/f", 10)
        assert await fs.read_bytes("/f") == b"a" * 10
        await fs.truncate("/f", 2 * BS + 50)  # the old bytes must not come back
        assert await fs.read_bytes("/f") == b"a" * 10 + bytes(2 * BS + 40)
        await fs.truncate("/f", 0)
        assert await fs.read_bytes("/f") == b""
        await fs.truncate("/f", 3)
        assert await fs.read_bytes("/f") == bytes(3)

    async def test_truncate_at_block_boundary(self, fs: FsDriver) -> None:
        data = os.urandom(3 * BS)
        await fs.write_bytes("/f", data)
        await fs.truncate("/f", BS)
        await fs.truncate("/f", 3 * BS)
        assert await fs.read_bytes("/f") == data[:BS] + bytes(2 * BS)

    async def test_write_past_truncated_end(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x" * 100)
        await fs.truncate("/f", 50)
        await fs.write_bytes("/f", b"y", 60)
        assert await fs.read_bytes("/f") == b"x" * 50 + bytes(10) + b"y"

    async def test_truncate_while_open_with_pending_writes(self, fs: FsDriver) -> None:
        h = await fs.open("/f", os.O_RDWR | os.O_CREAT)
        await fs.pwrite(h, b"b" * (2 * BS), 0)
        await fs.truncate("/f", 5)
        await fs.pwrite(h, b"c", 10)
        assert await fs.pread(h, 100, 0) == b"bbbbb" + bytes(5) + b"c"
        await fs.close(h)
        assert await fs.read_bytes("/f") == b"bbbbb" + bytes(5) + b"c"

    async def test_open_trunc_and_append(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"old content")
        await fs.close(await fs.open("/f", os.O_WRONLY | os.O_TRUNC))
        assert (await fs.stat("/f")).size == 0
        await fs.write_bytes("/f", b"start")
        h = await fs.open("/f", os.O_WRONLY | os.O_APPEND)
        await fs.pwrite(h, b"-end", 0)  # O_APPEND: the offset is ignored (Linux pwrite too)
        await fs.close(h)
        assert await fs.read_bytes("/f") == b"start-end"

    async def test_several_handles_share_one_file(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"0123456789")
        a = await fs.open("/f", os.O_RDWR)
        b = await fs.open("/f", os.O_RDWR)
        c = await fs.open("/f", os.O_RDONLY)
        await fs.pwrite(a, b"ab", 2)
        await fs.pwrite(b, b"XY", BS + 1)
        assert await fs.pread(c, 4, 0) == b"01ab"
        assert await fs.pread(c, 3, BS) == b"\0XY"
        await fs.fsync(a)
        await fs.close(a)
        await fs.pwrite(b, b"!", 0)
        await fs.close(b)
        await fs.close(c)
        expected = b"!1ab456789" + bytes(BS + 1 - 10) + b"XY"
        assert await fs.read_bytes("/f") == expected
        assert (await fs.stat("/f")).size == BS + 3

    async def test_read_only_handle_refuses_writes(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        h = await fs.open("/f", os.O_RDONLY)
        try:
            await expect_errno(errno.EBADF, lambda: fs.pwrite(h, b"y", 0))
        finally:
            await fs.close(h)
        w = await fs.open("/f", os.O_WRONLY)
        try:
            await expect_errno(errno.EBADF, lambda: fs.pread(w, 1, 0))
        finally:
            await fs.close(w)

    async def test_unlinked_open_file_stays_usable(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"still here")
        h = await fs.open("/f", os.O_RDWR)
        await fs.unlink("/f")
        await expect_errno(errno.ENOENT, lambda: fs.stat("/f"))
        await fs.pwrite(h, b"!", 10)
        assert await fs.pread(h, 100, 0) == b"still here!"
        await fs.close(h)
        assert await fs.listdir("/") == []

    # ---- errors ------------------------------------------------------------------------
    async def test_missing_paths_are_enoent(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        for call in [
            lambda: fs.stat("/nope"),
            lambda: fs.read_bytes("/nope"),
            lambda: fs.unlink("/nope"),
            lambda: fs.rmdir("/nope"),
            lambda: fs.listdir("/nope"),
            lambda: fs.readlink("/nope"),
            lambda: fs.truncate("/nope", 0),
            lambda: fs.chmod("/nope", 0o600),
            lambda: fs.rename("/nope", "/d/x"),
            lambda: fs.link("/nope", "/d/x"),
            lambda: fs.mkdir("/nope/sub"),
            lambda: fs.write_bytes("/nope/f", b"x"),
            lambda: fs.symlink("t", "/nope/l"),
            lambda: fs.stat("/d/nope/x"),
        ]:
            await expect_errno(errno.ENOENT, call)

    async def test_existing_names_are_eexist(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        await fs.mkdir("/d")
        await fs.symlink("f", "/l")
        await fs.symlink("missing", "/dangling")  # O_EXCL does not follow a final symlink
        for path in ["/f", "/d", "/l", "/dangling"]:
            await expect_errno(errno.EEXIST, lambda p=path: fs.mkdir(p))
            await expect_errno(errno.EEXIST, lambda p=path: fs.create_excl(p))
            await expect_errno(errno.EEXIST, lambda p=path: fs.symlink("x", p))
            await expect_errno(errno.EEXIST, lambda p=path: fs.link("/f", p))

    async def test_file_used_as_directory_is_enotdir(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        await fs.mkdir("/d")
        for call in [
            lambda: fs.stat("/f/x"),
            lambda: fs.mkdir("/f/x"),
            lambda: fs.write_bytes("/f/x", b"y"),
            lambda: fs.listdir("/f"),
            lambda: fs.rmdir("/f"),
            lambda: fs.rename("/d", "/f"),
            lambda: fs.symlink("t", "/f/l"),
        ]:
            await expect_errno(errno.ENOTDIR, call)

    async def test_directory_used_as_file_is_eisdir(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.write_bytes("/f", b"x")
        for call in [
            lambda: fs.unlink("/d"),
            lambda: fs.read_bytes("/d"),
            lambda: fs.write_bytes("/d", b"x"),
            lambda: fs.truncate("/d", 0),
            lambda: fs.rename("/f", "/d"),
            lambda: fs.open("/d", os.O_RDWR),
        ]:
            await expect_errno(errno.EISDIR, call)

    async def test_rmdir_non_empty_is_enotempty(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.write_bytes("/d/f", b"x")
        await expect_errno(errno.ENOTEMPTY, lambda: fs.rmdir("/d"))
        await fs.unlink("/d/f")
        await fs.rmdir("/d")
        await expect_errno(errno.ENOENT, lambda: fs.stat("/d"))

    async def test_rmdir_of_a_symlink_to_a_directory_is_enotdir(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.symlink("d", "/l")
        await expect_errno(errno.ENOTDIR, lambda: fs.rmdir("/l"))
        await fs.unlink("/l")
        assert (await fs.stat("/d")).kind == "dir"

    async def test_readlink_of_a_non_symlink_is_einval(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        await fs.mkdir("/d")
        await expect_errno(errno.EINVAL, lambda: fs.readlink("/f"))
        await expect_errno(errno.EINVAL, lambda: fs.readlink("/d"))

    async def test_hard_link_to_a_directory_is_eperm(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await expect_errno(errno.EPERM, lambda: fs.link("/d", "/d2"))

    async def test_moving_a_directory_into_itself_is_einval(self, fs: FsDriver) -> None:
        await fs.mkdir("/a")
        await fs.mkdir("/a/b")
        await fs.mkdir("/a/b/c")
        await expect_errno(errno.EINVAL, lambda: fs.rename("/a", "/a/x"))
        await expect_errno(errno.EINVAL, lambda: fs.rename("/a", "/a/b/c/x"))
        await expect_errno(errno.EINVAL, lambda: fs.rename("/a", "/a/b/c"))  # over a descendant
        assert sorted(await fs.listdir("/a")) == ["b"]

    # ---- rename ------------------------------------------------------------------------
    async def test_rename_file_moves_content(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.write_bytes("/a", b"A")
        ino = (await fs.stat("/a")).ino
        await fs.rename("/a", "/d/b")
        assert await fs.listdir("/") == ["d"]
        assert await fs.read_bytes("/d/b") == b"A"
        assert (await fs.stat("/d/b")).ino == ino

    async def test_rename_file_over_file_replaces(self, fs: FsDriver) -> None:
        await fs.write_bytes("/a", b"A")
        await fs.write_bytes("/b", b"B")
        await fs.rename("/a", "/b")
        assert await fs.listdir("/") == ["b"]
        assert await fs.read_bytes("/b") == b"A"

    async def test_rename_dir_over_empty_dir_replaces(self, fs: FsDriver) -> None:
        await fs.mkdir("/a")
        await fs.write_bytes("/a/f", b"x")
        await fs.mkdir("/b")
        await fs.rename("/a", "/b")
        assert await fs.listdir("/") == ["b"]
        assert await fs.read_bytes("/b/f") == b"x"

    async def test_rename_dir_over_non_empty_dir_is_enotempty(self, fs: FsDriver) -> None:
        await fs.mkdir("/a")
        await fs.mkdir("/b")
        await fs.write_bytes("/b/f", b"x")
        await expect_errno(errno.ENOTEMPTY, lambda: fs.rename("/a", "/b"))
        assert sorted(await fs.listdir("/")) == ["a", "b"]

    async def test_rename_file_over_dir_and_dir_over_file(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.write_bytes("/f", b"x")
        await expect_errno(errno.EISDIR, lambda: fs.rename("/f", "/d"))
        await expect_errno(errno.ENOTDIR, lambda: fs.rename("/d", "/f"))
        assert (await fs.stat("/d")).kind == "dir"
        assert await fs.read_bytes("/f") == b"x"

    async def test_rename_onto_itself_or_a_hard_link_of_itself(self, fs: FsDriver) -> None:
        await fs.write_bytes("/a", b"A")
        await fs.link("/a", "/b")
        await fs.rename("/a", "/a")
        await fs.rename("/a", "/b")  # same inode: rename(2) does nothing
        assert sorted(await fs.listdir("/")) == ["a", "b"]
        assert (await fs.stat("/a")).nlink == 2

    async def test_rename_symlink_keeps_target(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"data")
        await fs.symlink("f", "/l")
        await fs.rename("/l", "/m")
        assert await fs.readlink("/m") == "f"
        assert await fs.read_bytes("/m") == b"data"

    async def test_rename_noreplace(self, fs: FsDriver) -> None:
        _needs(fs, "rename_flags")
        await fs.write_bytes("/a", b"A")
        await fs.write_bytes("/b", b"B")
        await expect_errno(errno.EEXIST, lambda: fs.rename("/a", "/b", RenameFlags.NOREPLACE))
        assert await fs.read_bytes("/b") == b"B"
        await fs.rename("/a", "/c", RenameFlags.NOREPLACE)
        assert sorted(await fs.listdir("/")) == ["b", "c"]

    async def test_rename_exchange(self, fs: FsDriver) -> None:
        _needs(fs, "rename_flags")
        await fs.write_bytes("/a", b"A")
        await fs.mkdir("/d")
        await fs.write_bytes("/d/inner", b"I")
        await fs.rename("/a", "/d", RenameFlags.EXCHANGE)
        assert await fs.read_bytes("/d") == b"A"
        assert await fs.read_bytes("/a/inner") == b"I"
        await expect_errno(errno.ENOENT, lambda: fs.rename("/a", "/missing", RenameFlags.EXCHANGE))

    async def test_rename_exchange_across_directories(self, fs: FsDriver) -> None:
        _needs(fs, "rename_flags")
        await fs.mkdir("/x")
        await fs.mkdir("/y")
        await fs.write_bytes("/x/a", b"A")
        await fs.write_bytes("/y/b", b"B")
        await fs.rename("/x/a", "/y/b", RenameFlags.EXCHANGE)
        assert await fs.read_bytes("/x/a") == b"B"
        assert await fs.read_bytes("/y/b") == b"A"

    async def test_rename_an_open_file_then_write(self, fs: FsDriver) -> None:
        h = await fs.open("/a", os.O_RDWR | os.O_CREAT)
        await fs.pwrite(h, b"one", 0)
        await fs.fsync(h)
        await fs.rename("/a", "/b")
        await fs.pwrite(h, b"two", 3)
        await fs.close(h)
        assert await fs.read_bytes("/b") == b"onetwo"

    async def test_rename_over_an_open_file(self, fs: FsDriver) -> None:
        await fs.write_bytes("/a", b"new")
        await fs.write_bytes("/b", b"old")
        h = await fs.open("/b", os.O_RDWR)
        await fs.rename("/a", "/b")
        assert await fs.pread(h, 10, 0) == b"old"
        await fs.pwrite(h, b"!", 3)
        await fs.close(h)
        assert await fs.read_bytes("/b") == b"new"
        assert await fs.listdir("/") == ["b"]

    # ---- hard links and symlinks -------------------------------------------------------
    async def test_hard_link_counts(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.write_bytes("/a", b"shared")
        await fs.link("/a", "/d/b")
        await fs.link("/d/b", "/c")
        assert [(await fs.stat(p)).nlink for p in ["/a", "/d/b", "/c"]] == [3, 3, 3]
        assert len({(await fs.stat(p)).ino for p in ["/a", "/d/b", "/c"]}) == 1
        await fs.write_bytes("/c", b"SH")
        assert await fs.read_bytes("/a") == b"SHared"
        await fs.unlink("/a")
        assert (await fs.stat("/c")).nlink == 2
        await fs.rename("/d/b", "/c")  # same inode: nothing happens
        assert (await fs.stat("/c")).nlink == 2
        await fs.write_bytes("/e", b"other")
        await fs.rename("/e", "/c")  # replaces one name of the inode
        assert (await fs.stat("/d/b")).nlink == 1
        assert await fs.read_bytes("/d/b") == b"SHared"
        assert await fs.read_bytes("/c") == b"other"

    async def test_directory_link_counts(self, fs: FsDriver) -> None:
        _needs(fs, "dir_nlink")
        await fs.mkdir("/d")
        assert (await fs.stat("/d")).nlink == 2
        await fs.mkdir("/d/a")
        await fs.mkdir("/d/b")
        await fs.write_bytes("/d/f", b"")
        assert (await fs.stat("/d")).nlink == 4
        await fs.rmdir("/d/a")
        await fs.mkdir("/e")
        await fs.rename("/d/b", "/e/b")
        assert (await fs.stat("/d")).nlink == 2
        assert (await fs.stat("/e")).nlink == 3
        await fs.mkdir("/e2")
        await fs.rename("/e2", "/e/b")  # replaces an empty dir: counts stay
        assert (await fs.stat("/e")).nlink == 3

    async def test_symlinks(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.write_bytes("/d/f", b"content")
        await fs.symlink("d/f", "/rel")
        await fs.symlink("../d", "/d/up")
        await fs.symlink("nowhere", "/dangling")
        target = "../some/where ü"
        await fs.symlink(target, "/odd")
        assert await fs.readlink("/odd") == target
        st = await fs.stat("/odd", follow=False)
        assert (st.kind, st.size) == ("symlink", len(target.encode()))
        assert await fs.read_bytes("/rel") == b"content"
        assert await fs.read_bytes("/d/up/f") == b"content"
        assert (await fs.stat("/rel")).kind == "file"
        assert (await fs.stat("/d/up")).kind == "dir"
        await expect_errno(errno.ENOENT, lambda: fs.stat("/dangling"))
        assert (await fs.stat("/dangling", follow=False)).kind == "symlink"
        await fs.unlink("/rel")
        assert await fs.read_bytes("/d/f") == b"content"

    async def test_create_through_a_dangling_symlink_creates_its_target(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.symlink("d/new", "/l")
        await fs.write_bytes("/l", b"via link")
        assert await fs.read_bytes("/d/new") == b"via link"
        await fs.symlink("missing/x", "/bad")
        await expect_errno(errno.ENOENT, lambda: fs.write_bytes("/bad", b"x"))

    async def test_symlink_loop_is_eloop(self, fs: FsDriver) -> None:
        await fs.symlink("b", "/a")
        await fs.symlink("a", "/b")
        await expect_errno(errno.ELOOP, lambda: fs.stat("/a"))
        await expect_errno(errno.ELOOP, lambda: fs.read_bytes("/a/x"))

    async def test_hard_link_to_a_symlink_links_the_symlink(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        await fs.symlink("f", "/l")
        await fs.link("/l", "/l2")
        assert await fs.readlink("/l2") == "f"
        assert (await fs.stat("/f")).nlink == 1

    # ---- attributes and times ------------------------------------------------------------
    async def test_chmod(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        await fs.mkdir("/d", 0o700)
        assert (await fs.stat("/d")).mode == 0o700
        await fs.chmod("/f", 0o640)
        assert (await fs.stat("/f")).mode == 0o640
        await fs.chmod("/d", 0o1755)
        assert (await fs.stat("/d")).mode == 0o1755

    async def test_chmod_changes_ctime_not_mtime(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        before = await fs.stat("/f")
        await tick()
        await fs.chmod("/f", 0o600)
        after = await fs.stat("/f")
        assert after.mtime_ns == before.mtime_ns
        assert after.ctime_ns > before.ctime_ns

    async def test_utime_sets_exact_times(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        await fs.mkdir("/d")
        for path in ["/f", "/d"]:
            await fs.utime(path, 1_000_000_123, 2_000_000_456)
            st = await fs.stat(path)
            assert (st.atime_ns, st.mtime_ns) == (1_000_000_123, 2_000_000_456)

    async def test_write_changes_mtime_and_ctime(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        before = await fs.stat("/f")
        await tick()
        await fs.write_bytes("/f", b"y", 1)
        after = await fs.stat("/f")
        assert after.mtime_ns > before.mtime_ns
        assert after.ctime_ns > before.ctime_ns

    async def test_truncate_changes_mtime_and_ctime(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"xyz")
        before = await fs.stat("/f")
        await tick()
        await fs.truncate("/f", 1)
        after = await fs.stat("/f")
        assert after.mtime_ns > before.mtime_ns
        assert after.ctime_ns > before.ctime_ns

    async def test_entry_changes_touch_the_directory(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.mkdir("/e")
        steps: list[tuple[Callable[[], Any], list[str]]] = [
            (lambda: fs.write_bytes("/d/f", b"x"), ["/d"]),
            (lambda: fs.mkdir("/d/sub"), ["/d"]),
            (lambda: fs.symlink("f", "/d/l"), ["/d"]),
            (lambda: fs.link("/d/f", "/d/g"), ["/d"]),
            (lambda: fs.rename("/d/g", "/e/g"), ["/d", "/e"]),
            (lambda: fs.unlink("/d/l"), ["/d"]),
            (lambda: fs.rmdir("/d/sub"), ["/d"]),
        ]
        for call, dirs in steps:
            before = [await fs.stat(d) for d in dirs]
            await tick()
            await call()
            for d, old in zip(dirs, before, strict=True):
                new = await fs.stat(d)
                assert new.mtime_ns > old.mtime_ns, d
                assert new.ctime_ns > old.ctime_ns, d

    async def test_link_unlink_and_rename_change_the_file_ctime(self, fs: FsDriver) -> None:
        await fs.write_bytes("/f", b"x")
        for call in [
            lambda: fs.link("/f", "/g"),
            lambda: fs.unlink("/g"),
            lambda: fs.rename("/f", "/h"),
        ]:
            path = "/h" if (await fs.listdir("/")) == ["h"] else "/f"
            before = await fs.stat(path)
            await tick()
            await call()
            after = await fs.stat("/h" if (await fs.listdir("/")) == ["h"] else "/f")
            assert after.ctime_ns > before.ctime_ns
            assert after.mtime_ns == before.mtime_ns

    # ---- directories -------------------------------------------------------------------
    async def test_listdir(self, fs: FsDriver) -> None:
        assert await fs.listdir("/") == []
        await fs.mkdir("/d")
        names = ["a", "b c", "ü", "x" * 255, ".hidden"]
        for name in names:
            await fs.write_bytes(f"/d/{name}", b"")
        assert sorted(await fs.listdir("/d")) == sorted(names)
        assert await fs.listdir("/") == ["d"]

    async def test_paths_with_dots(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        await fs.mkdir("/d/e")
        await fs.write_bytes("/d/./e/../f", b"x")
        assert await fs.read_bytes("/d/f") == b"x"
        assert sorted(await fs.listdir("/d/e/..")) == ["e", "f"]

    async def test_readdir_while_changing(self, fs: FsDriver) -> None:
        await fs.mkdir("/d")
        stable = {f"s{i:02}" for i in range(20)}
        doomed = {f"x{i:02}" for i in range(10)}
        for name in sorted(stable | doomed):
            await fs.write_bytes(f"/d/{name}", b"")
        seen: list[str] = []
        async for name in fs.iterdir("/d"):
            seen.append(name)
            if len(seen) == 3:  # change the directory in the middle of the listing
                for d in sorted(doomed):
                    await fs.unlink(f"/d/{d}")
                for i in range(10):
                    await fs.write_bytes(f"/d/new{i}", b"")
        assert stable <= set(seen), "an entry that stayed put was skipped"
        assert len(seen) == len(set(seen)), "an entry was returned twice"
        assert set(seen) <= stable | doomed | {f"new{i}" for i in range(10)}

    # ---- xattrs --------------------------------------------------------------------------
    async def test_xattrs(self, fs: FsDriver) -> None:
        _needs(fs, "xattr")
        await fs.write_bytes("/f", b"")
        assert await fs.listxattr("/f") == []
        await fs.setxattr("/f", "user.a", b"1")
        await fs.setxattr("/f", "user.b", b"\x00\xff" * 100)
        await fs.setxattr("/f", "user.empty", b"")
        assert sorted(await fs.listxattr("/f")) == ["user.a", "user.b", "user.empty"]
        assert await fs.getxattr("/f", "user.b") == b"\x00\xff" * 100
        assert await fs.getxattr("/f", "user.empty") == b""
        await fs.setxattr("/f", "user.a", b"2")
        assert await fs.getxattr("/f", "user.a") == b"2"
        await fs.removexattr("/f", "user.a")
        await expect_errno(errno.ENODATA, lambda: fs.getxattr("/f", "user.a"))
        await expect_errno(errno.ENODATA, lambda: fs.removexattr("/f", "user.a"))
        assert sorted(await fs.listxattr("/f")) == ["user.b", "user.empty"]

    async def test_xattr_flags(self, fs: FsDriver) -> None:
        _needs(fs, "xattr")
        await fs.mkdir("/d")
        await expect_errno(
            errno.ENODATA, lambda: fs.setxattr("/d", "user.k", b"v", XattrFlags.REPLACE)
        )
        await fs.setxattr("/d", "user.k", b"v", XattrFlags.CREATE)
        await expect_errno(
            errno.EEXIST, lambda: fs.setxattr("/d", "user.k", b"w", XattrFlags.CREATE)
        )
        await fs.setxattr("/d", "user.k", b"w", XattrFlags.REPLACE)
        assert await fs.getxattr("/d", "user.k") == b"w"

    async def test_xattrs_follow_the_inode(self, fs: FsDriver) -> None:
        _needs(fs, "xattr")
        await fs.write_bytes("/f", b"x")
        await fs.setxattr("/f", "user.k", b"v")
        await fs.link("/f", "/g")
        await fs.rename("/f", "/h")
        assert await fs.getxattr("/g", "user.k") == b"v"
        assert await fs.getxattr("/h", "user.k") == b"v"
        await expect_errno(errno.ENOENT, lambda: fs.getxattr("/f", "user.k"))

    async def test_xattr_changes_ctime(self, fs: FsDriver) -> None:
        _needs(fs, "xattr")
        await fs.write_bytes("/f", b"x")
        before = await fs.stat("/f")
        await tick()
        await fs.setxattr("/f", "user.k", b"v")
        mid = await fs.stat("/f")
        assert mid.ctime_ns > before.ctime_ns
        assert mid.mtime_ns == before.mtime_ns
        await tick()
        await fs.removexattr("/f", "user.k")
        assert (await fs.stat("/f")).ctime_ns > mid.ctime_ns

    # ---- statfs ------------------------------------------------------------------------
    async def test_statfs(self, fs: FsDriver) -> None:
        st = await fs.statfs()
        assert st.block_size > 0
        assert st.total_bytes >= st.free_bytes > 0

    async def test_statfs_counts_inodes(self, fs: FsDriver) -> None:
        _needs(fs, "statfs_files")
        before = (await fs.statfs()).files
        await fs.write_bytes("/f", b"x")
        await fs.mkdir("/d")
        await fs.symlink("f", "/l")
        assert (await fs.statfs()).files == before + 3
        await fs.unlink("/f")
        assert (await fs.statfs()).files == before + 2
