"""``cloudfs connect``: data stores and external files; ``cloudfs upgrade``.

Secrets never go on the command line (where ``ps`` and shell history would keep them):
``add-store`` and ``rekey`` read the secret key from ``--secret-key-file``,
``$CLOUDFS_STORE_SECRET_KEY``, ``$AWS_SECRET_ACCESS_KEY`` or a hidden prompt, first found
wins.  The access key id may be given with ``--access-key`` (default
``$AWS_ACCESS_KEY_ID``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cloudfs.cli.common import Context, cli_errors, pass_ctx, read_passphrase, stderr
from cloudfs.connect.importer import Importer
from cloudfs.connect.manager import ConnectManager
from cloudfs.connect.models import S3Credentials, S3DataStoreConfig
from cloudfs.workspace.filespace import Secret, enable_connect, upgrade_filespace
from cloudfs.workspace.registry import Token

__all__ = ["connect", "register"]

F = TypeVar("F", bound=Callable[..., Any])


def _failures(f: F) -> F:
    """Connect reports a failed operation as ``RuntimeError`` (the seed's contract)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except RuntimeError as e:
            raise click.ClickException(str(e)) from e

    return wrapper  # type: ignore[return-value]


def _secret(ctx: Context) -> Secret:
    token = os.environ.get("CLOUDFS_TOKEN")
    if token and not ctx._explicit_passphrase():
        return Secret(token=Token.parse(token))
    return Secret(passphrase=read_passphrase(ctx.passphrase_file))


def _manager(ctx: Context) -> ConnectManager:
    manager: ConnectManager = ctx.open().connect
    return manager


def _secret_key(secret_key_file: Path | None) -> str:
    if secret_key_file is not None:
        text = secret_key_file.read_text().strip()
        if not text:
            raise click.UsageError(f"{secret_key_file} is empty")
        return text
    for var in ("CLOUDFS_STORE_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"):
        if value := os.environ.get(var):
            return value
    if not sys.stdin.isatty():
        raise click.UsageError(
            "a secret key is needed: use --secret-key-file, CLOUDFS_STORE_SECRET_KEY or a terminal"
        )
    entered: str = click.prompt("Secret key", hide_input=True)
    return entered


_access_key = click.option(
    "--access-key",
    envvar="AWS_ACCESS_KEY_ID",
    default="",
    help="Access key id [env AWS_ACCESS_KEY_ID]",
)
_secret_file = click.option(
    "--secret-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the secret key from this file",
)


@click.group()
def connect() -> None:
    """Link objects of your S3 buckets as read-only files (Connect)."""


@connect.command("enable")
@pass_ctx
@cli_errors
@_failures
def enable(ctx: Context) -> None:
    """Enable Connect on the filespace (needs format 3: see 'cloudfs upgrade')."""
    record = ctx.registry.find(name=ctx.filespace)
    changed = asyncio.run(enable_connect(ctx.registry, record, _secret(ctx)))
    state = "enabled" if changed else "already enabled"
    click.echo(f"Connect {state} on filespace {record.name!r}")


@connect.command("add-store")
@click.argument("name")
@click.option("--bucket", required=True, help="Bucket name")
@click.option("--region", default="us-east-1", show_default=True)
@click.option("--endpoint", default="", help="S3-compatible endpoint URL (default: AWS)")
@click.option("--url-expiration-minutes", type=int, default=10080, show_default=True)
@click.option("--virtual-addressing", is_flag=True, help="Virtual-hosted-style addressing")
@_access_key
@_secret_file
@pass_ctx
@cli_errors
@_failures
def add_store(
    ctx: Context,
    name: str,
    bucket: str,
    region: str,
    endpoint: str,
    url_expiration_minutes: int,
    virtual_addressing: bool,
    access_key: str,
    secret_key_file: Path | None,
) -> None:
    """Register a data store NAME for a bucket."""
    manager = _manager(ctx)
    config = S3DataStoreConfig(
        access_key=access_key,
        secret_key=_secret_key(secret_key_file),
        bucket_name=bucket,
        region=region,
        endpoint=endpoint,
        url_expiration_minutes=url_expiration_minutes,
        use_virtual_addressing=virtual_addressing,
    )
    info = manager.add_data_store(name, config)
    click.echo(f"added data store {info.name!r} for s3://{info.bucket_name}")


@connect.command("stores")
@pass_ctx
@cli_errors
@_failures
def stores(ctx: Context) -> None:
    """List data stores and how many files each has linked."""
    manager = _manager(ctx)
    for info in manager.list_data_stores():
        linked = manager.count_external_files(info.name)
        where = f" {info.endpoint}" if info.endpoint else ""
        click.echo(f"{info.name:<20} s3://{info.bucket_name}{where}  {linked:,} linked")


@connect.command("store")
@click.argument("name")
@pass_ctx
@cli_errors
@_failures
def store(ctx: Context, name: str) -> None:
    """Show one data store (never its secret key)."""
    manager = _manager(ctx)
    info = manager.get_data_store(name)
    if info is None:
        raise click.ClickException(f"no data store named {name!r}")
    rows = [
        ("name", info.name),
        ("kind", info.kind.value),
        ("bucket", info.bucket_name),
        ("region", info.region),
        ("endpoint", info.endpoint or "(AWS)"),
        ("access key", info.access_key),
        ("secret key", "(set)" if info.secret_key else "(none)"),
        ("key id", info.key_id),
        ("rekey state", info.rekey_state.value),
        ("url expiry", f"{info.url_expiration_minutes} minutes"),
        ("addressing", "virtual-hosted" if info.use_virtual_addressing else "path"),
        ("linked files", f"{manager.count_external_files(name):,}"),
    ]
    for key, value in rows:
        click.echo(f"{key:<13} {value}")


@connect.command("rekey")
@click.argument("name")
@_access_key
@_secret_file
@pass_ctx
@cli_errors
@_failures
def rekey(ctx: Context, name: str, access_key: str, secret_key_file: Path | None) -> None:
    """Replace a data store's credentials."""
    manager = _manager(ctx)
    manager.rekey_data_store(name, S3Credentials(access_key, _secret_key(secret_key_file)))
    click.echo(f"rekeyed data store {name!r}")


@connect.command("rm-store")
@click.argument("name")
@pass_ctx
@cli_errors
@_failures
def rm_store(ctx: Context, name: str) -> None:
    """Remove a data store (refused while files are linked to it)."""
    _manager(ctx).remove_data_store(name)
    click.echo(f"removed data store {name!r}")


@connect.command("link")
@click.argument("path")
@click.argument("store_name", metavar="STORE")
@click.argument("key")
@click.option("--size", type=int, default=None, help="Object size (with --etag: no HEAD)")
@click.option("--etag", default="", help="Object ETag (with --size: no HEAD)")
@pass_ctx
@cli_errors
@_failures
def link(ctx: Context, path: str, store_name: str, key: str, size: int | None, etag: str) -> None:
    """Link object KEY of STORE at PATH."""
    _manager(ctx).link_file(path, store_name, key, size, etag)
    click.echo(f"linked {path}")


@connect.command("link-http")
@click.argument("path")
@click.argument("url")
@click.option("--size", type=int, default=None, help="Size in bytes (default: HEAD the URL)")
@pass_ctx
@cli_errors
@_failures
def link_http(ctx: Context, path: str, url: str, size: int | None) -> None:
    """Link an HTTP(S) URL at PATH."""
    _manager(ctx).link_http_file(path, url, size=size)
    click.echo(f"linked {path}")


@connect.command("unlink")
@click.argument("path")
@pass_ctx
@cli_errors
@_failures
def unlink(ctx: Context, path: str) -> None:
    """Remove an external file (the object stays)."""
    _manager(ctx).unlink_file(path)
    click.echo(f"unlinked {path}")


@connect.command("ls")
@click.argument("store_name", metavar="STORE")
@click.option("--limit", type=int, default=1000, show_default=True, help="Page size")
@pass_ctx
@cli_errors
@_failures
def ls(ctx: Context, store_name: str, limit: int) -> None:
    """List every file linked to STORE."""
    manager = _manager(ctx)
    cursor = ""
    while True:
        page = manager.list_external_files(store_name, limit=limit, cursor=cursor)
        for path in page.file_paths:
            click.echo(path)
        if not page.has_more:
            return
        cursor = page.cursor


@connect.command("count")
@click.argument("store_name", metavar="STORE")
@pass_ctx
@cli_errors
@_failures
def count(ctx: Context, store_name: str) -> None:
    """How many files are linked to STORE."""
    click.echo(f"{_manager(ctx).count_external_files(store_name)}")


@connect.command("import")
@click.argument("source")
@click.argument("dest")
@click.option("--store", "store_name", required=True, help="Data store of the bucket")
@pass_ctx
@cli_errors
@_failures
def import_(ctx: Context, source: str, dest: str, store_name: str) -> None:
    """Mirror every object under s3://BUCKET/PREFIX into DEST (re-run to sync)."""
    url = urlsplit(source)
    if url.scheme != "s3" or not url.netloc:
        raise click.UsageError(f"SOURCE must be s3://BUCKET/PREFIX, not {source!r}")
    manager = _manager(ctx)
    info = manager.get_data_store(store_name)
    if info is None:
        raise click.ClickException(f"no data store named {store_name!r}")
    if info.bucket_name != url.netloc:
        raise click.ClickException(
            f"data store {store_name!r} is bucket {info.bucket_name!r}, not {url.netloc!r}"
        )
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed:,} objects"),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
        transient=True,
    )
    with bar:
        task = bar.add_task("importing", total=None)
        report = Importer(manager).run(
            store_name,
            url.path.lstrip("/"),
            dest,
            progress=lambda n: bar.advance(task, n),
        )
    click.echo(
        f"listed {report.listed:,}: linked {report.linked:,}, relinked {report.relinked:,}, "
        f"unlinked {report.unlinked:,}, unchanged {report.unchanged:,}, "
        f"skipped {report.skipped:,}"
    )


@click.command("upgrade")
@pass_ctx
@cli_errors
@_failures
def upgrade(ctx: Context) -> None:
    """Move the filespace to the newest format (in place; old data stays readable)."""
    record = ctx.registry.find(name=ctx.filespace)
    old, new = asyncio.run(upgrade_filespace(ctx.registry, record, _secret(ctx)))
    if old == new:
        click.echo(f"filespace {record.name!r} is already format {new}")
    else:
        click.echo(f"upgraded filespace {record.name!r} from format {old} to {new}")


def register(cli: click.Group) -> None:
    cli.add_command(connect)
    cli.add_command(upgrade)
