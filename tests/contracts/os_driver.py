"""The VFS contract's driver for a real directory tree, with the ``os`` module.

Point it at a local folder (the reference behaviour: what Linux does) or at a cloudfs FUSE
mount.  Contract paths are absolute inside the tree, so ``/d/f`` is ``root/d/f``.
``RENAME_NOREPLACE``/``RENAME_EXCHANGE`` go through libc's ``renameat2``.  Calls are
blocking and run inline: the contract is not about concurrency.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

from cloudfs.meta.protocol import RenameFlags, XattrFlags
from tests.contracts.vfs_contract import FEATURES, FsStat, FsStatFs

__all__ = ["OsDriver"]

_AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


def _renameat2(src: str, dst: str, flags: int) -> None:
    if _libc.renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), src, None, dst)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file"


class OsDriver:
    """:class:`~tests.contracts.vfs_contract.FsDriver` over a folder on this machine."""

    def __init__(self, root: Path, *, features: frozenset[str] | None = None) -> None:
        self.root = root
        self.features = features if features is not None else self._probe()

    def _probe(self) -> frozenset[str]:
        found = set(FEATURES) - {"statfs_files"}  # statvfs counts free inodes, not files
        try:
            os.setxattr(self.root, "user.cloudfs-probe", b"1")
            os.removexattr(self.root, "user.cloudfs-probe")
        except OSError:
            found.discard("xattr")
        return frozenset(found)

    def p(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"contract paths are absolute: {path!r}")
        return str(self.root) + path

    # -- handles ------------------------------------------------------------------------
    async def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        return os.open(self.p(path), flags, mode)

    async def pwrite(self, handle: int, data: bytes, offset: int) -> int:
        return os.pwrite(handle, data, offset)

    async def pread(self, handle: int, size: int, offset: int) -> bytes:
        return os.pread(handle, size, offset)

    async def fsync(self, handle: int) -> None:
        os.fsync(handle)

    async def close(self, handle: int) -> None:
        os.close(handle)

    async def write_bytes(self, path: str, data: bytes, offset: int = 0) -> None:
        fd = os.open(self.p(path), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)

    async def read_bytes(self, path: str, offset: int = 0, size: int | None = None) -> bytes:
        fd = os.open(self.p(path), os.O_RDONLY)
        try:
            if size is not None:
                return os.pread(fd, size, offset)
            out = bytearray()
            while chunk := os.pread(fd, 1024 * 1024, offset + len(out)):
                out += chunk
            return bytes(out)
        finally:
            os.close(fd)

    async def create_excl(self, path: str, mode: int = 0o644) -> None:
        os.close(os.open(self.p(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))

    # -- namespace ----------------------------------------------------------------------
    async def mkdir(self, path: str, mode: int = 0o755) -> None:
        os.mkdir(self.p(path), mode)
        os.chmod(self.p(path), mode)  # not filtered by the umask, like the VFS

    async def rmdir(self, path: str) -> None:
        os.rmdir(self.p(path))

    async def unlink(self, path: str) -> None:
        os.unlink(self.p(path))

    async def rename(self, src: str, dst: str, flags: RenameFlags = RenameFlags.NONE) -> None:
        if flags:
            _renameat2(self.p(src), self.p(dst), int(flags))
        else:
            os.rename(self.p(src), self.p(dst))

    async def link(self, src: str, dst: str) -> None:
        os.link(self.p(src), self.p(dst), follow_symlinks=False)

    async def symlink(self, target: str, path: str) -> None:
        os.symlink(target, self.p(path))

    async def readlink(self, path: str) -> str:
        return os.readlink(self.p(path))

    async def stat(self, path: str, *, follow: bool = True) -> FsStat:
        st = os.stat(self.p(path), follow_symlinks=follow)
        return FsStat(
            st.st_ino,
            _kind(st.st_mode),
            st.st_size,
            st.st_nlink,
            stat.S_IMODE(st.st_mode),
            st.st_atime_ns,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )

    async def listdir(self, path: str) -> list[str]:
        return os.listdir(self.p(path))

    async def iterdir(self, path: str) -> AsyncIterator[str]:
        with os.scandir(self.p(path)) as entries:
            for entry in entries:
                yield entry.name

    # -- attributes ---------------------------------------------------------------------
    async def truncate(self, path: str, size: int) -> None:
        os.truncate(self.p(path), size)

    async def chmod(self, path: str, mode: int) -> None:
        os.chmod(self.p(path), mode)

    async def utime(self, path: str, atime_ns: int, mtime_ns: int) -> None:
        os.utime(self.p(path), ns=(atime_ns, mtime_ns))

    async def setxattr(
        self, path: str, name: str, value: bytes, flags: XattrFlags = XattrFlags.NONE
    ) -> None:
        os.setxattr(self.p(path), name, value, int(flags))

    async def getxattr(self, path: str, name: str) -> bytes:
        return os.getxattr(self.p(path), name)

    async def listxattr(self, path: str) -> list[str]:
        return [n for n in os.listxattr(self.p(path)) if n.startswith("user.")]

    async def removexattr(self, path: str, name: str) -> None:
        os.removexattr(self.p(path), name)

    async def statfs(self) -> FsStatFs:
        st = os.statvfs(self.root)
        used_inodes = st.f_files - st.f_ffree
        return FsStatFs(
            st.f_bsize, st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize, used_inodes
        )
