"""Real S3 servers for tests, as a pytest plugin (``pytest_plugins = ["tests.servers"]``).

One way to start each server, reused by every test that needs it:

- ``moto_server`` (session): moto's in-process S3 on ``127.0.0.1`` and a free port; yields
  its endpoint URL.  Accepts any credentials.  ``moto_bucket`` (per test) creates a fresh,
  uniquely named bucket there and gives its :class:`S3StoreConfig`; the bucket is emptied
  and deleted afterwards so moto's memory stays flat.
- ``ceph_rgw`` (session): a real single-node Ceph radosgw started by the project's own
  ``scripts/ceph-rgw-up`` in a fresh temporary folder on free loopback ports, stopped and
  wiped by ``scripts/ceph-rgw-down`` after the session.  Real SigV4, so wrong secrets are
  refused.  Skipped (with the reason) when the Ceph packages are not installed; a start
  that fails with the packages present is an error, not a skip.  ``ceph_bucket`` (per
  test) is the same fresh-bucket helper.

``AWS_CA_BUNDLE`` is set globally on the CI machines; neither boto3 nor obstore consults it
for ``http://`` endpoints, so it needs no special handling here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from cloudfs.store.config import S3StoreConfig

__all__ = [
    "CEPH_BINARIES",
    "CephRgw",
    "create_bucket",
    "delete_bucket",
    "free_port",
    "s3_config_for",
    "unique_bucket_name",
]

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
CEPH_BINARIES = (
    "ceph-mon",
    "ceph-osd",
    "ceph",
    "radosgw",
    "radosgw-admin",
    "monmaptool",
    "uuidgen",
    "curl",
)
MOTO_KEY = "testing"
CEPH_START_TIMEOUT = 300


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unique_bucket_name(tag: str = "t") -> str:
    """A bucket name no other test uses: ``{tag}-{random hex}``."""
    return f"{tag}-{uuid.uuid4().hex[:16]}"


def s3_config_for(
    endpoint: str,
    bucket: str,
    *,
    access_key: str = MOTO_KEY,
    secret_key: str = MOTO_KEY,
    prefix: str = "",
) -> S3StoreConfig:
    """An :class:`S3StoreConfig` for ``bucket`` on a loopback test server."""
    return S3StoreConfig(
        bucket=bucket,
        endpoint=endpoint,
        access_key=access_key,
        secret_key=secret_key,
        prefix=prefix,
    )


def s3_client(config: S3StoreConfig) -> Any:
    """A boto3 S3 client (SigV4) on ``config``'s server and credentials."""
    return boto3.client(
        "s3",
        endpoint_url=config.endpoint,
        region_name=config.region,
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
        config=Config(signature_version="s3v4"),
    )


def create_bucket(config: S3StoreConfig) -> None:
    """Create the bucket ``config`` names (with boto3, independent of the code under test)."""
    s3_client(config).create_bucket(Bucket=config.bucket)


def delete_bucket(config: S3StoreConfig) -> None:
    """Delete every object in the bucket, then the bucket."""
    client = s3_client(config)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=config.bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=config.bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=config.bucket)


@contextmanager
def _fresh_bucket(config: S3StoreConfig) -> Iterator[S3StoreConfig]:
    create_bucket(config)
    try:
        yield config
    finally:
        delete_bucket(config)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_bucket(moto_server: str) -> Iterator[S3StoreConfig]:
    """A fresh bucket on the moto server, deleted after the test."""
    with _fresh_bucket(s3_config_for(moto_server, unique_bucket_name("moto"))) as config:
        yield config


@dataclass(frozen=True)
class CephRgw:
    """A running radosgw: where it listens and the credentials of its one user."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    base_dir: Path

    def config_for(self, bucket: str, *, prefix: str = "") -> S3StoreConfig:
        """An :class:`S3StoreConfig` for ``bucket`` with this server's credentials."""
        return s3_config_for(
            self.endpoint,
            bucket,
            access_key=self.access_key,
            secret_key=self.secret_key,
            prefix=prefix,
        )


def _missing_ceph_binaries() -> list[str]:
    return [b for b in CEPH_BINARIES if shutil.which(b) is None]


def _start_ceph(base: Path) -> CephRgw:
    rgw_port, mon_port = free_port(), free_port()
    while mon_port == rgw_port:
        mon_port = free_port()
    try:
        subprocess.run(
            [str(SCRIPTS / "ceph-rgw-up"), str(base), str(rgw_port), str(mon_port)],
            check=True,
            capture_output=True,
            text=True,
            timeout=CEPH_START_TIMEOUT,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        _stop_ceph(base)
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
        raise RuntimeError(f"ceph-rgw-up failed: {e}\n{err}") from e
    fields_ = dict(item.split("=", 1) for item in (base / "endpoint").read_text().split())
    return CephRgw(fields_["endpoint"], fields_["access_key"], fields_["secret_key"], base)


def _stop_ceph(base: Path) -> None:
    subprocess.run(
        [str(SCRIPTS / "ceph-rgw-down"), str(base), "--wipe"],
        check=False,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def ceph_rgw() -> Iterator[CephRgw]:
    """A real Ceph radosgw for the session, stopped and wiped afterwards."""
    missing = _missing_ceph_binaries()
    if missing:
        pytest.skip(
            f"Ceph radosgw not installed (missing {', '.join(missing)}); install with "
            "apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw "
            "uuid-runtime curl"
        )
    # A short path: Ceph's admin sockets must fit in a 108-byte sun_path.
    base = Path(tempfile.mkdtemp(prefix="cfs-ceph-"))
    rgw = _start_ceph(base)
    try:
        yield rgw
    finally:
        _stop_ceph(base)


@pytest.fixture
def ceph_bucket(ceph_rgw: CephRgw) -> Iterator[S3StoreConfig]:
    """A fresh bucket on the Ceph radosgw, deleted after the test."""
    with _fresh_bucket(ceph_rgw.config_for(unique_bucket_name("ceph"))) as config:
        yield config
