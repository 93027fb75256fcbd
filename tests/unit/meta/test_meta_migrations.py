"""Schema migrations: a fresh database, a no-op re-open, an upgrade, a too-new schema."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from cloudfs.errors import UnsupportedFormatError
from cloudfs.meta.migrations import Migration, available, migrate, render
from cloudfs.meta.protocol import ROOT_INO, BlockRef, InodeKind
from cloudfs.meta.sql import Tx
from cloudfs.meta.sqlite import SQLITE
from tests.unit.meta.conftest import OpenStore

TABLES = {
    "settings",
    "counters",
    "inodes",
    "entries",
    "blocks",
    "xattrs",
    "data_stores",
    "external_links",
    "external_counts",
    "garbage",
    "packs",
    "changelog",
    "schema_version",
}


def connect(path: Path) -> closing[sqlite3.Connection]:
    """An autocommit connection, closed at the end of the ``with``."""
    return closing(sqlite3.connect(path, isolation_level=None))


def versions(path: Path) -> list[tuple[int, str]]:
    with connect(path) as conn:
        return conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()


def tables(path: Path) -> set[str]:
    with connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows} - {"sqlite_sequence"}


def raw_tx(conn: sqlite3.Connection) -> Tx:
    return Tx(conn.cursor(), SQLITE, 1)


def test_shipped_migrations_are_numbered_from_one() -> None:
    shipped = available()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert shipped[0].name == "initial"


def test_render_fills_dialect_slots_and_splits_statements() -> None:
    sql = "-- a comment; not a statement\nCREATE TABLE t (a {int}, b {blob});\nSELECT 1;\n"
    assert render(sql, SQLITE) == ["CREATE TABLE t (a INTEGER, b BLOB)", "SELECT 1"]
    with pytest.raises(KeyError):
        render("CREATE TABLE t (a {nonsense});", SQLITE)


async def test_a_fresh_database_gets_every_migration(open_store: OpenStore, tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    await open_store(path)
    assert versions(path) == [(m.version, m.name) for m in available()]
    assert tables(path) == TABLES


async def test_reopening_changes_nothing(open_store: OpenStore, tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = await open_store(path)
    await store.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0)
    await store.close()
    before = versions(path)
    store = await open_store(path)
    assert versions(path) == before
    assert await store.get_descriptor() == (b"d", 1)
    with connect(path) as conn:
        assert migrate(raw_tx(conn)) == []


def test_a_new_migration_is_applied_once(tmp_path: Path) -> None:
    extra = [
        *available(),
        Migration(len(available()) + 1, "extra", "CREATE TABLE extra (a {int});"),
    ]
    with connect(tmp_path / "meta.db") as conn:
        assert migrate(raw_tx(conn)) == [m.version for m in available()]
        assert migrate(raw_tx(conn), extra) == [extra[-1].version]
        assert migrate(raw_tx(conn), extra) == []
    assert "extra" in tables(tmp_path / "meta.db")


async def test_a_newer_schema_is_refused(open_store: OpenStore, tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = await open_store(path)
    await store.close()
    with connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, 'from_the_future', 0)")
    with pytest.raises(UnsupportedFormatError, match="9999"):
        await open_store(path)


async def test_a_failed_migration_leaves_the_database_untouched(tmp_path: Path) -> None:
    broken = [
        *available(),
        Migration(len(available()) + 1, "broken", "CREATE TABLE x (a {int});\nNOT SQL;"),
    ]
    with connect(tmp_path / "meta.db") as conn:
        migrate(raw_tx(conn))
        conn.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError):
            migrate(raw_tx(conn), broken)
        conn.execute("ROLLBACK")
    assert "x" not in tables(tmp_path / "meta.db")
    assert len(versions(tmp_path / "meta.db")) == len(available())


async def test_step_4_finds_the_packs_of_an_older_database(
    open_store: OpenStore, tmp_path: Path
) -> None:
    """A database from before step 4 learns its live packs from the blocks naming them,
    their dead bytes with them, and a pack that goes later is garbage of its own size."""
    path = tmp_path / "meta.db"
    store = await open_store(path)
    await store.format(b"d", block_size=4096, root_mode=0o755, uid=0, gid=0)
    f = await store.mknod(ROOT_INO, b"f", InodeKind.FILE, 0o644, 0, 0)
    # A pack of three 100-byte blocks at 0, 200 and 400, the middle one since rewritten.
    blocks = {i: BlockRef(f"p{i}".encode(), 4096, 100, b"P", 200 * i) for i in range(3)}
    await store.commit_write(f.ino, size=3 * 4096, blocks=blocks, mtime_ns=1)
    await store.commit_write(f.ino, size=3 * 4096, blocks={1: BlockRef(b"x", 4096, 50)}, mtime_ns=2)
    await store.close()
    with connect(path) as conn:  # back to step 3
        conn.execute("DROP TABLE packs")
        conn.execute("ALTER TABLE counters DROP COLUMN dead_bytes")
        conn.execute("DELETE FROM schema_version WHERE version = 4")

    store = await open_store(path)
    stats = await store.stats()
    assert (stats.stored_bytes, stats.dead_bytes) == (250, 300)  # 500 bytes of pack, 200 live
    with connect(path) as conn:
        assert conn.execute("SELECT id, stored FROM packs").fetchall() == [(b"P", 500)]
    await store.commit_write(f.ino, size=3 * 4096, blocks={0: BlockRef(b"a", 4096, 10)}, mtime_ns=3)
    await store.commit_write(f.ino, size=3 * 4096, blocks={2: BlockRef(b"b", 4096, 10)}, mtime_ns=4)
    assert (await store.stats()).dead_bytes == 0
    with connect(path) as conn:
        assert conn.execute("SELECT stored FROM garbage WHERE pack = 1").fetchall() == [(500,)]
        assert conn.execute("SELECT count(*) FROM packs").fetchone() == (0,)
