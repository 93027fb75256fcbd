"""The VFS contract: the VFS over memory, local-folder and S3 (moto) stores, and the reference.

``TestLocalFolderReference`` runs the same suite with the ``os`` driver on a temporary
folder: it proves the contract says what Linux does, so cloudfs passing it means cloudfs
behaves like a local filesystem.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudfs.store.config import LocalStoreConfig, MemoryStoreConfig, S3StoreConfig, open_store
from cloudfs.store.protocol import ObjectStore
from tests.contracts.os_driver import OsDriver
from tests.contracts.vfs_contract import FsDriver, VfsContract, VfsDriver
from tests.vfsutil import close_vfs, make_vfs


async def _vfs_driver(store: ObjectStore) -> AsyncIterator[FsDriver]:
    vfs = await make_vfs(store)
    try:
        yield VfsDriver(vfs)
    finally:
        await close_vfs(vfs)


class TestVfsOnMemoryStore(VfsContract):
    @pytest.fixture
    async def fs(self) -> AsyncIterator[FsDriver]:
        async for driver in _vfs_driver(open_store(MemoryStoreConfig())):
            yield driver


class TestVfsOnLocalStore(VfsContract):
    @pytest.fixture
    async def fs(self, tmp_path: Path) -> AsyncIterator[FsDriver]:
        async for driver in _vfs_driver(open_store(LocalStoreConfig(root=tmp_path / "o"))):
            yield driver


class TestVfsOnMotoS3(VfsContract):
    @pytest.fixture
    async def fs(self, moto_bucket: S3StoreConfig) -> AsyncIterator[FsDriver]:
        async for driver in _vfs_driver(open_store(moto_bucket)):
            yield driver


class TestLocalFolderReference(VfsContract):
    @pytest.fixture
    def fs(self, tmp_path: Path) -> FsDriver:
        root = tmp_path / "root"
        root.mkdir()
        return OsDriver(root)
