"""Client lifecycle, identity (tokens), workspaces and linking filespaces."""

from __future__ import annotations

from pathlib import Path

import pytest

import cloudfs
from cloudfs.workspace.registry import Registry, Token
from tests.unit.sdk.conftest import BLOCK_SIZE, PASSPHRASE, mint_token

# -- lifecycle -------------------------------------------------------------------------------


def test_context_manager_closes(config: cloudfs.ClientConfig) -> None:
    with cloudfs.Client(config=config) as client:
        assert client.list_workspaces()
    with pytest.raises(cloudfs.ClientError):
        client.list_workspaces()


def test_close_is_idempotent(config: cloudfs.ClientConfig) -> None:
    client = cloudfs.Client(config=config)
    client.close()
    client.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.list_workspaces(),
        lambda c: c.get_workspace("x"),
        lambda c: c.login(cloudfs.ServiceAccountCredentials("sa_live:a:b")),
    ],
    ids=["list_workspaces", "get_workspace", "login"],
)
def test_calls_after_close_raise_client_error(config: cloudfs.ClientConfig, call) -> None:  # type: ignore[no-untyped-def]
    client = cloudfs.Client(config=config)
    client.close()
    with pytest.raises(cloudfs.ClientError):
        call(client)


def test_link_and_fs_calls_after_close_raise(config: cloudfs.ClientConfig) -> None:
    client = cloudfs.Client(config=config)
    workspace = client.get_workspace(client.list_workspaces()[0].id)
    filespace = workspace.link_filespace(name="default")
    filespace.fs.write_file("/a", b"x")
    client.close()
    assert not filespace.is_linked
    with pytest.raises(cloudfs.ClientError):
        workspace.link_filespace(name="default")
    with pytest.raises(cloudfs.ClientError):
        filespace.fs.read_file("/a")
    with pytest.raises(cloudfs.ClientError):
        filespace.sync_all()


def test_close_unlinks_and_persists(config: cloudfs.ClientConfig) -> None:
    with cloudfs.Client(config=config) as client:
        ws = client.get_workspace(client.list_workspaces()[0].id)
        ws.link_filespace(name="default").fs.write_file("/kept", b"data")
    with cloudfs.Client(config=config) as client:
        ws = client.get_workspace(client.list_workspaces()[0].id)
        assert ws.link_filespace(name="default").fs.read_file("/kept") == b"data"


def test_several_clients_in_one_process(config: cloudfs.ClientConfig) -> None:
    with cloudfs.Client(config=config) as a, cloudfs.Client(config=config) as b:
        ws_a = a.get_workspace(a.list_workspaces()[0].id)
        ws_b = b.get_workspace(b.list_workspaces()[0].id)
        fa = ws_a.link_filespace(name="default")
        fb = ws_b.link_filespace(name="other")
        fa.fs.write_file("/a", b"a")
        fb.fs.write_file("/b", b"b")
        assert fa.fs.list_dir("/") == ["a"]
        assert fb.fs.list_dir("/") == ["b"]


def test_sandboxed_state_is_removed_and_physical_kept(
    config: cloudfs.ClientConfig, tmp_path: Path
) -> None:
    client = cloudfs.Client(config=config)
    sandbox = client.state_dir
    assert sandbox.is_dir()
    client.close()
    assert not sandbox.exists()
    root = tmp_path / "physical"
    storage = cloudfs.StorageConfig(mode=cloudfs.StorageMode.PHYSICAL, root_path=root)
    with cloudfs.Client(storage=storage, config=config) as client:
        assert client.state_dir == root
    assert root.is_dir()


def test_embedded_mode_via_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFS_HOME", str(home))
    monkeypatch.setenv("CLOUDFS_PASSPHRASE", PASSPHRASE)
    with cloudfs.Client() as client:
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with ws.link_filespace(name="default") as fsp:
            fsp.fs.write_file("/env", b"ok")
            assert fsp.fs.read_file("/env") == b"ok"


# -- identity --------------------------------------------------------------------------------


def test_login_with_a_token_links_without_passphrase(home: Path) -> None:
    token = mint_token(home)
    with cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client:
        assert not client.is_logged_in
        client.login(cloudfs.ServiceAccountCredentials(token))
        assert client.is_logged_in
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with ws.link_filespace(name="default") as fsp:
            fsp.fs.write_file("/t", b"token")
            assert fsp.fs.read_file("/t") == b"token"


def test_login_twice_same_token_is_noop_other_token_refused(home: Path) -> None:
    first, second = mint_token(home, "one"), mint_token(home, "two")
    with cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client:
        client.login(cloudfs.ServiceAccountCredentials(first))
        client.login(cloudfs.ServiceAccountCredentials(first))
        assert client.is_logged_in
        with pytest.raises(cloudfs.AuthenticationError):
            client.login(cloudfs.ServiceAccountCredentials(second))
        assert client.is_logged_in


def test_revoked_token_is_refused(home: Path) -> None:
    token = mint_token(home)
    Registry(home).revoke_service_account(Token.parse(token).key_id)
    with cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client:
        with pytest.raises(cloudfs.AuthenticationError, match="revoked"):
            client.login(cloudfs.ServiceAccountCredentials(token))
        assert not client.is_logged_in


def test_unknown_token_is_refused(home: Path) -> None:
    token = str(Token.mint())
    with (
        cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client,
        pytest.raises(cloudfs.AuthenticationError),
    ):
        client.login(cloudfs.ServiceAccountCredentials(token))


def test_token_with_wrong_secret_is_refused(home: Path) -> None:
    key_id = Token.parse(mint_token(home)).key_id
    forged = str(Token(key_id, b"\x00" * 32))
    with (
        cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client,
        pytest.raises(cloudfs.AuthenticationError),
    ):
        client.login(cloudfs.ServiceAccountCredentials(forged))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "sa_live:abc",
        "sa_test:abc:def",
        "sa_live::def",
        "sa_live:abc:",
        "a:b:c:d",
        "sa_live:abc:!!!",
    ],
)
def test_malformed_token(home: Path, token: str) -> None:
    with (
        cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client,
        pytest.raises(cloudfs.AuthenticationError, match="malformed"),
    ):
        client.login(cloudfs.ServiceAccountCredentials(token))


def test_credentials_repr_hides_the_secret() -> None:
    token = Token.mint()
    text = str(token)
    secret = text.split(":")[2]
    creds = cloudfs.ServiceAccountCredentials(text)
    assert secret not in repr(creds)
    assert secret not in str(creds)
    assert token.key_id in repr(creds)
    assert secret not in repr(token)
    assert "sa_live:x" not in repr(cloudfs.ServiceAccountCredentials("sa_live:x"))


def test_client_config_repr_hides_passphrase(tmp_path: Path) -> None:
    config = cloudfs.ClientConfig(home=tmp_path, passphrase="hunter2-secret")
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in str(config)


def test_no_secret_at_all_is_an_authentication_error(home: Path) -> None:
    with cloudfs.Client(config=cloudfs.ClientConfig(home=home)) as client:
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with pytest.raises(cloudfs.AuthenticationError):
            ws.link_filespace(name="default")
        # a refused link leaves the filespace linkable
        assert ws.linked_filespaces == []


def test_wrong_passphrase(home: Path) -> None:
    config = cloudfs.ClientConfig(home=home, passphrase="not it")
    with cloudfs.Client(config=config) as client:
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with pytest.raises(cloudfs.WrongPassphraseError):
            ws.link_filespace(name="default")
        assert ws.linked_filespaces == []
    # the failed attempt did not leave the filespace marked as linked
    with cloudfs.Client(config=cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)) as c:
        c.get_workspace(c.list_workspaces()[0].id).link_filespace(name="default").unlink()


# -- workspaces ------------------------------------------------------------------------------


def test_list_and_get_workspace(client: cloudfs.Client, home: Path) -> None:
    infos = client.list_workspaces()
    assert len(infos) == 1
    info = infos[0]
    assert isinstance(info, cloudfs.WorkspaceInfo)
    assert info.id == Registry(home).id
    ws = client.get_workspace(info.id)
    assert isinstance(ws, cloudfs.Workspace)
    assert (ws.id, ws.name) == (info.id, info.name)
    assert client.get_workspace(info.id) is ws
    assert ws.linked_filespaces == []
    names = sorted(f.name for f in ws.list_filespaces())
    assert names == ["default", "other"]
    for f in ws.list_filespaces():
        assert isinstance(f, cloudfs.FilespaceInfo)
        assert f.created > 1e9


def test_get_unknown_workspace(client: cloudfs.Client) -> None:
    with pytest.raises(cloudfs.ClientError):
        client.get_workspace("nope")


def test_no_workspace_lists_nothing(tmp_path: Path) -> None:
    with cloudfs.Client(config=cloudfs.ClientConfig(home=tmp_path / "empty")) as client:
        assert client.list_workspaces() == []
        with pytest.raises(cloudfs.ClientError):
            client.get_workspace("anything")


# -- linking ---------------------------------------------------------------------------------


def test_link_by_name_and_by_id(workspace: cloudfs.Workspace) -> None:
    info = {f.name: f for f in workspace.list_filespaces()}["default"]
    by_name = workspace.link_filespace(name="default")
    assert by_name.is_linked
    assert (by_name.id, by_name.name) == (info.id, info.name)
    assert by_name.workspace_id == workspace.id
    assert by_name.workspace_name == workspace.name
    assert by_name.full_name == f"{workspace.name}/default"
    assert by_name.block_size == BLOCK_SIZE  # as created
    assert isinstance(by_name.fs, cloudfs.Filesystem)
    assert workspace.link_filespace(id=info.id) is by_name
    assert workspace.link_filespace(name="default") is by_name
    assert workspace.linked_filespaces == [by_name]


@pytest.mark.parametrize("kwargs", [{}, {"name": "default", "id": "x"}])
def test_link_needs_exactly_one_of_name_and_id(workspace: cloudfs.Workspace, kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        workspace.link_filespace(**kwargs)


def test_link_unknown_filespace(workspace: cloudfs.Workspace) -> None:
    with pytest.raises(cloudfs.FilespaceNotFoundError):
        workspace.link_filespace(name="nope")
    with pytest.raises(cloudfs.FilespaceNotFoundError):
        workspace.link_filespace(id="0" * 32)


def test_already_linked_from_a_second_client(
    filespace: cloudfs.Filespace, config: cloudfs.ClientConfig
) -> None:
    with cloudfs.Client(config=config) as other:
        ws = other.get_workspace(other.list_workspaces()[0].id)
        with pytest.raises(cloudfs.FilespaceAlreadyLinkedError) as info:
            ws.link_filespace(name="default")
        assert info.value.filespace_id == filespace.id
        filespace.unlink()
        with ws.link_filespace(name="default") as again:
            assert again.is_linked


def test_unlink_is_idempotent_and_context_manager(workspace: cloudfs.Workspace) -> None:
    with workspace.link_filespace(name="default") as fsp:
        fsp.fs.write_file("/x", b"1")
        assert fsp.is_linked
    assert not fsp.is_linked
    fsp.unlink()
    fsp.unlink()
    assert workspace.linked_filespaces == []
    with pytest.raises(cloudfs.ClientError):
        fsp.sync_all()
    again = workspace.link_filespace(name="default")
    assert again is not fsp
    assert again.fs.read_file("/x") == b"1"


def test_sync_all_makes_writes_visible_to_another_client(
    workspace: cloudfs.Workspace, config: cloudfs.ClientConfig
) -> None:
    fsp = workspace.link_filespace(name="default")
    f = fsp.fs.open("/s", "wb")
    f.write(b"synced")
    f.flush()
    fsp.sync_all()
    f.close()
    fsp.unlink()
    with cloudfs.Client(config=config) as other:
        ws = other.get_workspace(other.list_workspaces()[0].id)
        assert ws.link_filespace(name="default").fs.read_file("/s") == b"synced"


def test_root_path_confines_the_view(workspace: cloudfs.Workspace) -> None:
    with workspace.link_filespace(name="default") as whole:
        whole.fs.create_dir("/sub")
        whole.fs.write_file("/sub/inside", b"in")
        whole.fs.write_file("/outside", b"out")
    with workspace.link_filespace(name="default", root_path="/sub") as sub:
        assert sub.fs.list_dir("/") == ["inside"]
        assert sub.fs.read_file("/inside") == b"in"
        sub.fs.write_file("/new", b"n")
        assert not sub.fs.file_exists("/outside")
        assert not sub.fs.file_exists("/../outside")
        with pytest.raises(FileNotFoundError):
            sub.fs.read_file("/outside")
        assert sub.fs.get_entry("/inside").name == "inside"
    with workspace.link_filespace(name="default") as whole:
        assert sorted(whole.fs.list_dir("/sub")) == ["inside", "new"]
