"""What is particular to the SQLite engine: its settings, closing, cancellation, and the
guards no well-formed tree can reach through the protocol."""

from __future__ import annotations

import asyncio
import errno
import gc
import sqlite3
from pathlib import Path

import pytest

from cloudfs.errors import ClientError
from cloudfs.meta.protocol import ROOT_INO, InodeKind
from cloudfs.meta.sql import Tx
from cloudfs.meta.sqlite import SqliteMetaStore
from tests.unit.meta.conftest import OpenStore


async def pragma(store: SqliteMetaStore, name: str) -> object:
    def read(tx: Tx) -> object:
        row = tx.one(f"PRAGMA {name}")
        assert row is not None
        return row[0]

    return await store._transact(read, write=False)


async def test_connection_settings(formatted: SqliteMetaStore) -> None:
    assert await pragma(formatted, "journal_mode") == "wal"
    assert await pragma(formatted, "synchronous") == 1  # NORMAL
    assert await pragma(formatted, "foreign_keys") == 1
    assert await pragma(formatted, "busy_timeout") == 10_000


async def test_memory_databases_are_private(open_store: OpenStore) -> None:
    a = await open_store(":memory:")
    b = await open_store(":memory:")
    await a.format(b"a", block_size=4096, root_mode=0o755, uid=0, gid=0)
    with pytest.raises(FileNotFoundError):
        await b.get_descriptor()


async def test_a_closed_store_refuses_calls(open_store: OpenStore, tmp_path: Path) -> None:
    store = await open_store(tmp_path / "meta.db")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(ClientError):
        await store.getattr(ROOT_INO)


async def test_close_waits_for_operations_already_started(
    open_store: OpenStore, tmp_path: Path
) -> None:
    path = tmp_path / "meta.db"
    store = await open_store(path)
    await store.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0)
    creates = [
        asyncio.create_task(store.mknod(ROOT_INO, b"f%d" % i, InodeKind.FILE, 0o644, 0, 0))
        for i in range(20)
    ]
    await asyncio.sleep(0)  # let them submit their transactions
    await store.close()
    await asyncio.gather(*creates)
    again = await open_store(path)
    assert (await again.stats()).files == 20


async def test_a_cancelled_call_leaves_the_store_usable(formatted: SqliteMetaStore) -> None:
    task = asyncio.create_task(formatted.mknod(ROOT_INO, b"f", InodeKind.FILE, 0o644, 0, 0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The transaction ran to its end or never started: either way it is whole.
    names = [e.name for e in await formatted.readdir(ROOT_INO)]
    assert names in ([], [b"f"])
    assert (await formatted.stats()).files == len(names)
    await formatted.mknod(ROOT_INO, b"g", InodeKind.FILE, 0o644, 0, 0)


async def test_rmdir_never_removes_the_root(formatted: SqliteMetaStore) -> None:
    # The root has no entry, so only a damaged tree can name it; the engine still refuses.
    def corrupt(tx: Tx) -> None:
        tx.run("INSERT INTO entries (parent, name, ino, kind) VALUES (1, ?, 1, 2)", (b"r",))

    await formatted._transact(corrupt, write=True)
    with pytest.raises(OSError) as info:
        await formatted.rmdir(ROOT_INO, b"r")
    assert info.value.errno == errno.EBUSY
    assert (await formatted.getattr(ROOT_INO)).nlink == 2


async def test_entries_cannot_point_at_missing_inodes(formatted: SqliteMetaStore) -> None:
    def dangling(tx: Tx) -> None:
        tx.run("INSERT INTO entries (parent, name, ino, kind) VALUES (1, ?, 999, 1)", (b"x",))

    with pytest.raises(sqlite3.IntegrityError):
        await formatted._transact(dangling, write=True)
    assert await formatted.readdir(ROOT_INO) == []


async def test_readdir_plus_matches_readdir_and_getattr(formatted: SqliteMetaStore) -> None:
    for i in range(12):
        await formatted.mknod(ROOT_INO, b"f%d" % i, InodeKind.FILE, 0o644, 0, 0)
    await formatted.mknod(ROOT_INO, b"d", InodeKind.DIR, 0o755, 0, 0)
    plus, after = [], 0
    while page := await formatted.readdir_plus(ROOT_INO, after, 5):
        plus.extend(page)
        after = page[-1][0].cookie
    assert [entry for entry, _ in plus] == await formatted.readdir(ROOT_INO)
    assert [inode for _, inode in plus] == [await formatted.getattr(entry.ino) for entry, _ in plus]
    with pytest.raises(NotADirectoryError):
        await formatted.readdir_plus(plus[0][0].ino)


async def test_a_dropped_store_frees_its_thread() -> None:
    store = await SqliteMetaStore.open(":memory:")
    thread = store._worker._thread
    assert thread.is_alive()
    del store
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
