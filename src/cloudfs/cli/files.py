"""File commands: ls, stat, cat, put, get, cp, mv, rm, mkdir, rmdir, ln.

Paths inside the filespace are absolute (``/dir/file``); local paths are ordinary paths.
Transfers stream in bounded pieces and show a progress bar on a terminal.
"""

from __future__ import annotations

import errno
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click

from cloudfs.cli.common import Context, cli_errors, pass_ctx, progress
from cloudfs.errors import fs_error
from cloudfs.sdk.filesystem import Filesystem
from cloudfs.sdk.models import DirEntry

__all__ = ["register"]

CHUNK = 4 * 1024 * 1024


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _copy(src: IO[bytes], dst: IO[bytes], description: str, total: int | None) -> None:
    with progress(description, total) as advance:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            advance(len(chunk))


def _remote_target(fs: Filesystem, path: str, source_name: str) -> str:
    """``path``, or ``path/source_name`` when ``path`` is an existing directory."""
    if fs.dir_exists(path):
        return path.rstrip("/") + "/" + source_name
    return path


@click.command("ls")
@click.argument("path", default="/")
@click.option("-l", "long", is_flag=True, help="Long listing: type, size, mtime")
@pass_ctx
@cli_errors
def ls(ctx: Context, path: str, long: bool) -> None:
    """List a directory."""
    fs = ctx.open().fs
    entry = fs.get_entry(path)
    entries = fs.read_dir(path) if entry.is_dir() or fs.dir_exists(path) else [entry]
    for e in sorted(entries, key=lambda e: e.name):
        name = e.name + ("/" if e.is_dir() else "")
        if long:
            click.echo(f"{e.type:<4} {e.size:>14,} {_time(e.mtime)} {name}")
        else:
            click.echo(name)


@click.command("stat")
@click.argument("path")
@pass_ctx
@cli_errors
def stat(ctx: Context, path: str) -> None:
    """Show an entry's attributes."""
    fs = ctx.open().fs
    entry: DirEntry = fs.get_entry(path)
    rows = [
        ("path", path),
        ("type", entry.type),
        ("size", f"{entry.size:,}"),
        ("file id", entry.file_id),
        ("modified", _time(entry.mtime)),
        ("changed", _time(entry.ctime)),
    ]
    if entry.is_link():
        rows.append(("target", fs.read_symlink(path)))
    for key, value in rows:
        click.echo(f"{key:<9} {value}")


@click.command("cat")
@click.argument("paths", nargs=-1, required=True)
@pass_ctx
@cli_errors
def cat(ctx: Context, paths: tuple[str, ...]) -> None:
    """Write files to standard output."""
    fs = ctx.open().fs
    out = sys.stdout.buffer
    for path in paths:
        with fs.open(path, "rb") as f:
            shutil.copyfileobj(f, out, CHUNK)
    out.flush()


@click.command("put")
@click.argument("local", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("remote")
@pass_ctx
@cli_errors
def put(ctx: Context, local: Path, remote: str) -> None:
    """Upload a local file (REMOTE may be a directory)."""
    fs = ctx.open().fs
    target = _remote_target(fs, remote, local.name)
    with local.open("rb") as src, fs.open(target, "wb") as dst:
        _copy(src, dst, f"put {local.name}", local.stat().st_size)


@click.command("get")
@click.argument("remote")
@click.argument("local", type=click.Path(path_type=Path))
@pass_ctx
@cli_errors
def get(ctx: Context, remote: str, local: Path) -> None:
    """Download a file (LOCAL may be a directory; '-' is standard output)."""
    fs = ctx.open().fs
    entry = fs.get_entry(remote)
    if entry.is_dir():
        raise fs_error(errno.EISDIR, path=remote)
    with fs.open(remote, "rb") as src:
        if str(local) == "-":
            _copy(src, sys.stdout.buffer, f"get {entry.name}", entry.size)
            return
        target = local / entry.name if local.is_dir() else local
        partial = target.with_name(target.name + ".cloudfs-partial")
        try:
            with partial.open("wb") as dst:
                _copy(src, dst, f"get {entry.name}", entry.size)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)


@click.command("cp")
@click.argument("src")
@click.argument("dst")
@pass_ctx
@cli_errors
def cp(ctx: Context, src: str, dst: str) -> None:
    """Copy a file inside the filespace."""
    fs = ctx.open().fs
    name = src.rstrip("/").rsplit("/", 1)[-1]
    entry = fs.get_entry(src)
    if entry.is_dir():
        raise fs_error(errno.EISDIR, "copying directories is not supported yet", src)
    with fs.open(src, "rb") as s, fs.open(_remote_target(fs, dst, name), "wb") as d:
        _copy(s, d, f"cp {name}", entry.size)


@click.command("mv")
@click.argument("src")
@click.argument("dst")
@pass_ctx
@cli_errors
def mv(ctx: Context, src: str, dst: str) -> None:
    """Move or rename (never replaces an existing DST)."""
    fs = ctx.open().fs
    fs.move(src, _remote_target(fs, dst, src.rstrip("/").rsplit("/", 1)[-1]))


@click.command("rm")
@click.argument("paths", nargs=-1, required=True)
@click.option("-r", "--recursive", is_flag=True, help="Remove directories and their content")
@pass_ctx
@cli_errors
def rm(ctx: Context, paths: tuple[str, ...], recursive: bool) -> None:
    """Remove files (and, with -r, directories)."""
    fs = ctx.open().fs
    for path in paths:
        if fs.get_entry(path).is_dir():
            if not recursive:
                raise fs_error(errno.EISDIR, "is a directory (use -r)", path)
            fs.delete_dir(path, recursive=True)
        else:
            fs.delete(path)


@click.command("mkdir")
@click.argument("paths", nargs=-1, required=True)
@click.option("-p", "--parents", is_flag=True, help="Create parents; no error if it exists")
@pass_ctx
@cli_errors
def mkdir(ctx: Context, paths: tuple[str, ...], parents: bool) -> None:
    """Create directories."""
    fs = ctx.open().fs
    for path in paths:
        if not parents:
            fs.create_dir(path)
            continue
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            if not fs.dir_exists(current):
                fs.create_dir(current)


@click.command("rmdir")
@click.argument("paths", nargs=-1, required=True)
@pass_ctx
@cli_errors
def rmdir(ctx: Context, paths: tuple[str, ...]) -> None:
    """Remove empty directories."""
    fs = ctx.open().fs
    for path in paths:
        fs.delete_dir(path)


@click.command("ln")
@click.argument("target")
@click.argument("link")
@click.option(
    "-s",
    "--symbolic",
    is_flag=True,
    required=True,
    help="Make a symbolic link (the only kind supported)",
)
@pass_ctx
@cli_errors
def ln(ctx: Context, target: str, link: str, symbolic: bool) -> None:
    """Create a symbolic link LINK pointing to TARGET."""
    ctx.open().fs.create_symlink(target, link)


def register(group: click.Group) -> None:
    for command in (ls, stat, cat, put, get, cp, mv, rm, mkdir, rmdir, ln):
        group.add_command(command)
