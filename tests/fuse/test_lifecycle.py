"""The mount's life: background mode and ``umount``, SIGTERM, errors of ``cloudfs mount``,
and data written through the mount read back through the SDK."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudfs.sdk.client import Client, Filespace
from cloudfs.sdk.models import ClientConfig, StorageConfig, StorageMode
from tests.fuse.mounting import PASSPHRASE, Mount, cloudfs_env, fuse_only, run_cli

pytestmark = fuse_only


@contextmanager
def sdk(home: Path) -> Iterator[Filespace]:
    """The 'default' filespace of ``home`` through the SDK (with the CLI's state folder)."""
    client = Client(
        storage=StorageConfig(mode=StorageMode.PHYSICAL, root_path=home / "state"),
        config=ClientConfig(home=home, passphrase=PASSPHRASE),
    )
    try:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        yield workspace.link_filespace(name="default")
    finally:
        client.close()


def cloudfs(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``cloudfs ARGS`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "cloudfs.cli.main", *args],
        env=cloudfs_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_background_mount_umount_and_sdk_reads_what_was_written(home: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    started = cloudfs(home, "mount", str(mnt))
    try:
        assert started.returncode == 0, started.stderr
        assert f"cloudfs umount {mnt}" in started.stdout
        assert os.path.ismount(mnt)
        big = os.urandom(3 * 1024 * 1024 + 17)
        (mnt / "dir").mkdir()
        (mnt / "dir" / "big").write_bytes(big)
        (mnt / "small").write_text("hello")
        os.symlink("small", mnt / "link")
        records = list((home / "state" / "filespaces").glob("*/mount.json"))
        assert json.loads(records[0].read_text())["mountpoint"] == str(mnt)
    finally:
        stopped = cloudfs(home, "umount", str(mnt))
    assert stopped.returncode == 0, stopped.stderr
    assert not os.path.ismount(mnt)
    assert not list((home / "state" / "filespaces").glob("*/mount.json"))
    with sdk(home) as fs:
        assert fs.fs.read_file("/dir/big") == big
        assert fs.fs.read_file("/small") == b"hello"
        assert fs.fs.read_symlink("/link") == "small"


def test_sigterm_unmounts_cleanly_and_keeps_closed_data(home: Path, tmp_path: Path) -> None:
    m = Mount(home, tmp_path / "mnt").start()
    try:
        data = os.urandom(2 * 1024 * 1024)
        (m.path / "a").write_bytes(data)
        with open(m.path / "b", "wb") as f:
            f.write(b"closed before the signal")
        still_open = os.open(m.path / "c", os.O_WRONLY | os.O_CREAT)
        os.write(still_open, b"written, not closed")  # journaled at unmount
        status = m.signal(signal.SIGTERM)
        with contextlib.suppress(OSError):  # the mount is gone: ENOTCONN
            os.close(still_open)
    finally:
        m.stop()
    assert status == 0, m.output()
    assert not os.path.ismount(m.path)
    assert "Traceback" not in m.output()
    with Mount(home, tmp_path / "mnt"):
        assert (m.path / "a").read_bytes() == data
        assert (m.path / "b").read_bytes() == b"closed before the signal"
        assert (m.path / "c").read_bytes() == b"written, not closed"


def test_mount_point_errors(home: Path, tmp_path: Path) -> None:
    code, out = run_cli(home, "mount", str(tmp_path / "missing"))
    assert code == 1
    assert out.strip() == f"cloudfs: mount point {tmp_path / 'missing'} does not exist"
    (tmp_path / "file").write_text("x")
    code, out = run_cli(home, "mount", str(tmp_path / "file"))
    assert code == 1
    assert "is not a directory" in out
    assert len(out.splitlines()) == 1
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    code, out = run_cli(home, "mount", str(tmp_path / "full"))
    assert code == 1
    assert "is not empty" in out
    assert len(out.splitlines()) == 1


def test_already_mounted(mount: Mount, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    code, out = run_cli(mount.home, "mount", "--foreground", str(other))
    assert code == 1, out
    assert (
        out.strip() == "cloudfs: filespace 'default' is already mounted (its state folder "
        "is in use by another process)"
    )
    assert not os.path.ismount(other)
    code, out = run_cli(mount.home, "mount", str(mount.path))
    assert code == 1, out
    assert "is busy: something is already mounted there" in out
    (mount.path / "still-works").write_text("yes")
    assert (mount.path / "still-works").read_text() == "yes"


def test_background_mount_reports_the_childs_error(mount: Mount, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    done = cloudfs(mount.home, "mount", str(other))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "cloudfs: filespace 'default' is already mounted (its state folder is in use by "
        "another process)"
    ]


def test_umount_of_what_is_not_mounted(home: Path, tmp_path: Path) -> None:
    code, out = run_cli(home, "umount", str(tmp_path))
    assert code == 1
    assert out.strip() == f"cloudfs: {tmp_path} is not mounted"
