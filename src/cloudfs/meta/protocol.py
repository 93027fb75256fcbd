"""The metadata engine interface: one filesystem operation, one transaction.

The VFS talks to metadata only through :class:`MetaStore`.  Its engines are SQLite
(embedded, this package), PostgreSQL (shared by hub replicas) and a remote client that
speaks to a hub; the VFS cannot tell which one it has.  That shapes the interface:

* **Operation-level, not row-level.**  Every method is one atomic transaction on the
  engine side (``rename`` checks, unlinks the target and moves the entry at once), so a
  remote engine needs one round trip per call and nothing half-done is ever visible.
* **Opaque names.**  Names, symlink targets and xattrs arrive already encrypted (bytes);
  the engine compares them for equality and never interprets them.
* **Versions.**  Every change to an inode's row bumps its ``version``.  ``setattr`` and
  ``commit_write`` take an optional ``expected_version`` and raise
  :class:`cloudfs.errors.ConflictError` when it no longer matches (compare-and-set).
* **A change log.**  Every committed operation appends one :class:`Change` per inode it
  touched, numbered by a global, gap-free, increasing sequence.
* **Deferred deletion.**  Objects that no block map references any more (overwritten,
  truncated away, purged) are recorded as garbage in the same transaction; a collector
  deletes them from the object store later (:meth:`MetaStore.take_garbage`).  The engine
  never deletes objects itself, and metadata never points at a missing object.
* **Unlinked but open.**  ``unlink``/``rename`` may leave an inode with ``nlink == 0``;
  it (and its data) stays until :meth:`MetaStore.purge` is called by the client that had
  it open, or :meth:`MetaStore.purge_orphans` on the next start.

Errors are the builtin ``OSError`` family with ``errno`` set (``FileNotFoundError`` for
ENOENT, ``OSError(ENOTEMPTY)``, ...), built with :func:`cloudfs.errors.fs_error`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cloudfs.blocks.ref import BlockRef

__all__ = [
    "ROOT_INO",
    "AttrChanges",
    "BlockRef",
    "Change",
    "ChangeKind",
    "DirEntry",
    "Garbage",
    "Inode",
    "InodeKind",
    "MetaStats",
    "MetaStore",
    "RenameFlags",
    "XattrFlags",
]

ROOT_INO = 1


class InodeKind(enum.IntEnum):
    FILE = 1
    DIR = 2
    SYMLINK = 3


class RenameFlags(enum.IntFlag):
    NONE = 0
    NOREPLACE = 1  # RENAME_NOREPLACE: fail with EEXIST if the target exists
    EXCHANGE = 2  # RENAME_EXCHANGE: atomically swap two existing entries


class XattrFlags(enum.IntFlag):
    NONE = 0
    CREATE = 1  # XATTR_CREATE: fail with EEXIST if present
    REPLACE = 2  # XATTR_REPLACE: fail with ENODATA if absent


class ChangeKind(enum.StrEnum):
    CREATE = "create"  # a new inode and its entry in ``parent``
    ATTR = "attr"  # mode, owner, times or size changed
    DATA = "data"  # block map and size changed
    LINK = "link"  # a new entry for an existing inode
    UNLINK = "unlink"  # an entry in ``parent`` removed
    RENAME = "rename"  # an entry moved (one change per affected directory)
    XATTR = "xattr"
    PURGE = "purge"  # the inode is gone


@dataclass(frozen=True, slots=True)
class Inode:
    """One inode's attributes as the engine stores them.  Times in nanoseconds."""

    ino: int
    kind: InodeKind
    mode: int  # permission bits only (0o7777); the type is ``kind``
    uid: int
    gid: int
    nlink: int
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    btime_ns: int  # creation ("birth") time
    version: int
    external: int = 0  # 1 for an external (Connect) file, whose content is an object


@dataclass(frozen=True, slots=True)
class AttrChanges:
    """The attributes a ``setattr`` changes; ``None`` leaves one as it is.

    ``size`` truncates or extends; blocks wholly past the new size become garbage and the
    last block's ``size`` is clamped, so bytes past the end read as zeros if it grows again.
    ``ctime_ns`` is set by the engine on every change unless given.
    """

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One entry of a directory.  ``cookie`` orders entries stably (see ``readdir``)."""

    name: bytes
    ino: int
    kind: InodeKind
    cookie: int


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    ino: int
    parent: int | None
    kind: ChangeKind


@dataclass(frozen=True, slots=True)
class Garbage:
    """An object no block map references any more: a block's own object, or (``pack``)
    a pack whose last referenced block has gone."""

    id: bytes
    pack: bool = False


@dataclass(frozen=True, slots=True)
class MetaStats:
    """Totals for statfs and the SDK's size/statistics calls."""

    files: int
    directories: int
    symlinks: int
    data_bytes: int  # sum of file sizes
    stored_bytes: int  # sum of referenced blocks' stored sizes
    garbage_blocks: int  # objects waiting for the collector
    dead_bytes: int = 0  # bytes of live packs no block map references (dead blocks, padding)

    @property
    def storage_bytes(self) -> int:
        """What the filespace's live objects take in the store: the referenced blocks and
        what the packs holding them hold besides (not the garbage waiting for the
        collector)."""
        return self.stored_bytes + self.dead_bytes


@runtime_checkable
class MetaStore(Protocol):
    """A filespace's metadata.  Every method is one transaction; all are coroutines."""

    # -- lifecycle and filespace-wide settings ---------------------------------------
    async def format(
        self, descriptor: bytes, *, block_size: int, root_mode: int, uid: int, gid: int
    ) -> None:
        """Create an empty filespace: store ``descriptor``, create the root directory.

        ``FileExistsError`` if this engine already holds a filespace.
        """
        ...

    async def get_descriptor(self) -> tuple[bytes, int]:
        """The descriptor and its version.  ``FileNotFoundError`` if not formatted."""
        ...

    async def put_descriptor(self, descriptor: bytes, *, expected_version: int) -> int:
        """Replace the descriptor (compare-and-set) and return its new version."""
        ...

    async def block_size(self) -> int: ...

    async def close(self) -> None: ...

    # -- namespace ------------------------------------------------------------------
    async def lookup(self, parent: int, name: bytes) -> Inode:
        """The inode ``name`` points to in directory ``parent``.

        ``FileNotFoundError``; ``NotADirectoryError`` if ``parent`` is not a directory.
        """
        ...

    async def getattr(self, ino: int) -> Inode: ...

    async def setattr(
        self, ino: int, changes: AttrChanges, *, expected_version: int | None = None
    ) -> Inode:
        """Apply ``changes`` (compare-and-set on ``expected_version`` when given)."""
        ...

    async def mknod(
        self,
        parent: int,
        name: bytes,
        kind: InodeKind,
        mode: int,
        uid: int,
        gid: int,
        *,
        target: bytes | None = None,
    ) -> Inode:
        """Create a file, directory or symlink (``target`` required for symlinks).

        ``FileExistsError`` if the name is taken.  Bumps the parent's mtime/ctime and, for
        a directory, its nlink.
        """
        ...

    async def link(self, ino: int, new_parent: int, new_name: bytes) -> Inode:
        """A hard link.  ``PermissionError`` (EPERM) for a directory; returns the inode."""
        ...

    async def unlink(self, parent: int, name: bytes) -> Inode:
        """Remove a non-directory entry; return the inode after its nlink dropped.

        ``IsADirectoryError`` for a directory.  At nlink 0 the inode stays until ``purge``.
        """
        ...

    async def rmdir(self, parent: int, name: bytes) -> Inode:
        """Remove an empty directory (``OSError(ENOTEMPTY)`` otherwise); purges it."""
        ...

    async def rename(
        self,
        old_parent: int,
        old_name: bytes,
        new_parent: int,
        new_name: bytes,
        flags: RenameFlags = RenameFlags.NONE,
    ) -> Inode | None:
        """POSIX rename, atomically.  Returns the replaced inode (nlink dropped), if any.

        Replacing follows rename(2): a file may replace a file, a directory an empty
        directory (``ENOTEMPTY``, ``EISDIR``, ``ENOTDIR`` otherwise); moving a directory
        into its own subtree is ``EINVAL``; renaming an entry onto a hard link of the same
        inode does nothing.  ``NOREPLACE`` fails with ``EEXIST``; ``EXCHANGE`` swaps two
        existing entries (``ENOENT`` if the target is missing).
        """
        ...

    async def readdir(self, parent: int, after: int = 0, limit: int = 1000) -> list[DirEntry]:
        """Entries with ``cookie > after`` in increasing cookie order, at most ``limit``.

        Cookies are never reused in a directory, so a listing that pages with the last
        cookie it saw neither repeats nor skips an entry that stays put while it pages.
        """
        ...

    async def readdir_plus(
        self, parent: int, after: int = 0, limit: int = 1000
    ) -> list[tuple[DirEntry, Inode]]:
        """``readdir`` with each entry's attributes, in one transaction (one round trip)."""
        ...

    async def readlink(self, ino: int) -> bytes: ...

    # -- data -----------------------------------------------------------------------
    async def get_blocks(self, ino: int, first: int, count: int) -> dict[int, BlockRef]:
        """Block refs with index in ``[first, first + count)``; holes are absent."""
        ...

    async def commit_write(
        self,
        ino: int,
        *,
        size: int,
        blocks: Mapping[int, BlockRef],
        mtime_ns: int,
        expected_version: int | None = None,
    ) -> Inode:
        """Point blocks at new objects and set the size, in one transaction.

        Replaced refs become garbage; blocks past ``size`` are dropped as in ``setattr``.
        Call only after every object in ``blocks`` is durably stored.
        """
        ...

    # -- extended attributes (names and values opaque) --------------------------------
    async def get_xattr(self, ino: int, name: bytes) -> bytes:
        """``OSError(ENODATA)`` if absent."""
        ...

    async def set_xattr(
        self, ino: int, name: bytes, value: bytes, flags: XattrFlags = XattrFlags.NONE
    ) -> None: ...

    async def list_xattrs(self, ino: int) -> list[bytes]: ...

    async def remove_xattr(self, ino: int, name: bytes) -> None:
        """``OSError(ENODATA)`` if absent."""
        ...

    # -- housekeeping ----------------------------------------------------------------
    async def purge(self, ino: int) -> bool:
        """Delete an inode whose nlink is 0 (its blocks become garbage).  True if it did."""
        ...

    async def purge_orphans(self) -> int:
        """Purge every inode with nlink 0; return how many."""
        ...

    async def take_garbage(self, limit: int = 1000) -> list[Garbage]:
        """Objects no block map references, oldest first (not removed yet)."""
        ...

    async def forget_garbage(self, ids: list[bytes]) -> None:
        """Drop ids the collector has deleted from the store."""
        ...

    async def stats(self) -> MetaStats: ...

    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Changes with a sequence number greater than ``seq``, in order."""
        ...

    async def last_seq(self) -> int: ...
