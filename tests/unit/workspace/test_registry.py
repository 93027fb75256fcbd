"""The embedded workspace: registry file, service-account tokens, create/open filespace."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from cloudfs.errors import (
    AuthenticationError,
    ConfigurationError,
    FilespaceNotFoundError,
    WrongPassphraseError,
)
from cloudfs.workspace.filespace import (
    Secret,
    add_token_slot,
    create_filespace,
    open_filespace,
    remove_token_slot,
)
from cloudfs.workspace.registry import Registry, Token, default_home

PASSPHRASE = "registry passphrase"


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("CLOUDFS_HOME", str(tmp_path / "home"))


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "home")


def test_default_home_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_home() == tmp_path / "home"
    monkeypatch.delenv("CLOUDFS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "cloudfs"


def test_token_round_trip_and_repr() -> None:
    token = Token.mint()
    text = str(token)
    assert text.startswith(f"sa_live:{token.key_id}:")
    assert Token.parse(text) == token
    assert Token.parse(f"  {text}\n") == token
    assert text.split(":")[2] not in repr(token)
    assert token.slot_id == f"sa:{token.key_id}"
    assert Token.mint() != token


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sa_live",
        "sa_live:k",
        "sa_live:k:",
        "sa_live::s",
        "other:k:s",
        "sa_live:k:s:x",
        "sa_live:k:s!",
        "sa_live:k:a+b/",
        "sa_live:k:a b",
    ],
)
def test_malformed_tokens(text: str) -> None:
    with pytest.raises(AuthenticationError, match="malformed"):
        Token.parse(text)


def test_stray_characters_do_not_alias_a_token(registry: Registry) -> None:
    token = Token.mint()
    registry.add_service_account("robot", token)
    registry.check_token(Token.parse(str(token)))
    with pytest.raises(AuthenticationError):
        registry.check_token(Token.parse(str(token) + "!"))


def test_missing_workspace(registry: Registry) -> None:
    assert not registry.exists
    with pytest.raises(FilespaceNotFoundError, match="cloudfs init"):
        registry.filespaces()
    with pytest.raises(FilespaceNotFoundError):
        registry.find(name="default")


def test_service_accounts(registry: Registry) -> None:
    token = Token.mint()
    account = registry.add_service_account("robot", token)
    assert account.active
    assert registry.check_token(token).key_id == token.key_id
    stored = (registry.home / "workspace.json").read_text()
    assert str(token).split(":")[2] not in stored  # only a digest is kept
    with pytest.raises(AuthenticationError, match="not valid"):
        registry.check_token(Token(token.key_id, b"x" * 32))
    with pytest.raises(AuthenticationError, match="not valid"):
        registry.check_token(Token.mint())
    registry.revoke_service_account(token.key_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        registry.check_token(token)
    with pytest.raises(KeyError):
        registry.revoke_service_account(token.key_id)
    assert not registry.service_accounts()[0].active


def test_registry_file_is_private(registry: Registry) -> None:
    registry.add_service_account("robot", Token.mint())
    mode = stat.S_IMODE((registry.home / "workspace.json").stat().st_mode)
    assert mode == 0o600


def test_unreadable_or_unsupported_registry(registry: Registry) -> None:
    registry.add_service_account("robot", Token.mint())
    path = registry.home / "workspace.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "version": 99}))
    with pytest.raises(ConfigurationError, match="version"):
        registry.filespaces()
    path.write_text("{not json")
    with pytest.raises(ConfigurationError):
        registry.filespaces()


def test_create_and_find_filespace(registry: Registry) -> None:
    record = asyncio.run(create_filespace(registry, "fs", PASSPHRASE, block_size=65536))
    assert registry.find(name="fs") == record
    assert registry.find(id=record.id) == record
    assert registry.filespace_dir(record).is_dir()
    with pytest.raises(FileExistsError):
        asyncio.run(create_filespace(registry, "fs", PASSPHRASE, block_size=65536))
    assert len(registry.filespaces()) == 1
    assert len(list((registry.home / "filespaces").iterdir())) == 1  # nothing left behind


@pytest.mark.parametrize("name", ["", "a/b"])
def test_create_rejects_bad_names(registry: Registry, name: str) -> None:
    with pytest.raises(ValueError):
        asyncio.run(create_filespace(registry, name, PASSPHRASE))


def test_open_with_passphrase_and_token(registry: Registry) -> None:
    record = asyncio.run(create_filespace(registry, "fs", PASSPHRASE, block_size=65536))

    async def open_close(secret: Secret) -> None:
        opened = await open_filespace(registry, record, secret)
        await opened.close()

    asyncio.run(open_close(Secret(passphrase=PASSPHRASE)))
    with pytest.raises(WrongPassphraseError):
        asyncio.run(open_close(Secret(passphrase="wrong")))
    token = Token.mint()
    with pytest.raises(WrongPassphraseError):
        asyncio.run(open_close(Secret(token=token)))
    asyncio.run(add_token_slot(registry, record, PASSPHRASE, token))
    asyncio.run(open_close(Secret(token=token)))
    asyncio.run(remove_token_slot(registry, record, token.key_id))
    with pytest.raises(WrongPassphraseError):
        asyncio.run(open_close(Secret(token=token)))
    with pytest.raises(WrongPassphraseError):
        asyncio.run(add_token_slot(registry, record, "wrong", Token.mint()))


def test_secret_repr_hides_the_passphrase() -> None:
    assert "hunter2" not in repr(Secret(passphrase="hunter2"))
    with pytest.raises(ValueError):
        Secret().material()
