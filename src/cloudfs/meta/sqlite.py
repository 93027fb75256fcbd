"""The embedded metadata engine: the shared SQL logic on SQLite, in one worker thread.

Mechanism:

* **One thread owns the connection.**  :meth:`SqliteMetaStore.open` starts a dedicated
  worker thread (:class:`~cloudfs.meta._worker.DedicatedThread`, a leaner single-thread
  executor); the connection is created, configured and migrated in that thread and only
  ever used there.  Every method is one call into that thread that runs a whole
  transaction, so the event loop never waits on SQLite and the in-process operations are
  serialised without a lock.
* **One transaction per operation.**  A write runs ``BEGIN IMMEDIATE … COMMIT``: it takes
  the database's write lock up front, so a writer in another process makes it wait
  (``busy_timeout``) at the start instead of failing halfway with ``SQLITE_BUSY``.  Reads
  use a deferred ``BEGIN``: a consistent snapshot that does not block writers.  Anything
  raised rolls the transaction back and propagates; a lock held past the busy timeout
  surfaces as ``OSError(EBUSY)``.
* **Durability: WAL with ``synchronous=NORMAL``.**  A commit appends to the write-ahead
  log without fsync; the log is fsynced when it is checkpointed into the database.  A
  committed operation therefore survives the process being killed or crashing (the log
  is in the OS page cache), but the last operations before a power cut or kernel crash
  may be lost — the database itself always stays consistent.  ``FULL`` would fsync the
  log on every commit: a third of create throughput on a VM whose disk acknowledges a
  flush in ~0.2 ms, and a ceiling of a few hundred operations a second on a disk with a
  real 1–10 ms flush.  What must survive power loss (``fsync``) needs an explicit barrier
  instead, which the protocol does not have yet.
* Foreign keys are on, so an entry or block map can never point at a missing inode.

``":memory:"`` works (for tests): a private database, gone at :meth:`close`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from cloudfs._thread import DedicatedThread
from cloudfs.errors import ClientError, fs_error
from cloudfs.meta.migrations import migrate
from cloudfs.meta.sql import Dialect, SqlMetaStore, Tx

__all__ = ["SQLITE", "SqliteMetaStore"]

T = TypeVar("T")

SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    schema_types={
        "int": "INTEGER",
        "blob": "BLOB",
        "text": "TEXT",
        # AUTOINCREMENT: numbers are never reused, even after the highest row is deleted.
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "without_rowid": "WITHOUT ROWID",
    },
)

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 32 * 1024

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",  # see the module docstring for what this means
    "PRAGMA foreign_keys = ON",
    f"PRAGMA cache_size = -{CACHE_KIB}",
    "PRAGMA temp_store = MEMORY",
)

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class SqliteMetaStore(SqlMetaStore):
    """A :class:`~cloudfs.meta.protocol.MetaStore` in one SQLite file.

    Create with :meth:`open`.  The connection belongs to the store's worker thread; the
    store itself may be used from any number of coroutines.
    """

    def __init__(self, worker: DedicatedThread, clock: Callable[[], int]) -> None:
        self._worker = worker
        self._clock = clock
        self._conn: sqlite3.Connection | None = None  # touched only by the worker thread
        self._closed = False

    @classmethod
    async def open(
        cls, path: str | Path, *, clock: Callable[[], int] = time.time_ns
    ) -> SqliteMetaStore:
        """Open (creating if needed) and migrate the database at ``path``.

        :class:`~cloudfs.errors.UnsupportedFormatError` if its schema is newer than this
        code knows.
        """
        worker = DedicatedThread("cloudfs-meta-sqlite")
        store = cls(worker, clock)
        try:
            await worker.call(partial(store._connect, os.fspath(path)))
        except BaseException:
            worker.stop()
            raise
        weakref.finalize(store, worker.stop)  # a store dropped without close() frees its thread
        return store

    async def close(self) -> None:
        """Finish the operations already started, then close.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._worker.call(self._disconnect)
        finally:
            self._worker.stop()

    async def _transact(self, op: Callable[[Tx], T], *, write: bool) -> T:
        if self._closed:
            raise ClientError("the metadata store is closed")
        return await self._worker.call(partial(self._run, op, write))

    # -- in the worker thread ---------------------------------------------------------
    def _connect(self, path: str) -> None:
        conn = sqlite3.connect(path, isolation_level=None, cached_statements=256)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # before taking locks
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
            self._run(migrate, write=True)
        except BaseException:
            self._conn = None
            conn.close()
            raise

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.execute("PRAGMA optimize")
            conn.close()

    def _run(self, op: Callable[[Tx], T], write: bool) -> T:
        conn = self._conn
        assert conn is not None, "used before open() or after close()"
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                tx = Tx(conn.cursor(), SQLITE, self._clock())
                result = op(tx)
                tx.finish()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in _BUSY_CODES:  # primary code of an extended one
                raise fs_error(errno.EBUSY, f"metadata database is locked: {exc}") from exc
            raise
        return result
