"""The object-store contract against a real Ceph radosgw, plus real SigV4 refusals.

moto accepts any credentials, so only a real server shows that a wrong secret or an
unknown access key is refused and surfaces as ``StoreAccessDeniedError`` (a
``PermissionError``) without the secret in the message.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import cloudfs
from cloudfs.errors import StoreAccessDeniedError
from cloudfs.store.config import S3StoreConfig, open_store
from cloudfs.store.protocol import ObjectStore
from cloudfs.workspace.filespace import create_filespace
from cloudfs.workspace.registry import Registry
from tests.contracts.store_contract import MakeStore, StoreContract, run_op
from tests.servers import CephRgw

pytestmark = pytest.mark.ceph


class TestCephStore(StoreContract):
    @pytest.fixture
    def make_store(self, ceph_bucket: S3StoreConfig) -> MakeStore:
        def make(prefix: str) -> ObjectStore:
            return open_store(S3StoreConfig.from_dict({**ceph_bucket.to_dict(), "prefix": prefix}))

        return make


def with_credentials(config: S3StoreConfig, access_key: str, secret_key: str) -> S3StoreConfig:
    data = {**config.to_dict(), "access_key": access_key, "secret_key": secret_key}
    return S3StoreConfig.from_dict(data)


@pytest.mark.parametrize(
    ("access_key", "secret_key"),
    [("cephak", "not-the-secret"), ("nobody", "not-the-secret")],
    ids=["wrong-secret", "unknown-access-key"],
)
@pytest.mark.parametrize("op", ["put", "get", "head", "list"])
async def test_wrong_credentials_are_refused(
    ceph_rgw: CephRgw, ceph_bucket: S3StoreConfig, access_key: str, secret_key: str, op: str
) -> None:
    good = open_store(ceph_bucket)
    await good.put("k", b"v")
    bad = open_store(with_credentials(ceph_bucket, access_key, secret_key))
    with pytest.raises(StoreAccessDeniedError) as info:
        await run_op(bad, op)
    assert isinstance(info.value, PermissionError)
    assert "not-the-secret" not in str(info.value)
    assert ceph_rgw.secret_key not in str(info.value)
    await good.close()
    await bad.close()


def test_filespace_round_trip_through_the_sdk(
    ceph_bucket: S3StoreConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filespace on Ceph: files written and read back through the SDK, sealed in the bucket."""
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    registry = Registry(tmp_path / "home")
    store = S3StoreConfig.from_dict({**ceph_bucket.to_dict(), "prefix": "fs1"})
    asyncio.run(
        create_filespace(registry, "ceph", "pass phrase", store=store, block_size=64 * 1024)
    )
    data = os.urandom(5 * 64 * 1024 + 17)
    config = cloudfs.ClientConfig(home=tmp_path / "home", passphrase="pass phrase")
    with cloudfs.Client(config=config) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        with workspace.link_filespace(name="ceph") as filespace:
            filespace.fs.write_file("/data/../big.bin", data)
            filespace.fs.create_dir("/dir")
            filespace.fs.move("/big.bin", "/dir/big.bin")
            assert filespace.fs.read_file("/dir/big.bin") == data
    with cloudfs.Client(config=config) as client:  # a fresh client: nothing cached
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        with workspace.link_filespace(name="ceph") as filespace:
            assert filespace.fs.read_file("/dir/big.bin") == data

    async def stored() -> list[bytes]:
        objects = open_store(store)
        try:
            return [
                await objects.get(m.key)
                for prefix in ("blocks/", "packs/")
                async for m in objects.list(prefix)
            ]
        finally:
            await objects.close()

    blobs = asyncio.run(stored())
    assert len(blobs) == 1  # the file's six blocks, as one pack (format 4)
    assert len(blobs[0]) > len(data)
    assert all(data[:64] not in blob for blob in blobs)
