"""Every user-caused failure is one line on stderr, ``cloudfs: ...``, and exit status 1."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.unit.cli.conftest import Cloudfs


def _dead_endpoint() -> str:
    """An http URL on a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_wrong_passphrase(initialized: Cloudfs) -> None:
    line = initialized.fails("ls", env={"CLOUDFS_PASSPHRASE": "wrong"})
    assert "passphrase" in line.lower()


def test_missing_filespace(initialized: Cloudfs) -> None:
    line = initialized.fails("-f", "nope", "ls")
    assert "'nope'" in line


def test_missing_workspace(cloudfs: Cloudfs, tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    for args in (["ls"], ["info"], ["sa", "list"], ["cat", "/x"]):
        line = cloudfs.fails(*args, env={"CLOUDFS_HOME": str(empty)})
        assert "cloudfs init" in line or "workspace" in line


@pytest.mark.parametrize(
    "args",
    [
        ["cat", "/missing"],
        ["get", "/missing", "-"],
        ["stat", "/missing"],
        ["ls", "/missing"],
        ["rm", "/missing"],
        ["mv", "/missing", "/x"],
        ["cp", "/missing", "/x"],
        ["ls", "relative"],
        ["cat", "no-slash"],
        ["mkdir", "rel/dir"],
        ["ln", "-s", "/t", "rel"],
    ],
)
def test_bad_paths(initialized: Cloudfs, args: list[str]) -> None:
    initialized.fails(*args)


@pytest.mark.parametrize(
    "args", [["cat", "/d"], ["get", "/d", "-"], ["cp", "/d", "/e"], ["rm", "/d"]]
)
def test_directory_where_a_file_is_expected(initialized: Cloudfs, args: list[str]) -> None:
    initialized.ok("mkdir", "/d")
    line = initialized.fails(*args)
    assert "director" in line.lower()


def test_get_directory_to_a_local_file(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("mkdir", "/d")
    initialized.fails("get", "/d", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_get_into_a_missing_local_folder(initialized: Cloudfs, tmp_path: Path) -> None:
    initialized.ok("mkdir", "/d")
    initialized("put", __file__, "/f")
    initialized.fails("get", "/f", str(tmp_path / "no" / "such" / "out"))


def test_put_of_a_file_onto_a_file_path_under_a_file(initialized: Cloudfs) -> None:
    initialized.ok("put", __file__, "/f")
    initialized.fails("put", __file__, "/f/g")


def test_empty_passphrase_file(initialized: Cloudfs, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    line = initialized.fails(
        "--passphrase-file", str(empty), "ls", env={"CLOUDFS_PASSPHRASE": None}
    )
    assert "empty" in line
    newline_only = tmp_path / "newline"
    newline_only.write_text("\n")
    initialized.fails(
        "--passphrase-file", str(newline_only), "ls", env={"CLOUDFS_PASSPHRASE": None}
    )


def test_empty_passphrase_file_on_init(cloudfs: Cloudfs, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    cloudfs.fails("--passphrase-file", str(empty), "init", env={"CLOUDFS_PASSPHRASE": None})
    assert not (cloudfs.home / "workspace.json").exists()


def test_no_passphrase_without_a_terminal(initialized: Cloudfs) -> None:
    line = initialized.fails("ls", env={"CLOUDFS_PASSPHRASE": None})
    assert "passphrase" in line


def test_unreachable_store(
    cloudfs: Cloudfs, moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(
        Bucket="cli-unreachable"
    )
    cloudfs.ok("init", "--s3-bucket", "cli-unreachable", "--s3-endpoint", moto_server)
    cloudfs.ok("put", __file__, "/f")
    workspace = cloudfs.home / "workspace.json"
    state = json.loads(workspace.read_text())
    state["filespaces"][0]["store"]["endpoint"] = _dead_endpoint()
    workspace.write_text(json.dumps(state))
    started = time.monotonic()
    for args in (["ls"], ["cat", "/f"], ["info"]):
        cloudfs.fails(*args)
    assert time.monotonic() - started < 120


def test_init_against_an_unreachable_store(
    cloudfs: Cloudfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cloudfs.fails("init", "--s3-bucket", "b", "--s3-endpoint", _dead_endpoint())
    filespaces = cloudfs.home / "filespaces"
    assert not filespaces.exists() or not any(filespaces.iterdir())
    workspace = cloudfs.home / "workspace.json"
    assert not workspace.exists() or json.loads(workspace.read_text())["filespaces"] == []


def test_init_with_invalid_s3_settings(cloudfs: Cloudfs) -> None:
    cloudfs.fails("init", "--s3-bucket", "Bad_Bucket!", "--s3-endpoint", "http://127.0.0.1:1")
    cloudfs.fails("init", "--s3-bucket", "bucket", "--s3-endpoint", "not a url")


def test_console_script_entry_point() -> None:
    result = subprocess.run(
        ["uv", "run", "cloudfs", "--help"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: cloudfs" in result.stdout
    for command in ("init", "info", "ls", "put", "get", "sa"):
        assert command in result.stdout
