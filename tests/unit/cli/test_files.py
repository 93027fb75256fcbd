"""The file commands: ls, stat, cat, put, get, cp, mv, rm, mkdir, rmdir, ln, init, info."""

from __future__ import annotations

import os
from pathlib import Path

from tests.unit.cli.conftest import PASSPHRASE, Cloudfs

DATA = os.urandom(200_000) + b"tail"  # several 64 KiB blocks


def _local(tmp_path: Path, name: str = "local.bin", data: bytes = DATA) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_init_creates_a_workspace(cloudfs: Cloudfs) -> None:
    result = cloudfs.ok("init", "--block-size", "64k")
    assert "created filespace 'default'" in result.stdout
    assert (cloudfs.home / "workspace.json").is_file()
    cloudfs.ok("init", "second")
    assert cloudfs.ok("-f", "second", "ls").stdout == ""
    assert "already exists" in cloudfs.fails("init", "second")


def test_init_rejects_bad_block_sizes(cloudfs: Cloudfs) -> None:
    for size in ("3k", "1k", "abc", "1g"):
        cloudfs.fails("init", "--block-size", size)
    assert not (cloudfs.home / "filespaces").exists() or not any(
        (cloudfs.home / "filespaces").iterdir()
    )


def test_info(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path)), "/f")
    out = initialized.ok("info").stdout
    assert "filespace    default" in out
    assert "files        1" in out
    assert f"data         {len(DATA):,} bytes" in out
    assert "block size   64 KiB" in out
    assert str(initialized.home) in out
    # "stored" is what the objects holding the data take: here, exactly their files.
    objects = [
        p
        for p in (initialized.home / "filespaces").rglob("*")
        if p.parent.parent.name in ("packs", "blocks")
    ]
    assert objects
    assert f"stored       {sum(p.stat().st_size for p in objects):,} bytes" in out
    assert "garbage      0 objects" in out


def test_put_get_round_trip(initialized: Cloudfs, tmp_path: Path) -> None:
    local = _local(tmp_path)
    initialized.ok("put", str(local), "/remote.bin")
    out = tmp_path / "out.bin"
    initialized.ok("get", "/remote.bin", str(out))
    assert out.read_bytes() == DATA
    assert not list(tmp_path.glob("*.cloudfs-partial"))


def test_put_into_a_directory_and_get_into_a_directory(
    initialized: Cloudfs, tmp_path: Path
) -> None:
    initialized.ok("mkdir", "/dir")
    initialized.ok("put", str(_local(tmp_path, "named.bin")), "/dir")
    assert initialized.ok("ls", "/dir").stdout == "named.bin\n"
    target = tmp_path / "download"
    target.mkdir()
    initialized.ok("get", "/dir/named.bin", str(target))
    assert (target / "named.bin").read_bytes() == DATA


def test_get_to_stdout_and_cat(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path, "a", b"alpha\n")), "/a")
    initialized.ok("put", str(_local(tmp_path, "b", b"beta\n")), "/b")
    assert initialized.ok("get", "/a", "-").stdout_bytes == b"alpha\n"
    assert initialized.ok("cat", "/a", "/b").stdout_bytes == b"alpha\nbeta\n"
    initialized.ok("put", str(_local(tmp_path)), "/big")
    assert initialized.ok("cat", "/big").stdout_bytes == DATA


def test_ls(initialized: Cloudfs, tmp_path: Path) -> None:
    assert initialized.ok("ls").stdout == ""
    initialized.ok("mkdir", "/d")
    initialized.ok("put", str(_local(tmp_path, "x", b"12345")), "/x")
    initialized.ok("ln", "-s", "/x", "/l")
    assert initialized.ok("ls").stdout == "d/\nl\nx\n"
    assert initialized.ok("ls", "/").stdout == "d/\nl\nx\n"
    long = initialized.ok("ls", "-l", "/").stdout.splitlines()
    assert len(long) == 3
    assert long[0].startswith("dir ")
    assert long[0].endswith(" d/")
    assert long[1].startswith("link")
    assert long[1].endswith(" l")
    assert long[2].startswith("file")
    assert long[2].endswith(" x")
    assert " 5 " in long[2]
    assert initialized.ok("ls", "/x").stdout == "x\n"  # a file lists itself
    assert initialized.ok("ls", "/d").stdout == ""


def test_stat(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path, "x", b"12345")), "/x")
    initialized.ok("ln", "-s", "/x", "/l")
    out = initialized.ok("stat", "/x").stdout
    assert "type      file" in out
    assert "size      5" in out
    link = initialized.ok("stat", "/l").stdout
    assert "type      link" in link
    assert "target    /x" in link
    assert "type      dir" in initialized.ok("stat", "/").stdout


def test_cp(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path)), "/src")
    initialized.ok("cp", "/src", "/copy")
    initialized.ok("mkdir", "/d")
    initialized.ok("cp", "/src", "/d")
    for path in ("/copy", "/d/src", "/src"):
        assert initialized.ok("cat", path).stdout_bytes == DATA
    assert "directories" in initialized.fails("cp", "/d", "/d2")


def test_mv(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path, "a", b"A")), "/a")
    initialized.ok("put", str(_local(tmp_path, "b", b"B")), "/b")
    initialized.ok("mv", "/a", "/c")
    assert initialized.ok("ls").stdout == "b\nc\n"
    line = initialized.fails("mv", "/c", "/b")  # never replaces
    assert "exists" in line
    assert initialized.ok("cat", "/b").stdout == "B"
    initialized.ok("mkdir", "/d")
    initialized.ok("mv", "/c", "/d")
    assert initialized.ok("ls", "/d").stdout == "c\n"


def test_rm(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path, "a", b"A")), "/a")
    initialized.ok("put", str(_local(tmp_path, "b", b"B")), "/b")
    initialized.ok("rm", "/a", "/b")
    assert initialized.ok("ls").stdout == ""
    initialized.ok("mkdir", "-p", "/t/u/v")
    initialized.ok("put", str(_local(tmp_path, "c", b"C")), "/t/u/v/c")
    assert "use -r" in initialized.fails("rm", "/t")
    initialized.ok("rm", "-r", "/t")
    assert initialized.ok("ls").stdout == ""
    assert "No such file" in initialized.fails("rm", "/t")


def test_mkdir_and_rmdir(initialized: Cloudfs) -> None:
    initialized.ok("mkdir", "/a", "/b")
    assert "exists" in initialized.fails("mkdir", "/a")
    initialized.ok("mkdir", "-p", "/a/x/y", "/b")
    assert initialized.ok("ls", "/a/x").stdout == "y/\n"
    assert "not empty" in initialized.fails("rmdir", "/a")
    initialized.ok("rmdir", "/a/x/y", "/a/x", "/a")
    assert initialized.ok("ls").stdout == "b/\n"
    assert "/nope" in initialized.fails("rmdir", "/nope")
    assert "No such file" in initialized.fails("mkdir", "/no/parent")


def test_ln_s(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("put", str(_local(tmp_path, "t", b"target")), "/t")
    initialized.ok("ln", "-s", "/t", "/link")
    assert initialized.ok("cat", "/link").stdout == "target"
    assert "exists" in initialized.fails("ln", "-s", "/t", "/link")
    assert initialized("ln", "/t", "/hard").exit_code == 2  # only symbolic links: usage error


def test_passphrase_file(initialized: Cloudfs, tmp_path: Path) -> None:
    good = tmp_path / "pass.txt"
    good.write_text(PASSPHRASE + "\n")
    env = {"CLOUDFS_PASSPHRASE": None}
    assert initialized.ok("--passphrase-file", str(good), "ls", env=env).stdout == ""
    bad = tmp_path / "bad.txt"
    bad.write_text("wrong\n")
    line = initialized.fails("--passphrase-file", str(bad), "ls", env=env)
    assert "passphrase" in line.lower()


def test_environment_selects_the_filespace(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("init", "other")
    initialized.ok("-f", "other", "put", str(_local(tmp_path, "o", b"o")), "/o")
    assert initialized.ok("ls", env={"CLOUDFS_FILESPACE": "other"}).stdout == "o\n"
    assert initialized.ok("ls").stdout == ""
    assert initialized.ok("--home", str(initialized.home), "-f", "other", "ls").stdout == "o\n"
