"""FuseOperations: pyfuse3's low-level inode requests, answered by the VFS.

Every handler is mechanical: convert the arguments (bytes names → ``str``, pyfuse3 flags →
cloudfs enums), await one :class:`~cloudfs.vfs.core.Vfs` call, convert the result
(:class:`~cloudfs.meta.protocol.Inode` → ``EntryAttributes``).  Errors are mapped to an
errno in one place, :func:`cloudfs.errors.errno_of`, by the :func:`_errno` decorator.  The
VFS is asyncio-native and runs its blocking work (SQLite, crypto, disk) in threads, so no
handler blocks the event loop; the one kernel notification that can wait on page locks
(dropping a file's cached data) is never sent from a handler.

Kernel caches, and how they stay right:

* Entries and attributes are cached for ``entry_timeout``/``attr_timeout`` (1 s by
  default); failed lookups are cached as negative entries for as long.  Changes made
  through this mount need no notification: the kernel sees the request and its reply (a
  write updates the page cache and size; a truncate, rename, unlink or link updates or
  invalidates the inodes involved).  Changes made elsewhere (another process writing
  through the engine) show up when a timeout expires.
* File data: ``open`` answers ``keep_cache`` when the file's ``(version, size, mtime)``
  is what it was at its previous open or last close through this mount, so re-reading an
  unchanged file is served from the page cache.  When it differs, the kernel drops the
  file's pages (no ``keep_cache``) and the adapter invalidates its cached attributes at
  once (an attribute-only notification, which never blocks), so the new size is read
  before the data: close-to-open consistency.  A file this mount wrote keeps its version
  until the upload queue commits it; the first open after that commit drops the pages
  once (cheaper than ever serving stale ones).  ``direct_io`` is never used.

Lookup counts: the VFS keeps an inode alive while a handle is open (an unlinked open file
is an orphan purged at its last ``release``), and the kernel reaches an unlinked inode only
through an open file, so the VFS needs no lookup counts.  The adapter counts lookups only
to bound its own per-inode state (the ``keep_cache`` signatures): ``forget`` drops an
inode's signature when its count reaches zero.

Limitations: ``O_APPEND`` writes land at the VFS's end of file, the kernel's page cache
at its cached size; they agree because attributes are refreshed whenever a file changed
since its last open, but an append racing a write from another client may leave the
kernel's copy stale until the next open.  The kernel handles ``flock``/``fcntl`` locks
itself (no lock handlers): they are local to this mount.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import pyfuse3

from cloudfs.errors import errno_of
from cloudfs.meta.protocol import AttrChanges, Inode, InodeKind, RenameFlags
from cloudfs.vfs.core import DirItem, Vfs

__all__ = ["FuseOperations"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_TYPE_BITS = {
    InodeKind.FILE: stat.S_IFREG,
    InodeKind.DIR: stat.S_IFDIR,
    InodeKind.SYMLINK: stat.S_IFLNK,
}
READDIR_PAGE = 128  # entries fetched from the VFS per page of a directory listing
STATFS_FRSIZE = 4096  # the unit statfs counts blocks in (df multiplies by it)
FREE_INODES = 1 << 32  # an object store has no inode table to run out of
Signature = tuple[int, int, int]  # (version, size, mtime_ns): "unchanged since last open"


def _errno(
    handler: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Answer any failure of ``handler`` with ``FUSEError(errno_of(error))``."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except Exception as e:
            code = errno_of(e)
            if isinstance(e, OSError):
                log.debug("%s: %s", handler.__name__, e)
            else:
                log.exception("%s failed unexpectedly (answered EIO)", handler.__name__)
            raise pyfuse3.FUSEError(code) from e

    return wrapper


def _name(raw: bytes) -> str:
    return os.fsdecode(raw)


@dataclass
class _Dir:
    """An open directory listing: the rest of the last page fetched from the VFS."""

    ino: int
    after: int = -1  # the cookie ``pending`` continues from
    pending: list[DirItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Open:
    ino: int
    writable: bool


class FuseOperations(pyfuse3.Operations):
    """pyfuse3 request handlers over one :class:`Vfs`.

    State (open handles, directory pages, lookup counts, signatures) is owned by the event
    loop that runs ``pyfuse3.main`` — the same loop that owns the VFS.
    """

    supports_dot_lookup = False  # '..' is resolved by the kernel (no NFS export)
    enable_writeback_cache = False

    def __init__(self, vfs: Vfs, *, timeout: float = 1.0) -> None:
        super().__init__()
        self.vfs = vfs
        self.timeout = timeout
        self.open_handles: dict[int, _Open] = {}
        self._dirs: dict[int, _Dir] = {}
        self._next_dir = 1
        self._lookups: dict[int, int] = {}
        self._signatures: dict[int, Signature] = {}

    # -- conversions ----------------------------------------------------------------------
    def _attrs(self, inode: Inode) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode.ino
        a.generation = 0
        a.entry_timeout = self.timeout
        a.attr_timeout = self.timeout
        a.st_mode = _TYPE_BITS[inode.kind] | inode.mode
        a.st_nlink = inode.nlink
        a.st_uid = inode.uid
        a.st_gid = inode.gid
        a.st_rdev = 0
        a.st_size = inode.size
        a.st_blksize = self.vfs.block_size
        a.st_blocks = -(-inode.size // 512)
        a.st_atime_ns = inode.atime_ns
        a.st_mtime_ns = inode.mtime_ns
        a.st_ctime_ns = inode.ctime_ns
        a.st_birthtime_ns = inode.btime_ns
        return a

    def _entry(self, inode: Inode) -> pyfuse3.EntryAttributes:
        """The attributes of an entry the kernel now knows: one more lookup."""
        self._lookups[inode.ino] = self._lookups.get(inode.ino, 0) + 1
        return self._attrs(inode)

    # -- namespace ------------------------------------------------------------------------
    @_errno
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        try:
            inode = await self.vfs.lookup(parent_inode, _name(name))
        except FileNotFoundError:
            negative = pyfuse3.EntryAttributes()  # st_ino 0: cached as a negative entry
            negative.entry_timeout = self.timeout
            return negative
        return self._entry(inode)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for ino, count in inode_list:
            left = self._lookups.get(ino, 0) - count
            if left > 0:
                self._lookups[ino] = left
            else:
                self._lookups.pop(ino, None)
                self._signatures.pop(ino, None)

    @_errno
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._attrs(await self.vfs.getattr(inode))

    @_errno
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        changes = AttrChanges(
            mode=stat.S_IMODE(attr.st_mode) if fields.update_mode else None,
            uid=attr.st_uid if fields.update_uid else None,
            gid=attr.st_gid if fields.update_gid else None,
            size=attr.st_size if fields.update_size else None,
            atime_ns=attr.st_atime_ns if fields.update_atime else None,
            mtime_ns=attr.st_mtime_ns if fields.update_mtime else None,
            ctime_ns=attr.st_ctime_ns if fields.update_ctime else None,
        )
        return self._attrs(await self.vfs.setattr(inode, changes))

    @_errno
    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        return os.fsencode(await self.vfs.readlink(inode))

    @_errno
    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        inode = await self.vfs.mknod(parent_inode, _name(name), mode, ctx.uid, ctx.gid)
        return self._entry(inode)

    @_errno
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        inode = await self.vfs.mkdir(parent_inode, _name(name), mode, ctx.uid, ctx.gid)
        return self._entry(inode)

    @_errno
    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        inode = await self.vfs.symlink(
            parent_inode, _name(name), os.fsdecode(target), ctx.uid, ctx.gid
        )
        return self._entry(inode)

    @_errno
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self._entry(await self.vfs.link(inode, new_parent_inode, _name(new_name)))

    @_errno
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.vfs.unlink(parent_inode, _name(name))

    @_errno
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.vfs.rmdir(parent_inode, _name(name))

    @_errno
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        await self.vfs.rename(
            parent_inode_old,
            _name(name_old),
            parent_inode_new,
            _name(name_new),
            RenameFlags(flags),  # ValueError (EINVAL) for a flag it does not know
        )

    # -- directories ----------------------------------------------------------------------
    @_errno
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        fh = self._next_dir
        self._next_dir += 1
        self._dirs[fh] = _Dir(inode)
        return fh

    @_errno
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        d = self._dirs[fh]
        if d.after != start_id:  # not where the last reply stopped: fetch from start_id
            d.after, d.pending = start_id, []
        while True:
            if not d.pending:
                d.pending = await self.vfs.readdir(d.ino, after=d.after, limit=READDIR_PAGE)
                if not d.pending:
                    return
            item = d.pending[0]
            name = os.fsencode(item.name)
            if not pyfuse3.readdir_reply(token, name, self._attrs(item.inode), item.cookie):
                return
            self._entry(item.inode)  # a readdirplus entry the kernel took counts as a lookup
            d.after = item.cookie
            d.pending.pop(0)

    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    async def fsyncdir(self, fh: int, datasync: bool) -> None:
        """Namespace changes are committed by the engine as they happen."""

    @_errno
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        st = await self.vfs.statfs()
        out = pyfuse3.StatvfsData()
        out.f_bsize = st.block_size
        out.f_frsize = STATFS_FRSIZE
        out.f_blocks = st.total_bytes // STATFS_FRSIZE
        out.f_bfree = out.f_bavail = st.free_bytes // STATFS_FRSIZE
        out.f_files = st.files + FREE_INODES
        out.f_ffree = out.f_favail = FREE_INODES
        out.f_namemax = st.name_max
        return out

    # -- extended attributes --------------------------------------------------------------
    @_errno
    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        # pyfuse3 itself checks XATTR_CREATE/XATTR_REPLACE with getxattr first.
        await self.vfs.setxattr(inode, _name(name), value)

    @_errno
    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        return await self.vfs.getxattr(inode, _name(name))

    @_errno
    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> list[bytes]:
        return [os.fsencode(n) for n in await self.vfs.listxattr(inode)]

    @_errno
    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.vfs.removexattr(inode, _name(name))

    # -- files ----------------------------------------------------------------------------
    @_errno
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        handle, inode = await self.vfs.create(
            parent_inode, _name(name), mode, flags, ctx.uid, ctx.gid
        )
        self.open_handles[handle.fh] = _Open(inode.ino, handle.writable)
        self._signatures[inode.ino] = _signature(inode)
        return pyfuse3.FileInfo(fh=handle.fh), self._entry(inode)

    @_errno
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        handle = await self.vfs.open(inode, flags)
        self.open_handles[handle.fh] = _Open(inode, handle.writable)
        try:
            signature = _signature(await self.vfs.getattr(inode))
        except BaseException:
            await self.release(handle.fh)
            raise
        previous = self._signatures.get(inode)
        self._signatures[inode] = signature
        keep = previous == signature
        if previous is not None and not keep:
            _invalidate_attrs(inode)  # changed elsewhere: re-read the size before the data
        return pyfuse3.FileInfo(fh=handle.fh, keep_cache=keep, direct_io=False)

    @_errno
    async def read(  # type: ignore[override]  # pyfuse3 replies from any contiguous buffer
        self, fh: int, off: int, size: int
    ) -> bytes | memoryview:
        return await self.vfs.read_view(fh, off, size)

    @_errno
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self.vfs.write(fh, off, buf)

    @_errno
    async def flush(self, fh: int) -> None:
        await self.vfs.flush(fh)

    @_errno
    async def fsync(self, fh: int, datasync: bool) -> None:
        await self.vfs.fsync(fh)

    @_errno
    async def release(self, fh: int) -> None:
        opened = self.open_handles.pop(fh, None)
        await self.vfs.release(fh)
        if opened is not None and opened.writable:
            await self._remember(opened.ino)

    async def _remember(self, ino: int) -> None:
        """Record the signature of a file this mount may have changed (its pages are
        current), or forget it if the inode is gone."""
        try:
            self._signatures[ino] = _signature(await self.vfs.getattr(ino))
        except OSError:
            self._signatures.pop(ino, None)

    async def flush_all(self) -> None:
        """Journal the writes of every handle still open (at unmount)."""
        for fh in list(self.open_handles):
            try:
                await self.vfs.flush(fh)
            except Exception:
                log.exception("could not journal open file handle %d at unmount", fh)


def _signature(inode: Inode) -> Signature:
    return (inode.version, inode.size, inode.mtime_ns)


def _invalidate_attrs(ino: int) -> None:
    """Drop the kernel's cached attributes of ``ino`` (never blocks: no page locks)."""
    try:
        pyfuse3.invalidate_inode(ino, attr_only=True)
    except OSError as e:  # the kernel no longer knows it: nothing to drop
        log.debug("invalidate_inode(%d): %s", ino, e)
