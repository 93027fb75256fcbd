"""The object-store contract against memory, a local folder and moto's S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest
from obstore.store import MemoryStore

from cloudfs.store.config import LocalStoreConfig, S3StoreConfig, open_store
from cloudfs.store.obstore_backend import ObstoreStore
from cloudfs.store.protocol import ObjectStore
from tests.contracts.store_contract import MakeStore, StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def make_store(self) -> MakeStore:
        shared = MemoryStore()  # one space, so prefixes can be compared

        def make(prefix: str) -> ObjectStore:
            return ObstoreStore(shared, prefix=prefix, description=f"memory:///{prefix}")

        return make


class TestLocalStore(StoreContract):
    keys_can_nest = False

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> MakeStore:
        root = tmp_path / "objects"

        def make(prefix: str) -> ObjectStore:
            return open_store(LocalStoreConfig(root=root, prefix=prefix))

        return make


class TestMotoS3Store(StoreContract):
    @pytest.fixture
    def make_store(self, moto_bucket: S3StoreConfig) -> MakeStore:
        def make(prefix: str) -> ObjectStore:
            return open_store(S3StoreConfig.from_dict({**moto_bucket.to_dict(), "prefix": prefix}))

        return make
