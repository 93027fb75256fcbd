"""Filespace-wide SQL operations on a :class:`Tx`: format, descriptor, purging, garbage,
statistics and the change log.

``format`` creates the root directory as the first inode, so it is :data:`ROOT_INO` on a
fresh schema.  The descriptor is compare-and-set on its own version; a lost race raises
:class:`ConflictError` with ``ino`` 0 (the descriptor is not an inode).  Statistics read
the ``counters`` row every writer keeps current, so ``stats`` costs one row read whatever
the filespace's size.
"""

from __future__ import annotations

import errno
from typing import Any

from cloudfs.errors import ConflictError, fs_error
from cloudfs.meta._sql_data import purge_inode
from cloudfs.meta._sql_namespace import PERMISSION_BITS, insert_inode
from cloudfs.meta._sql_tx import Tx, find_inode
from cloudfs.meta.protocol import (
    ROOT_INO,
    Change,
    ChangeKind,
    Garbage,
    Inode,
    InodeKind,
    MetaStats,
)

__all__ = [
    "changes_since",
    "forget_garbage",
    "format_",
    "get_descriptor",
    "last_seq",
    "purge",
    "purge_orphans",
    "put_descriptor",
    "stats",
    "take_garbage",
]

DESCRIPTOR_INO = 0  # the "inode" a descriptor ConflictError names

# forget_garbage deletes in chunks: every engine accepts this many parameters.
_CHUNK = 500


def format_(tx: Tx, descriptor: bytes, block_size: int, root_mode: int, uid: int, gid: int) -> None:
    if tx.one("SELECT 1 FROM settings WHERE id = 1") is not None:
        raise fs_error(errno.EEXIST, "the metadata store already holds a filespace")
    if block_size <= 0:
        raise fs_error(errno.EINVAL, f"invalid block size {block_size}")
    tx.run(
        "INSERT INTO settings (id, descriptor, descriptor_version, block_size, formatted_ns)"
        " VALUES (1, ?, 1, ?, ?)",
        (descriptor, block_size, tx.now),
    )
    now = tx.now
    root = Inode(
        ino=ROOT_INO,
        kind=InodeKind.DIR,
        mode=root_mode & PERMISSION_BITS,
        uid=uid,
        gid=gid,
        nlink=2,
        size=0,
        atime_ns=now,
        mtime_ns=now,
        ctime_ns=now,
        btime_ns=now,
        version=1,
    )
    ino = insert_inode(tx, root, None, None)
    if ino != ROOT_INO:
        raise RuntimeError(f"the root directory got inode {ino}: the schema is not fresh")
    tx.counts.directories += 1
    tx.changed(ROOT_INO, ChangeKind.CREATE)


def _settings(tx: Tx, columns: str) -> tuple[Any, ...]:
    row = tx.one(f"SELECT {columns} FROM settings WHERE id = 1")
    if row is None:
        raise fs_error(errno.ENOENT, "the metadata store holds no filespace (not formatted)")
    return row


def get_descriptor(tx: Tx) -> tuple[bytes, int]:
    descriptor, version = _settings(tx, "descriptor, descriptor_version")
    return bytes(descriptor), int(version)


def put_descriptor(tx: Tx, descriptor: bytes, expected_version: int) -> int:
    _, version = get_descriptor(tx)
    if version != expected_version:
        raise ConflictError(DESCRIPTOR_INO, expected_version, version)
    tx.run(
        "UPDATE settings SET descriptor = ?, descriptor_version = ? WHERE id = 1",
        (descriptor, version + 1),
    )
    return version + 1


def purge(tx: Tx, ino: int) -> bool:
    inode = find_inode(tx, ino)
    if inode is None or inode.nlink > 0:
        return False
    purge_inode(tx, inode)
    return True


def purge_orphans(tx: Tx) -> int:
    rows = tx.all("SELECT ino FROM inodes WHERE nlink = 0")
    return sum(purge(tx, ino) for (ino,) in rows)


def take_garbage(tx: Tx, limit: int) -> list[Garbage]:
    rows = tx.all("SELECT id, pack FROM garbage ORDER BY seq LIMIT ?", (max(limit, 0),))
    return [Garbage(bytes(id_), bool(pack)) for id_, pack in rows]


def forget_garbage(tx: Tx, ids: list[bytes]) -> None:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        tx.counts.garbage_blocks -= tx.run(f"DELETE FROM garbage WHERE id IN ({marks})", chunk)


def stats(tx: Tx) -> MetaStats:
    row = tx.one(
        "SELECT files, directories, symlinks, data_bytes, stored_bytes, garbage_blocks,"
        " dead_bytes FROM counters WHERE id = 1"
    )
    assert row is not None, "counters row missing: schema not migrated"
    return MetaStats(*row)


def changes_since(tx: Tx, seq: int, limit: int) -> list[Change]:
    rows = tx.all(
        "SELECT seq, ino, parent, kind FROM changelog WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, max(limit, 0)),
    )
    return [Change(seq, ino, parent, ChangeKind(kind)) for seq, ino, parent, kind in rows]


def last_seq(tx: Tx) -> int:
    row = tx.one("SELECT last_seq FROM counters WHERE id = 1")
    assert row is not None, "counters row missing: schema not migrated"
    return int(row[0])
