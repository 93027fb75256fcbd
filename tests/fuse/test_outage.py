"""A real mount over a real S3 server (moto) that goes away for a while and comes back.

The server is moto's threaded server in this process, on a port of its own: stopping it
refuses every connection; a new server started on the same port serves the same buckets
(moto keeps them in this process).  The mount process reads with
``$CLOUDFS_STORE_WAIT`` = ``WAIT`` seconds, so an uncached read fails with EIO quickly.

Through the mount, while the server is down: a file read before the outage reads again
(from the mount's caches: its pages are dropped from the kernel's cache first), an
uncached file fails with ``errno.EIO`` rather than hanging, and a new file can be written
and closed.  After the restart the uncached file reads correctly and the new file is
uploaded.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from cloudfs.store.config import S3StoreConfig
from cloudfs.vfs.fetch import STORE_WAIT_ENV
from tests.fuse import mounting
from tests.fuse.mounting import Mount, cloudfs_env, fuse_only, run_cli
from tests.servers import MOTO_KEY, create_bucket, free_port, s3_config_for, unique_bucket_name

pytestmark = fuse_only

WAIT = 1.0  # seconds the mount's reads wait for the store
LIMIT = 60.0  # seconds: an os call still running after this is a hang
BLOCK = 64 * 1024


class RestartableS3:
    """moto's S3 on one fixed loopback port, stopped and started again on demand."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        assert self._server is None
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
def s3() -> Iterator[RestartableS3]:
    server = RestartableS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: RestartableS3) -> S3StoreConfig:
    config = s3_config_for(s3.endpoint, unique_bucket_name("outage"))
    create_bucket(config)  # moto forgets it with the process; never deleted by hand
    return config


@pytest.fixture
def home(tmp_path: Path, bucket: S3StoreConfig, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace whose 'default' filespace keeps its data in ``bucket``; mounts of it
    get ``$CLOUDFS_STORE_WAIT``."""
    path = tmp_path / "home"
    env = cloudfs_env(path) | {"AWS_ACCESS_KEY_ID": MOTO_KEY, "AWS_SECRET_ACCESS_KEY": MOTO_KEY}
    args = ["--s3-bucket", bucket.bucket, "--s3-endpoint", bucket.endpoint]
    code, out = run_cli(path, "init", "--block-size", "64k", *args, env=env)
    assert code == 0, out
    monkeypatch.setattr(
        mounting, "cloudfs_env", lambda home: cloudfs_env(home) | {STORE_WAIT_ENV: str(WAIT)}
    )
    return path


def _bounded(call: Callable[[], Any]) -> Any:
    """Run a blocking os call in a thread; fail (instead of hanging) after ``LIMIT``."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=LIMIT)


def read_uncached(path: Path) -> bytes:
    """The file's bytes, after dropping its pages from the kernel's cache, so that the
    reads reach the mount."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def stored_keys(config: S3StoreConfig) -> set[str]:
    client: Any = boto3.client(
        "s3",
        endpoint_url=config.endpoint,
        region_name=config.region,
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=config.bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def put_uncached(home: Path, tmp_path: Path, name: str, data: bytes) -> None:
    """Upload ``data`` as ``/name`` with the CLI, then drop it from the local cache."""
    local = tmp_path / name
    local.write_bytes(data)
    code, out = run_cli(home, "put", str(local), f"/{name}")
    assert code == 0, out
    code, out = run_cli(home, "cache", "clear")
    assert code == 0, out


def test_mount_rides_out_a_store_outage(
    home: Path, tmp_path: Path, s3: RestartableS3, bucket: S3StoreConfig
) -> None:
    warm, cold = os.urandom(3 * BLOCK + 11), os.urandom(2 * BLOCK + 7)
    put_uncached(home, tmp_path, "warm.bin", warm)
    put_uncached(home, tmp_path, "cold.bin", cold)
    with Mount(home, tmp_path / "mnt") as mount:
        assert _bounded(lambda: read_uncached(mount.path / "warm.bin")) == warm
        before = stored_keys(bucket)
        s3.stop()

        assert _bounded(lambda: read_uncached(mount.path / "warm.bin")) == warm
        assert os.stat(mount.path / "cold.bin").st_size == len(cold)  # metadata is local
        with pytest.raises(OSError) as info:
            _bounded(lambda: read_uncached(mount.path / "cold.bin"))
        assert info.value.errno == errno.EIO, repr(info.value)
        new = os.urandom(3 * BLOCK)
        _bounded(lambda: (mount.path / "new.bin").write_bytes(new))  # close is journaled
        assert _bounded(lambda: read_uncached(mount.path / "new.bin")) == new

        s3.start()
        assert _bounded(lambda: read_uncached(mount.path / "cold.bin")) == cold
        deadline = time.monotonic() + LIMIT
        # new.bin's three blocks: one pack (format 4 packs the neighbours of one commit)
        while not any(key.startswith("packs/") for key in stored_keys(bucket) - before):
            assert time.monotonic() < deadline, "the write was not uploaded after the outage"
            time.sleep(0.1)
        assert _bounded(lambda: read_uncached(mount.path / "new.bin")) == new
        assert "Traceback" not in mount.output()
