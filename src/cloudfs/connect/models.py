"""Connect's value types, as the SDK names them, and their validation.

Every model that can hold a secret key redacts it from ``repr`` (and so from logs and
tracebacks that format it); validation errors name the field and say what to fix, never
quoting a secret.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "MAX_URL_EXPIRATION_MINUTES",
    "MIN_URL_EXPIRATION_MINUTES",
    "DataStoreInfo",
    "DataStoreKind",
    "DataStoreRekeyState",
    "LinkedFilesResult",
    "S3Credentials",
    "S3DataStoreConfig",
    "check_http_url",
    "check_store_name",
]

MIN_URL_EXPIRATION_MINUTES = 4320  # 3 days
MAX_URL_EXPIRATION_MINUTES = 10080  # 7 days: the longest a SigV4 presigned URL lives
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_NAME_MAX = 255


class DataStoreKind(enum.Enum):
    S3 = "s3"


class DataStoreRekeyState(enum.Enum):
    NO_REKEY = "no_rekey"
    IN_PROGRESS = "in_progress"


def _redacted(secret: str) -> str:
    return "'<redacted>'" if secret else "''"


def check_store_name(name: str) -> None:
    """``ValueError`` unless ``name`` can name a data store."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("data store name must not be empty: give the store a name")
    if len(name.encode()) > _NAME_MAX or any(ord(c) < 32 for c in name):
        raise ValueError(
            f"data store name must be at most {_NAME_MAX} bytes without control characters"
        )


def check_http_url(url: str, what: str) -> None:
    """``ValueError`` unless ``url`` is a full ``http://`` or ``https://`` URL."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        shown = urlsplit(url)._replace(query="", fragment="").geturl() if parts else repr(url)
        raise ValueError(
            f"{what} must be a full http:// or https:// URL such as "
            f"'https://s3.example.com', not {shown!r}"
        )


def _check_credentials(access_key: str, secret_key: str) -> None:
    if not isinstance(access_key, str) or not access_key.strip():
        raise ValueError("access_key must not be empty: give the S3 access key id")
    if not isinstance(secret_key, str) or not secret_key:
        raise ValueError("secret_key must not be empty: give the S3 secret access key")


@dataclass(frozen=True)
class S3DataStoreConfig:
    """How to reach a bucket.  ``endpoint`` is ``""`` for AWS or a full http(s) URL."""

    access_key: str
    secret_key: str = field(repr=False)
    bucket_name: str
    region: str
    endpoint: str = ""
    url_expiration_minutes: int = MAX_URL_EXPIRATION_MINUTES
    use_virtual_addressing: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """``ValueError`` naming the field to fix."""
        _check_credentials(self.access_key, self.secret_key)
        if not isinstance(self.bucket_name, str) or not _BUCKET.match(self.bucket_name):
            raise ValueError(
                f"bucket_name {self.bucket_name!r} is not a valid S3 bucket name: 3-63 "
                "lowercase letters, digits, '.' or '-'"
            )
        if not isinstance(self.region, str) or not self.region.strip():
            raise ValueError("region must not be empty: give the bucket's region, e.g. us-east-1")
        if self.endpoint:
            check_http_url(self.endpoint, "endpoint")
        minutes = self.url_expiration_minutes
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not MIN_URL_EXPIRATION_MINUTES <= minutes <= MAX_URL_EXPIRATION_MINUTES
        ):
            raise ValueError(
                f"url_expiration_minutes must be an integer from {MIN_URL_EXPIRATION_MINUTES} "
                f"(3 days) to {MAX_URL_EXPIRATION_MINUTES} (7 days), not {minutes!r}"
            )

    def __repr__(self) -> str:
        return (
            f"S3DataStoreConfig(access_key={self.access_key!r}, "
            f"secret_key={_redacted(self.secret_key)}, bucket_name={self.bucket_name!r}, "
            f"region={self.region!r}, endpoint={self.endpoint!r}, "
            f"url_expiration_minutes={self.url_expiration_minutes!r}, "
            f"use_virtual_addressing={self.use_virtual_addressing!r})"
        )


@dataclass(frozen=True)
class S3Credentials:
    """New credentials for :meth:`ConnectManager.rekey_data_store`."""

    access_key: str
    secret_key: str = field(repr=False)
    kind: DataStoreKind = DataStoreKind.S3

    def validate(self) -> None:
        _check_credentials(self.access_key, self.secret_key)

    def __repr__(self) -> str:
        return (
            f"S3Credentials(access_key={self.access_key!r}, "
            f"secret_key={_redacted(self.secret_key)}, kind={self.kind})"
        )


@dataclass(frozen=True)
class DataStoreInfo:
    """A registered data store.  ``secret_key`` is filled only by ``get_data_store``."""

    name: str
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    bucket_name: str = ""
    region: str = ""
    endpoint: str = ""
    url_expiration_minutes: int = 0
    use_virtual_addressing: bool = False
    kind: DataStoreKind = DataStoreKind.S3
    key_id: str = ""
    rekey_state: DataStoreRekeyState = DataStoreRekeyState.NO_REKEY

    def __repr__(self) -> str:
        return (
            f"DataStoreInfo(name={self.name!r}, access_key={self.access_key!r}, "
            f"secret_key={_redacted(self.secret_key)}, bucket_name={self.bucket_name!r}, "
            f"region={self.region!r}, endpoint={self.endpoint!r}, "
            f"url_expiration_minutes={self.url_expiration_minutes!r}, "
            f"use_virtual_addressing={self.use_virtual_addressing!r}, kind={self.kind}, "
            f"key_id={self.key_id!r}, rekey_state={self.rekey_state})"
        )

    def config(self) -> S3DataStoreConfig:
        """The configuration (needs the secret: from ``get_data_store``)."""
        return S3DataStoreConfig(
            access_key=self.access_key,
            secret_key=self.secret_key,
            bucket_name=self.bucket_name,
            region=self.region,
            endpoint=self.endpoint,
            url_expiration_minutes=self.url_expiration_minutes,
            use_virtual_addressing=self.use_virtual_addressing,
        )


@dataclass(frozen=True)
class LinkedFilesResult:
    """A page of external files; pass ``cursor`` back for the next one."""

    file_paths: list[str]
    file_ids: list[int]
    has_more: bool
    cursor: str
