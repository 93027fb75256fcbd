"""Fixtures for the SDK tests: an embedded workspace in ``tmp_path`` and linked filespaces.

Every test runs with the cheap test KDF and with ``CLOUDFS_HOME`` (and the client state
folder) inside ``tmp_path``, so nothing touches the real home folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudfs
from cloudfs.workspace.filespace import add_token_slot, create_filespace
from cloudfs.workspace.registry import Registry, Token
from tests.envutil import isolate

PASSPHRASE = "correct horse battery staple"
BLOCK_SIZE = 64 * 1024


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with filespaces 'default' and 'other', both opened by PASSPHRASE."""
    path = tmp_path / "home"
    registry = Registry(path)
    for name in ("default", "other"):
        asyncio.run(create_filespace(registry, name, PASSPHRASE, block_size=BLOCK_SIZE))
    return path


def mint_token(home: Path, name: str = "robot") -> str:
    """A service-account token with a key slot in every filespace of ``home``."""
    registry = Registry(home)
    token = Token.mint()
    for record in registry.filespaces():
        asyncio.run(add_token_slot(registry, record, PASSPHRASE, token))
    registry.add_service_account(name, token)
    return str(token)


@pytest.fixture
def config(home: Path) -> cloudfs.ClientConfig:
    return cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)


@pytest.fixture
def client(config: cloudfs.ClientConfig) -> Iterator[cloudfs.Client]:
    with cloudfs.Client(config=config) as c:
        yield c


@pytest.fixture
def workspace(client: cloudfs.Client) -> cloudfs.Workspace:
    return client.get_workspace(client.list_workspaces()[0].id)


@pytest.fixture
def filespace(workspace: cloudfs.Workspace) -> Iterator[cloudfs.Filespace]:
    with workspace.link_filespace(name="default") as fsp:
        yield fsp


@pytest.fixture
def fs(filespace: cloudfs.Filespace) -> cloudfs.Filesystem:
    return filespace.fs
