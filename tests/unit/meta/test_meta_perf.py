"""How fast the SQLite engine is at what later layers lean on; prints the figures.

Run with ``-s`` to see them.  The asserted bounds are several times looser than what this
engine measures on a 2-core machine, so only a real regression fails; the figures are for
the report (``ls -l`` of 10,000 files must stay under 0.5 s end to end).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cloudfs.meta.protocol import ROOT_INO, DirEntry, InodeKind
from cloudfs.meta.sqlite import SqliteMetaStore
from tests.unit.meta.conftest import OpenStore

N = 10_000
pytestmark = pytest.mark.slow


async def listing(store: SqliteMetaStore, parent: int) -> list[DirEntry]:
    entries: list[DirEntry] = []
    after = 0
    while page := await store.readdir(parent, after, 1000):
        entries.extend(page)
        after = page[-1].cookie
    return entries


def report(what: str, seconds: float, count: int = N) -> None:
    print(f"\n  {what:<52} {seconds:7.3f} s  {count / seconds:9,.0f}/s")


async def test_create_and_list_ten_thousand_files(open_store: OpenStore, tmp_path: Path) -> None:
    store = await open_store(tmp_path / "meta.db")
    await store.format(b"d", block_size=4 << 20, root_mode=0o755, uid=0, gid=0)
    one = await store.mknod(ROOT_INO, b"one-by-one", InodeKind.DIR, 0o755, 0, 0)
    many = await store.mknod(ROOT_INO, b"concurrent", InodeKind.DIR, 0o755, 0, 0)

    start = time.perf_counter()
    for i in range(N):
        await store.mknod(one.ino, b"file-%06d" % i, InodeKind.FILE, 0o644, 1000, 1000)
    sequential = time.perf_counter() - start
    report("mknod, one await at a time", sequential)

    start = time.perf_counter()
    for batch in range(0, N, 64):
        await asyncio.gather(
            *(
                store.mknod(many.ino, b"file-%06d" % i, InodeKind.FILE, 0o644, 1000, 1000)
                for i in range(batch, min(batch + 64, N))
            )
        )
    report("mknod, 64 in flight", time.perf_counter() - start)

    start = time.perf_counter()
    entries = await listing(store, one.ino)
    readdir = time.perf_counter() - start
    assert len(entries) == N
    report("readdir of 10,000 (pages of 1,000)", readdir)

    start = time.perf_counter()
    for entry in entries:
        await store.getattr(entry.ino)
    report("getattr of each, one await at a time", time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(store.getattr(entry.ino) for entry in entries))
    report("getattr of each, all in flight", time.perf_counter() - start)

    start = time.perf_counter()
    plus, after = 0, 0
    while page := await store.readdir_plus(one.ino, after, 1000):
        plus += len(page)
        after = page[-1][0].cookie
    with_attrs = time.perf_counter() - start
    assert plus == N
    report("readdir_plus of 10,000 (entries with attributes)", with_attrs)

    start = time.perf_counter()
    for _ in range(1000):
        await store.stats()
    report("stats", time.perf_counter() - start, 1000)

    assert sequential < 30
    assert readdir < 0.5
    assert with_attrs < 0.5
