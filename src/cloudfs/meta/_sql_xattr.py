"""Extended attributes as SQL on a :class:`Tx`: opaque names and values per inode.

Setting or removing one changes the inode (ctime, version) and logs an ``XATTR`` change.
"""

from __future__ import annotations

import errno

from cloudfs.errors import fs_error
from cloudfs.meta._sql_tx import Tx, bump_inode, get_inode
from cloudfs.meta.protocol import ChangeKind, XattrFlags

__all__ = ["get_xattr", "list_xattrs", "remove_xattr", "set_xattr"]


def _find(tx: Tx, ino: int, name: bytes) -> bytes | None:
    row = tx.one("SELECT value FROM xattrs WHERE ino = ? AND name = ?", (ino, name))
    return bytes(row[0]) if row else None


def _no_data(ino: int) -> OSError:
    return fs_error(errno.ENODATA, f"inode {ino} has no such extended attribute")


def get_xattr(tx: Tx, ino: int, name: bytes) -> bytes:
    value = _find(tx, ino, name)
    if value is None:
        get_inode(tx, ino)  # FileNotFoundError wins over ENODATA
        raise _no_data(ino)
    return value


def list_xattrs(tx: Tx, ino: int) -> list[bytes]:
    get_inode(tx, ino)
    rows = tx.all("SELECT name FROM xattrs WHERE ino = ? ORDER BY name", (ino,))
    return [bytes(name) for (name,) in rows]


def set_xattr(tx: Tx, ino: int, name: bytes, value: bytes, flags: XattrFlags) -> None:
    flags = XattrFlags(flags)
    if flags & ~(XattrFlags.CREATE | XattrFlags.REPLACE) or flags == (
        XattrFlags.CREATE | XattrFlags.REPLACE
    ):
        raise fs_error(errno.EINVAL, f"invalid xattr flags {flags!r}")
    if not name:
        raise fs_error(errno.EINVAL, "empty xattr name")
    get_inode(tx, ino)
    present = _find(tx, ino, name) is not None
    if present and flags & XattrFlags.CREATE:
        raise fs_error(errno.EEXIST, f"inode {ino} already has this extended attribute")
    if not present and flags & XattrFlags.REPLACE:
        raise _no_data(ino)
    if present:
        tx.run("UPDATE xattrs SET value = ? WHERE ino = ? AND name = ?", (value, ino, name))
    else:
        tx.run("INSERT INTO xattrs (ino, name, value) VALUES (?, ?, ?)", (ino, name, value))
    bump_inode(tx, ino)
    tx.changed(ino, ChangeKind.XATTR)


def remove_xattr(tx: Tx, ino: int, name: bytes) -> None:
    if tx.run("DELETE FROM xattrs WHERE ino = ? AND name = ?", (ino, name)) == 0:
        get_inode(tx, ino)
        raise _no_data(ino)
    bump_inode(tx, ino)
    tx.changed(ino, ChangeKind.XATTR)
