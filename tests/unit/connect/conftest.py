"""Fixtures for Connect: a format-3 filespace with Connect enabled, and one without."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudfs
from cloudfs.workspace.filespace import Secret, create_filespace, enable_connect
from cloudfs.workspace.registry import Registry
from tests.envutil import isolate

PASSPHRASE = "connect passphrase"
BLOCK_SIZE = 64 * 1024
SECRET = "s3cr3t-Value-never-shown"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Filespaces 'default' (Connect enabled) and 'plain' (format 3, not enabled)."""
    path = tmp_path / "home"
    registry = Registry(path)
    for name in ("default", "plain"):
        asyncio.run(create_filespace(registry, name, PASSPHRASE, block_size=BLOCK_SIZE))
    record = registry.find(name="default")
    asyncio.run(enable_connect(registry, record, Secret(passphrase=PASSPHRASE)))
    return path


@pytest.fixture
def workspace(home: Path) -> Iterator[cloudfs.Workspace]:
    config = cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)
    with cloudfs.Client(config=config) as client:
        yield client.get_workspace(client.list_workspaces()[0].id)


@pytest.fixture
def filespace(workspace: cloudfs.Workspace) -> cloudfs.Filespace:
    return workspace.link_filespace(name="default")


@pytest.fixture
def connect(filespace: cloudfs.Filespace) -> cloudfs.ConnectManager:
    return filespace.connect


def store_config(**changes: object) -> cloudfs.S3DataStoreConfig:
    """A store on an endpoint nothing listens on: any S3 call would fail loudly."""
    values: dict[str, object] = {
        "access_key": "AKIAEXAMPLE",
        "secret_key": SECRET,
        "bucket_name": "customer-bucket",
        "region": "us-east-1",
        "endpoint": "http://127.0.0.1:9",
    }
    values.update(changes)
    return cloudfs.S3DataStoreConfig(**values)  # type: ignore[arg-type]
