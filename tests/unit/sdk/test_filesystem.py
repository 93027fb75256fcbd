"""Every path-based Filesystem call from SDK.md (locks and Connect aside) and its errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import cloudfs
from tests.unit.sdk.conftest import BLOCK_SIZE

Fs = cloudfs.Filesystem


def test_write_read_file(fs: Fs) -> None:
    fs.write_file("/a.txt", b"hello")
    assert fs.read_file("/a.txt") == b"hello"
    fs.write_file("/a.txt", b"hi")  # replaces, truncating
    assert fs.read_file("/a.txt") == b"hi"
    fs.write_file("/empty", b"")
    assert fs.read_file("/empty") == b""
    fs.write_file("/view", memoryview(b"abcdef")[1:4])
    assert fs.read_file("/view") == b"bcd"
    fs.write_file("/ba", bytearray(b"xyz"))
    assert fs.read_file("/ba") == b"xyz"


def test_read_write_file_errors(fs: Fs) -> None:
    fs.create_dir("/d")
    fs.write_file("/f", b"x")
    with pytest.raises(FileNotFoundError):
        fs.read_file("/missing")
    with pytest.raises(IsADirectoryError):
        fs.read_file("/d")
    with pytest.raises(IsADirectoryError):
        fs.write_file("/d", b"x")
    with pytest.raises(FileNotFoundError):
        fs.write_file("/nodir/f", b"x")
    with pytest.raises(NotADirectoryError):
        fs.write_file("/f/g", b"x")
    with pytest.raises(NotADirectoryError):
        fs.read_file("/f/g")


@pytest.mark.parametrize("path", ["relative", "", "a/b", "./a"])
def test_relative_path_is_value_error(fs: Fs, path: str) -> None:
    for call in (
        lambda: fs.read_file(path),
        lambda: fs.write_file(path, b""),
        lambda: fs.create_dir(path),
        lambda: fs.list_dir(path),
        lambda: fs.get_entry(path),
        lambda: fs.delete(path),
        lambda: fs.open(path, "rb"),
        lambda: fs.dir_exists(path),
        lambda: fs.move(path, "/x"),
        lambda: fs.move("/x", path),
    ):
        with pytest.raises(ValueError):
            call()


def test_nul_in_path_is_value_error(fs: Fs) -> None:
    with pytest.raises(ValueError):
        fs.write_file("/a\0b", b"")


def test_directories(fs: Fs) -> None:
    assert fs.list_dir("/") == []
    fs.create_dir("/d")
    fs.create_dir("/d/e")
    fs.write_file("/d/f", b"12345")
    fs.create_symlink("/d/f", "/d/l")
    assert sorted(fs.list_dir("/d")) == ["e", "f", "l"]
    entries = {e.name: e for e in fs.read_dir("/d")}
    assert entries["e"].is_dir()
    assert entries["e"].type == "dir"
    assert entries["f"].is_file()
    assert entries["f"].size == 5
    assert entries["l"].is_link()
    assert entries["l"].type == "link"
    assert all(isinstance(e, cloudfs.DirEntry) for e in entries.values())
    assert fs.dir_exists("/d")
    assert fs.dir_exists("/d/e")
    assert fs.dir_exists("/")
    assert not fs.dir_exists("/d/f")
    assert not fs.dir_exists("/nope")
    assert not fs.dir_exists("/d/f/under-a-file")
    assert fs.file_exists("/d/f")
    assert fs.file_exists("/d/l")  # follows the link
    assert not fs.file_exists("/d/e")
    assert not fs.file_exists("/nope")
    assert not fs.file_exists("/d/f/x")


def test_directory_errors(fs: Fs) -> None:
    fs.create_dir("/d")
    fs.write_file("/d/f", b"x")
    with pytest.raises(FileExistsError):
        fs.create_dir("/d")
    with pytest.raises(FileExistsError):
        fs.create_dir("/d/f")
    with pytest.raises(FileNotFoundError):
        fs.create_dir("/a/b")
    with pytest.raises(NotADirectoryError):
        fs.create_dir("/d/f/x")
    with pytest.raises(FileNotFoundError):
        fs.read_dir("/nope")
    with pytest.raises(NotADirectoryError):
        fs.read_dir("/d/f")
    with pytest.raises(NotADirectoryError):
        fs.list_dir("/d/f")
    with pytest.raises(OSError) as info:
        fs.delete_dir("/d")
    assert info.value.errno == errno.ENOTEMPTY
    with pytest.raises(NotADirectoryError):
        fs.delete_dir("/d/f")
    with pytest.raises(FileNotFoundError):
        fs.delete_dir("/nope")


def test_delete_dir(fs: Fs) -> None:
    fs.create_dir("/empty")
    fs.delete_dir("/empty")
    assert not fs.dir_exists("/empty")
    fs.create_dir("/t")
    fs.create_dir("/t/a")
    fs.create_dir("/t/a/b")
    for i in range(30):
        fs.write_file(f"/t/a/b/f{i}", b"x" * i)
    fs.write_file("/t/top", b"y")
    fs.create_symlink("/t/top", "/t/a/link")
    fs.delete_dir("/t", recursive=True)
    assert not fs.dir_exists("/t")
    assert fs.list_dir("/") == []
    stats = fs.get_statistics()
    assert (stats.file_count, stats.directory_count, stats.symlink_count) == (0, 0, 0)


def test_delete_dir_recursive_does_not_follow_symlinks(fs: Fs) -> None:
    fs.create_dir("/keep")
    fs.write_file("/keep/precious", b"!")
    fs.create_dir("/t")
    fs.create_symlink("/keep", "/t/link")
    fs.delete_dir("/t", recursive=True)
    assert fs.read_file("/keep/precious") == b"!"


def test_delete_dir_on_a_symlink_to_a_dir(fs: Fs) -> None:
    fs.create_dir("/real")
    fs.create_symlink("/real", "/link")
    with pytest.raises(NotADirectoryError):
        fs.delete_dir("/link")
    assert fs.dir_exists("/real")


def test_delete(fs: Fs) -> None:
    fs.write_file("/f", b"x")
    fs.delete("/f")
    assert not fs.file_exists("/f")
    with pytest.raises(FileNotFoundError):
        fs.delete("/f")
    fs.create_dir("/d")
    with pytest.raises(IsADirectoryError):
        fs.delete("/d")
    fs.write_file("/target", b"t")
    fs.create_symlink("/target", "/link")
    fs.delete("/link")  # removes the link, not its target
    assert fs.read_file("/target") == b"t"
    assert fs.list_dir("/") == ["d", "target"] or sorted(fs.list_dir("/")) == ["d", "target"]


def test_symlinks(fs: Fs) -> None:
    fs.create_dir("/d")
    fs.write_file("/d/f", b"data")
    fs.create_symlink("/d/f", "/abs")
    fs.create_symlink("f", "/d/rel")
    fs.create_symlink("/d", "/dirlink")
    fs.create_symlink("/nowhere", "/dangling")
    assert fs.read_symlink("/abs") == "/d/f"
    assert fs.read_symlink("/d/rel") == "f"
    assert fs.read_file("/abs") == b"data"
    assert fs.read_file("/d/rel") == b"data"
    assert fs.read_file("/dirlink/f") == b"data"
    assert fs.list_dir("/dirlink") == ["f", "rel"] or sorted(fs.list_dir("/dirlink")) == [
        "f",
        "rel",
    ]
    assert fs.get_entry("/abs").is_link()
    assert fs.get_entry("/abs").size == len("/d/f")
    assert not fs.file_exists("/dangling")
    with pytest.raises(FileNotFoundError):
        fs.read_file("/dangling")
    with pytest.raises(FileExistsError):
        fs.create_symlink("/x", "/abs")
    with pytest.raises(OSError) as info:
        fs.read_symlink("/d/f")
    assert info.value.errno == errno.EINVAL
    with pytest.raises(FileNotFoundError):
        fs.read_symlink("/missing")


def test_symlink_loop(fs: Fs) -> None:
    fs.create_symlink("/b", "/a")
    fs.create_symlink("/a", "/b")
    assert not fs.file_exists("/a")
    assert not fs.dir_exists("/a")
    with pytest.raises(OSError) as info:
        fs.read_file("/a")
    assert info.value.errno == errno.ELOOP


def test_move(fs: Fs) -> None:
    fs.write_file("/a", b"A")
    fs.move("/a", "/b")
    assert fs.read_file("/b") == b"A"
    assert not fs.file_exists("/a")
    fs.create_dir("/d")
    fs.move("/b", "/d/c")
    assert fs.read_file("/d/c") == b"A"
    fs.move("/d", "/e")
    assert fs.read_file("/e/c") == b"A"


def test_move_never_overwrites(fs: Fs) -> None:
    fs.write_file("/a", b"A")
    fs.write_file("/b", b"B")
    with pytest.raises(FileExistsError):
        fs.move("/a", "/b")
    assert fs.read_file("/a") == b"A"
    assert fs.read_file("/b") == b"B"
    fs.create_dir("/d")
    fs.create_dir("/e")
    with pytest.raises(FileExistsError):
        fs.move("/d", "/e")
    with pytest.raises(FileExistsError):
        fs.move("/a", "/d")


def test_move_errors(fs: Fs) -> None:
    fs.create_dir("/d")
    fs.write_file("/f", b"x")
    with pytest.raises(FileNotFoundError):
        fs.move("/missing", "/x")
    with pytest.raises(FileNotFoundError):
        fs.move("/f", "/nodir/x")
    with pytest.raises(NotADirectoryError):
        fs.move("/f", "/f/x")
    with pytest.raises(OSError) as info:
        fs.move("/d", "/d/inside")
    assert info.value.errno == errno.EINVAL


def test_truncate(fs: Fs) -> None:
    fs.write_file("/f", b"0123456789")
    fs.truncate("/f", 4)
    assert fs.read_file("/f") == b"0123"
    fs.truncate("/f", 8)
    assert fs.read_file("/f") == b"0123\0\0\0\0"
    fs.truncate("/f", 0)
    assert fs.read_file("/f") == b""
    fs.create_dir("/d")
    with pytest.raises(IsADirectoryError):
        fs.truncate("/d", 0)
    with pytest.raises(FileNotFoundError):
        fs.truncate("/missing", 0)
    with pytest.raises(ValueError):
        fs.truncate("/f", -1)


def test_truncate_across_blocks(fs: Fs) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: four 64 KiB blocks
    fs.write_file("/f", data)
    fs.truncate("/f", 100_000)
    assert fs.read_file("/f") == data[:100_000]
    fs.truncate("/f", 300_000)
    assert fs.read_file("/f") == data[:100_000] + bytes(200_000)


def test_get_entry(fs: Fs) -> None:
    fs.create_dir("/d")
    fs.write_file("/d/f", b"abc")
    entry = fs.get_entry("/d/f")
    assert entry.name == "f"
    assert entry.size == 3
    assert entry.is_file()
    assert not entry.is_dir()
    assert not entry.is_link()
    assert isinstance(entry.file_id, str)
    assert entry.file_id
    assert isinstance(entry.file_id_external, int)
    assert entry.mtime > 1_000_000_000 * 10**9  # nanoseconds
    assert entry.ctime > 1_000_000_000 * 10**9
    assert fs.get_entry("/d").is_dir()
    root = fs.get_entry("/")
    assert root.is_dir()
    assert fs.get_entry("/d/f").file_id == entry.file_id
    assert fs.get_entry("/d").file_id != entry.file_id
    with pytest.raises(FileNotFoundError):
        fs.get_entry("/nope")
    with pytest.raises(NotADirectoryError):
        fs.get_entry("/d/f/x")


def test_get_entry_sees_moves_keep_file_id(fs: Fs) -> None:
    fs.write_file("/a", b"x")
    before = fs.get_entry("/a").file_id
    fs.move("/a", "/b")
    assert fs.get_entry("/b").file_id == before


def test_size_and_statistics(fs: Fs) -> None:
    empty = fs.get_statistics()
    assert (empty.file_count, empty.directory_count, empty.symlink_count) == (0, 0, 0)
    assert empty.data_size == 0
    fs.create_dir("/d")
    fs.write_file("/d/a", b"x" * 1000)
    fs.write_file("/b", b"y" * 200_000)
    fs.create_symlink("/b", "/l")
    stats = fs.get_statistics()
    assert isinstance(stats, cloudfs.FilespaceStatistics)
    assert stats.file_count == 2
    assert stats.directory_count == 1
    assert stats.symlink_count == 1
    assert stats.data_size == 201_000
    assert stats.storage_size > 0
    assert stats.external_files_count == 0
    size = fs.get_size()
    assert isinstance(size, cloudfs.FilespaceSize)
    assert size.data == 201_000
    assert size.storage > 0
    assert size.entries >= 4
    assert size.external_files_size == 0


def test_storage_usage_counts_what_packs_hold_besides_their_blocks(
    filespace: cloudfs.Filespace, home: Path
) -> None:
    fs = filespace.fs
    fs.write_file("/f", os.urandom(4 * BLOCK_SIZE))  # one commit: one pack of 4 blocks
    filespace.sync_all()
    objects = home / "filespaces" / filespace.id / "objects"
    pack = sum(p.stat().st_size for p in (objects / "packs").rglob("*") if p.is_file())
    first = filespace.storage_usage()
    assert first.total == pack == fs.get_statistics().storage_size
    padding = first.unreferenced_in_packs
    with fs.open("/f", "r+b") as f:  # a block rewritten in place goes up on its own
        f.seek(BLOCK_SIZE)
        f.write(os.urandom(BLOCK_SIZE))
    filespace.sync_all()
    second = filespace.storage_usage()
    assert second.referenced == first.referenced  # same sizes: raw blocks
    rewritten = second.unreferenced_in_packs - padding
    assert rewritten == first.referenced // 4  # the old block, still in the pack
    assert second.total == first.total + rewritten
    assert second.garbage_objects == 0
    fs.delete("/f")
    filespace.sync_all()
    assert filespace.storage_usage().total == 0


def test_stored_data_is_encrypted(fs: Fs, home) -> None:  # type: ignore[no-untyped-def]
    marker = b"PLAINTEXT-MARKER-" * 100
    fs.write_file("/secret", marker)
    fs.create_dir("/visible-dirname")
    objects = [p for p in (home / "filespaces").rglob("*") if p.is_file()]
    blobs = [p.read_bytes() for p in objects if p.name != "meta.sqlite"]
    assert blobs
    assert not any(b"PLAINTEXT-MARKER" in blob for blob in blobs)
    assert not any("visible-dirname" in p.name for p in objects)


def test_errors_name_the_path_like_python(fs: Fs) -> None:
    fs.write_file("/a", b"x")
    fs.write_file("/b", b"y")
    with pytest.raises(FileNotFoundError) as info:
        fs.delete_dir("/nope")
    assert info.value.filename == "/nope"
    assert "directory 1" not in str(info.value)
    with pytest.raises(FileExistsError) as exists:
        fs.move("/a", "/b")
    assert (exists.value.filename, exists.value.filename2) == ("/a", "/b")
    with pytest.raises(FileExistsError) as created:
        fs.create_dir("/a")
    assert created.value.filename == "/a"
    with pytest.raises(FileNotFoundError) as missing:
        fs.read_file("/missing")
    assert missing.value.filename == "/missing"
