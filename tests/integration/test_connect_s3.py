"""Connect against a real S3 server (moto): link, read, pin, list, rekey, import, CLI."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cloudfs
from cloudfs.cli.main import cli
from cloudfs.connect.importer import Importer
from cloudfs.store.config import S3StoreConfig
from cloudfs.workspace.filespace import Secret, create_filespace, enable_connect
from cloudfs.workspace.registry import Registry
from tests.servers import s3_client as s3

PASSPHRASE = "connect s3 passphrase"
BLOCK = 64 * 1024
BIG = hashlib.sha256(b"big").digest() * (3 * 1024 * 1024 // 32) + b"tail" * 1000  # ~3 MiB


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("CLOUDFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDFS_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for var in ("CLOUDFS_TOKEN", "CLOUDFS_FILESPACE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


def put(bucket: S3StoreConfig, key: str, data: bytes) -> str:
    etag: str = s3(bucket).put_object(Bucket=bucket.bucket, Key=key, Body=data)["ETag"]
    return etag


def store_for(bucket: S3StoreConfig) -> cloudfs.S3DataStoreConfig:
    return cloudfs.S3DataStoreConfig(
        access_key=bucket.access_key,
        secret_key=bucket.secret_key,
        bucket_name=bucket.bucket,
        region=bucket.region,
        endpoint=bucket.endpoint,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    registry = Registry(path)
    asyncio.run(create_filespace(registry, "default", PASSPHRASE, block_size=BLOCK))
    record = registry.find(name="default")
    asyncio.run(enable_connect(registry, record, Secret(passphrase=PASSPHRASE)))
    return path


@pytest.fixture
def filespace(home: Path) -> Iterator[cloudfs.Filespace]:
    config = cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)
    with cloudfs.Client(config=config) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        yield workspace.link_filespace(name="default")


@pytest.fixture
def connect(filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig) -> cloudfs.ConnectManager:
    filespace.connect.add_data_store("store", store_for(moto_bucket))
    return filespace.connect


def requests(filespace: cloudfs.Filespace) -> int:
    return filespace._opened.objects.requests


def test_link_with_head_and_read(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    put(moto_bucket, "data/small.csv", b"a,b\n1,2\n")
    connect.link_file("/small.csv", "store", "data/small.csv")
    assert filespace.fs.read_file("/small.csv") == b"a,b\n1,2\n"
    assert filespace.fs.get_entry("/small.csv").size == 8


def test_ranged_reads_of_a_multi_mib_object(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    etag = put(moto_bucket, "big.bin", BIG)
    before = requests(filespace)
    connect.link_file("/big.bin", "store", "big.bin", len(BIG), etag)
    assert requests(filespace) == before  # size + checksum: no HEAD
    rng = random.Random(5)
    with filespace.fs.open("/big.bin", "rb", buffering=0) as f:
        for _ in range(40):
            start = rng.randrange(len(BIG))
            length = rng.randrange(1, 300_000)
            f.seek(start)
            assert f.read(length) == BIG[start : start + length]
    assert filespace.fs.read_file("/big.bin") == BIG
    fetched = filespace._opened.vfs.external.downloads
    assert fetched <= -(-len(BIG) // BLOCK)  # each block fetched once (cache + dedupe)
    assert filespace.fs.read_file("/big.bin") == BIG
    assert filespace._opened.vfs.external.downloads == fetched  # the second read: cached


def test_a_changed_object_is_an_error_never_other_bytes(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    put(moto_bucket, "k", b"version one")
    connect.link_file("/f", "store", "k")
    put(moto_bucket, "k", b"VERSION TWO")
    with pytest.raises(cloudfs.IntegrityError, match="changed or was deleted") as info:
        filespace.fs.read_file("/f")
    assert info.value.errno == errno.EIO


def test_a_deleted_object_is_an_error(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    put(moto_bucket, "k", b"soon gone")
    connect.link_file("/f", "store", "k")
    s3(moto_bucket).delete_object(Bucket=moto_bucket.bucket, Key="k")
    with pytest.raises(cloudfs.IntegrityError, match="changed or was deleted"):
        filespace.fs.read_file("/f")


def test_a_wrong_checksum_never_reads(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    put(moto_bucket, "k", b"content")
    connect.link_file("/f", "store", "k", 7, '"0123456789abcdef0123456789abcdef"')
    with pytest.raises(cloudfs.IntegrityError):
        filespace.fs.read_file("/f")


def test_head_of_a_missing_object(connect: cloudfs.ConnectManager) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        connect.link_file("/f", "store", "no/such/key")


def test_rekey_keeps_reading(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    put(moto_bucket, "k", b"still here")
    connect.link_file("/f", "store", "k")
    connect.rekey_data_store("store", new_access_key="testing", new_secret_key="testing")
    info = connect.get_data_store("store")
    assert info is not None
    assert info.key_id == "2"
    assert filespace.fs.read_file("/f") == b"still here"


def test_http_link_of_a_presigned_url(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    put(moto_bucket, "shared.bin", BIG[:200_000])
    url = s3(moto_bucket).generate_presigned_url(
        "get_object", Params={"Bucket": moto_bucket.bucket, "Key": "shared.bin"}, ExpiresIn=600
    )
    connect.link_http_file("/shared.bin", url)
    assert filespace.fs.get_entry("/shared.bin").size == 200_000
    assert filespace.fs.read_file("/shared.bin") == BIG[:200_000]
    put(moto_bucket, "other.bin", b"other")
    other = s3(moto_bucket).generate_presigned_url(
        "get_object", Params={"Bucket": moto_bucket.bucket, "Key": "other.bin"}, ExpiresIn=600
    )
    connect.update_http_file_url("/shared.bin", other)
    assert filespace.fs.read_file("/shared.bin") == b"other"
    with pytest.raises(ValueError, match="full http"):
        connect.link_http_file("/x", "s3://bucket/key")


def _tree(n: int) -> dict[str, bytes]:
    return {f"in/dir{i % 3}/obj{i}.txt": f"object {i}\n".encode() for i in range(n)}


def test_import_and_mirror(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    objects = _tree(30)
    for key, data in objects.items():
        put(moto_bucket, key, data)
    put(moto_bucket, "outside/x", b"not under the prefix")
    before = requests(filespace)
    report = Importer(connect, batch=7).run("store", "in/", "/imported")
    assert requests(filespace) - before <= 2  # the listing only: no HEAD per object
    assert (report.listed, report.linked, report.unlinked) == (30, 30, 0)
    fs = filespace.fs
    assert sorted(fs.list_dir("/imported")) == ["dir0", "dir1", "dir2"]
    assert fs.read_file("/imported/dir1/obj4.txt") == b"object 4\n"
    assert connect.count_external_files("store") == 30
    # Mirror: one new, one changed, one removed.
    put(moto_bucket, "in/dir0/new.txt", b"new")
    put(moto_bucket, "in/dir1/obj1.txt", b"changed!")
    s3(moto_bucket).delete_object(Bucket=moto_bucket.bucket, Key="in/dir2/obj2.txt")
    again = Importer(connect).run("store", "in/", "/imported")
    assert (again.linked, again.relinked, again.unlinked, again.unchanged) == (1, 1, 1, 28)
    assert fs.read_file("/imported/dir1/obj1.txt") == b"changed!"
    assert fs.read_file("/imported/dir0/new.txt") == b"new"
    assert not fs.file_exists("/imported/dir2/obj2.txt")
    assert connect.count_external_files("store") == 30
    same = Importer(connect).run("store", "in/", "/imported")
    assert (same.linked, same.relinked, same.unlinked, same.unchanged) == (0, 0, 0, 30)


def test_import_resumes_after_an_interruption(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, moto_bucket: S3StoreConfig
) -> None:
    for key, data in _tree(20).items():
        put(moto_bucket, key, data)

    class Interrupted(Exception):
        pass

    def interrupt(n: int) -> None:
        raise Interrupted  # the listing page of 20 is half linked (batch 5, 10 flushed)

    importer = Importer(connect, batch=5)
    with pytest.raises(Interrupted):
        importer.run("store", "in/", "/imp", progress=interrupt)
    done = connect.count_external_files("store")
    report = Importer(connect, batch=5).run("store", "in/", "/imp")
    assert report.linked == 20 - done
    assert report.unchanged == done
    assert connect.count_external_files("store") == 20


# -- the CLI ----------------------------------------------------------------------------
def run(*args: str, env: dict[str, str | None] | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def test_cli(moto_bucket: S3StoreConfig, tmp_path: Path) -> None:
    run("init")
    failed = run("connect", "stores", code=1)
    assert "cloudfs connect enable" in failed.stderr
    run("upgrade")
    run("connect", "enable")
    secret_file = tmp_path / "secret"
    secret_file.write_text("cli-secret-value")  # moto accepts any secret
    common = ["--access-key", moto_bucket.access_key, "--secret-key-file", str(secret_file)]
    run(
        "connect", "add-store", "store", "--bucket", moto_bucket.bucket,
        "--endpoint", moto_bucket.endpoint, *common,
    )  # fmt: skip
    assert "s3://" in run("connect", "stores").stdout
    shown = run("connect", "store", "store").stdout
    assert "(set)" in shown
    assert "cli-secret-value" not in shown
    for key, data in _tree(6).items():
        put(moto_bucket, key, data)
    out = run("connect", "import", f"s3://{moto_bucket.bucket}/in/", "/imp", "--store", "store")
    assert "linked 6" in out.stdout
    put(moto_bucket, "single", b"single object")
    run("connect", "link", "/single", "store", "single")
    assert run("cat", "/single").stdout == "single object"
    assert run("connect", "count", "store").stdout.strip() == "7"
    listed = run("connect", "ls", "store", "--limit", "2").stdout.split()
    assert len(listed) == 7
    assert "/single" in listed
    run("connect", "rekey", "store", *common)
    failed = run("connect", "rm-store", "store", code=1)
    assert "7 linked" in failed.stderr
    run("connect", "unlink", "/single")
    url = s3(moto_bucket).generate_presigned_url(
        "get_object", Params={"Bucket": moto_bucket.bucket, "Key": "single"}, ExpiresIn=600
    )
    run("connect", "link-http", "/web", url)
    assert run("cat", "/web").stdout == "single object"
    assert os.environ.get("AWS_SECRET_ACCESS_KEY") is None


def test_external_blocks_are_kept_sealed_in_the_disk_cache(
    home: Path, tmp_path: Path, moto_bucket: S3StoreConfig
) -> None:
    data = b"plaintext marker " * 20_000  # 340 KB: six 64 KiB blocks
    put(moto_bucket, "cached.txt", data)
    config = cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)
    storage = cloudfs.StorageConfig(
        mode=cloudfs.StorageMode.PHYSICAL, root_path=tmp_path / "client-state"
    )
    with cloudfs.Client(config=config, storage=storage) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        filespace = workspace.link_filespace(name="default")
        filespace.connect.add_data_store("store", store_for(moto_bucket))
        filespace.connect.link_file("/cached.txt", "store", "cached.txt")
        assert filespace.fs.read_file("/cached.txt") == data
    state_files = [p for p in (tmp_path / "client-state").rglob("*") if p.is_file()]
    assert not any(b"plaintext marker" in p.read_bytes() for p in state_files)
    with cloudfs.Client(config=config, storage=storage) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        filespace = workspace.link_filespace(name="default")
        assert filespace.fs.read_file("/cached.txt") == data  # from the disk cache
        assert filespace._opened.vfs.external.downloads == 0
