"""Block maps, truncation, garbage and purging, as SQL operations on a :class:`Tx`.

A file's data is the rows ``blocks(ino, idx)``, each naming one immutable object.  A row
is only ever replaced or deleted, and whichever way an object stops being referenced it is
appended to ``garbage`` in the same transaction, so the collector can delete it later and
metadata never points at a missing object.

Limitation: an object id is assumed to be referenced by at most one block-map slot (random
ids, as the block layer assigns them).  Content-addressed ids shared between slots would
need reference counts; re-committing the id a slot already holds is fine (not garbage).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from cloudfs.errors import fs_error
from cloudfs.meta._sql_tx import Tx, check_version, get_inode
from cloudfs.meta.protocol import BlockRef, ChangeKind, Inode, InodeKind

_CHUNK = 500  # ids per IN (...) list

__all__ = [
    "block_size",
    "commit_write",
    "count_external",
    "drop_external",
    "get_blocks",
    "purge_inode",
    "require_file",
    "require_own_data",
    "truncate_blocks",
]

_MAX_INDEX = 2**62  # beyond any real block index, within a signed 64-bit SQL integer


def block_size(tx: Tx) -> int:
    row = tx.one("SELECT block_size FROM settings WHERE id = 1")
    if row is None:
        raise fs_error(errno.ENOENT, "the metadata store holds no filespace (not formatted)")
    return int(row[0])


def require_file(inode: Inode) -> None:
    """Only regular files have data: ``IsADirectoryError`` or ``EINVAL`` otherwise."""
    if inode.kind is InodeKind.DIR:
        raise fs_error(errno.EISDIR, f"inode {inode.ino} is a directory")
    if inode.kind is not InodeKind.FILE:
        raise fs_error(errno.EINVAL, f"inode {inode.ino} is not a regular file")


def require_own_data(inode: Inode) -> None:
    """External (Connect) files are read-only: their content is the linked object."""
    if inode.external:
        raise fs_error(errno.EACCES, f"inode {inode.ino} is an external file (read-only)")


def get_blocks(tx: Tx, ino: int, first: int, count: int) -> dict[int, BlockRef]:
    require_file(get_inode(tx, ino))
    if first < 0:
        raise fs_error(errno.EINVAL, "negative block index")
    rows = tx.all(
        "SELECT idx, id, size, stored, pack, pack_offset FROM blocks"
        " WHERE ino = ? AND idx >= ? AND idx < ? ORDER BY idx",
        (ino, first, min(first + max(count, 0), _MAX_INDEX)),
    )
    return {
        idx: BlockRef(bytes(id_), size, stored, None if pack is None else bytes(pack), offset)
        for idx, id_, size, stored, pack, offset in rows
    }


def _to_garbage(tx: Tx, refs: list[tuple[bytes, int, bytes | None]]) -> None:
    """Blocks ``(id, stored, pack)`` no block map references any more (already gone
    from ``blocks``): their own objects, and the packs none of whose blocks is left.

    A packed block's bytes stay in the store with its pack: they count as dead until the
    pack goes, and then the whole pack (its size from ``packs``) leaves the dead count.
    """
    own = [(id_, stored, 0, tx.now) for id_, stored, pack in refs if pack is None]
    gone_from: dict[bytes, int] = {}
    for _, stored, pack in refs:
        if pack is not None:
            gone_from[pack] = gone_from.get(pack, 0) + stored
    tx.counts.dead_bytes += sum(gone_from.values())
    for pack, gone in gone_from.items():
        if tx.one("SELECT 1 FROM blocks WHERE pack = ? LIMIT 1", (pack,)) is not None:
            continue
        row = tx.one("SELECT stored FROM packs WHERE id = ?", (pack,))
        size = gone if row is None else int(row[0])  # no row: a pack the backfill missed
        tx.run("DELETE FROM packs WHERE id = ?", (pack,))
        tx.counts.dead_bytes -= size
        own.append((pack, size, 1, tx.now))
    if not own:
        return
    tx.run_many("INSERT INTO garbage (id, stored, pack, since_ns) VALUES (?, ?, ?, ?)", own)
    tx.counts.garbage_blocks += len(own)


def _add_packs(tx: Tx, refs: Iterable[BlockRef]) -> None:
    """Record the packs ``refs`` name, with the size they are known to reach (a retried
    commit or a later part of one pack never makes a pack smaller)."""
    ends: dict[bytes, int] = {}
    for ref in refs:
        if ref.pack is not None:
            ends[ref.pack] = max(ends.get(ref.pack, 0), ref.offset + ref.stored)
    if not ends:
        return
    known: dict[bytes, int] = {}
    names = list(ends)
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        for id_, stored in tx.all(f"SELECT id, stored FROM packs WHERE id IN ({marks})", chunk):
            known[bytes(id_)] = int(stored)
    grown = {pack: end for pack, end in ends.items() if end > known.get(pack, 0)}
    tx.run_many(
        "INSERT INTO packs (id, stored) VALUES (?, ?)"
        " ON CONFLICT (id) DO UPDATE SET stored = excluded.stored",
        list(grown.items()),
    )
    # Counted dead here; _replace_refs takes the bytes of the blocks it adds back out.
    tx.counts.dead_bytes += sum(end - known.get(pack, 0) for pack, end in grown.items())


def _gone(rows: list[tuple[Any, ...]]) -> list[tuple[bytes, int, bytes | None]]:
    """``(id, stored, pack)`` rows as :func:`_to_garbage` takes them."""
    return [
        (bytes(id_), int(stored), None if pack is None else bytes(pack))
        for id_, stored, pack in rows
    ]


def _discard_from(tx: Tx, ino: int, first: int) -> None:
    """Drop the blocks of ``ino`` with index ``>= first`` into garbage."""
    rows = tx.all("SELECT id, stored, pack FROM blocks WHERE ino = ? AND idx >= ?", (ino, first))
    if rows:
        tx.run("DELETE FROM blocks WHERE ino = ? AND idx >= ?", (ino, first))
        tx.counts.stored_bytes -= sum(stored for _, stored, _ in rows)
        _to_garbage(tx, _gone(rows))


def truncate_blocks(tx: Tx, ino: int, size: int) -> None:
    """Drop blocks wholly past ``size`` and clamp the block that ``size`` ends inside."""
    bs = block_size(tx)
    _discard_from(tx, ino, -(-size // bs))
    tail = size % bs
    if tail:
        tx.run(
            "UPDATE blocks SET size = ? WHERE ino = ? AND idx = ? AND size > ?",
            (tail, ino, size // bs, tail),
        )


def _check_refs(blocks: Mapping[int, BlockRef], bs: int) -> None:
    for idx, ref in blocks.items():
        if (
            idx < 0
            or not 0 <= ref.size <= bs
            or ref.stored < 0
            or not ref.id
            or ref.offset < 0
            or (ref.pack is None and ref.offset)
            or ref.pack == b""
        ):
            raise fs_error(errno.EINVAL, f"invalid block ref at index {idx}: {ref}")


def _replace_refs(tx: Tx, ino: int, blocks: Mapping[int, BlockRef]) -> None:
    """Point the given slots at their new objects; replaced objects become garbage."""
    rows = tx.all(
        "SELECT idx, id, stored, pack FROM blocks WHERE ino = ? AND idx >= ? AND idx <= ?",
        (ino, min(blocks), max(blocks)),
    )
    old = [row for row in rows if row[0] in blocks and bytes(row[1]) != blocks[row[0]].id]
    _add_packs(tx, blocks.values())
    kept = {idx for idx, id_, _, _ in rows if idx in blocks and bytes(id_) == blocks[idx].id}
    tx.counts.dead_bytes -= sum(
        ref.stored for idx, ref in blocks.items() if ref.pack is not None and idx not in kept
    )
    tx.counts.stored_bytes += sum(ref.stored for ref in blocks.values())
    tx.counts.stored_bytes -= sum(stored for idx, _, stored, _ in rows if idx in blocks)
    tx.run_many(
        "INSERT INTO blocks (ino, idx, id, size, stored, pack, pack_offset)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (ino, idx) DO UPDATE SET id = excluded.id, size = excluded.size,"
        " stored = excluded.stored, pack = excluded.pack, pack_offset = excluded.pack_offset",
        [
            (ino, idx, ref.id, ref.size, ref.stored, ref.pack, ref.offset)
            for idx, ref in sorted(blocks.items())
        ],
    )
    _to_garbage(tx, _gone([row[1:] for row in old]))


def commit_write(
    tx: Tx,
    ino: int,
    size: int,
    blocks: Mapping[int, BlockRef],
    mtime_ns: int,
    expected_version: int | None,
) -> Inode:
    inode = get_inode(tx, ino)
    require_file(inode)
    require_own_data(inode)
    check_version(inode, expected_version)
    if size < 0:
        raise fs_error(errno.EINVAL, "negative size")
    if blocks:
        _check_refs(blocks, block_size(tx))
        _replace_refs(tx, ino, blocks)
    truncate_blocks(tx, ino, size)
    tx.run(
        "UPDATE inodes SET size = ?, mtime_ns = ?, ctime_ns = ?, version = version + 1"
        " WHERE ino = ?",
        (size, mtime_ns, tx.now, ino),
    )
    tx.counts.data_bytes += size - inode.size
    tx.changed(ino, ChangeKind.DATA)
    return replace(inode, size=size, mtime_ns=mtime_ns, ctime_ns=tx.now, version=inode.version + 1)


def purge_inode(tx: Tx, inode: Inode) -> Inode:
    """Delete ``inode`` now: its blocks become garbage, its xattrs go with it.

    Returns the inode as it was at the end (nlink 0, ctime and version bumped).
    """
    ino = inode.ino
    _discard_from(tx, ino, 0)
    if inode.external:
        drop_external(tx, ino)
    tx.run("DELETE FROM xattrs WHERE ino = ?", (ino,))
    tx.run("DELETE FROM inodes WHERE ino = ?", (ino,))
    tx.counts.add_inode(inode.kind, -1)
    if inode.kind is InodeKind.FILE:
        tx.counts.data_bytes -= inode.size
    tx.changed(ino, ChangeKind.PURGE)
    return replace(inode, nlink=0, ctime_ns=tx.now, version=inode.version + 1)


def count_external(tx: Tx, store_id: int | None, files: int, size: int) -> None:
    """Add to a store's external-file totals (``store_id`` None: HTTP links)."""
    key = store_id or 0
    tx.run(
        "INSERT INTO external_counts (store_id, files, bytes) VALUES (?, ?, ?)"
        " ON CONFLICT (store_id) DO UPDATE SET files = external_counts.files + excluded.files,"
        " bytes = external_counts.bytes + excluded.bytes",
        (key, files, size),
    )


def drop_external(tx: Tx, ino: int) -> None:
    """Forget the link of external file ``ino`` (its inode is being purged)."""
    row = tx.one("SELECT store_id, size FROM external_links WHERE ino = ?", (ino,))
    if row is None:
        return
    tx.run("DELETE FROM external_links WHERE ino = ?", (ino,))
    count_external(tx, row[0], -1, -int(row[1]))
