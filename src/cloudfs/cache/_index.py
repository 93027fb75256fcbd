"""The disk cache's SQLite index (``index.sqlite``): one row per cached block.

Schema (``user_version`` 2)::

    blocks(id BLOB PRIMARY KEY, size, dirty 0/1, pins, last_seq, slot)
    settings(key TEXT PRIMARY KEY, value INTEGER)   capacity_bytes, hits, misses

``slot`` is where a clean block lives in its slab file (:mod:`cloudfs.cache._slabs`);
NULL means a file of its own (every dirty block, and clean blocks that were dirty).
Version 1 had no ``slot``: opening one adds the column, so its rows are files, as they were.

``last_seq`` orders blocks by last use so a reopened cache rebuilds its policy in about
the order it had.  The database runs in WAL mode with ``synchronous=NORMAL``: a commit
survives the process being killed.  Transactions that make a block dirty (or drop a
dirty one) switch to ``synchronous=FULL`` for that commit, so they also survive a power
cut once :meth:`Index.put` returns.  :class:`Index` methods block; the cache calls them
in its worker thread, except for the small read-only helpers used by other processes
(:func:`read_usage`, :func:`write_capacity`), which open their own connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INDEX_NAME", "Index", "Row", "read_settings", "write_setting"]

INDEX_NAME = "index.sqlite"
BUSY_TIMEOUT_MS = 10_000
SCHEMA_VERSION = 2

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS blocks (
        id BLOB PRIMARY KEY, size INTEGER NOT NULL, dirty INTEGER NOT NULL,
        pins INTEGER NOT NULL, last_seq INTEGER NOT NULL, slot INTEGER) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class Row:
    id: bytes
    size: int
    dirty: bool
    pins: int
    last_seq: int
    slot: int | None = None  # in the slab of its size; None: a file of its own


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Index:
    """The index connection; owned by the cache's worker thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, root: Path) -> Index:
        """Open (creating if needed) the index in ``root``."""
        index = cls(connect(root / INDEX_NAME))
        with index._tx() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version == 1:
                conn.execute("ALTER TABLE blocks ADD COLUMN slot INTEGER")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return index

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        if durable:
            conn.execute("PRAGMA synchronous = FULL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.rollback()
                raise
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")

    def rows(self) -> list[Row]:
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        slot = "slot" if version >= 2 else "NULL"  # read by another process: not migrated
        cursor = self._conn.execute(
            f"SELECT id, size, dirty, pins, last_seq, {slot} FROM blocks ORDER BY last_seq"
        )
        return [Row(i, s, bool(d), p, q, t) for i, s, d, p, q, t in cursor]

    def settings(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT key, value FROM settings"))

    def put(self, row: Row, evicted: Iterable[bytes], *, durable: bool = False) -> None:
        """Insert (or replace) one block's row, dropping the rows of blocks evicted for it.

        Not synced unless ``durable``: a dirty block's row need not be, because the
        journal record that names the block is synced after it, and the cache adopts a
        journaled block's file that lost its row (``DiskCache.open(journaled=…)``).
        """
        with self._tx(durable=durable) as conn:
            conn.executemany("DELETE FROM blocks WHERE id = ?", ((i,) for i in evicted))
            conn.execute(
                "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?, ?)",
                (row.id, row.size, int(row.dirty), row.pins, row.last_seq, row.slot),
            )

    def put_many(self, rows: list[Row], evicted: Iterable[bytes]) -> None:
        """:meth:`put` for many clean rows in one transaction (not synced)."""
        with self._tx() as conn:
            conn.executemany("DELETE FROM blocks WHERE id = ?", ((i,) for i in evicted))
            conn.executemany(
                "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?, ?)",
                [(r.id, r.size, int(r.dirty), r.pins, r.last_seq, r.slot) for r in rows],
            )

    def delete(self, block_ids: Iterable[bytes], *, durable: bool = False) -> None:
        with self._tx(durable=durable) as conn:
            conn.executemany("DELETE FROM blocks WHERE id = ?", ((i,) for i in block_ids))

    def set_dirty(self, block_ids: Iterable[bytes], dirty: bool) -> None:
        with self._tx(durable=dirty) as conn:
            conn.executemany(
                "UPDATE blocks SET dirty = ? WHERE id = ?", ((int(dirty), i) for i in block_ids)
            )

    def set_pins(self, pins: Iterable[tuple[bytes, int]]) -> None:
        with self._tx() as conn:
            conn.executemany("UPDATE blocks SET pins = ? WHERE id = ?", ((p, i) for i, p in pins))

    def touch(self, seqs: Iterable[tuple[bytes, int]], settings: dict[str, int]) -> None:
        """Record last uses and counters (the periodic flush)."""
        with self._tx() as conn:
            conn.executemany(
                "UPDATE blocks SET last_seq = ? WHERE id = ?", ((q, i) for i, q in seqs)
            )
            _upsert(conn, settings)


def _upsert(conn: sqlite3.Connection, settings: dict[str, int]) -> None:
    conn.executemany(
        "INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        settings.items(),
    )


def _existing(root: Path) -> Path:
    path = root / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no disk cache index at {path}")
    return path


def read_settings(root: Path) -> tuple[dict[str, int], list[Row]]:
    """Settings and rows, read by another process (a short-lived connection)."""
    with closing(connect(_existing(root))) as conn:
        index = Index(conn)
        conn.execute("BEGIN")
        try:
            return index.settings(), index.rows()
        finally:
            conn.rollback()


def write_setting(root: Path, key: str, value: int) -> None:
    """Change one setting from another process; the running cache reloads it."""
    with closing(connect(_existing(root))) as conn:
        conn.execute("BEGIN IMMEDIATE")
        _upsert(conn, {key: value})
        conn.execute("COMMIT")
