"""Real programs inside a real mount: git, tar, sqlite3, compileall, rsync, cp -a.

Each test runs the program as a subprocess on a folder of its own in one shared mount and
checks the outcome the way a user would (the log shows the commit, the extracted tree has
the same bytes and modes, the database passes ``integrity_check``).  A test is skipped only
when its program is not installed (``scripts/_bootstrap.sh`` installs them on Debian).
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuse.mounting import Mount, fuse_only

pytestmark = fuse_only

_folders = itertools.count()
Entry = tuple[str, int, bytes, int]  # (kind, permission bits, content or target, mtime_ns)
OLD_NS = 1_500_000_000_123_456_789  # a distinct past mtime, with nanoseconds
SECOND = 1_000_000_000


@pytest.fixture
def d(shared_mount: Mount) -> Path:
    """An empty folder of this test's own in the mount."""
    path = shared_mount.path / f"p{next(_folders)}"
    path.mkdir()
    return path


def need(program: str) -> str:
    """The path of ``program``; skips the test when it is not installed."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (apt-get install {program})")
    return path


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``command``; its stdout, or a failure showing everything it printed."""
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def make_tree(root: Path) -> None:
    """Files of several sizes and modes, nested folders, hard and symbolic links (relative,
    absolute, dangling), an xattr, and distinct past mtimes on everything."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "small.txt").write_bytes(b"hello\n")
    (root / "zero").write_bytes(b"")
    (root / "sub" / "big.bin").write_bytes(os.urandom(300_000))  # spans several blocks
    (root / "sub" / "deeper" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "sub" / "deeper" / "run.sh", 0o755)
    os.chmod(root / "zero", 0o600)
    os.chmod(root / "empty", 0o700)
    os.link(root / "small.txt", root / "sub" / "hard.txt")
    os.symlink("../small.txt", root / "sub" / "rel-link")
    os.symlink("/etc/hostname", root / "abs-link")
    os.symlink("no/such/target", root / "dangling")
    os.symlink("sub/deeper", root / "dir-link")
    os.setxattr(root / "small.txt", "user.note", b"kept")
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):  # children first
        ns = OLD_NS + i * 1_000_000_007
        os.utime(path, ns=(ns, ns), follow_symlinks=False)
    os.utime(root, ns=(OLD_NS, OLD_NS))


def tree(root: Path, *, mtime_unit: int = 1) -> dict[str, Entry]:
    """Every entry below ``root`` (and ``root`` itself as '.'): kind, permission bits,
    bytes or link target, and mtime (in units of ``mtime_unit`` nanoseconds)."""
    out: dict[str, Entry] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(path)
        mtime = st.st_mtime_ns // mtime_unit
        name = str(path.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            out[name] = ("link", 0, os.fsencode(os.readlink(path)), mtime)
        elif stat.S_ISDIR(st.st_mode):
            out[name] = ("dir", stat.S_IMODE(st.st_mode), b"", mtime)
        else:
            out[name] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes(), mtime)
    return out


def assert_same_tree(a: Path, b: Path, *, mtime_unit: int = 1) -> None:
    left, right = tree(a, mtime_unit=mtime_unit), tree(b, mtime_unit=mtime_unit)
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name][:3] == right[name][:3], f"{name}: {left[name][:2]} != {right[name][:2]}"
        assert left[name][3] == right[name][3], f"{name}: mtime {left[name][3]} != {right[name][3]}"


def assert_hard_linked(root: Path) -> None:
    assert os.stat(root / "small.txt").st_ino == os.stat(root / "sub" / "hard.txt").st_ino
    assert os.stat(root / "small.txt").st_nlink == 2


# -- git ------------------------------------------------------------------------------------
def test_git_init_add_commit_status_log(d: Path) -> None:
    git = need("git")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {
        "GIT_AUTHOR_NAME": "Fuse Test",
        "GIT_AUTHOR_EMAIL": "fuse@example.com",
        "GIT_COMMITTER_NAME": "Fuse Test",
        "GIT_COMMITTER_EMAIL": "fuse@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(d),
    }

    def g(*args: str) -> str:
        return run(git, "-c", "init.defaultBranch=main", *args, cwd=d / "repo", env=env)

    (d / "repo").mkdir()
    g("init", "-q")
    (d / "repo" / "README").write_text("first\n")
    (d / "repo" / "src").mkdir()
    (d / "repo" / "src" / "data.bin").write_bytes(os.urandom(200_000))
    g("add", "-A")
    g("commit", "-q", "-m", "first commit")
    (d / "repo" / "README").write_text("second\n")
    os.symlink("README", d / "repo" / "link")
    g("add", "-A")
    g("commit", "-q", "-m", "second commit")

    assert g("status", "--porcelain") == ""
    assert g("log", "--format=%s").splitlines() == ["second commit", "first commit"]
    assert g("show", "HEAD~1:README") == "first\n"
    g("fsck", "--full", "--strict")
    g("gc", "-q")  # packs objects: renames, links, unlinks, many small files
    assert g("status", "--porcelain") == ""
    assert g("rev-list", "--count", "HEAD") == "2\n"
    run(git, "clone", "-q", d / "repo", d / "clone", env=env)
    assert (d / "clone" / "src" / "data.bin").read_bytes() == (
        d / "repo" / "src" / "data.bin"
    ).read_bytes()


# -- tar ------------------------------------------------------------------------------------
def test_tar_create_and_extract(d: Path, tmp_path: Path) -> None:
    tar = need("tar")
    make_tree(d / "src")
    run(tar, "-cf", d / "in-mount.tar", "-C", d / "src", ".")  # archive written to the mount
    run(tar, "-cf", tmp_path / "local.tar", "-C", d / "src", ".")
    assert (d / "in-mount.tar").read_bytes() == (tmp_path / "local.tar").read_bytes()

    (d / "dst").mkdir()
    run(tar, "-xpf", d / "in-mount.tar", "-C", d / "dst")  # read from and extract into it
    assert_same_tree(d / "src", d / "dst", mtime_unit=SECOND)  # the gnu format keeps seconds
    (tmp_path / "out").mkdir()
    run(tar, "-xpf", d / "in-mount.tar", "-C", tmp_path / "out")
    assert_same_tree(d / "src", tmp_path / "out", mtime_unit=SECOND)
    assert_hard_linked(d / "dst")


# -- sqlite3 --------------------------------------------------------------------------------
@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_sqlite_transactions(d: Path, journal: str) -> None:
    path = d / "test.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO t (payload) VALUES (?)", [(os.urandom(1000),) for _ in range(2000)])
    db.execute("COMMIT")
    db.execute("BEGIN")
    db.execute("DELETE FROM t WHERE id % 2 = 0")
    db.execute("INSERT INTO t (payload) VALUES (zeroblob(100000))")
    db.execute("ROLLBACK")
    db.execute("BEGIN")
    db.execute("UPDATE t SET payload = x'00' WHERE id <= 10")
    db.execute("COMMIT")
    db.close()

    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*), sum(length(payload)) FROM t").fetchone() == (
        2000,
        10 + 1990 * 1000,
    )
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.execute("VACUUM")  # rewrites the whole file
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()

    cli = shutil.which("sqlite3")
    if cli is None:
        return  # the Python module covered it; the CLI part needs the sqlite3 package
    script = (
        "BEGIN; INSERT INTO t (payload) VALUES (x'01'); COMMIT;"
        "BEGIN; DELETE FROM t; ROLLBACK;"
        "SELECT count(*) FROM t; PRAGMA integrity_check;"
    )
    assert run(cli, path, script).split() == ["2001", "ok"]
    assert run(cli, path, "SELECT count(*) FROM t WHERE payload = x'01';").strip() == "1"


# -- python -m compileall -------------------------------------------------------------------
def test_compileall_then_import(d: Path) -> None:
    package = d / "lib" / "mypkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from mypkg.sub.calc import double\nVALUE = double(21)\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "calc.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    run(sys.executable, "-m", "compileall", "-q", d / "lib")
    tag = sys.implementation.cache_tag
    compiled = package / "sub" / "__pycache__" / f"calc.{tag}.pyc"
    assert compiled.stat().st_size > 0

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(d / "lib")
    probe = "import mypkg, mypkg.sub.calc as c; print(mypkg.VALUE, c.__cached__)"
    value, cached = run(sys.executable, "-c", probe, env=env).split()
    assert value == "42"
    assert Path(cached) == compiled
    (package / "sub" / "calc.py").unlink()  # only the bytecode is left: the import uses it
    os.replace(compiled, package / "sub" / "calc.pyc")
    assert run(sys.executable, "-c", "import mypkg; print(mypkg.VALUE)", env=env) == "42\n"


# -- rsync -a -------------------------------------------------------------------------------
def test_rsync_in_and_out(d: Path, tmp_path: Path) -> None:
    rsync = need("rsync")
    make_tree(tmp_path / "src")
    run(rsync, "-aH", f"{tmp_path / 'src'}/", f"{d / 'copy'}/")
    assert_same_tree(tmp_path / "src", d / "copy")
    assert_hard_linked(d / "copy")

    run(rsync, "-aH", f"{d / 'copy'}/", f"{tmp_path / 'back'}/")
    assert_same_tree(tmp_path / "src", tmp_path / "back")

    # An incremental run: rsync writes a temporary file and renames it over the old one.
    (tmp_path / "src" / "sub" / "big.bin").write_bytes(os.urandom(300_000))
    (tmp_path / "src" / "zero").unlink()
    os.utime(tmp_path / "src", ns=(OLD_NS, OLD_NS))
    os.utime(tmp_path / "src" / "sub", ns=(OLD_NS, OLD_NS))
    run(rsync, "-aH", "--delete", f"{tmp_path / 'src'}/", f"{d / 'copy'}/")
    assert_same_tree(tmp_path / "src", d / "copy")
    assert run(rsync, "-aHn", "--itemize-changes", f"{tmp_path / 'src'}/", f"{d / 'copy'}/") == ""


# -- cp -a ----------------------------------------------------------------------------------
def test_cp_a_tree_with_symlinks(d: Path, tmp_path: Path) -> None:
    cp = need("cp")
    make_tree(tmp_path / "src")
    run(cp, "-a", tmp_path / "src", d / "copy")
    assert_same_tree(tmp_path / "src", d / "copy")
    assert_hard_linked(d / "copy")
    assert os.getxattr(d / "copy" / "small.txt", "user.note") == b"kept"
    # No POSIX ACLs: refusing their xattrs makes cp -a fall back to chmod for the modes.
    with pytest.raises(OSError) as refused:
        os.setxattr(d / "copy", "system.posix_acl_access", b"\2\0\0\0")
    assert refused.value.errno == errno.EOPNOTSUPP
    assert os.readlink(d / "copy" / "dangling") == "no/such/target"
    assert (d / "copy" / "sub" / "rel-link").read_bytes() == b"hello\n"

    run(cp, "-a", d / "copy", tmp_path / "back")
    assert_same_tree(tmp_path / "src", tmp_path / "back")
    assert_hard_linked(tmp_path / "back")
    assert os.getxattr(tmp_path / "back" / "small.txt", "user.note") == b"kept"
