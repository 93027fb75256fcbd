"""What every CLI command shares: the workspace, the passphrase, errors, progress bars.

Every command that opens a filespace takes its secret the same way, first found wins:
``--passphrase-file FILE``, ``$CLOUDFS_PASSPHRASE``, ``$CLOUDFS_TOKEN`` (a service-account
token), then a hidden prompt when standard input is a terminal.

Errors become one line on standard error, ``cloudfs: <what went wrong>``, and exit status 1.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cloudfs.errors import CloudfsError
from cloudfs.sdk.client import Client, Filespace
from cloudfs.sdk.models import (
    ClientConfig,
    ServiceAccountCredentials,
    StorageConfig,
    StorageMode,
)
from cloudfs.workspace.registry import Registry, default_home

__all__ = ["Context", "cli_errors", "parse_size", "pass_ctx", "progress", "read_passphrase"]

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True)


@dataclass
class Context:
    """Options given before the command name."""

    home: Path
    filespace: str
    passphrase_file: Path | None
    _client: Client | None = None
    _filespace: Filespace | None = None

    @property
    def registry(self) -> Registry:
        return Registry(self.home)

    @property
    def state_root(self) -> Path:
        """The CLI's local state (cache, journal, pins): ``$CLOUDFS_HOME/state``."""
        return self.home / "state"

    def state_folder(self) -> Path:
        """The selected filespace's state folder (without opening the filespace)."""
        return self.state_root / "filespaces" / self.registry.find(name=self.filespace).id

    def open(self) -> Filespace:
        """Link the selected filespace (once per command)."""
        if self._filespace is None:
            token = os.environ.get("CLOUDFS_TOKEN")
            passphrase = (
                None
                if token and not self._explicit_passphrase()
                else read_passphrase(self.passphrase_file)
            )
            client = self._client = Client(
                storage=StorageConfig(mode=StorageMode.PHYSICAL, root_path=self.state_root),
                config=ClientConfig(home=self.home, passphrase=passphrase),
            )
            if passphrase is None and token:
                client.login(ServiceAccountCredentials(token))
            workspace = client.get_workspace(self.registry.id)
            self._filespace = workspace.link_filespace(name=self.filespace)
        return self._filespace

    def _explicit_passphrase(self) -> bool:
        return self.passphrase_file is not None or bool(os.environ.get("CLOUDFS_PASSPHRASE"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


pass_ctx = click.make_pass_decorator(Context)


def read_passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> str:
    """The passphrase from ``--passphrase-file``, ``$CLOUDFS_PASSPHRASE`` or a prompt."""
    if passphrase_file is not None:
        text = passphrase_file.read_text().rstrip("\r\n")
        if not text:
            raise click.UsageError(f"{passphrase_file} is empty")
        return text
    if env := os.environ.get("CLOUDFS_PASSPHRASE"):
        return env
    if not sys.stdin.isatty():
        raise click.UsageError(
            "a passphrase is needed: use --passphrase-file, CLOUDFS_PASSPHRASE or a terminal"
        )
    entered: str = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return entered


def parse_size(text: str) -> int:
    """A byte count such as ``4m``, ``20g``, ``64KiB`` or ``1048576``."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise click.BadParameter(f"not a size: {text!r} (e.g. 4m, 20g)") from None


def home_option(f: F) -> F:
    return click.option(
        "--home",
        type=click.Path(path_type=Path),
        envvar="CLOUDFS_HOME",
        default=None,
        help=f"Workspace folder [env CLOUDFS_HOME; default {default_home()}]",
    )(f)


def describe(error: BaseException) -> str:
    """One line for the user: what failed, and where."""
    if isinstance(error, OSError) and not isinstance(error, CloudfsError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    text = str(error) or type(error).__name__
    return text.splitlines()[0]


def cli_errors(f: F) -> F:
    """Turn the errors a user can cause into one line on stderr and exit status 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (CloudfsError, OSError, ValueError) as e:
            click.echo(f"cloudfs: {describe(e)}", err=True)
            sys.exit(1)
        except click.ClickException as e:  # raised by the command itself: a failure, not usage
            click.echo(f"cloudfs: {e.format_message().splitlines()[0]}", err=True)
            sys.exit(1)
        finally:
            ctx = click.get_current_context(silent=True)
            if ctx is not None and isinstance(ctx.obj, Context):
                with contextlib.suppress(Exception):
                    ctx.obj.close()

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A transfer progress bar on stderr (only when it is a terminal)."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
