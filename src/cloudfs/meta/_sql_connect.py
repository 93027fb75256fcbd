"""Connect's SQL operations on a :class:`Tx`: data stores and external links.

An external file is created like any file (an inode, an entry, a CREATE change), with
``inodes.external`` = 1 and an ``external_links`` row keyed by its inode number.  Its
size counts in the filespace's ``data_bytes`` like any file's; ``external_counts`` keeps
per-store totals beside it, so ``count_external`` is one row read whatever the number of
links.  Purging the inode
(``_sql_data.purge_inode``) drops the link and its count.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from cloudfs.errors import fs_error
from cloudfs.meta._sql_admin import purge
from cloudfs.meta._sql_data import count_external
from cloudfs.meta._sql_namespace import unlink
from cloudfs.meta._sql_tx import Tx, check_name, find_entry, get_inode, require_dir, touch_dir
from cloudfs.meta.connect import DataStoreRecord, ExternalLink, LinkSpec, PathStep, Relink
from cloudfs.meta.protocol import ROOT_INO, ChangeKind, Inode, InodeKind

__all__ = [
    "add_data_store",
    "entry_paths",
    "external_page",
    "external_totals",
    "get_data_store",
    "get_data_store_by_id",
    "get_external",
    "link_external",
    "list_data_stores",
    "relink_external",
    "remove_data_store",
    "store_count",
    "unlink_external",
    "update_data_store",
]

EXTERNAL_MODE = 0o444  # read-only: the content is the linked object

_STORE_COLUMNS = "id, name, kind, config, secret, key_id, rekey_state, created_ns"
_LINK_COLUMNS = "ino, store_id, object_key, etag, size, origin"


def _store(row: tuple[object, ...]) -> DataStoreRecord:
    id_, name, kind, config, secret, key_id, rekey_state, created_ns = row
    return DataStoreRecord(
        int(id_),  # type: ignore[call-overload]
        str(name),
        str(kind),
        str(config),
        bytes(secret),  # type: ignore[call-overload]
        str(key_id),
        int(rekey_state),  # type: ignore[call-overload]
        int(created_ns),  # type: ignore[call-overload]
    )


def _link(row: tuple[object, ...]) -> ExternalLink:
    ino, store_id, key, etag, size, origin = row
    return ExternalLink(
        int(ino),  # type: ignore[call-overload]
        None if store_id is None else int(store_id),  # type: ignore[call-overload]
        bytes(key),  # type: ignore[call-overload]
        str(etag),
        int(size),  # type: ignore[call-overload]
        int(origin),  # type: ignore[call-overload]
    )


# -- data stores ---------------------------------------------------------------------------
def add_data_store(
    tx: Tx, name: str, kind: str, config: str, secret: bytes, key_id: str
) -> DataStoreRecord:
    if tx.one("SELECT 1 FROM data_stores WHERE name = ?", (name,)) is not None:
        raise fs_error(errno.EEXIST, f"a data store named {name!r} exists")
    row = tx.one(
        "INSERT INTO data_stores (name, kind, config, secret, key_id, rekey_state, created_ns)"
        f" VALUES (?, ?, ?, ?, ?, 0, ?) RETURNING {_STORE_COLUMNS}",
        (name, kind, config, secret, key_id, tx.now),
    )
    assert row is not None
    return _store(row)


def get_data_store(tx: Tx, name: str) -> DataStoreRecord | None:
    row = tx.one(f"SELECT {_STORE_COLUMNS} FROM data_stores WHERE name = ?", (name,))
    return _store(row) if row else None


def get_data_store_by_id(tx: Tx, store_id: int) -> DataStoreRecord | None:
    row = tx.one(f"SELECT {_STORE_COLUMNS} FROM data_stores WHERE id = ?", (store_id,))
    return _store(row) if row else None


def list_data_stores(tx: Tx) -> list[DataStoreRecord]:
    return [_store(r) for r in tx.all(f"SELECT {_STORE_COLUMNS} FROM data_stores ORDER BY name")]


def update_data_store(
    tx: Tx, name: str, config: str, secret: bytes, key_id: str, rekey_state: int
) -> None:
    changed = tx.run(
        "UPDATE data_stores SET config = ?, secret = ?, key_id = ?, rekey_state = ? WHERE name = ?",
        (config, secret, key_id, rekey_state, name),
    )
    if not changed:
        raise fs_error(errno.ENOENT, f"no data store named {name!r}")


def store_count(tx: Tx, store_id: int) -> int:
    row = tx.one("SELECT files FROM external_counts WHERE store_id = ?", (store_id,))
    return int(row[0]) if row else 0


def remove_data_store(tx: Tx, name: str) -> int:
    record = get_data_store(tx, name)
    if record is None:
        raise fs_error(errno.ENOENT, f"no data store named {name!r}")
    linked = store_count(tx, record.id)
    if linked == 0:
        tx.run("DELETE FROM external_counts WHERE store_id = ?", (record.id,))
        tx.run("DELETE FROM data_stores WHERE id = ?", (record.id,))
    return linked


# -- links -----------------------------------------------------------------------------------
_INSERT_INODE = (
    "INSERT INTO inodes (kind, mode, uid, gid, nlink, size, atime_ns, mtime_ns, ctime_ns,"
    " btime_ns, version, external) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, 1, 1) RETURNING ino"
)


def link_external(tx: Tx, specs: Sequence[LinkSpec], uid: int, gid: int) -> list[Inode]:
    """Check every name first, then insert: the inodes one by one (each needs its number),
    the links and entries in one statement each."""
    _check_specs(tx, specs)
    now = tx.now
    created: list[Inode] = []
    totals: dict[int | None, list[int]] = {}
    for spec in specs:
        row = tx.one(
            _INSERT_INODE,
            (int(InodeKind.FILE), EXTERNAL_MODE, uid, gid, spec.size, now, now, now, now),
        )
        assert row is not None
        ino = int(row[0])
        created.append(
            Inode(
                ino, InodeKind.FILE, EXTERNAL_MODE, uid, gid, 1, spec.size, now, now, now, now, 1, 1
            )
        )
        total = totals.setdefault(spec.store_id, [0, 0])
        total[0] += 1
        total[1] += spec.size
        tx.changed(ino, ChangeKind.CREATE, spec.parent)
    pairs = list(zip(created, specs, strict=True))
    tx.run_many(
        "INSERT INTO external_links (ino, store_id, object_key, etag, size, origin)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(i.ino, s.store_id, s.object_key, s.etag, s.size, s.origin) for i, s in pairs],
    )
    tx.run_many(
        "INSERT INTO entries (parent, name, ino, kind) VALUES (?, ?, ?, ?)",
        [(s.parent, s.name, i.ino, int(InodeKind.FILE)) for i, s in pairs],
    )
    for parent in {spec.parent for spec in specs}:
        touch_dir(tx, parent)
    for store_id, (files, size) in totals.items():
        count_external(tx, store_id, files, size)
    tx.counts.files += len(specs)
    tx.counts.data_bytes += sum(spec.size for spec in specs)
    return created


def _check_specs(tx: Tx, specs: Sequence[LinkSpec]) -> None:
    seen: set[tuple[int, bytes]] = set()
    for parent in {spec.parent for spec in specs}:
        require_dir(tx, parent)
    for spec in specs:
        check_name(spec.name)
        if spec.size < 0:
            raise fs_error(errno.EINVAL, "negative size")
        key = (spec.parent, spec.name)
        if key in seen or find_entry(tx, spec.parent, spec.name) is not None:
            raise fs_error(errno.EEXIST, f"entry exists in directory {spec.parent}")
        seen.add(key)


def relink_external(tx: Tx, changes: Sequence[Relink]) -> None:
    for change in changes:
        inode = get_inode(tx, change.ino)
        link = get_external(tx, change.ino)
        if link is None:
            raise fs_error(errno.EINVAL, f"inode {change.ino} is not an external file")
        key = link.object_key if change.object_key is None else change.object_key
        tx.run(
            "UPDATE external_links SET etag = ?, size = ?, object_key = ? WHERE ino = ?",
            (change.etag, change.size, key, link.ino),
        )
        tx.run(
            "UPDATE inodes SET size = ?, mtime_ns = ?, ctime_ns = ?, version = version + 1"
            " WHERE ino = ?",
            (change.size, tx.now, tx.now, change.ino),
        )
        tx.counts.data_bytes += change.size - inode.size
        count_external(tx, link.store_id, 0, change.size - link.size)
        tx.changed(change.ino, ChangeKind.DATA)


def unlink_external(tx: Tx, inos: Sequence[int]) -> int:
    removed = 0
    for ino in inos:
        if get_external(tx, ino) is None:
            continue
        for parent, name in tx.all("SELECT parent, name FROM entries WHERE ino = ?", (ino,)):
            unlink(tx, parent, bytes(name))
        purge(tx, ino)
        removed += 1
    return removed


def get_external(tx: Tx, ino: int) -> ExternalLink | None:
    row = tx.one(f"SELECT {_LINK_COLUMNS} FROM external_links WHERE ino = ?", (ino,))
    return _link(row) if row else None


def external_page(
    tx: Tx, store_id: int, after: int, limit: int, origin: int | None
) -> list[ExternalLink]:
    if origin is None:
        rows = tx.all(
            f"SELECT {_LINK_COLUMNS} FROM external_links WHERE store_id = ? AND ino > ?"
            " ORDER BY ino LIMIT ?",
            (store_id, after, max(limit, 0)),
        )
    else:
        rows = tx.all(
            f"SELECT {_LINK_COLUMNS} FROM external_links WHERE origin = ? AND store_id = ?"
            " AND ino > ? ORDER BY ino LIMIT ?",
            (origin, store_id, after, max(limit, 0)),
        )
    return [_link(r) for r in rows]


def entry_paths(tx: Tx, inos: Sequence[int]) -> dict[int, list[PathStep]]:
    """Walk up from each inode through its (first) entry; directories are shared."""
    known: dict[int, list[PathStep]] = {ROOT_INO: []}
    result: dict[int, list[PathStep]] = {}
    for ino in inos:
        steps = _path_of(tx, ino, known)
        if steps is not None:
            result[ino] = steps
    return result


def _path_of(tx: Tx, ino: int, known: dict[int, list[PathStep]]) -> list[PathStep] | None:
    chain: list[tuple[int, PathStep]] = []
    current = ino
    while current not in known:
        row = tx.one(
            "SELECT parent, name FROM entries WHERE ino = ? ORDER BY cookie LIMIT 1", (current,)
        )
        if row is None:
            return None  # unlinked meanwhile
        step = (int(row[0]), bytes(row[1]))
        chain.append((current, step))
        current = step[0]
    steps = known[current]
    for node, step in reversed(chain):
        steps = [step, *steps]
        known[node] = steps
    return steps


def external_totals(tx: Tx) -> tuple[int, int]:
    row = tx.one("SELECT coalesce(sum(files), 0), coalesce(sum(bytes), 0) FROM external_counts")
    assert row is not None
    return int(row[0]), int(row[1])
