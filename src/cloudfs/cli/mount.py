"""``cloudfs mount MOUNTPOINT`` and ``cloudfs umount MOUNTPOINT``.

``mount --foreground`` serves the filespace in this process until it is unmounted or gets
SIGINT/SIGTERM (see :mod:`cloudfs.fuse.mount`).  Without ``--foreground`` the command
re-executes itself with ``--foreground`` in a new session (a fresh process, not a fork
of one with threads) and returns once the child reports the mount ready on an inherited
pipe (``--ready-fd``), or prints the child's error and exits 1.  A passphrase typed at the
prompt reaches the child on its standard input; files and environment are inherited.
Until it is ready the child's standard error is a pipe to the parent; then it switches to
``mount.log`` in the filespace's state folder.

While mounted, ``mount.json`` in the state folder names the mount point and the process,
so ``umount`` (``fusermount3 -u``) can wait until that process has finished its uploads
(or journaled them) and exited.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import click

from cloudfs.cli.common import Context, cli_errors, pass_ctx, read_passphrase
from cloudfs.errors import MountError
from cloudfs.fuse.mount import MountOptions, check_mountpoint, serve

__all__ = ["register"]

RECORD = "mount.json"
LOG = "mount.log"
READY = b"ready\n"
START_SECONDS = 60  # background mode: how long to wait for the child to be ready
EXIT_SECONDS = MountOptions().drain_seconds + 30  # umount: how long to wait for the process


@click.command("mount")
@click.argument("mountpoint", type=click.Path(path_type=Path))
@click.option("-F", "--foreground", is_flag=True, help="Stay in the foreground until unmounted")
@click.option("--read-only", is_flag=True, help="Mount read-only (writes fail with EROFS)")
@click.option("--allow-other", is_flag=True, help="Let other users access the mount")
@click.option("--ready-fd", type=int, default=None, hidden=True)
@pass_ctx
@cli_errors
def mount(
    ctx: Context,
    mountpoint: Path,
    foreground: bool,
    read_only: bool,
    allow_other: bool,
    ready_fd: int | None,
) -> None:
    """Mount the filespace on MOUNTPOINT (an empty directory).

    Without --foreground the mount runs in the background and this returns once it is
    ready.  'cloudfs umount MOUNTPOINT' (or SIGINT/SIGTERM to the mount process) unmounts,
    after journaling open files and waiting up to 30 s for uploads.
    """
    mountpoint = Path(os.path.abspath(mountpoint))
    check_mountpoint(mountpoint)
    options = MountOptions(read_only=read_only, allow_other=allow_other)
    if foreground:
        _serve(ctx, mountpoint, options, ready_fd)
    else:
        _start_background(ctx, mountpoint, read_only=read_only, allow_other=allow_other)
        click.echo(
            f"mounted filespace {ctx.filespace!r} at {mountpoint} "
            f"(unmount with: cloudfs umount {mountpoint})"
        )


def _serve(ctx: Context, mountpoint: Path, options: MountOptions, ready_fd: int | None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    filespace = ctx.open()
    record = ctx.state_folder() / RECORD

    def ready() -> None:
        record.write_text(json.dumps({"pid": os.getpid(), "mountpoint": str(mountpoint)}))
        if ready_fd is None:
            click.echo(f"mounted filespace {filespace.name!r} at {mountpoint}; Ctrl-C unmounts")
            return
        _detach_output(ctx.state_folder() / LOG)
        os.write(ready_fd, READY)
        os.close(ready_fd)

    try:
        serve(filespace, mountpoint, options, on_ready=ready)
    finally:
        with contextlib.suppress(OSError):
            if json.loads(record.read_text()).get("pid") == os.getpid():
                record.unlink()


def _detach_output(log: Path) -> None:
    """Send standard output and error to ``log`` from now on (the parent has gone)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _start_background(
    ctx: Context, mountpoint: Path, *, read_only: bool, allow_other: bool
) -> None:
    """Start ``mount --foreground`` detached and wait until it is ready (or failed)."""
    passphrase = None
    args = [sys.executable, "-m", "cloudfs.cli.main", "--home", str(ctx.home)]
    args += ["-f", ctx.filespace]
    if ctx.passphrase_file is not None:
        args += ["--passphrase-file", str(ctx.passphrase_file.resolve())]
    elif not os.environ.get("CLOUDFS_PASSPHRASE") and not os.environ.get("CLOUDFS_TOKEN"):
        passphrase = read_passphrase(None)  # prompt here; the child reads it on stdin
        args += ["--passphrase-file", "/dev/stdin"]
    read_end, write_end = os.pipe()
    args += ["mount", "--foreground", "--ready-fd", str(write_end), str(mountpoint)]
    args += ["--read-only"] * read_only + ["--allow-other"] * allow_other
    try:
        child = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if passphrase is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        _await_child(child, ready, passphrase)


def _await_child(child: subprocess.Popen[bytes], ready: IO[bytes], passphrase: str | None) -> None:
    """Return when ``child`` writes READY; otherwise raise its last error line."""
    stderr = child.stderr
    assert stderr is not None
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
    reader.start()
    if passphrase is not None and child.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write(passphrase.encode() + b"\n")
            child.stdin.close()
    status = ready.read(len(READY))
    if status == READY:
        return
    try:
        child.wait(timeout=START_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        raise MountError("the mount process did not start in time") from None
    reader.join(timeout=5)
    lines = b"".join(errors).decode(errors="replace").strip().splitlines()
    message = next((x for x in reversed(lines) if x.startswith("cloudfs: ")), "")
    raise MountError(
        message.removeprefix("cloudfs: ")
        or (lines[-1] if lines else f"the mount process exited with status {child.returncode}")
    )


@click.command("umount")
@click.argument("mountpoint", type=click.Path(path_type=Path))
@pass_ctx
@cli_errors
def umount(ctx: Context, mountpoint: Path) -> None:
    """Unmount MOUNTPOINT and wait until its mount process has finished."""
    mountpoint = Path(os.path.abspath(mountpoint))
    kind = _mount_type(mountpoint)
    if kind is None:
        raise MountError(f"{mountpoint} is not mounted")
    if kind != "fuse.cloudfs":
        raise MountError(f"{mountpoint} is not a cloudfs mount (it is {kind})")
    found = _find_mount(ctx, mountpoint)
    fusermount = shutil.which("fusermount3")
    if fusermount is None:
        raise MountError("fusermount3 not found (install the fuse3 package)")
    done = subprocess.run(
        [fusermount, "-u", str(mountpoint)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        text = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        raise MountError(text.split(": ", 1)[-1] or f"could not unmount {mountpoint}")
    if found is not None:
        _wait_exit(found)


def _mount_type(mountpoint: Path) -> str | None:
    """The filesystem type mounted on ``mountpoint`` (the last one), from /proc/mounts."""
    kind = None
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            path = fields[1].encode().decode("unicode_escape")  # \040 for a space, ...
            if path == str(mountpoint):
                kind = fields[2]
    return kind


def _find_mount(ctx: Context, mountpoint: Path) -> int | None:
    """The pid of the mount process serving ``mountpoint``, from the state folders."""
    folders = ctx.state_root / "filespaces"
    for record in sorted(folders.glob(f"*/{RECORD}")) if folders.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads(record.read_text())
            if data["mountpoint"] == str(mountpoint) and _alive(int(data["pid"])):
                return int(data["pid"])
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has finished


def _wait_exit(pid: int) -> None:
    deadline = time.monotonic() + EXIT_SECONDS
    while _alive(pid):
        if time.monotonic() > deadline:
            raise MountError(f"unmounted, but mount process {pid} is still finishing (see log)")
        time.sleep(0.05)


def register(group: click.Group) -> None:
    group.add_command(mount)
    group.add_command(umount)
