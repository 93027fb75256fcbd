"""Filesystem: the path-based SDK calls (``filespace.fs``) over the VFS.

Each method resolves paths (relative to the filespace's ``root_path``), then runs one VFS
coroutine on the client's loop thread.  Errors are Python's own (``FileNotFoundError``,
``FileExistsError``, ``OSError(ENOTEMPTY)``, ...); a bad path is a ``ValueError``.
``read_file``/``write_file`` and the streams move data in bounded pieces.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
from collections.abc import Callable, Coroutine
from typing import IO, Any, TypeVar, cast

from cloudfs.errors import CloudfsError, fs_error
from cloudfs.meta.connect import ConnectMetaStore
from cloudfs.meta.protocol import (
    ROOT_INO,
    AttrChanges,
    Inode,
    InodeKind,
    MetaStats,
    RenameFlags,
)
from cloudfs.sdk.models import DirEntry, EntryType, FilespaceSize, FilespaceStatistics
from cloudfs.sdk.stream import FileStream, parse_mode
from cloudfs.vfs import paths
from cloudfs.vfs.core import Vfs

__all__ = ["Filesystem"]

T = TypeVar("T")

CHUNK = 4 * 1024 * 1024
DEFAULT_BUFFER = 1024 * 1024
_TYPES: dict[InodeKind, EntryType] = {
    InodeKind.FILE: "file",
    InodeKind.DIR: "dir",
    InodeKind.SYMLINK: "link",
}


def _entry(name: str, inode: Inode) -> DirEntry:
    return DirEntry(
        name=name,
        size=inode.size,
        type=_TYPES.get(inode.kind, "unknown"),
        file_id=str(inode.ino),
        file_id_external=inode.ino if inode.external else 0,
        ctime=inode.ctime_ns,
        mtime=inode.mtime_ns,
    )


class Filesystem:
    """Path-based access to one linked filespace."""

    def __init__(
        self,
        vfs: Vfs,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        *,
        root_path: str = "/",
        url: str = "cloudfs://",
    ) -> None:
        self._vfs = vfs
        self._run_coro = run
        self._root = paths.normalize(root_path)
        self._url = url.rstrip("/")

    def _run(
        self, coro: Coroutine[Any, Any, T], path: str | None = None, path2: str | None = None
    ) -> T:
        """Run ``coro``; an ``OSError`` without a file name gets ``path`` (as Python's)."""
        try:
            result: T = self._run_coro(coro)
        except OSError as e:
            if path is None or e.filename is not None or not e.errno or isinstance(e, CloudfsError):
                raise
            raise type(e)(e.errno, os.strerror(e.errno), path, None, path2) from e
        return result

    def _full(self, path: str) -> str:
        parts = paths.split(path)  # validates: absolute, no NUL
        return paths.normalize(self._root + "/" + "/".join(parts))

    async def _resolve(self, path: str, *, follow: bool = True) -> Inode:
        return await paths.resolve(self._vfs, self._full(path), follow=follow)

    async def _parent(self, path: str) -> tuple[Inode, str]:
        return await paths.resolve_parent(self._vfs, self._full(path))

    # -- directories ---------------------------------------------------------------------
    def read_dir(self, path: str) -> list[DirEntry]:
        return self._run(self._read_dir(path), path)

    async def _read_dir(self, path: str) -> list[DirEntry]:
        directory = await self._resolve(path)
        if directory.kind != InodeKind.DIR:
            raise fs_error(errno.ENOTDIR, path=path)
        entries: list[DirEntry] = []
        cookie = 0
        while batch := await self._vfs.readdir(directory.ino, cookie):
            entries.extend(_entry(item.name, item.inode) for item in batch)
            cookie = batch[-1].cookie
        return entries

    def list_dir(self, path: str) -> list[str]:
        return [entry.name for entry in self.read_dir(path)]

    def create_dir(self, path: str) -> None:
        self._run(self._create_dir(path), path)

    async def _create_dir(self, path: str) -> None:
        parent, name = await self._parent(path)
        await self._vfs.mkdir(parent.ino, name, 0o755, os.getuid(), os.getgid())

    def delete_dir(self, path: str, recursive: bool = False) -> None:
        self._run(self._delete_dir(path, recursive), path)

    async def _delete_dir(self, path: str, recursive: bool) -> None:
        parent, name = await self._parent(path)
        target = await self._vfs.lookup(parent.ino, name)
        if target.kind != InodeKind.DIR:
            raise fs_error(errno.ENOTDIR, path=path)
        if recursive:
            await self._empty_tree(target.ino)
        await self._vfs.rmdir(parent.ino, name)

    async def _empty_tree(self, ino: int) -> None:
        while batch := await self._vfs.readdir(ino, 0):
            for item in batch:
                if item.inode.kind == InodeKind.DIR:
                    await self._empty_tree(item.inode.ino)
                    await self._vfs.rmdir(ino, item.name)
                else:
                    await self._vfs.unlink(ino, item.name)

    def dir_exists(self, path: str) -> bool:
        return self._exists(path, InodeKind.DIR)

    def file_exists(self, path: str) -> bool:
        return self._exists(path, InodeKind.FILE)

    def _exists(self, path: str, kind: InodeKind) -> bool:
        try:
            return self._run(self._resolve(path)).kind == kind
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as e:
            if e.errno == errno.ELOOP:
                return False
            raise

    # -- symlinks ------------------------------------------------------------------------
    def create_symlink(self, target_path: str, link_path: str) -> None:
        self._run(self._symlink(target_path, link_path), link_path)

    async def _symlink(self, target: str, link_path: str) -> None:
        parent, name = await self._parent(link_path)
        await self._vfs.symlink(parent.ino, name, target, os.getuid(), os.getgid())

    def read_symlink(self, link_path: str) -> str:
        return self._run(self._readlink(link_path), link_path)

    async def _readlink(self, link_path: str) -> str:
        inode = await self._resolve(link_path, follow=False)
        if inode.kind != InodeKind.SYMLINK:
            raise fs_error(errno.EINVAL, "not a symbolic link", link_path)
        return await self._vfs.readlink(inode.ino)

    # -- files ---------------------------------------------------------------------------
    def open(
        self,
        path: str,
        mode: str = "rb",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> IO[Any]:
        """Open a file like Python's ``open``: every text and binary mode.

        ``buffering=0`` returns the raw :class:`FileStream` (binary only); text defaults to
        UTF-8.
        """
        decoded = parse_mode(mode)
        if decoded.binary and (encoding or errors or newline is not None):
            raise ValueError("binary mode doesn't take an encoding, errors or newline argument")
        if buffering == 0 and not decoded.binary:
            raise ValueError("can't have unbuffered text I/O")
        if not decoded.binary:  # refuse bad text arguments before creating or truncating
            codecs.lookup(encoding or "utf-8")
            if newline not in (None, "", "\n", "\r", "\r\n"):
                raise ValueError(f"illegal newline value: {newline!r}")
        raw = self._run(self._open_raw(path, decoded.flags, decoded.raw_mode), path)
        if buffering == 0:
            return cast(IO[bytes], raw)
        size = DEFAULT_BUFFER if buffering in (-1, 1) else buffering
        buffered: io.BufferedIOBase
        if decoded.readable and decoded.writable:
            buffered = io.BufferedRandom(raw, size)
        elif decoded.writable:
            buffered = io.BufferedWriter(raw, size)
        else:
            buffered = io.BufferedReader(raw, size)
        if decoded.binary:
            return cast(IO[bytes], buffered)
        return io.TextIOWrapper(
            buffered, encoding or "utf-8", errors, newline, line_buffering=buffering == 1
        )

    async def _open_raw(self, path: str, flags: int, mode: str) -> FileStream:
        full = self._full(path)
        try:
            inode, place = await paths.resolve_or_place(self._vfs, full)
        except FileNotFoundError:
            inode, place = None, None
        if inode is None:
            if not flags & os.O_CREAT:
                raise fs_error(errno.ENOENT, path=path) from None
            # Walked once in the common case; through a dangling symlink, say, walk again.
            parent, name = place or await self._creation_target(full, flags, path)
            handle, _ = await self._vfs.create(
                parent.ino, name, 0o644, flags, os.getuid(), os.getgid()
            )
        else:
            if flags & os.O_CREAT and flags & os.O_EXCL:
                raise fs_error(errno.EEXIST, path=path)
            if inode.kind == InodeKind.DIR:
                raise fs_error(errno.EISDIR, path=path)
            handle = await self._vfs.open(inode.ino, flags)
        return FileStream(self._vfs, handle, run=self._run_coro, name=self._url + full, mode=mode)

    async def _creation_target(self, full: str, flags: int, path: str) -> tuple[Inode, str]:
        """Where ``open(..., O_CREAT)`` creates a missing file: like POSIX, through a
        dangling symlink to its target (``FileExistsError`` for ``x`` modes)."""
        for _ in range(paths.MAX_SYMLINKS):
            parent, name = await paths.resolve_parent(self._vfs, full)
            try:
                link = await self._vfs.lookup(parent.ino, name)
            except FileNotFoundError:
                return parent, name
            if link.kind != InodeKind.SYMLINK or flags & os.O_EXCL:
                raise fs_error(errno.EEXIST, path=path)
            target = await self._vfs.readlink(link.ino)
            base = full.rsplit("/", 1)[0] if not target.startswith("/") else ""
            full = paths.normalize(base + "/" + target)
        raise fs_error(errno.ELOOP, path=path)

    def delete(self, path: str) -> None:
        self._run(self._delete(path), path)

    async def _delete(self, path: str) -> None:
        parent, name = await self._parent(path)
        await self._vfs.unlink(parent.ino, name)

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``; never replaces: ``FileExistsError`` if ``dst`` exists."""
        self._run(self._move(src, dst), src, dst)

    async def _move(self, src: str, dst: str) -> None:
        old_parent, old_name = await self._parent(src)
        new_parent, new_name = await self._parent(dst)
        await self._vfs.rename(
            old_parent.ino, old_name, new_parent.ino, new_name, RenameFlags.NOREPLACE
        )

    def truncate(self, path: str, size: int) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative: {size}")
        self._run(self._truncate(path, size), path)

    async def _truncate(self, path: str, size: int) -> None:
        inode = await self._resolve(path)
        if inode.kind == InodeKind.DIR:
            raise fs_error(errno.EISDIR, path=path)
        await self._vfs.setattr(inode.ino, AttrChanges(size=size))

    def get_entry(self, path: str) -> DirEntry:
        return self._run(self._get_entry(path), path)

    async def _get_entry(self, path: str) -> DirEntry:
        inode = await self._resolve(path, follow=False)
        parts = paths.split(self._full(path))
        return _entry(parts[-1] if parts else "", inode)

    def read_file(self, path: str) -> bytes:
        with self._run(self._open_raw(path, os.O_RDONLY, "rb"), path) as f:
            return f.readall()

    def write_file(self, path: str, data: bytes) -> None:
        view = memoryview(data).cast("B")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with self._run(self._open_raw(path, flags, "wb"), path) as f:
            for start in range(0, len(view), CHUNK):
                f.write(view[start : start + CHUNK])

    # -- totals --------------------------------------------------------------------------
    async def _totals(self) -> tuple[MetaStats, int, int]:
        """The engine's totals, and the external files' count and size among them."""
        meta = self._vfs.meta
        stats = await meta.stats()
        if isinstance(meta, ConnectMetaStore):
            files, size = await meta.external_totals()
            return stats, files, size
        return stats, 0, 0

    def get_size(self) -> FilespaceSize:
        """``data`` counts native files only; external ones are counted on their own."""
        stats, ext_files, ext_size = self._run(self._totals())
        entries = stats.files + stats.directories + stats.symlinks
        return FilespaceSize(
            entries=entries,
            data=stats.data_bytes - ext_size,
            storage=stats.storage_bytes,
            external_files_size=ext_size,
            external_files_count=ext_files,
        )

    def get_statistics(self) -> FilespaceStatistics:
        """``file_count`` and ``entries_size`` include external files; ``data_size`` not."""
        stats, ext_files, ext_size = self._run(self._totals())
        return FilespaceStatistics(
            file_count=stats.files,
            directory_count=stats.directories - 1,  # not the root
            symlink_count=stats.symlinks,
            entries_size=stats.data_bytes,
            data_size=stats.data_bytes - ext_size,
            storage_size=stats.storage_bytes,
            external_files_size=ext_size,
            external_files_count=ext_files,
        )

    @property
    def root_ino(self) -> int:
        return ROOT_INO
