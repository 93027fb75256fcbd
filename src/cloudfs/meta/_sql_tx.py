"""The transaction every SQL operation runs in, and the helpers the operations share.

Each :class:`cloudfs.meta.protocol.MetaStore` method is a plain synchronous function
``op(tx, ...)`` (in ``_sql_namespace``, ``_sql_rename``, ``_sql_data``, ``_sql_admin``)
that reads and writes through a :class:`Tx`.  An engine shim opens a transaction on its
own connection, wraps the cursor in a :class:`Tx`, calls the function, calls
:meth:`Tx.finish` and commits; any exception rolls the whole operation back.

The operations are written as if they ran alone (serializable): SQLite gets that from
``BEGIN IMMEDIATE`` (one writer at a time), a PostgreSQL shim from ``SERIALIZABLE``
isolation with a retry on serialization failure.  Checks come before writes (``SELECT``
then ``INSERT``) so an error never depends on how an engine reports a constraint.

A :class:`Tx` also collects what every write does besides its own rows: the change-log
entries and the deltas to the ``counters`` row.  :meth:`Tx.finish` writes both in one
statement each, as late as possible, because the counters row is the one row every
writer touches (PostgreSQL holds its lock until commit).  Taking the change-log sequence
from that row rather than from an engine sequence is what makes it gap-free and ordered
by commit on every engine.

SQL is written once with ``?`` placeholders; :class:`Dialect` adapts the few things
engines spell differently (placeholders, column types in migrations).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cloudfs.errors import ConflictError, fs_error
from cloudfs.meta.protocol import ChangeKind, Inode, InodeKind

__all__ = [
    "INODE_COLUMNS",
    "Counts",
    "Cursor",
    "Dialect",
    "Entry",
    "Tx",
    "bump_inode",
    "check_name",
    "check_version",
    "find_entry",
    "find_inode",
    "get_inode",
    "require_dir",
    "row_to_inode",
    "touch_dir",
]

Row = tuple[Any, ...]

# The Inode dataclass fields, in order: ``SELECT {INODE_COLUMNS}`` rows feed row_to_inode.
INODE_COLUMNS = (
    "ino, kind, mode, uid, gid, nlink, size, atime_ns, mtime_ns, ctime_ns, btime_ns, version,"
    " external"
)


class Cursor(Protocol):
    """The part of a DB-API cursor the operations use (sqlite3 and psycopg both fit)."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one SQL engine spells what the shared SQL leaves open.

    ``placeholder`` replaces ``?`` in every statement; ``schema_types`` fills the
    ``{name}`` slots of migration files (``{int}``, ``{blob}``, ``{serial}``, ...).
    """

    name: str
    placeholder: str
    schema_types: Mapping[str, str]

    def sql(self, text: str) -> str:
        if self.placeholder == "?":
            return text
        return text.replace("?", self.placeholder)


@dataclass(slots=True)
class Counts:
    """Deltas to the ``counters`` row accumulated by one transaction."""

    files: int = 0
    directories: int = 0
    symlinks: int = 0
    data_bytes: int = 0
    stored_bytes: int = 0
    garbage_blocks: int = 0
    dead_bytes: int = 0

    def add_inode(self, kind: InodeKind, sign: int) -> None:
        if kind is InodeKind.DIR:
            self.directories += sign
        elif kind is InodeKind.SYMLINK:
            self.symlinks += sign
        else:
            self.files += sign

    def values(self) -> tuple[int, ...]:
        return (
            self.files,
            self.directories,
            self.symlinks,
            self.data_bytes,
            self.stored_bytes,
            self.garbage_blocks,
            self.dead_bytes,
        )


@dataclass(slots=True)
class Tx:
    """One operation's transaction: a cursor, the operation's clock reading, and what
    :meth:`finish` must write (change-log rows and counter deltas).

    Owned by the engine thread or task that opened the transaction; never shared.
    """

    cursor: Cursor
    dialect: Dialect
    now: int
    counts: Counts = field(default_factory=Counts)
    changes: list[tuple[int, int | None, ChangeKind]] = field(default_factory=list)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query expected to return at most one."""
        self.cursor.execute(self.dialect.sql(sql), params)
        rows = self.cursor.fetchall()
        return tuple(rows[0]) if rows else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.cursor.execute(self.dialect.sql(sql), params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement that returns no rows; the number of rows it changed."""
        self.cursor.execute(self.dialect.sql(sql), params)
        return self.cursor.rowcount

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cursor.executemany(self.dialect.sql(sql), rows)

    def changed(self, ino: int, kind: ChangeKind, parent: int | None = None) -> None:
        self.changes.append((ino, parent, kind))

    def finish(self) -> None:
        """Write the counter deltas and the change log; call once, just before commit."""
        counts = self.counts.values()
        if not self.changes and not any(counts):
            return
        row = self.one(
            "UPDATE counters SET files = files + ?, directories = directories + ?,"
            " symlinks = symlinks + ?, data_bytes = data_bytes + ?,"
            " stored_bytes = stored_bytes + ?, garbage_blocks = garbage_blocks + ?,"
            " dead_bytes = dead_bytes + ?,"
            " last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq",
            (*counts, len(self.changes)),
        )
        assert row is not None, "counters row missing: schema not migrated"
        first = row[0] - len(self.changes) + 1
        self.run_many(
            "INSERT INTO changelog (seq, ino, parent, kind, at_ns) VALUES (?, ?, ?, ?, ?)",
            [
                (first + i, ino, parent, kind.value, self.now)
                for i, (ino, parent, kind) in enumerate(self.changes)
            ],
        )
        self.changes.clear()
        self.counts = Counts()


@dataclass(frozen=True, slots=True)
class Entry:
    """A directory entry row as the operations need it."""

    cookie: int
    parent: int
    name: bytes
    ino: int
    kind: InodeKind


def row_to_inode(row: Row) -> Inode:
    return Inode(row[0], InodeKind(row[1]), *row[2:13])


def find_inode(tx: Tx, ino: int) -> Inode | None:
    row = tx.one(f"SELECT {INODE_COLUMNS} FROM inodes WHERE ino = ?", (ino,))
    return row_to_inode(row) if row else None


def get_inode(tx: Tx, ino: int) -> Inode:
    """The inode, or ``FileNotFoundError``."""
    inode = find_inode(tx, ino)
    if inode is None:
        raise fs_error(errno.ENOENT, f"no inode {ino}")
    return inode


def require_dir(tx: Tx, ino: int) -> Inode:
    """The directory ``ino``: ``FileNotFoundError`` or ``NotADirectoryError`` otherwise."""
    inode = get_inode(tx, ino)
    if inode.kind is not InodeKind.DIR:
        raise fs_error(errno.ENOTDIR, f"inode {ino} is not a directory")
    return inode


def find_entry(tx: Tx, parent: int, name: bytes) -> Entry | None:
    row = tx.one(
        "SELECT cookie, ino, kind FROM entries WHERE parent = ? AND name = ?", (parent, name)
    )
    if row is None:
        return None
    return Entry(row[0], parent, name, row[1], InodeKind(row[2]))


def check_name(name: bytes) -> None:
    if not name:
        raise fs_error(errno.EINVAL, "empty name")


def check_version(inode: Inode, expected: int | None) -> None:
    """Compare-and-set: ``ConflictError`` when ``expected`` is given and stale."""
    if expected is not None and inode.version != expected:
        raise ConflictError(inode.ino, expected, inode.version)


def touch_dir(tx: Tx, ino: int, nlink_delta: int = 0) -> None:
    """A directory's entries changed: bump its mtime, ctime, version (and nlink)."""
    tx.run(
        "UPDATE inodes SET mtime_ns = ?, ctime_ns = ?, nlink = nlink + ?,"
        " version = version + 1 WHERE ino = ?",
        (tx.now, tx.now, nlink_delta, ino),
    )


def bump_inode(tx: Tx, ino: int, nlink_delta: int = 0, parent: int | None = None) -> None:
    """An inode's metadata changed (links, place): bump its ctime and version.

    ``parent`` records a directory's new parent after a move.
    """
    if parent is None:
        tx.run(
            "UPDATE inodes SET ctime_ns = ?, nlink = nlink + ?, version = version + 1"
            " WHERE ino = ?",
            (tx.now, nlink_delta, ino),
        )
    else:
        tx.run(
            "UPDATE inodes SET ctime_ns = ?, nlink = nlink + ?, version = version + 1,"
            " parent = ? WHERE ino = ?",
            (tx.now, nlink_delta, parent, ino),
        )
