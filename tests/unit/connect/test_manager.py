"""ConnectManager without S3: availability, stores, links made from size + ETag, listing,
counting, namespace operations and read-only content.  No test here sends an S3 request
(the stores point at a port nothing listens on, and requests are counted)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

import cloudfs
from tests.unit.connect.conftest import SECRET, store_config


def requests(filespace: cloudfs.Filespace) -> int:
    return filespace._opened.objects.requests


# -- availability ------------------------------------------------------------------------
def test_a_filespace_without_the_feature_is_not_available(
    workspace: cloudfs.Workspace,
) -> None:
    plain = workspace.link_filespace(name="plain").connect
    assert plain.are_data_stores_available() is False
    calls = [
        lambda: plain.add_data_store("s", store_config()),
        lambda: plain.list_data_stores(),
        lambda: plain.get_data_store("s"),
        lambda: plain.remove_data_store("s"),
        lambda: plain.rekey_data_store("s", new_access_key="a", new_secret_key="b"),
        lambda: plain.link_file("/a", "s", "k", 1, "e"),
        lambda: plain.link_http_file("/a", "http://h/x", size=1),
        lambda: plain.update_http_file_url("/a", "http://h/x", size=1),
        lambda: plain.unlink_file("/a"),
        lambda: plain.list_external_files("s"),
        lambda: plain.count_external_files("s"),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="cloudfs connect enable"):
            call()


def test_an_old_format_says_to_upgrade(filespace: cloudfs.Filespace) -> None:
    from cloudfs.codec.descriptor import FilespaceDescriptor
    from tests.unit.connect.conftest import PASSPHRASE

    async def downgrade() -> None:
        meta = filespace._opened.meta
        raw, version = await meta.get_descriptor()
        descriptor = FilespaceDescriptor.from_bytes(raw)
        master = descriptor.unlock(PASSPHRASE)
        old = descriptor.updated(master, format_version=2, features=[])
        await meta.put_descriptor(old.to_bytes(), expected_version=version)

    filespace._run(downgrade())
    connect = cloudfs.ConnectManager(
        filespace._opened.vfs,
        filespace._opened.objects.meta,
        filespace._opened.objects,
        filespace._run,
    )
    assert connect.are_data_stores_available() is False
    with pytest.raises(RuntimeError, match="cloudfs upgrade"):
        connect.list_data_stores()


# -- data stores ----------------------------------------------------------------------------
def test_add_get_list_remove_a_store(connect: cloudfs.ConnectManager) -> None:
    assert connect.are_data_stores_available()
    info = connect.add_data_store("store", store_config())
    assert info.name == "store"
    assert info.bucket_name == "customer-bucket"
    assert info.secret_key == ""
    [listed] = connect.list_data_stores()
    assert listed.secret_key == ""
    assert listed.access_key == "AKIAEXAMPLE"
    got = connect.get_data_store("store")
    assert got is not None
    assert got.secret_key == SECRET
    assert got.endpoint == "http://127.0.0.1:9"
    assert connect.get_data_store("nope") is None
    connect.remove_data_store("store")
    assert connect.list_data_stores() == []
    with pytest.raises(RuntimeError, match="no data store named 'store'"):
        connect.remove_data_store("store")


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_store_name(connect: cloudfs.ConnectManager, name: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        connect.add_data_store(name, store_config())


def test_duplicate_store_name(connect: cloudfs.ConnectManager) -> None:
    connect.add_data_store("store", store_config())
    with pytest.raises(ValueError, match="already exists"):
        connect.add_data_store("store", store_config())


def test_the_secret_is_stored_encrypted(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, home: Path
) -> None:
    connect.add_data_store("store", store_config())
    connect.rekey_data_store("store", new_access_key="AK2", new_secret_key="second-secret")
    filespace.sync_all()
    files = list(home.rglob("meta.sqlite*"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data  # neither the old secret (gone) ...
        assert b"second-secret" not in data  # ... nor the new one in the clear


def test_secrets_stay_out_of_errors_and_logs(
    connect: cloudfs.ConnectManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connect.add_data_store("store", store_config())
    info = connect.get_data_store("store")
    assert SECRET not in repr(info)
    errors: list[BaseException] = []
    for call in (
        lambda: connect.add_data_store("store", store_config()),
        lambda: connect.link_file("/x", "store", "key"),  # HEAD to a dead endpoint
        lambda: connect.rekey_data_store("store", new_access_key="a", new_secret_key=""),
    ):
        with pytest.raises((ValueError, RuntimeError)) as info_:
            call()
        errors.append(info_.value)
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
    assert SECRET not in caplog.text


def test_rekey(connect: cloudfs.ConnectManager) -> None:
    connect.add_data_store("store", store_config())
    before = connect.get_data_store("store")
    assert before is not None
    connect.rekey_data_store("store", cloudfs.S3Credentials("AKIANEW", "new-secret"))
    after = connect.get_data_store("store")
    assert after is not None
    assert (after.access_key, after.secret_key) == ("AKIANEW", "new-secret")
    assert after.key_id != before.key_id
    assert after.rekey_state is cloudfs.DataStoreRekeyState.NO_REKEY
    connect.rekey_data_store("store", new_access_key="AK3", new_secret_key="third")
    third = connect.get_data_store("store")
    assert third is not None
    assert third.secret_key == "third"
    with pytest.raises(ValueError, match="no credentials"):
        connect.rekey_data_store("store")
    with pytest.raises(ValueError, match="secret_key must not be empty"):
        connect.rekey_data_store("store", new_access_key="a", new_secret_key="")
    with pytest.raises(RuntimeError, match="no data store"):
        connect.rekey_data_store("nope", new_access_key="a", new_secret_key="b")


# -- linking without S3 ---------------------------------------------------------------------
@pytest.fixture
def store(connect: cloudfs.ConnectManager) -> str:
    connect.add_data_store("store", store_config())
    return "store"


def test_size_and_checksum_skip_the_head(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, store: str
) -> None:
    connect.link_file("/data/a/file.csv", store, "path/to/file.csv", 1234, '"etag1"')
    assert requests(filespace) == 0
    fs = filespace.fs
    entry = fs.get_entry("/data/a/file.csv")
    assert entry.size == 1234
    assert entry.is_file()
    assert entry.file_id_external > 0
    [listed] = fs.read_dir("/data/a")
    assert listed.file_id_external == entry.file_id_external
    assert fs.get_entry("/data").file_id_external == 0


def test_only_one_of_size_and_checksum(connect: cloudfs.ConnectManager, store: str) -> None:
    with pytest.raises(ValueError, match="both size and checksum"):
        connect.link_file("/a", store, "k", size=5)
    with pytest.raises(ValueError, match="both size and checksum"):
        connect.link_file("/a", store, "k", checksum="e")


def test_link_errors(connect: cloudfs.ConnectManager, store: str) -> None:
    with pytest.raises(RuntimeError, match="no data store named 'nope'"):
        connect.link_file("/a", "nope", "k", 1, "e")
    connect.link_file("/a", store, "k", 1, "e")
    with pytest.raises(RuntimeError, match="an entry exists"):
        connect.link_file("/a", store, "k2", 1, "e")
    with pytest.raises(RuntimeError, match="cannot link"):
        connect.link_file("/b", store, "k")  # HEAD: nothing listens on the endpoint


def test_sizes_and_statistics(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, store: str
) -> None:
    fs = filespace.fs
    fs.write_file("/native.bin", b"x" * 100)
    connect.link_file("/ext1", store, "k1", 1000, "e1")
    connect.link_file("/ext2", store, "k2", 24, "e2")
    size = fs.get_size()
    assert (size.data, size.external_files_size, size.external_files_count) == (100, 1024, 2)
    stats = fs.get_statistics()
    assert stats.external_files_count == 2
    assert stats.external_files_size == 1024
    assert stats.file_count == 3
    assert stats.data_size == 100
    connect.unlink_file("/ext2")
    assert fs.get_size().external_files_count == 1
    fs.delete("/ext1")
    assert fs.get_size().external_files_count == 0
    assert connect.count_external_files(store) == 0


def test_content_is_read_only(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, store: str
) -> None:
    fs = filespace.fs
    connect.link_file("/ext", store, "k", 10, "e")
    for call in (
        lambda: fs.write_file("/ext", b"new"),
        lambda: fs.truncate("/ext", 0),
        lambda: fs.open("/ext", "ab"),
        lambda: fs.open("/ext", "r+b"),
        lambda: fs.open("/ext", "wb"),
    ):
        with pytest.raises(PermissionError) as info:
            call()
        assert info.value.errno == errno.EACCES
    assert fs.get_entry("/ext").size == 10


def test_move_rename_delete_like_any_entry(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, store: str
) -> None:
    fs = filespace.fs
    connect.link_file("/in/ext", store, "k", 10, "e")
    fs.create_dir("/out")
    fs.move("/in/ext", "/out/renamed")
    assert fs.list_dir("/in") == []
    assert fs.get_entry("/out/renamed").file_id_external > 0
    assert connect.list_external_files(store).file_paths == ["/out/renamed"]
    fs.delete("/out/renamed")
    assert connect.count_external_files(store) == 0
    assert connect.list_external_files(store).file_paths == []


def test_unlink_refuses_a_native_file(
    connect: cloudfs.ConnectManager, filespace: cloudfs.Filespace, store: str
) -> None:
    filespace.fs.write_file("/native", b"x")
    with pytest.raises(RuntimeError, match="not an external file"):
        connect.unlink_file("/native")
    with pytest.raises(RuntimeError, match="no such file"):
        connect.unlink_file("/missing")
    assert filespace.fs.read_file("/native") == b"x"


def test_remove_refuses_while_files_are_linked(connect: cloudfs.ConnectManager, store: str) -> None:
    for i in range(3):
        connect.link_file(f"/f{i}", store, f"k{i}", 1, "e")
    with pytest.raises(RuntimeError, match="3 linked file"):
        connect.remove_data_store(store)
    for i in range(3):
        connect.unlink_file(f"/f{i}")
    connect.remove_data_store(store)


def test_pagination_while_links_come_and_go(connect: cloudfs.ConnectManager, store: str) -> None:
    for i in range(25):
        connect.link_file(f"/dir/f{i:02}", store, f"k{i}", i, f"e{i}")
    seen: list[str] = []
    ids: list[int] = []
    cursor = ""
    pages = 0
    while True:
        page = connect.list_external_files(store, limit=10, cursor=cursor)
        seen += page.file_paths
        ids += page.file_ids
        pages += 1
        if pages == 1:  # change the set while paging
            connect.unlink_file("/dir/f03")  # already seen: no effect on the rest
            connect.unlink_file("/dir/f15")  # not seen yet: must not appear
            connect.link_file("/dir/new", store, "knew", 1, "e")  # added: appears at the end
        if not page.has_more:
            break
        cursor = page.cursor
    expected = [f"/dir/f{i:02}" for i in range(25) if i != 15] + ["/dir/new"]
    assert seen == expected
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert connect.count_external_files(store) == 24


def test_bad_list_arguments(connect: cloudfs.ConnectManager, store: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        connect.list_external_files(store, cursor="garbage!")
    with pytest.raises(ValueError, match="limit"):
        connect.list_external_files(store, limit=0)
    with pytest.raises(RuntimeError, match="no data store"):
        connect.list_external_files("nope")
    with pytest.raises(RuntimeError, match="no data store"):
        connect.count_external_files("nope")


def test_root_path_is_honoured(workspace: cloudfs.Workspace, store: str) -> None:
    del store
    base = workspace.link_filespace(name="default")
    base.fs.create_dir("/sub")
    base.unlink()
    sub = workspace.link_filespace(name="default", root_path="/sub")
    sub.connect.link_file("/x", "store", "k", 1, "e")
    assert sub.connect.list_external_files("store").file_paths == ["/x"]
    assert sub.fs.get_entry("/x").file_id_external > 0
