"""Namespace operations (everything but rename) as SQL on a :class:`Tx`.

The rules the engines share, in one place:

* A directory's nlink is 2 + its subdirectories; a file's or symlink's is its entry count.
* Adding or removing an entry bumps the directory's mtime, ctime and version; any change
  to an inode row bumps its version (and its ctime unless the caller set one).
* An unlinked file stays, with nlink 0, until ``purge``; a removed directory is purged at
  once (it has no data an open handle could still read).
* The change log gets one row per inode touched: ``CREATE``/``LINK``/``UNLINK`` carry the
  directory whose entries changed as ``parent``.
"""

from __future__ import annotations

import errno
from dataclasses import replace

from cloudfs.errors import fs_error
from cloudfs.meta._sql_data import (
    purge_inode,
    require_file,
    require_own_data,
    truncate_blocks,
)
from cloudfs.meta._sql_tx import (
    INODE_COLUMNS,
    Tx,
    bump_inode,
    check_name,
    check_version,
    find_entry,
    get_inode,
    require_dir,
    row_to_inode,
    touch_dir,
)
from cloudfs.meta.protocol import (
    ROOT_INO,
    AttrChanges,
    ChangeKind,
    DirEntry,
    Inode,
    InodeKind,
)

__all__ = [
    "getattr_",
    "link",
    "lookup",
    "mknod",
    "readdir",
    "readdir_plus",
    "readlink",
    "rmdir",
    "setattr",
    "unlink",
]

PERMISSION_BITS = 0o7777

_LOOKUP = (
    f"SELECT {', '.join('i.' + column for column in INODE_COLUMNS.split(', '))}"
    " FROM entries e JOIN inodes i ON i.ino = e.ino WHERE e.parent = ? AND e.name = ?"
)

_READDIR_PLUS = (
    f"SELECT e.name, e.cookie, {', '.join('i.' + column for column in INODE_COLUMNS.split(', '))}"
    " FROM entries e JOIN inodes i ON i.ino = e.ino WHERE e.parent = ? AND e.cookie > ?"
    " ORDER BY e.cookie LIMIT ?"
)


def lookup(tx: Tx, parent: int, name: bytes) -> Inode:
    row = tx.one(_LOOKUP, (parent, name))
    if row is not None:
        return row_to_inode(row)
    require_dir(tx, parent)
    raise fs_error(errno.ENOENT, f"no such entry in directory {parent}")


def getattr_(tx: Tx, ino: int) -> Inode:
    return get_inode(tx, ino)


def readlink(tx: Tx, ino: int) -> bytes:
    row = tx.one("SELECT kind, target FROM inodes WHERE ino = ?", (ino,))
    if row is None:
        raise fs_error(errno.ENOENT, f"no inode {ino}")
    if row[0] != InodeKind.SYMLINK:
        raise fs_error(errno.EINVAL, f"inode {ino} is not a symlink")
    return bytes(row[1])


def readdir(tx: Tx, parent: int, after: int, limit: int) -> list[DirEntry]:
    require_dir(tx, parent)
    if limit <= 0:
        return []
    rows = tx.all(
        "SELECT name, ino, kind, cookie FROM entries WHERE parent = ? AND cookie > ?"
        " ORDER BY cookie LIMIT ?",
        (parent, after, limit),
    )
    return [DirEntry(bytes(name), ino, InodeKind(kind), cookie) for name, ino, kind, cookie in rows]


def readdir_plus(tx: Tx, parent: int, after: int, limit: int) -> list[tuple[DirEntry, Inode]]:
    """``readdir`` with each entry's inode, in one query (``ls -l`` without a round trip
    per entry)."""
    require_dir(tx, parent)
    if limit <= 0:
        return []
    rows = tx.all(_READDIR_PLUS, (parent, after, limit))
    return [
        (DirEntry(bytes(row[0]), row[2], InodeKind(row[3]), row[1]), row_to_inode(row[2:]))
        for row in rows
    ]


def _check_new_entry(tx: Tx, parent: int, name: bytes) -> None:
    check_name(name)
    require_dir(tx, parent)
    if find_entry(tx, parent, name) is not None:
        raise fs_error(errno.EEXIST, f"entry exists in directory {parent}")


def _check_target(kind: InodeKind, target: bytes | None) -> None:
    if (kind is InodeKind.SYMLINK) != (target is not None):
        raise fs_error(errno.EINVAL, "a symlink needs a target; nothing else takes one")


def mknod(
    tx: Tx,
    parent: int,
    name: bytes,
    kind: InodeKind,
    mode: int,
    uid: int,
    gid: int,
    target: bytes | None,
) -> Inode:
    kind = InodeKind(kind)
    _check_target(kind, target)
    _check_new_entry(tx, parent, name)
    is_dir = kind is InodeKind.DIR
    inode = Inode(
        ino=0,
        kind=kind,
        mode=mode & PERMISSION_BITS,
        uid=uid,
        gid=gid,
        nlink=2 if is_dir else 1,
        size=len(target) if target is not None else 0,
        atime_ns=tx.now,
        mtime_ns=tx.now,
        ctime_ns=tx.now,
        btime_ns=tx.now,
        version=1,
    )
    inode = replace(inode, ino=insert_inode(tx, inode, parent if is_dir else None, target))
    tx.run(
        "INSERT INTO entries (parent, name, ino, kind) VALUES (?, ?, ?, ?)",
        (parent, name, inode.ino, int(kind)),
    )
    touch_dir(tx, parent, 1 if is_dir else 0)
    tx.counts.add_inode(kind, +1)
    tx.changed(inode.ino, ChangeKind.CREATE, parent)
    return inode


def insert_inode(tx: Tx, inode: Inode, parent: int | None, target: bytes | None) -> int:
    """Insert a new inode row (its ``ino`` is ignored) and return the number it got."""
    row = tx.one(
        "INSERT INTO inodes (kind, mode, uid, gid, nlink, size, atime_ns, mtime_ns,"
        " ctime_ns, btime_ns, version, parent, target)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ino",
        (
            int(inode.kind),
            inode.mode,
            inode.uid,
            inode.gid,
            inode.nlink,
            inode.size,
            inode.atime_ns,
            inode.mtime_ns,
            inode.ctime_ns,
            inode.btime_ns,
            inode.version,
            parent,
            target,
        ),
    )
    assert row is not None
    return int(row[0])


def link(tx: Tx, ino: int, new_parent: int, new_name: bytes) -> Inode:
    inode = get_inode(tx, ino)
    _check_new_entry(tx, new_parent, new_name)
    if inode.kind is InodeKind.DIR:
        raise fs_error(errno.EPERM, f"inode {ino} is a directory: no hard links")
    if inode.nlink == 0:
        raise fs_error(errno.ENOENT, f"inode {ino} was unlinked")
    tx.run(
        "INSERT INTO entries (parent, name, ino, kind) VALUES (?, ?, ?, ?)",
        (new_parent, new_name, ino, int(inode.kind)),
    )
    bump_inode(tx, ino, +1)
    touch_dir(tx, new_parent)
    tx.changed(ino, ChangeKind.LINK, new_parent)
    return replace(inode, nlink=inode.nlink + 1, ctime_ns=tx.now, version=inode.version + 1)


def unlink(tx: Tx, parent: int, name: bytes) -> Inode:
    require_dir(tx, parent)
    entry = find_entry(tx, parent, name)
    if entry is None:
        raise fs_error(errno.ENOENT, f"no such entry in directory {parent}")
    if entry.kind is InodeKind.DIR:
        raise fs_error(errno.EISDIR, f"inode {entry.ino} is a directory")
    tx.run("DELETE FROM entries WHERE cookie = ?", (entry.cookie,))
    touch_dir(tx, parent)
    return drop_link(tx, entry.ino, parent)


def drop_link(tx: Tx, ino: int, parent: int) -> Inode:
    """One entry for non-directory ``ino`` in ``parent`` is gone: nlink - 1 (kept at 0)."""
    bump_inode(tx, ino, -1)
    tx.changed(ino, ChangeKind.UNLINK, parent)
    return get_inode(tx, ino)


def rmdir(tx: Tx, parent: int, name: bytes) -> Inode:
    require_dir(tx, parent)
    entry = find_entry(tx, parent, name)
    if entry is None:
        raise fs_error(errno.ENOENT, f"no such entry in directory {parent}")
    if entry.kind is not InodeKind.DIR:
        raise fs_error(errno.ENOTDIR, f"inode {entry.ino} is not a directory")
    if entry.ino == ROOT_INO:
        raise fs_error(errno.EBUSY, "the root directory cannot be removed")
    if tx.one("SELECT 1 FROM entries WHERE parent = ? LIMIT 1", (entry.ino,)) is not None:
        raise fs_error(errno.ENOTEMPTY, f"directory {entry.ino} is not empty")
    tx.run("DELETE FROM entries WHERE cookie = ?", (entry.cookie,))
    touch_dir(tx, parent, -1)
    return remove_dir(tx, entry.ino, parent)


def remove_dir(tx: Tx, ino: int, parent: int) -> Inode:
    """The (empty) directory ``ino`` lost its entry in ``parent``: purge it."""
    tx.changed(ino, ChangeKind.UNLINK, parent)
    return purge_inode(tx, get_inode(tx, ino))


def setattr(tx: Tx, ino: int, changes: AttrChanges, expected_version: int | None) -> Inode:
    inode = get_inode(tx, ino)
    check_version(inode, expected_version)
    if changes == AttrChanges():
        return inode
    new = _apply(tx, inode, changes)
    if changes.size is not None:
        _resize(tx, inode, changes.size)
    tx.run(
        "UPDATE inodes SET mode = ?, uid = ?, gid = ?, size = ?, atime_ns = ?, mtime_ns = ?,"
        " ctime_ns = ?, version = ? WHERE ino = ?",
        (*_attr_values(new), ino),
    )
    tx.changed(ino, ChangeKind.ATTR)
    return new


def _attr_values(inode: Inode) -> tuple[int, ...]:
    i = inode
    return (i.mode, i.uid, i.gid, i.size, i.atime_ns, i.mtime_ns, i.ctime_ns, i.version)


def _apply(tx: Tx, inode: Inode, changes: AttrChanges) -> Inode:
    """The inode after ``changes``: ctime is now unless given; a size change (truncate)
    also sets mtime to now unless given, as truncate(2) does."""

    def pick(new: int | None, old: int) -> int:
        return old if new is None else new

    resized = changes.size is not None
    return replace(
        inode,
        mode=inode.mode if changes.mode is None else changes.mode & PERMISSION_BITS,
        uid=pick(changes.uid, inode.uid),
        gid=pick(changes.gid, inode.gid),
        size=pick(changes.size, inode.size),
        atime_ns=pick(changes.atime_ns, inode.atime_ns),
        mtime_ns=pick(changes.mtime_ns, tx.now if resized else inode.mtime_ns),
        ctime_ns=pick(changes.ctime_ns, tx.now),
        version=inode.version + 1,
    )


def _resize(tx: Tx, inode: Inode, size: int) -> None:
    require_file(inode)
    require_own_data(inode)
    if size < 0:
        raise fs_error(errno.EINVAL, "negative size")
    if size < inode.size:
        truncate_blocks(tx, inode.ino, size)
    tx.counts.data_bytes += size - inode.size
