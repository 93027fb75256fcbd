"""Real kernel mounts for the FUSE tests: ``cloudfs mount --foreground`` in a subprocess.

:class:`Mount` starts the mount process on an empty directory, waits until it answers,
and :meth:`Mount.stop` unmounts with ``fusermount3 -u`` and waits for the process; when
that fails it kills the process and detaches the mount lazily, so a failed test never
leaves a mount behind.  Every test module here uses :data:`fuse_only` as its
``pytestmark``: the ``fuse`` marker, skipped without ``/dev/fuse`` or ``fusermount3``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudfs.cli.main import cli

PASSPHRASE = "fuse test passphrase"
START_SECONDS = 30
STOP_SECONDS = 60


def _missing() -> str:
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    if shutil.which("fusermount3") is None:
        return "fusermount3 not found (apt-get install fuse3)"
    return ""


fuse_only = [pytest.mark.fuse, pytest.mark.skipif(bool(_missing()), reason=_missing())]


def mount_options(path: Path) -> tuple[str, set[str]]:
    """The filesystem type and options of the mount on ``path`` (from /proc/self/mounts)."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == str(path):
            return fields[2], set(fields[3].split(","))
    raise AssertionError(f"{path} is not mounted")


def cloudfs_env(home: Path) -> dict[str, str]:
    """The environment of a ``cloudfs`` command on the test workspace ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFS_", "AWS_"))}
    env |= {
        "CLOUDFS_HOME": str(home),
        "CLOUDFS_PASSPHRASE": PASSPHRASE,
        "CLOUDFS_KDF_PROFILE": "test",
    }
    return env


def run_cli(home: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """``cloudfs ARGS`` in this process: (exit code, stdout + stderr)."""
    result = CliRunner().invoke(cli, list(args), env=dict(env or cloudfs_env(home)))
    return result.exit_code, result.stdout + result.stderr


def init_workspace(home: Path) -> None:
    """A workspace with a 'default' filespace of 64 KiB blocks in a local folder."""
    code, out = run_cli(home, "init", "--block-size", "64k")
    assert code == 0, out


class Mount:
    """One ``cloudfs mount --foreground`` process."""

    def __init__(self, home: Path, mountpoint: Path, *args: str) -> None:
        self.home = home
        self.path = mountpoint
        self.args = args
        self.log = mountpoint.parent / f"{mountpoint.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Mount:
        self.path.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "cloudfs.cli.main", "mount", "--foreground"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, str(self.path), *self.args],
                env=cloudfs_env(self.home),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while b"mounted filespace" not in self.log.read_bytes():
            if self.process.poll() is not None:
                raise AssertionError(f"the mount failed: {self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the mount was not ready in time: {self.output()}")
            time.sleep(0.02)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` to the mount process and return its exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=STOP_SECONDS)

    def stop(self) -> None:
        """Unmount and wait for the process; force both if that fails."""
        process = self.process
        if process is None:
            return
        self.process = None
        for _ in range(50):
            if process.poll() is not None or not os.path.ismount(self.path):
                break
            done = subprocess.run(["fusermount3", "-u", str(self.path)], capture_output=True)
            if done.returncode == 0:
                break
            time.sleep(0.1)  # busy: a test's file is still closing
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if os.path.ismount(self.path) or _dead_mount(self.path):
            subprocess.run(["fusermount3", "-u", "-z", str(self.path)], capture_output=True)

    def __enter__(self) -> Mount:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _dead_mount(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError:
        return True
    return False
