"""The ``cloudfs`` command: set-up, files and service accounts.

``cloudfs [--home DIR] [-f FILESPACE] [--passphrase-file FILE] COMMAND ...``
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from cloudfs.cli import connect, files, local, mount, sa
from cloudfs.cli.common import (
    Context,
    cli_errors,
    home_option,
    parse_size,
    pass_ctx,
    read_passphrase,
)
from cloudfs.codec.keys import KdfParams
from cloudfs.store.config import S3StoreConfig
from cloudfs.tuning import keep_freed_memory
from cloudfs.workspace.filespace import DEFAULT_BLOCK_SIZE, create_filespace
from cloudfs.workspace.registry import default_home

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@home_option
@click.option(
    "-f",
    "--filespace",
    envvar="CLOUDFS_FILESPACE",
    default="default",
    show_default=True,
    help="Filespace to use [env CLOUDFS_FILESPACE]",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the passphrase from this file",
)
@click.version_option(package_name="cloudfs")
@click.pass_context
def cli(
    ctx: click.Context, home: Path | None, filespace: str, passphrase_file: Path | None
) -> None:
    """cloudfs: an encrypted, streaming cloud filespace."""
    ctx.obj = Context(home or default_home(), filespace, passphrase_file)


@cli.command()
@click.argument("name", default="default")
@click.option(
    "--block-size",
    default=str(DEFAULT_BLOCK_SIZE),
    show_default=True,
    help="Block size, a multiple of 64k from 64k to 16m (fixed for the filespace)",
)
@click.option("--s3-bucket", help="Keep data in this S3 bucket (default: a local folder)")
@click.option("--s3-endpoint", default="", help="S3-compatible endpoint URL (default: AWS)")
@click.option("--s3-region", default="us-east-1", show_default=True)
@click.option("--s3-prefix", default="", help="Key prefix in the bucket")
@click.option("--s3-virtual-hosted", is_flag=True, help="Virtual-hosted-style addressing")
@pass_ctx
@cli_errors
def init(
    ctx: Context,
    name: str,
    block_size: str,
    s3_bucket: str | None,
    s3_endpoint: str,
    s3_region: str,
    s3_prefix: str,
    s3_virtual_hosted: bool,
) -> None:
    """Create a filespace (NAME defaults to 'default').

    S3 keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    """
    store = None
    if s3_bucket:
        store = S3StoreConfig(
            bucket=s3_bucket,
            endpoint=s3_endpoint,
            region=s3_region,
            prefix=s3_prefix,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID", ""),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            virtual_hosted_style=s3_virtual_hosted,
        )
        store.validate()
    passphrase = read_passphrase(ctx.passphrase_file, confirm=True)
    record = asyncio.run(
        create_filespace(
            ctx.registry,
            name,
            passphrase,
            store=store,
            block_size=parse_size(block_size),
            kdf=KdfParams.default(),
        )
    )
    click.echo(f"created filespace {record.name!r} ({record.id}) in {ctx.home}")


@cli.command()
@pass_ctx
@cli_errors
def info(ctx: Context) -> None:
    """Show the workspace and the selected filespace."""
    filespace = ctx.open()
    size = filespace.fs.get_statistics()
    usage = filespace.storage_usage()
    record = ctx.registry.find(name=ctx.filespace)
    store = record.store
    if store.get("bucket"):
        where = f"s3://{store['bucket']}/{store.get('prefix', '')} {store.get('endpoint', '')}"
    else:
        where = str(ctx.home / str(store.get("root", "")))
    rows = [
        ("workspace", f"{ctx.registry.name} ({ctx.registry.id}) at {ctx.home}"),
        ("filespace", f"{filespace.name} ({filespace.id})"),
        ("store", where),
        ("block size", f"{filespace.block_size // 1024:,} KiB"),
        ("files", f"{size.file_count:,}"),
        ("directories", f"{size.directory_count:,}"),
        ("symlinks", f"{size.symlink_count:,}"),
        ("data", f"{size.data_size:,} bytes"),
        ("stored", f"{usage.total:,} bytes"),
        ("  in packs", f"{usage.unreferenced_in_packs:,} bytes of padding and rewritten blocks"),
        ("garbage", f"{usage.garbage_objects:,} objects waiting for the collector"),
    ]
    for key, value in rows:
        click.echo(f"{key:<12} {value}")


files.register(cli)
connect.register(cli)
local.register(cli)
mount.register(cli)
cli.add_command(sa.sa)


def main() -> None:
    keep_freed_memory()  # block-sized buffers are reused instead of faulted in anew
    cli(prog_name="cloudfs")


if __name__ == "__main__":  # how ``cloudfs mount`` starts its background process
    main()
