"""Files through the mount: errno of failures, mmap, O_APPEND, O_EXCL, holes, large I/O,
xattrs, links, rename over a target, statfs.  One mount serves the module."""

from __future__ import annotations

import errno
import itertools
import mmap
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fuse.mounting import Mount, fuse_only, mount_options

pytestmark = fuse_only

_folders = itertools.count()
MiB = 1024 * 1024


@pytest.fixture
def d(shared_mount: Mount) -> Path:
    """An empty folder of this test's own in the mount."""
    path = shared_mount.path / f"f{next(_folders)}"
    path.mkdir()
    return path


def expect(code: int, call: Callable[..., Any], *args: Any) -> None:
    with pytest.raises(OSError) as info:
        call(*args)
    assert info.value.errno == code, f"expected {errno.errorcode[code]}, got {info.value!r}"


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


# -- errno of failures ---------------------------------------------------------------------
def test_errno_of_failures(d: Path) -> None:
    write(d / "f", b"x")
    (d / "sub").mkdir()
    write(d / "sub" / "g", b"y")
    expect(errno.ENOENT, os.open, d / "missing", os.O_RDONLY)
    expect(errno.ENOENT, os.stat, d / "missing" / "deeper")
    expect(errno.EEXIST, os.mkdir, d / "sub")
    expect(errno.EEXIST, os.open, d / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    expect(errno.ENOTEMPTY, os.rmdir, d / "sub")
    expect(errno.EISDIR, os.open, d / "sub", os.O_WRONLY)
    expect(errno.EISDIR, os.unlink, d / "sub")
    expect(errno.ENOTDIR, os.mkdir, d / "f" / "x")
    expect(errno.ENOTDIR, os.rmdir, d / "f")
    expect(errno.ENOTDIR, os.listdir, d / "f")
    expect(errno.ENAMETOOLONG, os.open, d / ("n" * 256), os.O_WRONLY | os.O_CREAT)
    expect(errno.ENODATA, os.getxattr, d / "f", "user.none")
    expect(errno.EPERM, os.mkfifo, d / "fifo")  # the VFS stores regular files only
    write(d / ("n" * 255), b"ok")  # the longest name works
    os.rename(d / "f", d / "sub" / "moved")  # folders of one filespace: never EXDEV
    assert (d / "sub" / "moved").read_bytes() == b"x"


def test_read_only_mount_refuses_writes(home: Path, tmp_path: Path) -> None:
    with Mount(home, tmp_path / "rw") as rw:
        write(rw.path / "kept", b"data")
    with Mount(home, tmp_path / "ro", "--read-only", "--allow-other") as ro:
        kind, options = mount_options(ro.path)
        assert kind == "fuse.cloudfs"
        assert {"ro", "allow_other", "default_permissions"} <= options
        assert (ro.path / "kept").read_bytes() == b"data"
        expect(errno.EROFS, os.open, ro.path / "kept", os.O_WRONLY)
        expect(errno.EROFS, os.open, ro.path / "new", os.O_WRONLY | os.O_CREAT)
        expect(errno.EROFS, os.mkdir, ro.path / "dir")
        expect(errno.EROFS, os.unlink, ro.path / "kept")
        expect(errno.EROFS, os.setxattr, ro.path / "kept", "user.a", b"1")
        expect(errno.EROFS, os.truncate, ro.path / "kept", 0)


# -- file content ----------------------------------------------------------------------------
def test_mmap_read_and_write(d: Path) -> None:
    data = os.urandom(3 * 64 * 1024 + 123)
    write(d / "m", data)
    with open(d / "m", "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert m[:] == data
        assert m[70000:70010] == data[70000:70010]
    with open(d / "m", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        m[100:105] = b"HELLO"
        m[-3:] = b"END"
        m.flush()
    expected = data[:100] + b"HELLO" + data[105:-3] + b"END"
    assert (d / "m").read_bytes() == expected
    assert os.stat(d / "m").st_size == len(data)


def test_o_append(d: Path) -> None:
    write(d / "log", b"one\n")
    fd = os.open(d / "log", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"two\n")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"three\n")  # O_APPEND ignores the position
    finally:
        os.close(fd)
    with open(d / "log", "ab") as f:
        f.write(b"four\n")
    assert (d / "log").read_bytes() == b"one\ntwo\nthree\nfour\n"


def test_o_excl(d: Path) -> None:
    fd = os.open(d / "x", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"first")
    os.close(fd)
    expect(errno.EEXIST, os.open, d / "x", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    assert (d / "x").read_bytes() == b"first"
    assert os.stat(d / "x").st_mode & 0o777 == 0o600


def test_holes_and_truncate(d: Path) -> None:
    fd = os.open(d / "h", os.O_RDWR | os.O_CREAT)
    try:
        os.pwrite(fd, b"end", 2 * MiB)
        assert os.fstat(fd).st_size == 2 * MiB + 3
        assert os.pread(fd, 16, MiB) == bytes(16)
        os.ftruncate(fd, 10)
        assert os.fstat(fd).st_size == 10
        os.ftruncate(fd, 100)
        assert os.pread(fd, 200, 0) == bytes(100)
    finally:
        os.close(fd)
    os.truncate(d / "h", 5)
    assert (d / "h").read_bytes() == bytes(5)
    write(d / "t", b"0123456789")
    with open(d / "t", "r+b") as f:
        f.truncate(4)
    assert (d / "t").read_bytes() == b"0123"
    fd = os.open(d / "t", os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert os.stat(d / "t").st_size == 0


def test_large_read_and_write(d: Path) -> None:
    data = os.urandom(8 * MiB)
    with open(d / "big", "wb") as f:
        f.write(data)  # one 8 MiB write: the kernel splits it into large requests
    with open(d / "big", "rb") as f:
        assert f.read() == data
    with open(d / "big", "rb", buffering=0) as f:
        f.seek(3 * MiB + 5)
        assert f.read(2 * MiB) == data[3 * MiB + 5 : 5 * MiB + 5]


def test_fsync_and_chmod_chown_utimens(d: Path) -> None:
    fd = os.open(d / "a", os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"abc")
    os.fsync(fd)
    os.fchmod(fd, 0o640)
    os.close(fd)
    assert os.stat(d / "a").st_mode & 0o777 == 0o640
    os.chmod(d / "a", 0o604)
    assert os.stat(d / "a").st_mode & 0o777 == 0o604
    os.chown(d / "a", 1234, 5678)
    st = os.stat(d / "a")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.utime(d / "a", ns=(1_000_000_000, 2_000_000_000))
    assert os.stat(d / "a").st_mtime_ns == 2_000_000_000
    os.utime(d / "a")  # now
    assert os.stat(d / "a").st_mtime_ns > 2_000_000_000


# -- namespace ---------------------------------------------------------------------------------
def test_xattrs(d: Path) -> None:
    write(d / "f", b"")
    os.setxattr(d / "f", "user.a", b"1")
    os.setxattr(d / "f", "user.b", b"\x00\xff" * 1000)
    assert sorted(os.listxattr(d / "f")) == ["user.a", "user.b"]
    assert os.getxattr(d / "f", "user.b") == b"\x00\xff" * 1000
    expect(errno.EEXIST, os.setxattr, d / "f", "user.a", b"2", os.XATTR_CREATE)
    expect(errno.ENODATA, os.setxattr, d / "f", "user.c", b"2", os.XATTR_REPLACE)
    os.removexattr(d / "f", "user.a")
    expect(errno.ENODATA, os.removexattr, d / "f", "user.a")
    assert os.listxattr(d / "f") == ["user.b"]
    (d / "dir").mkdir()
    os.setxattr(d / "dir", "user.on-dir", b"v")
    assert os.getxattr(d / "dir", "user.on-dir") == b"v"


def test_hard_links(d: Path) -> None:
    write(d / "a", b"shared")
    os.link(d / "a", d / "b")
    assert os.stat(d / "a").st_nlink == 2
    assert os.stat(d / "a").st_ino == os.stat(d / "b").st_ino
    with open(d / "b", "ab") as f:
        f.write(b"+more")
    assert (d / "a").read_bytes() == b"shared+more"
    os.unlink(d / "a")
    assert os.stat(d / "b").st_nlink == 1
    assert (d / "b").read_bytes() == b"shared+more"


def test_symlinks(d: Path) -> None:
    write(d / "target", b"pointed at")
    os.symlink("target", d / "rel")
    os.symlink(str(d / "target"), d / "abs")
    os.symlink("nowhere", d / "dangling")
    assert os.readlink(d / "rel") == "target"
    assert (d / "rel").read_bytes() == b"pointed at"
    assert (d / "abs").read_bytes() == b"pointed at"
    assert os.lstat(d / "rel").st_size == len("target")
    expect(errno.ENOENT, os.stat, d / "dangling")
    assert os.path.islink(d / "dangling")
    expect(errno.EEXIST, os.symlink, "x", d / "rel")


def test_rename_over_existing_target(d: Path) -> None:
    write(d / "new", b"new content")
    write(d / "old", b"old content")
    fd = os.open(d / "old", os.O_RDONLY)  # an open file survives being replaced
    try:
        os.rename(d / "new", d / "old")
        assert (d / "old").read_bytes() == b"new content"
        assert not (d / "new").exists()
        assert os.pread(fd, 100, 0) == b"old content"
    finally:
        os.close(fd)
    (d / "emptydir").mkdir()
    (d / "src").mkdir()
    write(d / "src" / "inner", b"i")
    os.rename(d / "src", d / "emptydir")
    assert (d / "emptydir" / "inner").read_bytes() == b"i"
    assert sorted(os.listdir(d)) == ["emptydir", "old"]


def test_unlinked_open_file_stays_readable(d: Path) -> None:
    write(d / "gone", b"still here")
    with open(d / "gone", "r+b") as f:
        os.unlink(d / "gone")
        assert f.read() == b"still here"
        f.write(b"!")
        f.flush()
        f.seek(0)
        assert f.read() == b"still here!"
    assert not (d / "gone").exists()


def test_statfs(shared_mount: Mount) -> None:
    st = os.statvfs(shared_mount.path)
    assert st.f_blocks > 0
    assert st.f_frsize > 0
    assert 0 < st.f_bavail <= st.f_blocks
    assert st.f_namemax == 255
    assert st.f_files > 0
    # the embedded store is a local folder: statfs reports its disk
    disk = os.statvfs(shared_mount.home)
    assert abs(st.f_blocks * st.f_frsize - disk.f_blocks * disk.f_frsize) < 1024 * MiB
