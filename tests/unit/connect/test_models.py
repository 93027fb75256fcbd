"""Validation of Connect's models: each mistake is a ValueError that says what to fix."""

from __future__ import annotations

import pytest

import cloudfs
from tests.unit.connect.conftest import SECRET, store_config


@pytest.mark.parametrize(
    ("changes", "fix"),
    [
        ({"endpoint": "s3.example.com"}, "full http:// or https:// URL"),
        ({"endpoint": "ftp://host"}, "full http:// or https:// URL"),
        ({"endpoint": "http://"}, "full http:// or https:// URL"),
        ({"url_expiration_minutes": 4319}, "from 4320"),
        ({"url_expiration_minutes": 10081}, "to 10080"),
        ({"url_expiration_minutes": True}, "integer"),
        ({"access_key": ""}, "access_key must not be empty"),
        ({"secret_key": ""}, "secret_key must not be empty"),
        ({"bucket_name": "Bad_Bucket"}, "not a valid S3 bucket name"),
        ({"region": ""}, "region must not be empty"),
    ],
)
def test_invalid_config_says_what_to_fix(changes: dict[str, object], fix: str) -> None:
    with pytest.raises(ValueError, match=fix) as info:
        store_config(**changes)
    assert SECRET not in str(info.value)


def test_limits_of_url_expiration_are_accepted() -> None:
    assert store_config(url_expiration_minutes=4320).url_expiration_minutes == 4320
    assert store_config(url_expiration_minutes=10080).url_expiration_minutes == 10080
    assert store_config(endpoint="https://s3.example.com:8443/").endpoint


def test_reprs_never_show_a_secret() -> None:
    config = store_config()
    info = cloudfs.DataStoreInfo(name="s", access_key="AK", secret_key=SECRET)
    creds = cloudfs.S3Credentials("AK2", SECRET)
    for model in (config, info, creds):
        assert SECRET not in repr(model)
        assert SECRET not in str(model)
        assert "<redacted>" in repr(model)
    assert "secret_key=''" in repr(cloudfs.DataStoreInfo(name="s"))


def test_defaults_follow_sdk_md() -> None:
    info = cloudfs.DataStoreInfo(name="s")
    assert info.kind is cloudfs.DataStoreKind.S3
    assert info.rekey_state is cloudfs.DataStoreRekeyState.NO_REKEY
    assert info.url_expiration_minutes == 0
    assert store_config().url_expiration_minutes == 10080
    assert cloudfs.S3Credentials("a", "b").kind is cloudfs.DataStoreKind.S3
    result = cloudfs.LinkedFilesResult([], [], False, "")
    assert result.has_more is False
