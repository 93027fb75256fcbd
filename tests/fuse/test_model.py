"""The mount against a local folder: a Hypothesis state machine applies the same random
operations to both and compares every result and every errno.

Names come from a three-letter alphabet and paths are at most two deep, so operations
collide often (rename over an existing target, a directory into its own subdirectory,
rmdir of a non-empty directory, O_EXCL on an existing file).  Up to three files stay open
across steps on both sides, so writes, reads, truncates and fsyncs also reach files that
were renamed or unlinked meanwhile.  After every step the two trees are compared whole:
kind, permission bits, owner, size, bytes, link target, nlink, which paths share an inode,
and user xattrs; an mtime set by ``utime`` must stay equal on both sides until an
operation sets it to "now" on both.

Fields that legitimately differ between ext4 and a FUSE filesystem are not compared:
st_blocks, st_blksize, st_dev, inode numbers themselves (only how paths share them),
atime (the VFS is ``noatime``), directory sizes, ctime, and mtimes set to "now" (the two
sides run at different instants).  The run is as root, so permission errors are the
kernel's on both sides and are not exercised.

One mount serves the run; each example works in a fresh folder of it (``mN/w``) and a
fresh local folder (``lN/w``), one level down so that a symlink to ``..`` sees the same
(empty) surroundings on both sides.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import itertools
import os
import random
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.fuse.mounting import Mount, fuse_only

pytestmark = fuse_only

NAMES = ("a", "b", "c")
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=2).map("/".join)
# Where a new name goes (rename, link, symlink): one more letter, so that some are free.
new_paths = st.lists(st.sampled_from((*NAMES, "d")), min_size=1, max_size=2).map("/".join)
seeds = st.integers(0, 2**32)
offsets = st.sampled_from([0, 1, 100, 4095, 4096, 65535, 65536, 65537, 200_000])
sizes = st.sampled_from([0, 1, 7, 4096, 5000, 65536, 70_000])
modes = st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o444, 0o4755, 0o2750, 0o1777])
link_targets = st.sampled_from(["a", "b", "c", "a/b", "../a", "..", ".", "b/../c", "x/y"])
xattr_names = st.sampled_from(["user.x", "user.y", "user.z"])
xattr_flags = st.sampled_from([0, os.XATTR_CREATE, os.XATTR_REPLACE])
# ext4 (the local side) clamps times at 1901-12-13, 2**31 s before the epoch: keep above it.
times = st.integers(min_value=-(2**31 - 2) * 10**9, max_value=4_000_000_000 * 10**9)
open_flags = st.sampled_from(
    [
        os.O_RDONLY,
        os.O_WRONLY | os.O_CREAT,
        os.O_RDWR | os.O_CREAT,
        os.O_RDWR | os.O_TRUNC,
        os.O_WRONLY | os.O_APPEND | os.O_CREAT,
        os.O_RDWR | os.O_CREAT | os.O_EXCL,
        os.O_RDONLY | os.O_DIRECTORY,
    ]
)
MAX_OPEN = 3
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
_libc = ctypes.CDLL(None, use_errno=True)
_examples = itertools.count()

Outcome = tuple[str, Any]  # ("ok", value) or ("error", errno name)


def brief(value: Any) -> Any:
    """``value`` with long byte strings shortened to their length and digest (readable
    failure messages)."""
    if isinstance(value, bytes) and len(value) > 32:
        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:16]}>"
    if isinstance(value, tuple | list):
        return type(value)(brief(v) for v in value)
    return value


def data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", call())
    except OSError as e:
        return ("error", errno.errorcode.get(e.errno or 0, e.errno))


def write_at(path: str, offset: int, payload: bytes, flags: int) -> int:
    fd = os.open(path, os.O_WRONLY | flags, 0o644)
    try:
        return os.pwrite(fd, payload, offset)
    finally:
        os.close(fd)


def append(path: str, payload: bytes) -> tuple[int, int]:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        return os.write(fd, payload), os.fstat(fd).st_size
    finally:
        os.close(fd)


def read_at(path: str, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def create_excl(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))


def describe(st_: os.stat_result) -> tuple[int, int, int, int, int]:
    """What a stat must agree on: type and mode bits, nlink, owner, and size except of a
    directory."""
    size = 0 if stat.S_ISDIR(st_.st_mode) else st_.st_size
    return st_.st_mode, st_.st_nlink, st_.st_uid, st_.st_gid, size


def renameat2(src: str, dst: str, flags: int) -> None:
    """``renameat2(2)``, which ``os`` lacks: RENAME_NOREPLACE and RENAME_EXCHANGE."""
    if _libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def user_xattrs(path: str) -> list[tuple[str, bytes]]:
    names = sorted(n for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user."))
    return [(n, os.getxattr(path, n, follow_symlinks=False)) for n in names]


def snapshot(root: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The whole tree below ``root``: comparable facts per path (with hard-link groups),
    and each path's mtime."""
    out: dict[str, Any] = {}
    mtimes: dict[str, int] = {}
    first_path: dict[int, str] = {}
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            st_ = os.lstat(path)
            same_as = first_path.setdefault(st_.st_ino, rel)
            if stat.S_ISLNK(st_.st_mode):
                body: Any = os.readlink(path)
            elif stat.S_ISREG(st_.st_mode):
                with open(path, "rb") as f:
                    body = f.read()
            else:
                body = None
            out[rel] = (describe(st_), same_as, body, user_xattrs(path))
            mtimes[rel] = st_.st_mtime_ns
    return out, mtimes


class MountVsLocal(RuleBasedStateMachine):
    """Each rule runs one operation on both sides; its outcomes must be equal."""

    mount_root: Path  # set by the test before the run

    def __init__(self) -> None:
        super().__init__()
        n = next(_examples)
        mnt = self.mount_root / f"m{n}"
        mnt.mkdir()
        (mnt / "w").mkdir()
        self.mnt = str(mnt / "w")
        self.local_parent = tempfile.mkdtemp(prefix=f"l{n}-")
        os.mkdir(os.path.join(self.local_parent, "w"))
        self.ref = os.path.join(self.local_parent, "w")
        self.fds: list[tuple[int, int]] = []  # (mount fd, local fd) pairs
        self.set_mtimes: set[int] = set()  # every mtime a utime step set

    def teardown(self) -> None:
        for pair in self.fds:
            for fd in pair:
                os.close(fd)
        shutil.rmtree(self.local_parent, ignore_errors=True)

    def both(self, op: Callable[[str], Any]) -> Any:
        """``op`` on a path prefix of each side; the outcomes must agree."""
        got = outcome(lambda: op(self.mnt))
        want = outcome(lambda: op(self.ref))
        assert got == want, f"mount: {brief(got)!r}\nlocal: {brief(want)!r}"
        return got

    def both_fd(self, index: int, op: Callable[[int], Any]) -> Any:
        mnt_fd, ref_fd = self.fds[index % len(self.fds)]
        got, want = outcome(lambda: op(mnt_fd)), outcome(lambda: op(ref_fd))
        assert got == want, f"mount: {brief(got)!r}\nlocal: {brief(want)!r}"
        return got

    # -- files ----------------------------------------------------------------------------
    @initialize(seed=seeds, size=sizes)
    def start_tree(self, seed: int, size: int) -> None:
        """Directories 'a' and 'c' and files 'b' and 'c/a', so that steps collide early."""
        self.mkdir("a", 0o755)
        self.mkdir("c", 0o755)
        self.write("b", 0, seed, size, truncate=False)
        self.write("c/a", 0, seed + 1, size, truncate=False)

    @rule(path=paths, offset=offsets, seed=seeds, size=sizes, truncate=st.booleans())
    def write(self, path: str, offset: int, seed: int, size: int, truncate: bool) -> None:
        payload = data(seed, size)
        flags = os.O_CREAT | (os.O_TRUNC if truncate else 0)
        self.both(lambda r: write_at(f"{r}/{path}", offset, payload, flags))

    @rule(path=paths, offset=offsets, size=sizes)
    def read(self, path: str, offset: int, size: int) -> None:
        self.both(lambda r: read_at(f"{r}/{path}", offset, size))

    @rule(path=paths, seed=seeds, size=sizes)
    def append(self, path: str, seed: int, size: int) -> None:
        payload = data(seed, size)
        self.both(lambda r: append(f"{r}/{path}", payload))

    @rule(path=paths, size=st.sampled_from([0, 1, 4096, 65536, 65537, 100_000]))
    def truncate(self, path: str, size: int) -> None:
        self.both(lambda r: os.truncate(f"{r}/{path}", size))

    @rule(path=paths)
    def create_excl(self, path: str) -> None:
        self.both(lambda r: create_excl(f"{r}/{path}"))

    @rule(path=paths)
    def unlink(self, path: str) -> None:
        self.both(lambda r: os.unlink(f"{r}/{path}"))

    # -- directories ----------------------------------------------------------------------
    @rule(path=paths, mode=st.sampled_from([0o755, 0o700, 0o1777]))
    def mkdir(self, path: str, mode: int) -> None:
        self.both(lambda r: os.mkdir(f"{r}/{path}", mode))

    @rule(path=paths)
    def rmdir(self, path: str) -> None:
        self.both(lambda r: os.rmdir(f"{r}/{path}"))

    @rule(path=st.one_of(paths, st.just(".")))
    def listdir(self, path: str) -> None:
        self.both(lambda r: sorted(os.listdir(f"{r}/{path}")))

    # -- names ----------------------------------------------------------------------------
    @rule(src=paths, dst=new_paths)
    def rename(self, src: str, dst: str) -> None:
        self.both(lambda r: os.rename(f"{r}/{src}", f"{r}/{dst}"))

    @rule(src=paths, dst=new_paths, flags=st.sampled_from([RENAME_NOREPLACE, RENAME_EXCHANGE]))
    def rename_flags(self, src: str, dst: str, flags: int) -> None:
        self.both(lambda r: renameat2(f"{r}/{src}", f"{r}/{dst}", flags))

    @rule(src=paths, dst=new_paths)
    def link(self, src: str, dst: str) -> None:
        self.both(lambda r: os.link(f"{r}/{src}", f"{r}/{dst}"))

    @rule(dest=link_targets, path=new_paths)
    def symlink(self, dest: str, path: str) -> None:
        self.both(lambda r: os.symlink(dest, f"{r}/{path}"))

    @rule(path=paths)
    def readlink(self, path: str) -> None:
        self.both(lambda r: os.readlink(f"{r}/{path}"))

    # -- attributes -----------------------------------------------------------------------
    @rule(path=paths, mode=modes)
    def chmod(self, path: str, mode: int) -> None:
        self.both(lambda r: os.chmod(f"{r}/{path}", mode))

    @rule(path=paths, uid=st.sampled_from([0, 1000]), gid=st.sampled_from([0, 1000, -1]))
    def chown(self, path: str, uid: int, gid: int) -> None:
        self.both(lambda r: os.chown(f"{r}/{path}", uid, gid))

    @rule(path=paths, atime=times, mtime=times, follow=st.booleans())
    def utime(self, path: str, atime: int, mtime: int, follow: bool) -> None:
        def op(r: str) -> tuple[int, int]:
            os.utime(f"{r}/{path}", ns=(atime, mtime), follow_symlinks=follow)
            st_ = os.stat(f"{r}/{path}", follow_symlinks=follow)
            return st_.st_atime_ns, st_.st_mtime_ns

        if self.both(op)[0] == "ok":
            self.set_mtimes.add(mtime)

    @rule(path=st.one_of(paths, st.just(".")), follow=st.booleans())
    def stat(self, path: str, follow: bool) -> None:
        self.both(lambda r: describe(os.stat(f"{r}/{path}", follow_symlinks=follow)))

    @rule(path=paths, name=xattr_names, value=st.binary(max_size=20), flags=xattr_flags)
    def setxattr(self, path: str, name: str, value: bytes, flags: int) -> None:
        self.both(lambda r: os.setxattr(f"{r}/{path}", name, value, flags))

    @rule(path=paths, name=xattr_names)
    def getxattr(self, path: str, name: str) -> None:
        self.both(lambda r: os.getxattr(f"{r}/{path}", name))

    @rule(path=paths, name=xattr_names)
    def removexattr(self, path: str, name: str) -> None:
        self.both(lambda r: os.removexattr(f"{r}/{path}", name))

    @rule(path=paths)
    def listxattr(self, path: str) -> None:
        self.both(lambda r: sorted(n for n in os.listxattr(f"{r}/{path}") if n[:5] == "user."))

    # -- open files (they outlive unlink, rename and truncate of their path) -------------
    @precondition(lambda self: len(self.fds) < MAX_OPEN)
    @rule(path=paths, flags=open_flags)
    def open(self, path: str, flags: int) -> None:
        opened: dict[str, int] = {}

        def op(r: str) -> None:
            opened[r] = os.open(f"{r}/{path}", flags, 0o644)

        try:
            self.both(op)
        finally:
            if len(opened) == 2:  # both opened: a pair of descriptors for the fd_ rules
                self.fds.append((opened[self.mnt], opened[self.ref]))
            else:
                for fd in opened.values():
                    os.close(fd)

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN), offset=offsets, seed=seeds, size=sizes)
    def fd_write(self, index: int, offset: int, seed: int, size: int) -> None:
        payload = data(seed, size)
        self.both_fd(index, lambda fd: os.pwrite(fd, payload, offset))

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN), seed=seeds, size=sizes)
    def fd_write_sequential(self, index: int, seed: int, size: int) -> None:
        payload = data(seed, size)  # at the file position, or at the end with O_APPEND
        self.both_fd(index, lambda fd: (os.write(fd, payload), os.lseek(fd, 0, os.SEEK_CUR)))

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN), offset=offsets, size=sizes)
    def fd_read(self, index: int, offset: int, size: int) -> None:
        self.both_fd(index, lambda fd: os.pread(fd, size, offset))

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN), size=st.sampled_from([0, 3, 65536, 70_000]))
    def fd_truncate(self, index: int, size: int) -> None:
        self.both_fd(index, lambda fd: os.ftruncate(fd, size))

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN))
    def fd_fsync(self, index: int) -> None:
        self.both_fd(index, os.fsync)  # the mount waits until the upload is committed

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN))
    def fd_stat(self, index: int) -> None:
        self.both_fd(index, lambda fd: describe(os.fstat(fd)))

    @precondition(lambda self: bool(self.fds))
    @rule(index=st.integers(0, MAX_OPEN))
    def fd_close(self, index: int) -> None:
        for fd in self.fds.pop(index % len(self.fds)):
            os.close(fd)

    # -- the whole tree -------------------------------------------------------------------
    @invariant()
    def same_tree(self) -> None:
        (got, got_mtimes), (want, want_mtimes) = snapshot(self.mnt), snapshot(self.ref)
        assert sorted(got) == sorted(want)
        for name in want:
            # An mtime a utime step set stays until an operation sets it to "now": on both
            # sides, or on neither (so an operation that should not touch it did not).
            mtimes = {got_mtimes[name], want_mtimes[name]}
            if mtimes & self.set_mtimes:
                assert len(mtimes) == 1, (
                    f"{name}: mtime mount {got_mtimes[name]} local {want_mtimes[name]}"
                )
            mine, theirs = brief(got[name]), brief(want[name])
            assert got[name] == want[name], f"{name}:\nmount: {mine!r}\nlocal: {theirs!r}"


def test_mount_behaves_like_a_local_folder(shared_mount: Mount) -> None:
    MountVsLocal.mount_root = shared_mount.path
    run_state_machine_as_test(
        MountVsLocal,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# -- failures the state machine found, kept as regressions --------------------------------
def test_setgid_directory_passes_on_its_group(shared_mount: Mount, tmp_path: Path) -> None:
    """New entries of a setgid directory take its group; new subdirectories stay setgid."""
    roots = [shared_mount.path / f"sgid{next(_examples)}", tmp_path / "local"]
    outcomes = []
    for root in roots:
        (root / "d").mkdir(parents=True)
        os.chown(root / "d", 0, 1000)
        os.chmod(root / "d", 0o2775)
        (root / "d" / "sub").mkdir()
        (root / "d" / "file").write_bytes(b"x")
        os.symlink("file", root / "d" / "link")
        outcomes.append([describe(os.lstat(root / "d" / n)) for n in ("sub", "file", "link")])
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][0] & stat.S_ISGID
    assert outcomes[0][1][3] == 1000
