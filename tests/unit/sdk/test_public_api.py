"""The curated public surface: ``cloudfs.__all__`` is exactly this list."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import cloudfs

EXPECTED_ALL = [
    "AuthenticationError",
    "Client",
    "ClientConfig",
    "ClientError",
    "CloudfsError",
    "ConfigurationError",
    "ConnectManager",
    "Daemon",
    "DataStoreInfo",
    "DataStoreKind",
    "DataStoreRekeyState",
    "DirEntry",
    "FileStream",
    "Filespace",
    "FilespaceAlreadyLinkedError",
    "FilespaceError",
    "FilespaceInfo",
    "FilespaceNotFoundError",
    "FilespaceSize",
    "FilespaceStatistics",
    "Filesystem",
    "IntegrityError",
    "LinkedFilesResult",
    "S3Credentials",
    "S3DataStoreConfig",
    "ServiceAccountCredentials",
    "StorageConfig",
    "StorageMode",
    "SyncMode",
    "Workspace",
    "WorkspaceInfo",
    "WrongPassphraseError",
    "__version__",
    "create_daemon",
]


def test_all_is_pinned() -> None:
    assert cloudfs.__all__ == EXPECTED_ALL


def test_every_name_in_all_exists() -> None:
    for name in cloudfs.__all__:
        assert hasattr(cloudfs, name), name


def test_no_public_name_outside_all() -> None:
    public = {
        name
        for name, value in vars(cloudfs).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= set(cloudfs.__all__)


def test_exception_hierarchy_matches_the_spec() -> None:
    assert issubclass(cloudfs.ClientError, cloudfs.CloudfsError)
    assert issubclass(cloudfs.FilespaceError, cloudfs.CloudfsError)
    assert issubclass(cloudfs.FilespaceAlreadyLinkedError, cloudfs.FilespaceError)
    assert issubclass(cloudfs.AuthenticationError, cloudfs.CloudfsError)
    assert issubclass(cloudfs.ConfigurationError, cloudfs.CloudfsError)
    assert issubclass(cloudfs.ConfigurationError, ValueError)
    assert issubclass(cloudfs.WrongPassphraseError, cloudfs.FilespaceError)
    err = cloudfs.FilespaceAlreadyLinkedError(filespace_id="abc")
    assert err.filespace_id == "abc"
    assert "abc" in str(err)


def test_spec_signatures() -> None:
    link = inspect.signature(cloudfs.Workspace.link_filespace)
    assert list(link.parameters)[1:] == ["name", "id", "root_path", "sync_mode"]
    assert link.parameters["root_path"].default == "/"
    assert link.parameters["sync_mode"].default is cloudfs.SyncMode.SYNC_ALL
    client = inspect.signature(cloudfs.Client)
    assert all(p.kind is p.KEYWORD_ONLY for p in client.parameters.values())
    assert set(client.parameters) == {"storage", "config"}
    opened = inspect.signature(cloudfs.Filesystem.open)
    assert list(opened.parameters)[1:6] == ["path", "mode", "buffering", "encoding", "errors"]
    assert opened.parameters["mode"].default == "rb"
    assert inspect.signature(cloudfs.Filesystem.delete_dir).parameters["recursive"].default is (
        False
    )


def test_models_are_frozen_dataclasses() -> None:
    for model in (cloudfs.ClientConfig, cloudfs.StorageConfig, cloudfs.DirEntry):
        assert dataclasses.is_dataclass(model)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cloudfs.ClientConfig().fs_cache_size_mb = 5  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(cloudfs.DirEntry)] == [
        "name",
        "size",
        "type",
        "file_id",
        "file_id_external",
        "ctime",
        "mtime",
    ]
    assert [f.name for f in dataclasses.fields(cloudfs.FilespaceSize)] == [
        "entries",
        "data",
        "storage",
        "external_files_size",
        "external_files_count",
    ]
    assert [f.name for f in dataclasses.fields(cloudfs.FilespaceStatistics)] == [
        "file_count",
        "directory_count",
        "symlink_count",
        "entries_size",
        "data_size",
        "storage_size",
        "external_files_size",
        "external_files_count",
    ]
    assert [f.name for f in dataclasses.fields(cloudfs.FilespaceInfo)] == ["id", "name", "created"]
    assert {m.name for m in cloudfs.StorageMode} == {"PHYSICAL", "SANDBOXED"}
    assert {m.name for m in cloudfs.SyncMode} == {"SYNC_ALL", "SYNC_NONE"}
    storage = cloudfs.StorageConfig()
    assert storage.mode is cloudfs.StorageMode.SANDBOXED
    assert storage.persist_on_exit is False
    assert storage.root_path is None


def test_client_config_rejects_a_non_positive_cache() -> None:
    with pytest.raises(cloudfs.ConfigurationError):
        cloudfs.ClientConfig(fs_cache_size_mb=0)


CONNECT_METHODS = {
    "add_data_store": ["name", "config"],
    "are_data_stores_available": [],
    "count_external_files": ["data_store_name"],
    "get_data_store": ["name"],
    "link_file": ["file_path", "data_store_name", "object_id", "size", "checksum"],
    "link_http_file": ["file_path", "url", "size"],
    "list_data_stores": [],
    "list_external_files": ["data_store_name", "limit", "cursor"],
    "rekey_data_store": ["name", "credentials", "new_access_key", "new_secret_key"],
    "remove_data_store": ["name"],
    "unlink_file": ["file_path"],
    "update_http_file_url": ["file_path", "new_url", "size"],
}


def test_connect_manager_has_exactly_the_seed_methods() -> None:
    public = {
        name
        for name, value in vars(cloudfs.ConnectManager).items()
        if not name.startswith("_") and callable(value)
    }
    assert public == set(CONNECT_METHODS)
    for name, params in CONNECT_METHODS.items():
        signature = inspect.signature(getattr(cloudfs.ConnectManager, name))
        assert list(signature.parameters)[1:] == params, name
    link = inspect.signature(cloudfs.ConnectManager.link_file).parameters
    assert link["size"].default is None
    assert link["checksum"].default == ""
    listing = inspect.signature(cloudfs.ConnectManager.list_external_files).parameters
    assert listing["limit"].default == 100
    assert listing["cursor"].default == ""
    rekey = inspect.signature(cloudfs.ConnectManager.rekey_data_store).parameters
    assert rekey["new_access_key"].kind is inspect.Parameter.KEYWORD_ONLY
    assert cloudfs.ConnectManager.__module__.startswith("cloudfs.connect")


def test_connect_models_match_sdk_md() -> None:
    fields = {
        cloudfs.S3DataStoreConfig: [
            "access_key",
            "secret_key",
            "bucket_name",
            "region",
            "endpoint",
            "url_expiration_minutes",
            "use_virtual_addressing",
        ],
        cloudfs.DataStoreInfo: [
            "name",
            "access_key",
            "secret_key",
            "bucket_name",
            "region",
            "endpoint",
            "url_expiration_minutes",
            "use_virtual_addressing",
            "kind",
            "key_id",
            "rekey_state",
        ],
        cloudfs.S3Credentials: ["access_key", "secret_key", "kind"],
        cloudfs.LinkedFilesResult: ["file_paths", "file_ids", "has_more", "cursor"],
    }
    for model, names in fields.items():
        assert [f.name for f in dataclasses.fields(model)] == names, model
    assert {m.name for m in cloudfs.DataStoreKind} == {"S3"}
    assert {m.name for m in cloudfs.DataStoreRekeyState} == {"NO_REKEY", "IN_PROGRESS"}
    config = dataclasses.fields(cloudfs.S3DataStoreConfig)
    defaults = {f.name: f.default for f in config}
    assert defaults["endpoint"] == ""
    assert defaults["url_expiration_minutes"] == 10080
    assert defaults["use_virtual_addressing"] is False
