"""Store configuration: validation messages, secrets kept out of repr, dict round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudfs.errors import ConfigurationError
from cloudfs.store.config import (
    LocalStoreConfig,
    MemoryStoreConfig,
    S3StoreConfig,
    StoreConfig,
    open_store,
    store_config_from_dict,
)


def s3(**changes: Any) -> S3StoreConfig:
    settings: dict[str, Any] = {"bucket": "my-bucket", "endpoint": "http://127.0.0.1:9000"}
    return S3StoreConfig(**{**settings, **changes})


def test_a_sensible_s3_config_validates() -> None:
    s3().validate()
    s3(endpoint="", access_key="AK", secret_key="SK").validate()
    s3(endpoint="https://s3.example.com/", prefix="/team/fs1/").validate()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket": ""}, "bucket name"),
        ({"bucket": "ab"}, "bucket name"),
        ({"bucket": "Upper"}, "bucket name"),
        ({"bucket": "a..b"}, "bucket name"),
        ({"endpoint": "127.0.0.1:9000"}, "full http:// or https:// URL"),
        ({"endpoint": "ftp://host"}, "full http:// or https:// URL"),
        ({"endpoint": "http://"}, "full http:// or https:// URL"),
        ({"endpoint": "http://host?x=1"}, "query"),
        ({"endpoint": "http://127.0.0.1:9000", "allow_http": False}, "allow_http is false"),
        ({"access_key": "AK"}, "together"),
        ({"secret_key": "SK"}, "together"),
        ({"prefix": "a//b"}, "segment"),
        ({"prefix": "a/../b"}, "segment"),
        ({"region": ""}, "region"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"read_timeout": -1}, "read_timeout"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_s3_validation_says_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        s3(**changes).validate()


def test_credentials_in_the_endpoint_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError) as info:
        s3(endpoint="https://user:hunter2@s3.example.com").validate()
    assert "hunter2" not in str(info.value)


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bucket"):
        s3(bucket="").validate()


def test_allow_http_follows_the_endpoint_unless_set() -> None:
    assert s3(endpoint="http://h:1").http_allowed
    assert not s3(endpoint="https://h").http_allowed
    assert not s3(endpoint="").http_allowed
    assert s3(endpoint="https://h", allow_http=True).http_allowed


def test_repr_never_shows_the_secret() -> None:
    config = s3(access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI")
    assert "wJalrXUtnFEMI" not in repr(config)
    assert "wJalrXUtnFEMI" not in str(config)
    assert "AKIDEXAMPLE" in repr(config)


def test_the_secret_is_kept_in_to_dict_for_the_local_config_file() -> None:
    assert s3(access_key="AK", secret_key="SK").to_dict()["secret_key"] == "SK"


@pytest.mark.parametrize(
    "config",
    [
        S3StoreConfig("bkt", "http://127.0.0.1:1", "eu-west-1", "AK", "SK", "p", True, None),
        S3StoreConfig("bkt", connect_timeout=1.5, max_retries=0),
        LocalStoreConfig(Path("/tmp/objects"), prefix="x/y"),
        MemoryStoreConfig(),
    ],
)
def test_configs_round_trip_through_json(config: StoreConfig) -> None:
    data = json.loads(json.dumps(config.to_dict()))
    assert store_config_from_dict(data) == config
    assert type(config).from_dict(data) == config


def test_from_dict_refuses_unknown_settings() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown setting.*colour"):
        S3StoreConfig.from_dict({"bucket": "bkt", "colour": "blue"})


def test_from_dict_refuses_wrong_types() -> None:
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        S3StoreConfig.from_dict({"bucket": "bkt", "connect_timeout": "2s"})
    with pytest.raises(ConfigurationError, match="virtual_hosted_style"):
        S3StoreConfig.from_dict({"bucket": "bkt", "virtual_hosted_style": 1})
    with pytest.raises(ConfigurationError, match="root"):
        LocalStoreConfig.from_dict({"root": 7})


def test_from_dict_refuses_missing_settings() -> None:
    with pytest.raises(ConfigurationError, match="bucket"):
        S3StoreConfig.from_dict({"kind": "s3"})


@pytest.mark.parametrize("data", [{}, {"kind": "ftp"}, {"kind": 3}])
def test_store_config_from_dict_needs_a_known_kind(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="store kind"):
        store_config_from_dict(data)


def test_local_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="not a folder"):
        LocalStoreConfig(tmp_path / "file").validate()


async def test_open_store_creates_the_local_root(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "objects"
    store = open_store(LocalStoreConfig(root, prefix="fs"))
    await store.put("k", b"v")
    assert (root / "fs" / "k").read_bytes() == b"v"
    assert str(root) in store.description
    await store.close()


def test_open_store_validates_first() -> None:
    with pytest.raises(ConfigurationError):
        open_store(s3(bucket="NO"))


def test_s3_description_names_bucket_prefix_and_endpoint_but_no_secret() -> None:
    store = open_store(s3(access_key="AK", secret_key="s3cr3t", prefix="team"))
    assert store.description == "s3://my-bucket/team at http://127.0.0.1:9000"
    assert "s3cr3t" not in store.description + repr(store)
