"""Many coroutines (and two stores on one file) at once: every operation is atomic,
nothing is lost, counters and the change log stay exact, and the event loop keeps
running while SQLite works or waits for a lock."""

from __future__ import annotations

import asyncio
import errno
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from cloudfs.errors import ConflictError
from cloudfs.meta import sqlite as sqlite_engine
from cloudfs.meta.protocol import ROOT_INO, AttrChanges, BlockRef, InodeKind
from cloudfs.meta.sqlite import SqliteMetaStore
from tests.unit.meta.conftest import OpenStore

FILE, DIR = InodeKind.FILE, InodeKind.DIR


async def all_entries(store: SqliteMetaStore, parent: int) -> dict[bytes, int]:
    entries, after = {}, 0
    while page := await store.readdir(parent, after, 100):
        entries.update((e.name, e.ino) for e in page)
        after = page[-1].cookie
    return entries


async def test_concurrent_creates_renames_and_unlinks(formatted: SqliteMetaStore) -> None:
    store = formatted
    dirs = [await store.mknod(ROOT_INO, b"d%d" % i, DIR, 0o755, 0, 0) for i in range(4)]

    async def worker(n: int) -> None:
        home = dirs[n % 4].ino
        for i in range(25):
            name = b"w%d-%d" % (n, i)
            await store.mknod(home, name, FILE, 0o644, 0, 0)
            if i % 3 == 0:
                await store.rename(home, name, dirs[(n + 1) % 4].ino, name)
            elif i % 3 == 1:
                await store.unlink(home, name)

    await asyncio.gather(*(worker(n) for n in range(40)))
    listed = [await all_entries(store, d.ino) for d in dirs]
    total = sum(len(entries) for entries in listed)
    assert total == 40 * 25 - 40 * 8  # every third (i % 3 == 1) unlinked: 8 of 25
    stats = await store.stats()
    assert (stats.files, stats.directories) == (40 * 25, 5)  # orphans count until purged
    assert await store.purge_orphans() == 40 * 8
    assert (await store.stats()).files == total
    changes = await store.changes_since(0, limit=100_000)
    assert [c.seq for c in changes] == list(range(1, len(changes) + 1))
    assert changes[-1].seq == await store.last_seq()


async def test_only_one_compare_and_set_wins(formatted: SqliteMetaStore) -> None:
    f = await formatted.mknod(ROOT_INO, b"f", FILE, 0o644, 0, 0)

    async def attempt(mode: int) -> int | None:
        try:
            await formatted.setattr(f.ino, AttrChanges(mode=mode), expected_version=f.version)
        except ConflictError:
            return None
        return mode

    results = await asyncio.gather(*(attempt(0o600 + i) for i in range(20)))
    winners = [mode for mode in results if mode is not None]
    assert len(winners) == 1
    assert (await formatted.getattr(f.ino)).mode == winners[0]


async def test_concurrent_commits_to_one_file_lose_no_garbage(
    formatted: SqliteMetaStore,
) -> None:
    f = await formatted.mknod(ROOT_INO, b"f", FILE, 0o644, 0, 0)

    async def commit(i: int) -> None:
        await formatted.commit_write(
            f.ino, size=4096, blocks={0: BlockRef(b"o%d" % i, 4096, 10)}, mtime_ns=i
        )

    await asyncio.gather(*(commit(i) for i in range(50)))
    live = (await formatted.get_blocks(f.ino, 0, 1))[0].id
    garbage = [g.id for g in await formatted.take_garbage(limit=100)]
    assert sorted([*garbage, live]) == sorted(b"o%d" % i for i in range(50))
    stats = await formatted.stats()
    assert (stats.stored_bytes, stats.garbage_blocks) == (10, 49)


async def test_two_stores_on_one_file(open_store: OpenStore, tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    first = await open_store(path)
    await first.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0)
    second = await open_store(path)

    async def create(store: SqliteMetaStore, prefix: bytes) -> None:
        for i in range(100):
            await store.mknod(ROOT_INO, prefix + b"%d" % i, FILE, 0o644, 0, 0)

    await asyncio.gather(create(first, b"a"), create(second, b"b"))
    assert len(await all_entries(first, ROOT_INO)) == 200
    assert (await second.stats()).files == 200
    seqs = [c.seq for c in await second.changes_since(0, limit=1000)]
    assert seqs == list(range(1, 202))  # the root's CREATE, then 200 more, no gaps


async def test_the_event_loop_runs_while_sqlite_waits(
    formatted: SqliteMetaStore, tmp_path: Path
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    with closing(sqlite3.connect(tmp_path / "meta.db", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        task = asyncio.create_task(ticker())
        create = asyncio.create_task(formatted.mknod(ROOT_INO, b"f", FILE, 0o644, 0, 0))
        await asyncio.sleep(0.3)
        assert not create.done()
        assert ticks >= 10
        other.execute("COMMIT")
        await create
        task.cancel()
    assert (await formatted.lookup(ROOT_INO, b"f")).kind is FILE


async def test_a_lock_held_too_long_is_ebusy(
    open_store: OpenStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_engine, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "meta.db"
    store = await open_store(path)
    await store.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0)
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OSError) as info:
            await store.mknod(ROOT_INO, b"f", FILE, 0o644, 0, 0)
        assert info.value.errno == errno.EBUSY
        other.execute("ROLLBACK")
    await store.mknod(ROOT_INO, b"f", FILE, 0o644, 0, 0)
