"""The VFS: filesystem semantics over a metadata engine and a block store.

The FUSE adapter and the SDK are two thin front ends on this class; it knows neither.  It
speaks inode numbers and plain names; names, symlink targets and xattrs are encrypted here,
before they reach the metadata engine, and decrypted on the way back.

Ownership: one ``Vfs`` belongs to one event loop.  Open inodes share an
:class:`~cloudfs.vfs.openfile.OpenFile` (the write buffer); handles are small objects
naming it.  ``flush``/``release`` journal a file's writes (durable on local disk:
``openfile``) and the upload queue uploads and commits them in the background
(``cloudfs.cache.writeback``); ``fsync`` and ``sync_all`` wait for that commit.  With
``write_through`` every flush waits for it too (a client without a persistent state
folder, whose journal would not outlive it).

Limitations, stated up front: no atime updates (as ``noatime``); permission checks are the
caller's (the kernel's ``default_permissions`` for a mount; none in the SDK).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cloudfs._buffers import Bytes
from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.layout import BlockSpan, block_count, round_up, spans
from cloudfs.cache.journal import Journal, JournalRecord
from cloudfs.cache.writeback import UploadQueue
from cloudfs.errors import fs_error
from cloudfs.meta.protocol import (
    AttrChanges,
    Inode,
    InodeKind,
    MetaStore,
    RenameFlags,
    XattrFlags,
)
from cloudfs.vfs._background import spawn
from cloudfs.vfs.external import ExternalFetcher, ExternalObjects
from cloudfs.vfs.fetch import BlockFetcher, SealedCache, default_store_wait
from cloudfs.vfs.names import Cipher
from cloudfs.vfs.openfile import OpenFile
from cloudfs.vfs.staging import Staging

__all__ = ["Capacity", "DirItem", "FileHandle", "StatFs", "Vfs", "VfsOptions", "unbounded_capacity"]

NAME_MAX = 255


@dataclass(frozen=True, slots=True)
class VfsOptions:
    """Tuning of one VFS instance."""

    memory_cache_bytes: int = 64 * 1024 * 1024
    fetch_concurrency: int = 16
    upload_concurrency: int = 8
    upload_hold_bytes: int = 32 * 1024 * 1024  # staged blocks kept in memory for their upload
    max_inflight_per_file: int = 8
    # Blocks being sealed per file and uploads in flight are counted in blocks (above) and
    # also held within this many bytes, at least 2 blocks: the default block size fits 8,
    # a 16 MiB one 2 (each holds its plaintext and sealed copy; docs/decisions/0019).
    inflight_bytes: int = 32 * 1024 * 1024
    readahead_bytes: int = 32 * 1024 * 1024  # the memory cache must hold twice this
    stage_limit_bytes: int = 64 * 1024 * 1024  # journal a large write every this many bytes
    write_through: bool = False  # flush/close wait until the write is in the store
    # How long a read of uncached data waits for an unreachable store before failing
    # with EIO (default 10 s, or $CLOUDFS_STORE_WAIT); see cloudfs.vfs.fetch.
    store_wait_seconds: float = field(default_factory=default_store_wait)


@dataclass(frozen=True, slots=True)
class StatFs:
    block_size: int
    total_bytes: int
    free_bytes: int
    files: int
    name_max: int = NAME_MAX


@dataclass(frozen=True, slots=True)
class DirItem:
    name: str
    inode: Inode
    cookie: int


@dataclass(eq=False, slots=True)
class FileHandle:
    """One open of a file.  ``next_offset`` and ``window`` drive read-ahead."""

    fh: int
    file: OpenFile
    readable: bool
    writable: bool
    append: bool
    next_offset: int = 0
    window: int = 0  # blocks to prefetch ahead of the next read


Capacity = Callable[[int], tuple[int, int]]


class DiskCacheLike(SealedCache, Protocol):
    """The disk cache as the VFS uses it (``cloudfs.cache.disk.DiskCache``): what the
    fetcher reads, plus what the write path and the upload queue need."""

    async def get(self, block_id: bytes, *, count: bool = True) -> bytes | None: ...

    async def put_dirty(self, block_id: bytes, sealed: Bytes) -> None: ...

    async def mark_clean(self, ids: Iterable[bytes]) -> None: ...

    async def dirty_ids(self) -> list[bytes]: ...

    @property
    def dirty_limit(self) -> int: ...


def _written(inode: Inode, size: int, mtime_ns: int) -> Inode:
    """``inode`` after a write not yet committed: a write changes mtime and ctime."""
    ctime_ns = max(inode.ctime_ns, mtime_ns)
    return dataclasses.replace(inode, size=size, mtime_ns=mtime_ns, ctime_ns=ctime_ns)


_KERNEL_XATTRS = ("system.", "security.")
"""Namespaces the kernel and its security modules interpret (POSIX ACLs, SELinux labels,
file capabilities): host-local meaning, so not stored as data.  ``EOPNOTSUPP`` is what a
file system without them answers, and it makes ``ls -l`` stop asking for
``security.selinux`` on every entry (each ask is a round trip through a mount)."""


def _read_only(ino: int) -> OSError:
    return fs_error(errno.EACCES, f"inode {ino} is an external file: its content is read-only")


def unbounded_capacity(used: int) -> tuple[int, int]:
    free = 1 << 50  # an object store has no fixed size: report 1 PiB free
    return used + free, free


class Vfs:
    """Filesystem operations on inode numbers.  Every method is a coroutine."""

    def __init__(
        self,
        meta: MetaStore,
        blocks: BlockStore,
        cipher: Cipher,
        *,
        disk: DiskCacheLike,
        journal: Journal,
        options: VfsOptions | None = None,
        capacity: Capacity = unbounded_capacity,
        external: ExternalObjects | None = None,
    ) -> None:
        self.meta = meta
        self.blocks = blocks
        self.cipher = cipher
        self.options = options or VfsOptions()
        self.block_size = blocks.block_size
        self.fetcher = BlockFetcher(
            blocks,
            memory_bytes=self.options.memory_cache_bytes,
            concurrency=self.options.fetch_concurrency,
            disk=disk,
            store_wait=self.options.store_wait_seconds,
        )
        self.disk = disk
        self.external = ExternalFetcher(
            external,
            block_size=self.block_size,
            memory=self.fetcher.memory,
            seal=blocks.codec.seal,
            opener=blocks,
            disk=disk,
            fill=self.fetcher.cache_later,
            concurrency=self.options.fetch_concurrency,
            store_wait=self.options.store_wait_seconds,
        )
        self.queue = UploadQueue(
            journal,
            disk,
            blocks,
            meta,
            concurrency=self._blocks_within(self.options.upload_concurrency),
            hold_bytes=self.options.upload_hold_bytes,
            on_commit=self._committed,
        )
        self.staging = Staging(blocks, disk, self.queue)
        self._capacity = capacity
        self._files: dict[int, OpenFile] = {}
        self._handles: dict[int, FileHandle] = {}
        self._next_fh = 1
        self._orphans: set[int] = set()

    async def start(self) -> None:
        """Replay journaled writes; clean up inodes left unlinked-but-open by a previous run."""
        await self.queue.start()
        await self.meta.purge_orphans()

    # -- attributes -----------------------------------------------------------------------
    async def getattr(self, ino: int) -> Inode:
        return self._overlay(await self.meta.getattr(ino))

    def _overlay(self, inode: Inode) -> Inode:
        """The inode as this client sees it: with its own uncommitted writes."""
        if inode.kind == InodeKind.SYMLINK:  # the engine stores the sealed target's size
            return dataclasses.replace(inode, size=self.cipher.target_length(inode.size))
        f = self._files.get(inode.ino)
        if f is not None and f.has_changes:
            return _written(inode, f.size, f.mtime_ns)
        pending = self.queue.overlay(inode.ino)
        if pending is not None:
            return _written(inode, pending.size, pending.mtime_ns)
        return inode

    async def setattr(self, ino: int, changes: AttrChanges) -> Inode:
        """Change attributes; a size or mtime change first lets pending writes reach the
        engine (committed later, they would undo it).  An external file's size is its
        object's: the engine refuses to change it (``PermissionError``, EACCES)."""
        f = self._files.get(ino)
        if changes.size is not None or changes.mtime_ns is not None:
            if f is not None:
                await f.commit()
            await self.queue.wait(ino)
        if f is None:
            return self._overlay(await self.meta.setattr(ino, changes))
        async with f.lock:
            inode = await self.meta.setattr(ino, changes)
            if changes.size is not None:
                f.truncated(inode)
            else:
                f.accept(inode)
        return self._overlay(inode)

    # -- namespace ------------------------------------------------------------------------
    async def lookup(self, parent: int, name: str) -> Inode:
        if name == ".":
            return await self.getattr(parent)
        if name == "..":
            raise fs_error(errno.EINVAL, "'..' is resolved by the caller")
        return self._overlay(await self.meta.lookup(parent, self._name(parent, name)))

    async def mkdir(self, parent: int, name: str, mode: int, uid: int, gid: int) -> Inode:
        mode, gid = await self._inherit(parent, mode & 0o7777, gid, is_dir=True)
        return await self.meta.mknod(
            parent, self._name(parent, name), InodeKind.DIR, mode, uid, gid
        )

    async def _inherit(self, parent: int, mode: int, gid: int, *, is_dir: bool) -> tuple[int, int]:
        """The (mode, gid) of a new entry of ``parent``: a setgid directory passes on its
        group, and its setgid bit to new subdirectories (as Linux filesystems do)."""
        directory = await self.meta.getattr(parent)
        if not directory.mode & stat.S_ISGID:
            return mode, gid
        return (mode | stat.S_ISGID if is_dir else mode), directory.gid

    async def mknod(self, parent: int, name: str, mode: int, uid: int, gid: int) -> Inode:
        """Create an empty regular file (other node types are refused with EPERM)."""
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise fs_error(errno.EPERM, "only regular files, directories and symlinks")
        mode, gid = await self._inherit(parent, mode & 0o7777, gid, is_dir=False)
        return await self.meta.mknod(
            parent, self._name(parent, name), InodeKind.FILE, mode, uid, gid
        )

    async def symlink(self, parent: int, name: str, target: str, uid: int, gid: int) -> Inode:
        if not target or "\0" in target or len(target.encode()) > 4095:
            raise fs_error(errno.EINVAL if target else errno.ENOENT, "bad symlink target")
        sealed = self.cipher.seal_target(target)
        _, gid = await self._inherit(parent, 0o777, gid, is_dir=False)
        return self._overlay(
            await self.meta.mknod(
                parent, self._name(parent, name), InodeKind.SYMLINK, 0o777, uid, gid, target=sealed
            )
        )

    async def readlink(self, ino: int) -> str:
        return self.cipher.open_target(await self.meta.readlink(ino))

    async def link(self, ino: int, new_parent: int, new_name: str) -> Inode:
        inode = await self.meta.link(ino, new_parent, self._name(new_parent, new_name))
        self._accept(inode)
        return self._overlay(inode)

    async def unlink(self, parent: int, name: str) -> None:
        inode = await self.meta.unlink(parent, self._name(parent, name))
        await self._dropped(inode)

    async def rmdir(self, parent: int, name: str) -> None:
        if name == ".":
            raise fs_error(errno.EINVAL, "cannot remove '.'")
        await self.meta.rmdir(parent, self._name(parent, name))

    async def rename(
        self,
        old_parent: int,
        old_name: str,
        new_parent: int,
        new_name: str,
        flags: RenameFlags = RenameFlags.NONE,
    ) -> None:
        replaced = await self.meta.rename(
            old_parent,
            self._name(old_parent, old_name),
            new_parent,
            self._name(new_parent, new_name),
            flags,
        )
        if replaced is not None:
            await self._dropped(replaced)
        # rename changes the moved inodes' ctime (and so their versions): adopt them.
        moved = [(new_parent, new_name)]
        if flags & RenameFlags.EXCHANGE:
            moved.append((old_parent, old_name))
        for parent, name in moved:
            await self._refresh(await self.meta.lookup(parent, self._name(parent, name)))

    async def readdir(self, ino: int, after: int = 0, limit: int = 1000) -> list[DirItem]:
        """Entries after cookie ``after`` with their attributes (no '.' or '..')."""
        entries = await self.meta.readdir_plus(ino, after, limit)
        return [
            DirItem(self.cipher.open_name(ino, e.name), self._overlay(i), e.cookie)
            for e, i in entries
        ]

    async def statfs(self) -> StatFs:
        stats = await self.meta.stats()
        total, free = self._capacity(stats.storage_bytes)
        files = stats.files + stats.directories + stats.symlinks
        return StatFs(self.block_size, total, free, files)

    # -- extended attributes ----------------------------------------------------------------
    async def getxattr(self, ino: int, name: str) -> bytes:
        key = self._xattr_name(ino, name)
        return self.cipher.open_xattr(ino, key, await self.meta.get_xattr(ino, key))

    async def setxattr(
        self, ino: int, name: str, value: bytes, flags: XattrFlags = XattrFlags.NONE
    ) -> None:
        key = self._xattr_name(ino, name)
        await self.meta.set_xattr(ino, key, self.cipher.seal_xattr(ino, key, value), flags)
        await self._refresh(ino)

    async def listxattr(self, ino: int) -> list[str]:
        return [self.cipher.open_xattr_name(ino, n) for n in await self.meta.list_xattrs(ino)]

    async def removexattr(self, ino: int, name: str) -> None:
        await self.meta.remove_xattr(ino, self._xattr_name(ino, name))
        await self._refresh(ino)

    # -- files ----------------------------------------------------------------------------
    async def create(
        self, parent: int, name: str, mode: int, flags: int, uid: int, gid: int
    ) -> tuple[FileHandle, Inode]:
        """Create and open a regular file (``O_EXCL`` semantics: the name must be free)."""
        inode = await self.mknod(parent, name, mode, uid, gid)
        handle = await self._open(inode, flags & ~os.O_TRUNC)
        if handle.file.handles == 1:  # ours alone: it has no blocks to look up
            handle.file.created()
        return handle, inode

    async def open(self, ino: int, flags: int) -> FileHandle:
        return await self._open(await self.meta.getattr(ino), flags)

    async def _open(self, inode: Inode, flags: int) -> FileHandle:
        ino = inode.ino
        if inode.kind == InodeKind.DIR:
            raise fs_error(errno.EISDIR)
        if inode.kind != InodeKind.FILE:
            raise fs_error(errno.ELOOP, "cannot open a symlink itself")
        accmode = flags & os.O_ACCMODE
        if inode.external and (accmode != os.O_RDONLY or flags & os.O_TRUNC):
            raise _read_only(ino)
        f = self._files.get(ino)
        if f is None:  # (another open may have made one while an external link loaded)
            f = self._files.setdefault(ino, await self._new_open_file(inode))
        handle = FileHandle(
            self._next_fh,
            f,
            readable=accmode != os.O_WRONLY,
            writable=accmode != os.O_RDONLY,
            append=bool(flags & os.O_APPEND),
        )
        self._next_fh += 1
        self._handles[handle.fh] = handle
        f.handles += 1
        if flags & os.O_TRUNC and handle.writable:
            try:
                await self.setattr(ino, AttrChanges(size=0))
            except BaseException:
                await self.release(handle.fh)
                raise
        return handle

    async def _new_open_file(self, inode: Inode) -> OpenFile:
        external = None
        if inode.external:
            external = (await self.external.link(inode.ino), self.external)
        return OpenFile(
            inode,
            meta=self.meta,
            blocks=self.blocks,
            fetcher=self.fetcher,
            queue=self.queue,
            staging=self.staging,
            max_inflight=self._blocks_within(self.options.max_inflight_per_file),
            stage_limit=self._stage_limit,
            external=external,
        )

    def _blocks_within(self, most: int) -> int:
        """``most`` blocks, or fewer (at least 2) if they would hold more than
        ``inflight_bytes``."""
        return min(most, max(2, self.options.inflight_bytes // self.block_size))

    def _stage_limit(self) -> int:
        """Journal a large write at least this often, so staging never fills the cache."""
        room = max(self.block_size, self.disk.dirty_limit // 4)
        return min(self.options.stage_limit_bytes, room)

    def handle(self, fh: int) -> FileHandle:
        try:
            return self._handles[fh]
        except KeyError:
            raise fs_error(errno.EBADF) from None

    async def read(self, fh: int, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the file)."""
        return self._joined(await self._read_blocks(fh, offset, size))

    async def read_view(self, fh: int, offset: int, size: int) -> bytes | memoryview:
        """Like :meth:`read`, but a read inside one block returns a read-only view of the
        block's cached plaintext instead of a copy: for a caller that copies the bytes
        out at once (the FUSE reply)."""
        pieces = await self._read_blocks(fh, offset, size)
        if len(pieces) == 1:
            piece, data, base = pieces[0]
            if isinstance(data, bytes) and piece.end - base <= len(data):  # not a hole
                return memoryview(data)[piece.start - base : piece.end - base]
        return self._joined(pieces)

    @staticmethod
    def _joined(pieces: list[tuple[BlockSpan, bytes | bytearray, int]]) -> bytes:
        parts = []
        for piece, data, base in pieces:
            chunk = data[piece.start - base : piece.end - base]
            parts.append(chunk)
            if len(chunk) < piece.length:  # past the block's valid bytes: a hole
                parts.append(bytes(piece.length - len(chunk)))
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    async def readinto(self, fh: int, offset: int, buffer: memoryview) -> int:
        """Like :meth:`read`, straight into ``buffer`` (one copy); the byte count."""
        pos = 0
        for piece, data, base in await self._read_blocks(fh, offset, len(buffer)):
            chunk = memoryview(data)[piece.start - base : piece.end - base]
            buffer[pos : pos + len(chunk)] = chunk
            if len(chunk) < piece.length:  # a hole
                buffer[pos + len(chunk) : pos + piece.length] = bytes(piece.length - len(chunk))
            pos += piece.length
        return pos

    async def _read_blocks(
        self, fh: int, offset: int, size: int
    ) -> list[tuple[BlockSpan, bytes | bytearray, int]]:
        """The block pieces covering the readable part of ``[offset, offset + size)``.

        Each comes with data and the block offset where the data starts: 0 for a whole
        block, or where the frames of a partial read begin (a small read of a handle
        whose access is random, see :meth:`_read_ahead`).
        """
        handle = self.handle(fh)
        if not handle.readable:
            raise fs_error(errno.EBADF, "file not open for reading")
        f = handle.file
        if offset + size > f.size and not f.has_changes:
            await self._catch_up(f)  # reading at the end: has someone grown the file?
        size = max(0, min(size, f.size - offset))
        if size == 0:
            return []
        pieces = list(spans(offset, size, self.block_size))
        self._read_ahead(handle, offset, size, pieces[-1].index)
        whole = handle.window > 0 or size > self.block_size // 4
        if len(pieces) == 1:  # most reads: no task to wrap the one part in
            p = pieces[0]
            return [(p, *await f.read_part(p.index, p.start, p.end, whole=whole))]
        parts = await asyncio.gather(
            *(f.read_part(p.index, p.start, p.end, whole=whole) for p in pieces)
        )
        return [(p, data, base) for p, (data, base) in zip(pieces, parts, strict=True)]

    async def _catch_up(self, f: OpenFile) -> None:
        """Adopt a newer committed version of an open file this client has not changed."""
        if self.queue.pending_for(f.ino):
            return  # our own writes are newer than the engine's
        inode = await self.meta.getattr(f.ino)
        if inode.version != f.base_version and not f.has_changes:
            f.block_map.clear()
            if f.external is not None:  # relinked to a new version of its object
                f.external = (await self.external.link(f.ino), self.external)
            f.accept(inode)

    def _read_ahead(self, handle: FileHandle, offset: int, size: int, last: int) -> None:
        """Prefetch ahead of a handle that reads sequentially.

        The window (in blocks) doubles with every read that continues where the previous
        one ended, up to ``readahead_bytes`` (and half the memory cache), and halves with
        every read elsewhere, so random access soon fetches only the blocks it touches.
        """
        sequential = offset == handle.next_offset
        handle.next_offset = offset + size
        budget = min(self.options.readahead_bytes, self.options.memory_cache_bytes // 2)
        limit = max(1, budget // self.block_size)
        handle.window = min(limit, max(1, 2 * handle.window)) if sequential else handle.window // 2
        if not sequential or not handle.window:
            return
        f = handle.file
        end = block_count(max(f.known_size, f.size), self.block_size)
        if f.external is not None:
            link, fetcher = f.external
            for index in range(last + 1, min(last + 1 + handle.window, end)):
                fetcher.prefetch(link, index)
            return
        # To the end of a pack span, so that a pack's blocks come down in one request.
        span = self.blocks.pack_span
        stop = min(round_up(last + 1 + handle.window, span), end)
        pending = self.queue.overlay(f.ino)
        refs, unknown = [], []
        for index in range(last + 1, stop):
            if index in f.dirty or index in f.staging:
                continue
            ref = f.staged.get(index) or (pending.blocks.get(index) if pending else None)
            ref = ref or f.block_map.get(index)
            if ref is not None:
                refs.append(ref)
            elif index not in f.block_map:
                unknown.append(index)
        self.fetcher.prefetch_many(refs)
        if unknown:  # the block map is read in chunks: one lookup, then one prefetch
            spawn(self._prefetch_refs(f, unknown))

    async def _prefetch_refs(self, f: OpenFile, indices: list[int]) -> None:
        refs = [await f.committed_ref(index) for index in indices]
        self.fetcher.prefetch_many(ref for ref in refs if ref is not None)

    async def write(self, fh: int, offset: int, data: bytes | bytearray | memoryview) -> int:
        handle = self.handle(fh)
        if not handle.writable:
            raise fs_error(errno.EBADF, "file not open for writing")
        if handle.append:
            offset = handle.file.size
        return await handle.file.write(offset, data)

    async def flush(self, fh: int) -> None:
        """Journal the file's writes: durable locally, uploaded in the background."""
        await self._commit(self.handle(fh).file)

    async def fsync(self, fh: int) -> None:
        """Journal the file's writes and wait until they are in the store and the engine."""
        f = self.handle(fh).file
        await self._commit(f)
        await self.queue.wait(f.ino)

    async def _commit(self, f: OpenFile) -> None:
        if f.ino in self._orphans:
            return
        await f.commit()
        if self.options.write_through:
            await self.queue.wait(f.ino)

    async def release(self, fh: int) -> None:
        """Close a handle; the last close of an inode commits it (and purges an orphan)."""
        handle = self._handles.pop(fh, None)
        if handle is None:
            return
        f = handle.file
        f.handles -= 1
        if f.handles > 0:
            return
        try:
            await self._commit(f)
        finally:
            if f.handles == 0 and not f.has_changes:
                self._files.pop(f.ino, None)
            if f.ino in self._orphans and f.handles == 0:
                self._orphans.discard(f.ino)
                self._files.pop(f.ino, None)
                await f.abort()
                await self.meta.purge(f.ino)

    async def sync_all(self) -> None:
        """Return when every write so far is in the store and committed to the engine."""
        for f in list(self._files.values()):
            if f.has_changes and f.ino not in self._orphans:
                await f.commit()
            if f.handles == 0 and not f.has_changes:
                self._files.pop(f.ino, None)
        await self.queue.wait()

    def _committed(self, record: JournalRecord, inode: Inode) -> None:
        """The queue committed ``record``: an open file adopts its block map."""
        f = self._files.get(record.ino)
        if f is not None:
            f.committed(record.blocks, inode)

    async def collect_garbage(self, limit: int = 1000) -> int:
        """Delete objects no block map references any more; return how many."""
        garbage = await self.meta.take_garbage(limit)
        await asyncio.gather(
            *(
                self.blocks.delete_pack(g.id) if g.pack else self.blocks.delete(g.id)
                for g in garbage
            )
        )
        await self.meta.forget_garbage([g.id for g in garbage])
        return len(garbage)

    async def close(self, *, drain: bool = True) -> None:
        """Stop: with ``drain``, commit everything first; otherwise the journal keeps it."""
        try:
            if drain:
                await self.sync_all()
                with contextlib.suppress(Exception):
                    while await self.collect_garbage():
                        pass
                for fh in list(self._handles):
                    with contextlib.suppress(Exception):
                        await self.release(fh)
        finally:  # a write that could not be committed is reported, but the worker stops
            await self.fetcher.settle()  # blocks fetched are cached before the cache closes
            await self.queue.close(drain=False)

    # -- helpers --------------------------------------------------------------------------
    def _name(self, parent: int, name: str) -> bytes:
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise fs_error(errno.EINVAL, f"invalid name {name!r}")
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise fs_error(errno.ENAMETOOLONG)
        return self.cipher.seal_name(parent, name)

    def _xattr_name(self, ino: int, name: str) -> bytes:
        if not name or len(name.encode()) > NAME_MAX:
            raise fs_error(errno.ERANGE if name else errno.EINVAL, "bad xattr name")
        if name.startswith(_KERNEL_XATTRS):
            raise fs_error(
                errno.EOPNOTSUPP, f"{name}: {name.split('.')[0]} xattrs are not supported"
            )
        return self.cipher.seal_xattr_name(ino, name)

    async def _refresh(self, inode: Inode | int) -> None:
        """Adopt the current version of an inode this client just changed, if open."""
        ino = inode if isinstance(inode, int) else inode.ino
        if ino in self._files:
            self._accept(inode if isinstance(inode, Inode) else await self.meta.getattr(ino))

    def _accept(self, inode: Inode) -> None:
        f = self._files.get(inode.ino)
        if f is not None:
            f.accept(inode)

    async def _dropped(self, inode: Inode) -> None:
        """An entry of ``inode`` went away; purge it now or at its last close."""
        self._accept(inode)
        if inode.nlink > 0 or inode.kind == InodeKind.DIR:
            return
        if inode.ino in self._files and self._files[inode.ino].handles > 0:
            self._orphans.add(inode.ino)
        else:
            await self.meta.purge(inode.ino)
