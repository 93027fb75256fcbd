"""The local side of a filespace: ``status``, ``cache``, ``pin``, ``unpin``, ``warmup``.

``status`` and ``cache info|set-size`` read (or set) the state folder directly, so they work
without the passphrase and while another process (a mount) has the filespace open; that
process applies a new cache size within a few seconds.  ``pin`` records the pin for the
process that owns the cache, and fetches it at once when that is this process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cloudfs.cache.disk import CacheUsage, DiskCache, read_usage, write_capacity
from cloudfs.cache.journal import read_summary
from cloudfs.cache.pins import PinStore
from cloudfs.cli.common import Context, cli_errors, parse_size, pass_ctx, progress
from cloudfs.errors import ClientError

__all__ = ["register"]


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _usage(ctx: Context) -> CacheUsage | None:
    cache = ctx.state_folder() / "cache"
    return asyncio.run(read_usage(cache)) if (cache / "index.sqlite").exists() else None


def _cache_lines(usage: CacheUsage | None) -> list[tuple[str, str]]:
    if usage is None:
        return [("cache", "empty (never used on this machine)")]
    return [
        ("cache", f"{_human(usage.used)} of {_human(usage.capacity)} ({usage.entries:,} blocks)"),
        ("dirty", f"{_human(usage.dirty_bytes)} ({usage.dirty_count:,} blocks)"),
        ("pinned", f"{_human(usage.pinned_bytes)} ({usage.pinned_count:,} blocks)"),
        ("hit ratio", f"{usage.hit_ratio:.1%} ({usage.hits:,} hits, {usage.misses:,} misses)"),
    ]


@click.command("status")
@pass_ctx
@cli_errors
def status(ctx: Context) -> None:
    """Pending uploads, cache use and hit ratio (no passphrase needed)."""
    records, files, size = read_summary(ctx.state_folder() / "journal.sqlite")
    rows = [
        ("filespace", ctx.filespace),
        ("uploading", f"{files:,} files, {_human(size)} ({records:,} commits pending)"),
    ]
    for key, value in rows + _cache_lines(_usage(ctx)):
        click.echo(f"{key:<10} {value}")


@click.group("cache")
def cache() -> None:
    """The local block cache."""


@cache.command("info")
@pass_ctx
@cli_errors
def cache_info(ctx: Context) -> None:
    """Size, use and hit ratio of the cache."""
    for key, value in _cache_lines(_usage(ctx)):
        click.echo(f"{key:<10} {value}")


@cache.command("set-size")
@click.argument("size")
@pass_ctx
@cli_errors
def cache_set_size(ctx: Context, size: str) -> None:
    """Change the cache size (e.g. 20g); a running process applies it within seconds."""
    capacity = parse_size(size)
    folder = ctx.state_folder() / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "index.sqlite").exists():
        asyncio.run(_create_cache(folder, capacity))
    asyncio.run(write_capacity(folder, capacity))
    click.echo(f"cache size set to {_human(capacity)}")


async def _create_cache(folder: Path, capacity: int) -> None:
    disk = await DiskCache.open(folder, capacity_bytes=capacity)
    await disk.close()


@cache.command("clear")
@pass_ctx
@cli_errors
def cache_clear(ctx: Context) -> None:
    """Drop every clean, unpinned block (pending uploads and pins stay)."""
    ctx.open().clear_cache()
    click.echo("cache cleared")


@click.command("pin")
@click.argument("path", required=False)
@click.option("--list", "list_", is_flag=True, help="List pins and their states")
@pass_ctx
@cli_errors
def pin(ctx: Context, path: str | None, list_: bool) -> None:
    """Keep PATH (a file or a folder, recursively) in the local cache."""
    if list_ or path is None:
        pins = PinStore(ctx.state_folder() / "pins.json").load()
        for p in pins:
            detail = f": {p.detail}" if p.detail else ""
            click.echo(f"{p.state:<14} {p.files:>7,} files {_human(p.bytes):>10}  {p.path}{detail}")
        if not pins:
            click.echo("no pins")
        return
    filespace = ctx.open()
    filespace.pin(path)
    if not filespace.owns_cache:
        click.echo(f"pinned {path}: the process that has the filespace open fetches it")
        return
    states = {p.path: p for p in filespace.sync_pins()}
    state = states.get(path.rstrip("/") or "/")
    if state is not None and state.state == "could not pin":
        raise ClientError(f"could not pin {path}: {state.detail}")
    click.echo(
        f"pinned {path}" + (f" ({state.files:,} files, {_human(state.bytes)})" if state else "")
    )


@click.command("unpin")
@click.argument("path")
@pass_ctx
@cli_errors
def unpin(ctx: Context, path: str) -> None:
    """Stop pinning PATH (its blocks become evictable)."""
    filespace = ctx.open()
    if not filespace.unpin(path):
        raise ClientError(f"{path} is not pinned (see 'cloudfs pin --list')")
    filespace.sync_pins()
    click.echo(f"unpinned {path}")


@click.command("warmup")
@click.argument("path", default="/")
@pass_ctx
@cli_errors
def warmup(ctx: Context, path: str) -> None:
    """Fetch everything under PATH into the local cache, with a progress bar."""
    filespace = ctx.open()
    if not filespace.owns_cache:
        raise ClientError("the cache is in use by another process (a mount?): warm up there")
    with progress(f"warmup {path}", None) as advance:
        size = filespace.warm_up(path, advance)
    click.echo(f"warmed up {path}: {_human(size)} in the cache")


def register(group: click.Group) -> None:
    for command in (status, cache, pin, unpin, warmup):
        group.add_command(command)
