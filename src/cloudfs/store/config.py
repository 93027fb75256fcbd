"""Where a filespace's objects live: one frozen dataclass per kind of object store.

- :class:`S3StoreConfig` — AWS S3 or any S3-compatible server (Ceph radosgw, MinIO, moto).
- :class:`LocalStoreConfig` — a folder on this machine (the embedded default).
- :class:`MemoryStoreConfig` — process memory, for tests.

Each has ``validate()`` (raises :class:`~cloudfs.errors.ConfigurationError` naming the field
and what would work), ``to_dict()`` / ``from_dict()`` for the JSON local config (secrets are
included: that file is the user's own), and :func:`open_store` turns any of them into an
:class:`~cloudfs.store.protocol.ObjectStore`.

``prefix`` puts every key under ``prefix/`` so several filespaces can share one bucket or
folder; leading and trailing slashes are ignored.  ``secret_key`` never appears in ``repr``.

S3 timeouts are local, per-machine settings.  The defaults make an unreachable store fail
in about ten seconds rather than minutes: a connection must open within
``connect_timeout`` and obstore retries at most ``max_retries`` times within
``retry_timeout``.  Reads (GET, HEAD, LIST, DELETE) also fail when the server stalls for
``read_timeout``; uploads cannot use a read timeout (the HTTP client counts it while the
body is still being sent, so a slow upload would fail), they are bounded by
``request_timeout`` instead.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, ClassVar, Literal, TypeAlias, get_args, get_type_hints
from urllib.parse import urlsplit

from cloudfs.errors import ConfigurationError
from cloudfs.store.protocol import ObjectStore

__all__ = [
    "LocalStoreConfig",
    "MemoryStoreConfig",
    "S3StoreConfig",
    "StoreConfig",
    "open_store",
    "store_config_from_dict",
]

# AWS's rules for new buckets; S3-compatible servers accept a superset.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_prefix(prefix: str) -> None:
    segments = prefix.strip("/").split("/")
    if prefix.strip("/") and any(s in ("", ".", "..") for s in segments):
        raise ConfigurationError(
            f"store prefix {prefix!r} has an empty, '.' or '..' segment; use e.g. 'team/fs1'"
        )


def _check_known_keys(cls: type, data: dict[str, Any]) -> None:
    known = {f.name for f in fields(cls)} | {"kind"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}")


def _check_types(cls: type, data: dict[str, Any]) -> None:
    hints = get_type_hints(cls)
    for name, value in data.items():
        hint = hints.get(name)
        allowed = get_args(hint) if isinstance(hint, UnionType) else (hint,)
        if not any(_is_a(value, t) for t in allowed):
            raise ConfigurationError(
                f"{cls.__name__}.{name} must be {hint}, not {type(value).__name__} {value!r}"
            )


def _is_a(value: Any, expected: Any) -> bool:
    if expected is NoneType or expected is None:
        return value is None
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(expected, type) and isinstance(value, expected)


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    _check_known_keys(cls, data)
    data = {k: v for k, v in data.items() if k != "kind"}
    _check_types(cls, data)
    try:
        return cls(**data)
    except TypeError as e:
        raise ConfigurationError(f"{cls.__name__}: {e}") from e


@dataclass(frozen=True, slots=True)
class S3StoreConfig:
    """An S3 bucket, on AWS or an S3-compatible server.

    ``endpoint`` is empty for AWS, else the server's full URL (``http://127.0.0.1:7480``).
    Empty ``access_key``/``secret_key`` use the AWS default chain (environment variables,
    instance or container credentials).  ``allow_http`` defaults to true exactly when
    ``endpoint`` is ``http://``.  Timeouts are in seconds.
    """

    kind: ClassVar[Literal["s3"]] = "s3"

    bucket: str
    endpoint: str = ""
    region: str = "us-east-1"
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    prefix: str = ""
    virtual_hosted_style: bool = False
    allow_http: bool | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    request_timeout: float = 60.0
    max_retries: int = 3
    retry_timeout: float = 10.0

    @property
    def http_allowed(self) -> bool:
        """Whether plain-HTTP connections are allowed (explicit, or implied by the endpoint)."""
        if self.allow_http is not None:
            return self.allow_http
        return self.endpoint.startswith("http://")

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` if this cannot work."""
        self._validate_bucket()
        self._validate_endpoint()
        self._validate_credentials()
        self._validate_timeouts()
        _check_prefix(self.prefix)
        if not self.region:
            raise ConfigurationError("S3 region is empty; use e.g. 'us-east-1'")

    def _validate_bucket(self) -> None:
        if not _BUCKET_NAME.match(self.bucket) or ".." in self.bucket:
            raise ConfigurationError(
                f"S3 bucket name {self.bucket!r} is not valid: 3-63 characters of lower-case "
                "letters, digits, '.' and '-', starting and ending with a letter or digit"
            )

    def _validate_endpoint(self) -> None:
        if not self.endpoint:
            return
        url = urlsplit(self.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigurationError(
                f"S3 endpoint {self.endpoint!r} must be a full http:// or https:// URL, "
                "e.g. 'https://s3.example.com' or 'http://127.0.0.1:7480'"
            )
        if url.query or url.fragment or url.username or url.password:
            raise ConfigurationError(
                f"S3 endpoint {self._safe_endpoint()!r} must not contain credentials, "
                "a query or a fragment; put keys in access_key/secret_key"
            )
        if url.scheme == "http" and not self.http_allowed:
            raise ConfigurationError(
                f"S3 endpoint {self.endpoint!r} is plain http:// but allow_http is false"
            )

    def _safe_endpoint(self) -> str:
        url = urlsplit(self.endpoint)
        host = url.hostname or ""
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{host}{port}{url.path}"

    def _validate_credentials(self) -> None:
        if bool(self.access_key) != bool(self.secret_key):
            raise ConfigurationError(
                "S3 access_key and secret_key must be given together (or both left empty "
                "to use the AWS default credential chain)"
            )

    def _validate_timeouts(self) -> None:
        for name in ("connect_timeout", "read_timeout", "request_timeout", "retry_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"S3 {name} must be a positive number of seconds")
        if self.max_retries < 0:
            raise ConfigurationError("S3 max_retries must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly settings, including the secret key (for the local config file)."""
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> S3StoreConfig:
        """The inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigurationError`."""
        config: S3StoreConfig = _build(cls, data)
        return config


@dataclass(frozen=True, slots=True)
class LocalStoreConfig:
    """A folder on this machine; created (with parents) when the store is opened."""

    kind: ClassVar[Literal["local"]] = "local"

    root: Path
    prefix: str = ""

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` if this cannot work."""
        if not str(self.root):
            raise ConfigurationError("local store root is empty; give a folder path")
        root = Path(self.root).expanduser()
        if root.exists() and not root.is_dir():
            raise ConfigurationError(f"local store root {str(root)!r} exists and is not a folder")
        _check_prefix(self.prefix)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly settings."""
        return {"kind": self.kind, "root": str(self.root), "prefix": self.prefix}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalStoreConfig:
        """The inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigurationError`."""
        if isinstance(data.get("root"), str):
            data = {**data, "root": Path(data["root"])}
        config: LocalStoreConfig = _build(cls, data)
        return config


@dataclass(frozen=True, slots=True)
class MemoryStoreConfig:
    """Process memory: gone when the store is closed.  For tests."""

    kind: ClassVar[Literal["memory"]] = "memory"

    def validate(self) -> None:
        """Nothing can be wrong with it."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly settings."""
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryStoreConfig:
        """The inverse of :meth:`to_dict`."""
        config: MemoryStoreConfig = _build(cls, data)
        return config


StoreConfig: TypeAlias = S3StoreConfig | LocalStoreConfig | MemoryStoreConfig

_KINDS: dict[str, type[StoreConfig]] = {
    "s3": S3StoreConfig,
    "local": LocalStoreConfig,
    "memory": MemoryStoreConfig,
}


def store_config_from_dict(data: dict[str, Any]) -> StoreConfig:
    """Read any store config written by ``to_dict()``, choosing the class by ``kind``."""
    kind = data.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigurationError(f"store kind {kind!r} is not one of {', '.join(sorted(_KINDS))}")
    return cls.from_dict(data)


def open_store(config: StoreConfig) -> ObjectStore:
    """Validate ``config`` and open the store it describes."""
    # Imported here because the backend imports this module for its config classes.
    from cloudfs.store.obstore_backend import open_store as open_obstore

    return open_obstore(config)
