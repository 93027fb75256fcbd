"""rename(2) as one SQL transaction on a :class:`Tx`.

Checks run in the order Linux's ``renameat2`` makes them, so the error for a rename that
breaks several rules is the one a local filesystem would give:

1. flags (``NOREPLACE`` with ``EXCHANGE`` is ``EINVAL``), both parents (``ENOENT``,
   ``ENOTDIR``), the source entry (``ENOENT``);
2. ``NOREPLACE`` with an existing target is ``EEXIST``; ``EXCHANGE`` without one ``ENOENT``;
3. a directory may not move into its own subtree (``EINVAL``), for either side of an
   exchange; a target directory that contains the source is ``ENOTEMPTY``;
4. source and target naming the same inode: nothing happens;
5. replacing: a directory only replaces an empty directory (``ENOTDIR``, ``EISDIR``,
   ``ENOTEMPTY``).

Entries keep their cookies when they move or swap inodes, so a listing in progress never
sees an entry twice.  Moving a directory to another parent moves one unit of nlink with
it; a replaced file loses a link (and may become an orphan), a replaced directory is
purged as ``rmdir`` would.  The change log gets one ``RENAME`` per moved inode and
directory it left or entered, and ``UNLINK`` (+ ``PURGE``) for a replaced inode.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from cloudfs.errors import fs_error
from cloudfs.meta._sql_namespace import drop_link, remove_dir
from cloudfs.meta._sql_tx import Entry, Tx, bump_inode, find_entry, require_dir, touch_dir
from cloudfs.meta.protocol import ChangeKind, Inode, InodeKind, RenameFlags

__all__ = ["rename"]

_DIR = InodeKind.DIR

# Is ? (a directory) the directory ? or one of its ancestors?  Walks up inodes.parent;
# UNION (not UNION ALL) ends the walk even on a corrupt, cyclic tree; the CAST gives the
# parameter a type where an engine would not infer one (PostgreSQL).
_IS_ANCESTOR = (
    "WITH RECURSIVE up(ino) AS (SELECT CAST(? AS BIGINT) UNION"
    " SELECT i.parent FROM inodes i JOIN up ON i.ino = up.ino WHERE i.parent IS NOT NULL)"
    " SELECT 1 FROM up WHERE ino = ? LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class _Move:
    """A resolved rename request: the two entries and the two directories."""

    old_parent: int
    new_parent: int
    new_name: bytes
    source: Entry
    target: Entry | None

    @property
    def across(self) -> bool:
        return self.old_parent != self.new_parent


def rename(
    tx: Tx,
    old_parent: int,
    old_name: bytes,
    new_parent: int,
    new_name: bytes,
    flags: RenameFlags,
) -> Inode | None:
    flags = RenameFlags(flags)
    move = _resolve(tx, old_parent, old_name, new_parent, new_name, flags)
    target = move.target
    if target is not None and target.ino == move.source.ino:
        return None
    if flags & RenameFlags.EXCHANGE:
        assert target is not None
        _exchange(tx, move, target)
        return None
    replaced = _replace(tx, move, target) if target is not None else None
    _move(tx, move)
    return replaced


def _resolve(
    tx: Tx,
    old_parent: int,
    old_name: bytes,
    new_parent: int,
    new_name: bytes,
    flags: RenameFlags,
) -> _Move:
    """Look everything up and make the checks that come before "same inode"."""
    if flags & ~(RenameFlags.NOREPLACE | RenameFlags.EXCHANGE) or flags == (
        RenameFlags.NOREPLACE | RenameFlags.EXCHANGE
    ):
        raise fs_error(errno.EINVAL, f"invalid rename flags {flags!r}")
    require_dir(tx, old_parent)
    require_dir(tx, new_parent)
    if not new_name:
        raise fs_error(errno.EINVAL, "empty name")
    source = find_entry(tx, old_parent, old_name)
    if source is None:
        raise fs_error(errno.ENOENT, f"no such entry in directory {old_parent}")
    target = find_entry(tx, new_parent, new_name)
    if target is not None and flags & RenameFlags.NOREPLACE:
        raise fs_error(errno.EEXIST, f"entry exists in directory {new_parent}")
    if target is None and flags & RenameFlags.EXCHANGE:
        raise fs_error(errno.ENOENT, f"no entry to exchange with in directory {new_parent}")
    _check_not_into_itself(tx, source, new_parent)
    if target is not None and flags & RenameFlags.EXCHANGE:
        _check_not_into_itself(tx, target, old_parent)
    elif target is not None and _contains(tx, target, old_parent):
        raise fs_error(errno.ENOTEMPTY, f"directory {target.ino} contains the source")
    return _Move(old_parent, new_parent, new_name, source, target)


def _contains(tx: Tx, entry: Entry, ino: int) -> bool:
    """Is directory ``ino`` the directory ``entry`` names, or inside it?"""
    return entry.kind is _DIR and tx.one(_IS_ANCESTOR, (ino, entry.ino)) is not None


def _check_not_into_itself(tx: Tx, entry: Entry, new_parent: int) -> None:
    if _contains(tx, entry, new_parent):
        raise fs_error(errno.EINVAL, f"cannot move directory {entry.ino} into itself")


def _replace(tx: Tx, move: _Move, target: Entry) -> Inode:
    """Remove the target entry (checked replaceable) and drop its inode's link."""
    if move.source.kind is _DIR and target.kind is not _DIR:
        raise fs_error(errno.ENOTDIR, f"cannot replace non-directory {target.ino}")
    if move.source.kind is not _DIR and target.kind is _DIR:
        raise fs_error(errno.EISDIR, f"cannot replace directory {target.ino}")
    if target.kind is _DIR and tx.one(
        "SELECT 1 FROM entries WHERE parent = ? LIMIT 1", (target.ino,)
    ):
        raise fs_error(errno.ENOTEMPTY, f"directory {target.ino} is not empty")
    tx.run("DELETE FROM entries WHERE cookie = ?", (target.cookie,))
    if target.kind is _DIR:
        return remove_dir(tx, target.ino, move.new_parent)
    return drop_link(tx, target.ino, move.new_parent)


def _move(tx: Tx, move: _Move) -> None:
    """Point the source entry at its new place (the target entry is gone by now)."""
    source, target = move.source, move.target
    tx.run(
        "UPDATE entries SET parent = ?, name = ? WHERE cookie = ?",
        (move.new_parent, move.new_name, source.cookie),
    )
    moves_link = source.kind is _DIR and move.across
    bump_inode(tx, source.ino, parent=move.new_parent if moves_link else None)
    lost_dir = -1 if target is not None and target.kind is _DIR else 0
    if move.across:
        touch_dir(tx, move.old_parent, -1 if moves_link else 0)
        touch_dir(tx, move.new_parent, (1 if moves_link else 0) + lost_dir)
    else:
        touch_dir(tx, move.new_parent, lost_dir)
    _log_move(tx, source.ino, move.old_parent, move.new_parent)


def _exchange(tx: Tx, move: _Move, target: Entry) -> None:
    """Swap the inodes two entries point to (RENAME_EXCHANGE)."""
    source = move.source
    for entry, other in ((source, target), (target, source)):
        tx.run(
            "UPDATE entries SET ino = ?, kind = ? WHERE cookie = ?",
            (other.ino, int(other.kind), entry.cookie),
        )
    for entry, new_parent in ((source, move.new_parent), (target, move.old_parent)):
        moves_link = entry.kind is _DIR and move.across
        bump_inode(tx, entry.ino, parent=new_parent if moves_link else None)
    delta = (1 if target.kind is _DIR else 0) - (1 if source.kind is _DIR else 0)
    if move.across:
        touch_dir(tx, move.old_parent, delta)
        touch_dir(tx, move.new_parent, -delta)
    else:
        touch_dir(tx, move.old_parent)
    _log_move(tx, source.ino, move.old_parent, move.new_parent)
    _log_move(tx, target.ino, move.new_parent, move.old_parent)


def _log_move(tx: Tx, ino: int, old_parent: int, new_parent: int) -> None:
    tx.changed(ino, ChangeKind.RENAME, old_parent)
    if new_parent != old_parent:
        tx.changed(ino, ChangeKind.RENAME, new_parent)
