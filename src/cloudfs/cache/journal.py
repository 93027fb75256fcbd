"""Journal: the durable list of commits accepted locally but not yet in the metadata engine.

A record says "file ``ino`` now has size ``size``, mtime ``mtime_ns``, and these block
slots point at these (sealed, locally stored) blocks".  ``append`` returns only once the
record is on disk (SQLite, WAL, ``synchronous=FULL``), which is what lets ``close()``
return before any upload: a process killed afterwards replays the record on its next start.
Records are deltas, applied in sequence order per inode; re-applying a record that was
already committed is harmless (the same ids into the same slots).

All SQLite work runs on one dedicated thread; callers are coroutines.
"""

from __future__ import annotations

import sqlite3
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cloudfs._thread import DedicatedThread
from cloudfs.blocks.ref import BlockRef

__all__ = ["Journal", "JournalRecord", "read_summary"]

T = TypeVar("T")
_REF = struct.Struct(">Q16sII")  # block index, block id, valid size, stored size

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    blocks BLOB NOT NULL,
    created_ns INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class JournalRecord:
    seq: int
    ino: int
    size: int
    mtime_ns: int
    blocks: dict[int, BlockRef]

    @property
    def pending_bytes(self) -> int:
        return sum(ref.stored for ref in self.blocks.values())


def _pack(blocks: dict[int, BlockRef]) -> bytes:
    return b"".join(_REF.pack(i, r.id, r.size, r.stored) for i, r in sorted(blocks.items()))


def _unpack(raw: bytes) -> dict[int, BlockRef]:
    return {i: BlockRef(id_, size, stored) for i, id_, size, stored in _REF.iter_unpack(raw)}


class Journal:
    """Durable pending commits of one filespace client."""

    def __init__(self, connection: sqlite3.Connection, thread: DedicatedThread) -> None:
        self._db = connection
        self._thread = thread

    @classmethod
    async def open(cls, path: Path | str) -> Journal:
        """Open or create the journal at ``path`` (``":memory:"`` for tests)."""
        thread = DedicatedThread("cloudfs-journal")

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # append() is an acknowledgement
            db.executescript(_SCHEMA)
            return db

        try:
            return cls(await thread.call(connect), thread)
        except BaseException:
            thread.stop()
            raise

    async def _run(self, work: Callable[[], T]) -> T:
        return await self._thread.call(work)

    async def append(
        self, ino: int, size: int, mtime_ns: int, blocks: dict[int, BlockRef]
    ) -> JournalRecord:
        """Record a commit durably and return it with its sequence number."""

        def insert() -> int:
            cursor = self._db.execute(
                "INSERT INTO records (ino, size, mtime_ns, blocks, created_ns)"
                " VALUES (?, ?, ?, ?, ?)",
                (ino, size, mtime_ns, _pack(blocks), time.time_ns()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        seq = await self._run(insert)
        return JournalRecord(seq, ino, size, mtime_ns, dict(blocks))

    async def pending(self) -> list[JournalRecord]:
        """Every record not yet marked done, oldest first."""
        rows = await self._run(
            lambda: self._db.execute(
                "SELECT seq, ino, size, mtime_ns, blocks FROM records ORDER BY seq"
            ).fetchall()
        )
        return [
            JournalRecord(seq, ino, size, mtime, _unpack(blob))
            for seq, ino, size, mtime, blob in rows
        ]

    async def done(self, seq: int) -> None:
        """The record is committed in the metadata engine: forget it."""
        await self._run(lambda: self._db.execute("DELETE FROM records WHERE seq = ?", (seq,)))

    async def close(self) -> None:
        await self._run(self._db.close)
        self._thread.stop()


def read_summary(path: Path) -> tuple[int, int, int]:
    """(records, files, sealed bytes) pending in a journal another process may have open."""
    if not path.exists():
        return 0, 0, 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT ino, blocks FROM records").fetchall()
    finally:
        db.close()
    size = sum(sum(r.stored for r in _unpack(blob).values()) for _, blob in rows)
    return len(rows), len({ino for ino, _ in rows}), size
