"""External (Connect) files through a real mount: ranged reads of a multi-MiB object from
the customer's bucket (moto), read-only content (EACCES), rename like any entry."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from cloudfs.store.config import S3StoreConfig
from tests.fuse.mounting import Mount, cloudfs_env, fuse_only, run_cli
from tests.servers import s3_client as _bucket_client

pytestmark = fuse_only

BIG = hashlib.sha256(b"mount").digest() * (3 * 1024 * 1024 // 32) + b"end" * 333


def test_external_file_through_the_mount(
    home: Path, tmp_path: Path, moto_bucket: S3StoreConfig
) -> None:
    _bucket_client(moto_bucket).put_object(Bucket=moto_bucket.bucket, Key="big.bin", Body=BIG)
    env = cloudfs_env(home) | {"CLOUDFS_STORE_SECRET_KEY": moto_bucket.secret_key}
    for args in (
        ("connect", "enable"),
        ("connect", "add-store", "s", "--bucket", moto_bucket.bucket,
         "--endpoint", moto_bucket.endpoint, "--access-key", moto_bucket.access_key),
        ("connect", "link", "/ext/big.bin", "s", "big.bin"),
    ):  # fmt: skip
        code, out = run_cli(home, *args, env=env)
        assert code == 0, out
    with Mount(home, tmp_path / "mnt") as mount:
        path = mount.path / "ext" / "big.bin"
        assert path.stat().st_size == len(BIG)
        fd = os.open(path, os.O_RDONLY)
        try:
            for offset in (0, 65_530, 1_000_000, len(BIG) - 100):
                assert os.pread(fd, 70_000, offset) == BIG[offset : offset + 70_000]
        finally:
            os.close(fd)
        assert path.read_bytes() == BIG
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
            with pytest.raises(PermissionError) as info:
                os.open(path, flags)
            assert info.value.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        with pytest.raises(PermissionError):
            os.truncate(path, 0)
        path.rename(mount.path / "ext" / "renamed.bin")
        assert (mount.path / "ext" / "renamed.bin").read_bytes()[:100] == BIG[:100]
