"""CloudFileSystem beyond the abstract suite: URLs, options, errors, names, streaming."""

from __future__ import annotations

import datetime
import errno
import hashlib
import os
import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import fsspec
import pytest

import cloudfs
from cloudfs.fsspec import CloudFileSystem
from tests.unit.fsspec.conftest import PASSPHRASE


def _sdk_fs(cloud: CloudFileSystem, filespace: str = "default") -> cloudfs.Filesystem:
    """The SDK filesystem under ``cloud`` (linking returns the already linked object)."""
    client = cloud.client()
    workspace = client.get_workspace(client.list_workspaces()[0].id)
    return workspace.link_filespace(name=filespace).fs


# -- URLs and paths -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "stripped"),
    [
        ("cloudfs://ws/fs/a/b.txt", "ws/fs/a/b.txt"),
        ("cloudfs://ws/fs/a/", "ws/fs/a"),
        ("cloudfs:///ws//fs/a", "ws/fs/a"),
        ("ws/fs", "ws/fs"),
        ("/ws/fs/", "ws/fs"),
        ("cloudfs://", ""),
        ("cloudfs::ws/fs/x", "ws/fs/x"),
    ],
)
def test_strip_protocol(url: str, stripped: str) -> None:
    assert CloudFileSystem._strip_protocol(url) == stripped


@pytest.mark.parametrize(
    ("path", "parent"),
    [
        ("cloudfs://ws/fs/a/b", "ws/fs/a"),
        ("ws/fs/a", "ws/fs"),
        ("ws/fs", "ws"),
        ("ws", ""),
    ],
)
def test_parent(path: str, parent: str) -> None:
    assert CloudFileSystem._parent(path) == parent


def test_protocol_is_registered(home: Path) -> None:
    assert fsspec.get_filesystem_class("cloudfs") is CloudFileSystem
    fs, path = fsspec.core.url_to_fs(
        "cloudfs://ws/default/a.txt", home=str(home), passphrase=PASSPHRASE
    )
    try:
        assert isinstance(fs, CloudFileSystem)
        assert path == "ws/default/a.txt"
        assert fs.unstrip_protocol(path) == "cloudfs://ws/default/a.txt"
    finally:
        fs.close()


def test_fsspec_open_with_token(home: Path, token: str, workspace_name: str) -> None:
    url = f"cloudfs://{workspace_name}/default/dir/hello.txt"
    with fsspec.open(url, "wb", token=token, home=str(home)) as f:
        f.write(b"hello")
    with fsspec.open(url, "rb", token=token, home=str(home)) as f:
        assert f.read() == b"hello"
    with fsspec.open(url, "rt", token=token, home=str(home)) as f:
        assert f.read() == "hello"
    fs = fsspec.filesystem("cloudfs", token=token, home=str(home))
    assert fs is fsspec.filesystem("cloudfs", token=token, home=str(home))  # one client
    assert fs.client().is_logged_in
    fs.close()


def test_workspace_by_id_keeps_the_callers_spelling(
    cloud: CloudFileSystem, workspace_name: str
) -> None:
    workspace_id = cloud.client().list_workspaces()[0].id
    cloud.pipe_file(f"{workspace_name}/default/a", b"x")
    assert cloud.cat_file(f"{workspace_id}/default/a") == b"x"
    assert cloud.ls(f"{workspace_id}/default", detail=False) == [f"{workspace_id}/default/a"]
    assert cloud.info(workspace_id)["name"] == workspace_id
    assert cloud.ls("", detail=False) == [workspace_name]
    assert cloud.ls(workspace_id, detail=False) == [
        f"{workspace_id}/default",
        f"{workspace_id}/other",
    ]


# -- credentials ---------------------------------------------------------------------------
def test_token_option(home: Path, token: str, workspace_name: str) -> None:
    fs = CloudFileSystem(token=token, home=str(home), skip_instance_cache=True)
    try:
        assert fs.client().is_logged_in
        fs.pipe_file(f"{workspace_name}/default/t", b"by token")
        assert fs.cat_file(f"{workspace_name}/default/t") == b"by token"
    finally:
        fs.close()


def test_token_from_environment(
    home: Path, token: str, workspace_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFS_TOKEN", token)
    fs = CloudFileSystem(skip_instance_cache=True)  # home from CLOUDFS_HOME too
    try:
        assert fs.client().is_logged_in
        assert fs.ls(f"{workspace_name}/default") == []
    finally:
        fs.close()


def test_passphrase_from_environment(
    home: Path, workspace_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFS_PASSPHRASE", PASSPHRASE)
    fs = CloudFileSystem(skip_instance_cache=True)
    try:
        assert not fs.client().is_logged_in
        assert fs.ls(f"{workspace_name}/default") == []
    finally:
        fs.close()


def test_explicit_passphrase_beats_environment_token(
    home: Path, workspace_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFS_TOKEN", "sa_live:nope:AAAA")
    fs = CloudFileSystem(passphrase=PASSPHRASE, skip_instance_cache=True)
    try:
        assert not fs.client().is_logged_in
        assert fs.ls(f"{workspace_name}/default") == []
    finally:
        fs.close()


def test_bad_token_is_an_authentication_error(home: Path) -> None:
    fs = CloudFileSystem(token="sa_live:unknown:AAAA", skip_instance_cache=True)
    with pytest.raises(cloudfs.AuthenticationError):
        fs.ls("")
    with pytest.raises(cloudfs.AuthenticationError):  # exists() does not hide it
        fs.exists("x")
    fs.close()


def test_no_credentials_fails_on_linking(home: Path, workspace_name: str) -> None:
    fs = CloudFileSystem(skip_instance_cache=True)
    try:
        assert fs.ls(workspace_name, detail=False)  # listing needs no secret
        with pytest.raises(cloudfs.AuthenticationError):
            fs.ls(f"{workspace_name}/default")
    finally:
        fs.close()


def test_close_then_reuse(cloud: CloudFileSystem, root: str) -> None:
    cloud.pipe_file(f"{root}/kept", b"durable")
    first = cloud.client()
    cloud.close()
    cloud.close()  # idempotent
    assert cloud.cat_file(f"{root}/kept") == b"durable"
    assert cloud.client() is not first


# -- errors --------------------------------------------------------------------------------
def test_errors_are_builtin(cloud: CloudFileSystem, root: str, workspace_name: str) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        cloud.cat_file(f"{root}/missing")
    assert missing.value.filename == f"{root}/missing"
    with pytest.raises(FileNotFoundError):
        cloud.info("nosuchworkspace/default/a")
    with pytest.raises(FileNotFoundError):
        cloud.ls(f"{workspace_name}/nosuchfilespace")
    with pytest.raises(FileNotFoundError):
        cloud.info(f"{workspace_name}/nosuchfilespace")
    cloud.mkdir(f"{root}/d")
    with pytest.raises(FileExistsError):
        cloud.mkdir(f"{root}/d")
    with pytest.raises(FileExistsError):
        cloud.makedirs(f"{root}/d")
    cloud.makedirs(f"{root}/d", exist_ok=True)
    with pytest.raises(IsADirectoryError):
        cloud.open(f"{root}/d", "rb")
    cloud.pipe_file(f"{root}/d/f", b"x")
    with pytest.raises(OSError) as not_empty:
        cloud.rmdir(f"{root}/d")
    assert not_empty.value.errno == errno.ENOTEMPTY
    with pytest.raises(FileExistsError):
        cloud.makedirs(f"{root}/d/f", exist_ok=True)  # a file is in the way
    with pytest.raises(FileExistsError):
        cloud.open(f"{root}/d/f", "xb")
    with pytest.raises(PermissionError):
        cloud.mkdir(f"{workspace_name}/newfilespace")
    with pytest.raises(PermissionError):
        cloud.rm(root, recursive=True)
    with pytest.raises(FileNotFoundError):
        cloud.rm(f"{root}/missing")
    assert not cloud.exists(f"{root}/missing")
    assert not cloud.exists(f"{root}/d/f/below")
    assert not cloud.exists("nosuchworkspace")
    with pytest.raises(NotImplementedError):
        cloud.open(f"{root}/t", "wb", autocommit=False)


# -- names: ls and info agree --------------------------------------------------------------
def _check_consistent(cloud: CloudFileSystem, path: str) -> None:
    listed = cloud.ls(path, detail=True)
    assert [e["name"] for e in listed] == cloud.ls(path, detail=False)
    for entry in listed:
        assert cloud.info(entry["name"]) == entry
        assert cloud._parent(entry["name"]) == cloud._strip_protocol(path)


def test_ls_and_info_names_agree(cloud: CloudFileSystem, root: str, workspace_name: str) -> None:
    cloud.pipe_file(f"{root}/dir/file.bin", b"12345")
    cloud.mkdir(f"{root}/dir/empty")
    sdk = _sdk_fs(cloud)
    sdk.create_symlink("/dir/file.bin", "/dir/link-to-file")
    sdk.create_symlink("/dir/empty", "/dir/link-to-dir")
    sdk.create_symlink("/nowhere", "/dir/dangling")
    for path in ("", workspace_name, root, f"{root}/dir", f"cloudfs://{root}/dir/"):
        _check_consistent(cloud, path)
    infos = {e["name"].rsplit("/", 1)[1]: e for e in cloud.ls(f"{root}/dir")}
    assert infos["file.bin"]["type"] == "file"
    assert infos["file.bin"]["size"] == 5
    assert not infos["file.bin"]["islink"]
    assert infos["empty"]["type"] == "directory"
    assert infos["link-to-file"] == {
        **infos["link-to-file"],
        "type": "file",
        "size": 5,
        "islink": True,
        "destination": "/dir/file.bin",
    }
    assert infos["link-to-dir"]["type"] == "directory"
    assert infos["dangling"]["type"] == "other"
    assert cloud.ls(f"{root}/dir/file.bin") == [infos["file.bin"]]  # ls of a file
    assert cloud.isfile(f"{root}/dir/link-to-file")
    assert cloud.isdir(f"{root}/dir/link-to-dir")
    assert all(cloud.isdir(p) for p in (root, workspace_name, ""))
    assert cloud.find(root) == [  # walk lists every non-directory, dangling links too
        f"{root}/dir/dangling",
        f"{root}/dir/file.bin",
        f"{root}/dir/link-to-file",
    ]


def test_created_and_modified(cloud: CloudFileSystem, root: str) -> None:
    before = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=5)
    cloud.pipe_file(f"{root}/f", b"x")
    for when in (
        cloud.modified(f"{root}/f"),
        cloud.created(f"{root}/f"),
        cloud.created(root),
        cloud.modified(root),
    ):
        assert when.tzinfo is not None
        assert when >= before


# -- reading, writing, moving --------------------------------------------------------------
def test_cat_file_ranges(cloud: CloudFileSystem, root: str) -> None:
    data = bytes(range(256)) * 1024  # spans several 64 KiB blocks
    cloud.pipe_file(f"{root}/r", data)
    for start, end in [
        (None, None),
        (10, 20),
        (-100, None),
        (None, -100),
        (70000, 200000),
        (-5, -1),
        (300000, None),
        (5, 2),
        (0, 10**9),
    ]:
        assert cloud.cat_file(f"{root}/r", start, end) == data[start:end], (start, end)
    assert cloud.cat(f"{root}/r") == data
    assert cloud.head(f"{root}/r", 3) == data[:3]


def test_open_modes(cloud: CloudFileSystem, root: str) -> None:
    path = f"{root}/m/file"
    with cloud.open(path, "wb") as f:  # creates the missing parent
        f.write(b"abc")
    with cloud.open(path, "ab") as f:
        f.write(b"def")
    with cloud.open(path, "rb") as f:
        assert f.size == 6
        assert f.read(2) == b"ab"
        f.seek(-1, os.SEEK_END)
        assert f.read() == b"f"
        assert f.name.startswith("cloudfs://")  # never a local-looking path
    with cloud.open(path, "r+b") as f:
        f.seek(1)
        f.write(b"X")
    with cloud.open(path, "r", encoding="utf-8") as f:
        assert f.read() == "aXcdef"
    cloud.touch(f"{root}/m/empty")
    assert cloud.cat_file(f"{root}/m/empty") == b""


def test_pipe_file_create_mode(cloud: CloudFileSystem, root: str) -> None:
    cloud.pipe_file(f"{root}/p", b"one", mode="create")
    with pytest.raises(FileExistsError):
        cloud.pipe_file(f"{root}/p", b"two", mode="create")
    assert cloud.cat_file(f"{root}/p") == b"one"


def test_mv(cloud: CloudFileSystem, root: str, workspace_name: str) -> None:
    cloud.pipe_file(f"{root}/a", b"a")
    cloud.mv(f"{root}/a", f"{root}/b")
    assert not cloud.exists(f"{root}/a")
    assert cloud.cat_file(f"{root}/b") == b"a"
    cloud.mkdir(f"{root}/d")
    cloud.mv(f"{root}/b", f"{root}/d")  # into an existing directory
    assert cloud.cat_file(f"{root}/d/b") == b"a"
    cloud.pipe_file(f"{root}/c", b"c")
    cloud.rename(f"{root}/c", f"{root}/d/b")  # replaces a file
    assert cloud.cat_file(f"{root}/d/b") == b"c"
    cloud.mv(f"{root}/d", f"{root}/e")  # a whole tree, one rename
    assert cloud.ls(f"{root}/e", detail=False) == [f"{root}/e/b"]
    with pytest.raises(FileNotFoundError):
        cloud.mv(f"{root}/missing", f"{root}/e/b")
    assert cloud.cat_file(f"{root}/e/b") == b"c"  # the target survived the failed move
    other = f"{workspace_name}/other"
    cloud.mv(f"{root}/e", f"{other}/e")  # across filespaces: copy then delete
    assert not cloud.exists(f"{root}/e")
    assert cloud.cat_file(f"{other}/e/b") == b"c"


def test_rm_and_rmdir(cloud: CloudFileSystem, root: str) -> None:
    cloud.pipe({f"{root}/t/a": b"1", f"{root}/t/s/b": b"2", f"{root}/t/s/c": b"3"})
    cloud.rm(f"{root}/t/s/*")
    assert cloud.ls(f"{root}/t/s") == []
    cloud.rmdir(f"{root}/t/s")
    cloud.rm(f"{root}/t", recursive=True)
    assert not cloud.exists(f"{root}/t")
    assert cloud.ls(root) == []


def test_copy_within_and_across_filespaces(
    cloud: CloudFileSystem, root: str, workspace_name: str
) -> None:
    cloud.pipe_file(f"{root}/src/f", b"data")
    cloud.copy(f"{root}/src", f"{workspace_name}/other/dst", recursive=True)
    assert cloud.cat_file(f"{workspace_name}/other/dst/f") == b"data"
    cloud.cp_file(f"{root}/src/f", f"{root}/src/f")  # onto itself: a no-op, not a truncate
    assert cloud.cat_file(f"{root}/src/f") == b"data"


# -- streaming -----------------------------------------------------------------------------
SIZE = 24 * 1024 * 1024


def _write_pattern(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(SIZE // (1024 * 1024)):
            chunk = hashlib.sha256(i.to_bytes(4, "big")).digest() * 32768  # 1 MiB
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def _peak(action: object) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_streaming_put_and_get(home: Path, root: str, tmp_path: Path) -> None:
    # the block cache (cache_size_mb) and the copy chunks bound memory, not the file size
    cloud = CloudFileSystem(
        home=str(home), passphrase=PASSPHRASE, cache_size_mb=4, skip_instance_cache=True
    )
    try:
        _stream(cloud, root, tmp_path)
    finally:
        cloud.close()


def _stream(cloud: CloudFileSystem, root: str, tmp_path: Path) -> None:
    local = tmp_path / "big.bin"
    digest = _write_pattern(local)
    put_peak = _peak(lambda: cloud.put(str(local), f"{root}/big.bin"))
    assert cloud.size(f"{root}/big.bin") == SIZE
    back = tmp_path / "back.bin"
    get_peak = _peak(lambda: cloud.get(f"{root}/big.bin", str(back)))
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    copy_peak = _peak(lambda: cloud.cp_file(f"{root}/big.bin", f"{root}/copy.bin"))
    assert cloud.size(f"{root}/copy.bin") == SIZE
    for name, peak in (("put", put_peak), ("get", get_peak), ("cp_file", copy_peak)):
        assert peak < SIZE // 2, f"{name} peaked at {peak / SIZE:.2f}x the file"


# -- lifecycle -----------------------------------------------------------------------------
def test_pickle_round_trip(home: Path, root: str) -> None:
    fs = CloudFileSystem(home=str(home), passphrase=PASSPHRASE)
    try:
        fs.pipe_file(f"{root}/p", b"pickled")
        clone = pickle.loads(pickle.dumps(fs))
        assert clone is fs  # fsspec's instance cache: the same options, the same instance
        assert clone.cat_file(f"{root}/p") == b"pickled"
    finally:
        fs.close()


EXIT_SCRIPT = """
import fsspec, sys
fs = fsspec.filesystem("cloudfs", passphrase=sys.argv[1])
fs.pipe_file(sys.argv[2], b"written just before exit")
with fs.open(sys.argv[2] + ".2", "wb") as f:
    f.write(b"second")
# no fs.close(): the exit hook must sync and close the client
"""


def test_client_closed_at_interpreter_exit(home: Path, root: str, tmp_path: Path) -> None:
    sandboxes = tmp_path / "tmp"  # where the client makes (and its close removes) its state
    sandboxes.mkdir()
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", EXIT_SCRIPT, PASSPHRASE, f"cloudfs://{root}/late"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TMPDIR": str(sandboxes)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # an exit hook that ran too late would print a traceback
    assert list(sandboxes.iterdir()) == []  # the client was closed
    fs = CloudFileSystem(home=str(home), passphrase=PASSPHRASE, skip_instance_cache=True)
    try:
        assert fs.cat_file(f"{root}/late") == b"written just before exit"
        assert fs.cat_file(f"{root}/late.2") == b"second"
    finally:
        fs.close()
