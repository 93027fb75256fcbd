"""The importer's mirror logic on a synthetic listing (no S3 call is ever made)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import cloudfs
from cloudfs.connect.importer import Importer
from cloudfs.connect.objects import ObjectInfo
from tests.unit.connect.conftest import store_config


def listing(*objects: tuple[str, int, str]) -> AsyncIterator[list[ObjectInfo]]:
    async def pages() -> AsyncIterator[list[ObjectInfo]]:
        items = [ObjectInfo(key, size, etag) for key, size, etag in objects]
        for start in range(0, len(items), 2):  # small pages
            yield items[start : start + 2]

    return pages()


def test_mirror_links_relinks_unlinks_and_skips(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace
) -> None:
    connect.add_data_store("store", store_config())
    fs = filespace.fs
    fs.create_dir("/dest")
    fs.write_file("/dest/taken", b"native")
    first = Importer(connect, batch=2).run(
        "store",
        "in/",
        "/dest",
        listing=listing(
            ("in/a", 1, "e1"),
            ("in/sub/b", 2, "e2"),
            ("in/dir-marker/", 0, "d"),
            ("in/x/../y", 1, "e"),
            ("in/taken", 3, "e3"),
            ("in/c", 4, "e4"),
        ),
    )
    assert (first.listed, first.linked, first.skipped) == (6, 3, 3)
    assert fs.read_file("/dest/taken") == b"native"
    assert sorted(fs.list_dir("/dest")) == ["a", "c", "sub", "taken"]
    assert fs.get_entry("/dest/sub/b").size == 2
    fs.move("/dest/a", "/moved-a")  # moved by hand: still this import's, still mirrored
    second = Importer(connect).run(
        "store",
        "in/",
        "/dest",
        listing=listing(("in/a", 10, "e1-new"), ("in/c", 4, "e4"), ("in/d", 5, "e5")),
    )
    assert (second.linked, second.relinked, second.unlinked, second.unchanged) == (1, 1, 1, 1)
    assert fs.get_entry("/moved-a").size == 10
    assert not fs.file_exists("/dest/sub/b")
    assert connect.count_external_files("store") == 3
    assert filespace._opened.objects.requests == 0


def test_manual_links_and_other_destinations_are_not_mirrored(
    connect: cloudfs.ConnectManager,
) -> None:
    connect.add_data_store("store", store_config())
    connect.link_file("/by-hand", "store", "in/a", 1, "e")
    Importer(connect).run("store", "in/", "/one", listing=listing(("in/a", 1, "e")))
    Importer(connect).run("store", "in/", "/two", listing=listing(("in/a", 1, "e")))
    report = Importer(connect).run("store", "in/", "/one", listing=listing())
    assert report.unlinked == 1
    assert connect.list_external_files("store").file_paths == ["/by-hand", "/two/a"]
