"""Fixtures for the fsspec tests: an embedded workspace in ``tmp_path`` and a
:class:`CloudFileSystem` on it, closed (and dropped from fsspec's instance cache) after
each test so that no filespace stays linked into the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudfs.fsspec import CloudFileSystem
from cloudfs.workspace.filespace import add_token_slot, create_filespace
from cloudfs.workspace.registry import Registry, Token

PASSPHRASE = "correct horse battery staple"
BLOCK_SIZE = 64 * 1024


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("CLOUDFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CLOUDFS_PASSPHRASE", raising=False)
    monkeypatch.delenv("CLOUDFS_TOKEN", raising=False)
    CloudFileSystem.clear_instance_cache()
    yield
    CloudFileSystem.clear_instance_cache()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with filespaces 'default' and 'other', both opened by PASSPHRASE."""
    path = tmp_path / "home"
    registry = Registry(path)
    for name in ("default", "other"):
        asyncio.run(create_filespace(registry, name, PASSPHRASE, block_size=BLOCK_SIZE))
    return path


@pytest.fixture
def workspace_name(home: Path) -> str:
    return Registry(home).name


@pytest.fixture
def token(home: Path) -> str:
    """A service-account token with a key slot in every filespace of ``home``."""
    registry = Registry(home)
    minted = Token.mint()
    for record in registry.filespaces():
        asyncio.run(add_token_slot(registry, record, PASSPHRASE, minted))
    registry.add_service_account("robot", minted)
    return str(minted)


@pytest.fixture
def cloud(home: Path) -> Iterator[CloudFileSystem]:
    """A filesystem opened by passphrase (no fsspec instance cache)."""
    fs = CloudFileSystem(home=str(home), passphrase=PASSPHRASE, skip_instance_cache=True)
    yield fs
    fs.close()


@pytest.fixture
def root(cloud: CloudFileSystem, workspace_name: str) -> str:
    """The 'default' filespace's root, as an fsspec path."""
    return f"{workspace_name}/default"
