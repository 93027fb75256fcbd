"""The whole CLI round trip on an S3 filespace (moto): init, put/get of a multi-block file,
the file commands, a service-account token, and the objects in the bucket under the prefix."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

import cloudfs as sdk
from cloudfs.cli.main import cli
from cloudfs.store.config import S3StoreConfig

PASSPHRASE = "s3 cli passphrase"
PREFIX = "team/fs1"
BLOCK = 64 * 1024
DATA = os.urandom(10 * BLOCK + 4321)  # eleven blocks, the last one partial


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_bucket: S3StoreConfig) -> None:
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("CLOUDFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDFS_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_bucket.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_bucket.secret_key)
    monkeypatch.delenv("CLOUDFS_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDFS_FILESPACE", raising=False)


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def _objects(bucket: S3StoreConfig) -> dict[str, bytes]:
    s3: Any = boto3.client(
        "s3",
        endpoint_url=bucket.endpoint,
        region_name=bucket.region,
        aws_access_key_id=bucket.access_key,
        aws_secret_access_key=bucket.secret_key,
    )
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=bucket.bucket, Key=item["Key"])["Body"].read()
    return found


@pytest.fixture
def s3_filespace(moto_bucket: S3StoreConfig) -> S3StoreConfig:
    out = run(
        "init",
        "--block-size",
        "64k",
        "--s3-bucket",
        moto_bucket.bucket,
        "--s3-endpoint",
        moto_bucket.endpoint,
        "--s3-prefix",
        PREFIX,
    ).stdout
    assert "created filespace 'default'" in out
    return moto_bucket


def test_put_get_multi_block_file(s3_filespace: S3StoreConfig, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(DATA)
    run("put", str(local), "/data.bin")
    assert f"{len(DATA):,}" in run("stat", "/data.bin").stdout
    out = tmp_path / "back.bin"
    run("get", "/data.bin", str(out))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(DATA).digest()
    assert run("cat", "/data.bin").stdout_bytes == DATA

    objects = _objects(s3_filespace)
    assert objects, "nothing landed in the bucket"
    assert all(key.startswith(PREFIX + "/") for key in objects), sorted(objects)
    data = [body for key, body in objects.items() if "/packs/" in key or "/blocks/" in key]
    assert sum(len(body) for body in data) >= len(DATA)  # in blocks and packs of blocks
    window = DATA[BLOCK : BLOCK + 64]
    assert not any(window in body for body in objects.values())  # encrypted at rest
    info = run("info").stdout
    assert f"s3://{s3_filespace.bucket}/{PREFIX}" in info
    assert f"data         {len(DATA):,} bytes" in info
    assert (
        f"stored       {sum(len(body) for body in data):,} bytes" in info
    )  # what the bucket holds


def test_file_commands_on_s3(s3_filespace: S3StoreConfig, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(DATA)
    run("mkdir", "-p", "/a/b")
    run("put", str(local), "/a/b")
    run("cp", "/a/b/data.bin", "/copy.bin")
    run("mv", "/copy.bin", "/moved.bin")
    run("ln", "-s", "/moved.bin", "/link")
    assert run("ls", "/").stdout == "a/\nlink\nmoved.bin\n"
    assert run("get", "/link", "-").stdout_bytes == DATA
    run("rm", "-r", "/a")
    run("rm", "/link", "/moved.bin")
    assert run("ls").stdout == ""


def test_token_on_s3(
    s3_filespace: S3StoreConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").write_bytes(b"via token")
    run("put", str(tmp_path / "f"), "/f")
    token = run("sa", "create", "ci").stdout.strip()
    monkeypatch.delenv("CLOUDFS_PASSPHRASE")
    assert run("cat", "/f", env={"CLOUDFS_TOKEN": token}).stdout == "via token"
    with sdk.Client(config=sdk.ClientConfig(home=tmp_path / "home")) as client:
        client.login(sdk.ServiceAccountCredentials(token))
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with ws.link_filespace(name="default") as fsp:
            assert fsp.fs.read_file("/f") == b"via token"
            fsp.fs.write_file("/from-sdk", DATA)
    monkeypatch.setenv("CLOUDFS_PASSPHRASE", PASSPHRASE)
    assert run("cat", "/from-sdk").stdout_bytes == DATA


def test_second_filespace_in_the_same_bucket(s3_filespace: S3StoreConfig, tmp_path: Path) -> None:
    run(
        "init",
        "second",
        "--block-size",
        "64k",
        "--s3-bucket",
        s3_filespace.bucket,
        "--s3-endpoint",
        s3_filespace.endpoint,
        "--s3-prefix",
        "team/fs2",
    )
    (tmp_path / "x").write_bytes(b"second")
    run("-f", "second", "put", str(tmp_path / "x"), "/x")
    assert run("ls").stdout == ""
    assert run("-f", "second", "cat", "/x").stdout == "second"
    keys = _objects(s3_filespace)
    assert any(k.startswith("team/fs2/") for k in keys)
    assert all(k.startswith(("team/fs1/", "team/fs2/")) for k in keys)


def test_init_on_a_prefix_already_in_use(s3_filespace: S3StoreConfig) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "init",
            "dup",
            "--s3-bucket",
            s3_filespace.bucket,
            "--s3-endpoint",
            s3_filespace.endpoint,
            "--s3-prefix",
            PREFIX,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("cloudfs: ")
    assert len(result.stderr.splitlines()) == 1
    assert "dup" not in run("info").stdout
    assert run("ls").stdout == ""  # the first filespace is intact
