"""Connect against a real Ceph radosgw: what moto cannot show (SigV4 and presigned URLs).

A wrong secret is refused (at HEAD and at read), a rekey takes effect at once in both
directions, and tampered or expired presigned URLs are refused when linking and reading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudfs
from cloudfs.store.config import S3StoreConfig
from cloudfs.workspace.filespace import Secret, create_filespace, enable_connect
from cloudfs.workspace.registry import Registry
from tests.servers import s3_client as s3

pytestmark = pytest.mark.ceph

PASSPHRASE = "connect ceph passphrase"
DATA = bytes(range(256)) * 2048  # 512 KiB: eight 64 KiB blocks


@pytest.fixture
def filespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[cloudfs.Filespace]:
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    home = tmp_path / "home"
    registry = Registry(home)
    asyncio.run(create_filespace(registry, "default", PASSPHRASE, block_size=64 * 1024))
    record = registry.find(name="default")
    asyncio.run(enable_connect(registry, record, Secret(passphrase=PASSPHRASE)))
    config = cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)
    with cloudfs.Client(config=config) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        yield workspace.link_filespace(name="default")


def store(bucket: S3StoreConfig, secret_key: str) -> cloudfs.S3DataStoreConfig:
    return cloudfs.S3DataStoreConfig(
        access_key=bucket.access_key,
        secret_key=secret_key,
        bucket_name=bucket.bucket,
        region=bucket.region,
        endpoint=bucket.endpoint,
    )


def test_wrong_secret_is_refused_and_rekey_takes_effect(
    filespace: cloudfs.Filespace, ceph_bucket: S3StoreConfig
) -> None:
    etag = s3(ceph_bucket).put_object(Bucket=ceph_bucket.bucket, Key="obj", Body=DATA)["ETag"]
    connect = filespace.connect
    connect.add_data_store("ceph", store(ceph_bucket, "not-the-secret"))
    with pytest.raises(RuntimeError, match="denied") as info:
        connect.link_file("/obj", "ceph", "obj")
    assert "not-the-secret" not in str(info.value)
    connect.link_file("/obj", "ceph", "obj", len(DATA), etag)  # no S3 call: links
    # One block only: the fetches of a whole-file read that fails go on after it fails,
    # and one that retries with fresh keys after the rekey below would cache block 4.
    with (
        filespace.fs.open("/obj", "rb", buffering=0) as f,
        pytest.raises(PermissionError) as denied,
    ):
        f.read(1000)
    assert "not-the-secret" not in str(denied.value)
    connect.rekey_data_store("ceph", new_access_key=ceph_bucket.access_key,
                             new_secret_key=ceph_bucket.secret_key)  # fmt: skip
    with filespace.fs.open("/obj", "rb", buffering=0) as f:
        assert f.read(1000) == DATA[:1000]  # the new credentials, at once
        connect.rekey_data_store("ceph", new_access_key=ceph_bucket.access_key,
                                 new_secret_key="revoked-secret")  # fmt: skip
        f.seek(300_000)  # a block not read yet: the old (right) secret is gone
        with pytest.raises(PermissionError):
            f.read(1000)


def test_presigned_urls_tampered_or_expired_are_refused(
    filespace: cloudfs.Filespace, ceph_bucket: S3StoreConfig
) -> None:
    client = s3(ceph_bucket)
    client.put_object(Bucket=ceph_bucket.bucket, Key="shared", Body=DATA)
    params = {"Bucket": ceph_bucket.bucket, "Key": "shared"}
    good = client.generate_presigned_url("get_object", Params=params, ExpiresIn=600)
    connect = filespace.connect
    connect.link_http_file("/good", good)
    assert filespace.fs.read_file("/good") == DATA
    signature = good.rsplit("X-Amz-Signature=", 1)[1][:4]
    tampered = good.replace("X-Amz-Signature=" + signature, "X-Amz-Signature=0000")
    with pytest.raises(RuntimeError, match="HTTP Error 403"):
        connect.link_http_file("/tampered", tampered)
    short = client.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    connect.link_http_file("/short", short)  # valid for one more second
    time.sleep(2.5)
    with pytest.raises(RuntimeError, match="HTTP Error 403"):
        connect.link_http_file("/expired", short)
    with pytest.raises(cloudfs.IntegrityError, match="HTTP 403"):
        filespace.fs.read_file("/short")
    renewed = client.generate_presigned_url("get_object", Params=params, ExpiresIn=600)
    connect.update_http_file_url("/short", renewed)
    assert filespace.fs.read_file("/short") == DATA
