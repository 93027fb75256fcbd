"""``cloudfs sa``: tokens that work for CLOUDFS_TOKEN and Client.login until revoked."""

from __future__ import annotations

from pathlib import Path

import pytest

import cloudfs as sdk
from tests.unit.cli.conftest import Cloudfs


def _link(home: Path, token: str) -> None:
    with sdk.Client(config=sdk.ClientConfig(home=home)) as client:
        client.login(sdk.ServiceAccountCredentials(token))
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with ws.link_filespace(name="default") as fsp:
            assert fsp.fs.read_file("/hello") == b"hi"


def test_create_list_revoke(
    initialized: Cloudfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "hello"
    source.write_bytes(b"hi")
    initialized.ok("put", str(source), "/hello")
    created = initialized.ok("sa", "create", "robot")
    token = created.stdout.strip()
    assert token.startswith("sa_live:")
    assert len(created.stdout.splitlines()) == 1  # only the token on stdout
    key_id = token.split(":")[1]
    assert key_id in created.stderr
    listing = initialized.ok("sa", "list").stdout
    assert key_id in listing
    assert "active" in listing
    assert "robot" in listing
    assert token.split(":")[2] not in listing

    token_env = {"CLOUDFS_TOKEN": token, "CLOUDFS_PASSPHRASE": None}
    assert initialized.ok("cat", "/hello", env=token_env).stdout == "hi"
    monkeypatch.delenv("CLOUDFS_PASSPHRASE")
    _link(initialized.home, token)

    assert key_id in initialized.ok("sa", "revoke", key_id).stdout
    assert "revoked" in initialized.ok("sa", "list").stdout
    line = initialized.fails("cat", "/hello", env=token_env)
    assert "revoked" in line
    with pytest.raises(sdk.AuthenticationError):
        _link(initialized.home, token)
    assert "no active service account" in initialized.fails("sa", "revoke", key_id)


def test_create_needs_the_right_passphrase(initialized: Cloudfs) -> None:
    initialized.fails("sa", "create", "robot", env={"CLOUDFS_PASSPHRASE": "wrong"})
    assert initialized.ok("sa", "list").stdout == ""


def test_revoke_unknown(initialized: Cloudfs) -> None:
    assert "nope" in initialized.fails("sa", "revoke", "nope")


def test_malformed_token_in_env(initialized: Cloudfs) -> None:
    line = initialized.fails("ls", env={"CLOUDFS_TOKEN": "garbage", "CLOUDFS_PASSPHRASE": None})
    assert "malformed" in line


def test_passphrase_wins_over_a_token(initialized: Cloudfs) -> None:
    env = {"CLOUDFS_TOKEN": "sa_live:bad:token"}
    assert initialized.ok("ls", env=env).stdout == ""


def test_create_skips_filespaces_the_passphrase_does_not_open(initialized: Cloudfs) -> None:
    initialized.ok("init", "foreign", env={"CLOUDFS_PASSPHRASE": "another passphrase"})
    created = initialized.ok("sa", "create", "robot")
    assert "skipping filespace 'foreign'" in created.stderr
    token = created.stdout.strip()
    env = {"CLOUDFS_TOKEN": token, "CLOUDFS_PASSPHRASE": None}
    assert initialized.ok("ls", env=env).stdout == ""
    assert "token" in initialized.fails("-f", "foreign", "ls", env=env)
