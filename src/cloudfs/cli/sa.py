"""``cloudfs sa``: service-account tokens for the SDK (``sa_live:<key_id>:<secret>``).

``create`` mints a token and adds a key slot for it to every filespace the passphrase
opens, so ``Client.login`` with the token can link them without a passphrase.  ``revoke``
refuses the token at login and removes its key slots.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click

from cloudfs.cli.common import Context, cli_errors, pass_ctx, read_passphrase
from cloudfs.errors import WrongPassphraseError
from cloudfs.workspace.filespace import add_token_slot, remove_token_slot
from cloudfs.workspace.registry import Token

__all__ = ["sa"]


@click.group()
def sa() -> None:
    """Service-account tokens."""


@sa.command("create")
@click.argument("name")
@pass_ctx
@cli_errors
def create(ctx: Context, name: str) -> None:
    """Mint a token; print it once (it is not stored)."""
    registry = ctx.registry
    records = registry.filespaces()
    passphrase = read_passphrase(ctx.passphrase_file)
    token = Token.mint()
    granted, skipped = [], []
    for record in records:
        try:
            asyncio.run(add_token_slot(registry, record, passphrase, token))
            granted.append(record.name)
        except WrongPassphraseError:
            skipped.append(record.name)
    if not granted:  # a failure is one line: no per-filespace notes before it
        raise WrongPassphraseError("the passphrase opens none of the workspace's filespaces")
    for name in skipped:
        click.echo(
            f"cloudfs: skipping filespace {name!r}: the passphrase does not open it", err=True
        )
    registry.add_service_account(name, token)
    click.echo(f"# service account {name!r} ({token.key_id}) for: {', '.join(granted)}", err=True)
    click.echo(str(token))


@sa.command("list")
@pass_ctx
@cli_errors
def list_(ctx: Context) -> None:
    """List service accounts."""
    for account in ctx.registry.service_accounts():
        created = datetime.fromtimestamp(account.created_ns / 1e9, UTC)
        state = "active" if account.active else "revoked"
        click.echo(f"{account.key_id}  {state:<7}  {created:%Y-%m-%d %H:%M}  {account.name}")


@sa.command("revoke")
@click.argument("key_id")
@pass_ctx
@cli_errors
def revoke(ctx: Context, key_id: str) -> None:
    """Revoke a token by its key id (see 'cloudfs sa list')."""
    registry = ctx.registry
    try:
        registry.revoke_service_account(key_id)
    except KeyError:
        raise click.ClickException(f"no active service account {key_id!r}") from None
    for record in registry.filespaces():
        asyncio.run(remove_token_slot(registry, record, key_id))
    click.echo(f"revoked {key_id}")
