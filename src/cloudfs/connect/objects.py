"""Reaching linked objects: S3 buckets of data stores and plain HTTP(S) URLs.

:class:`LinkedObjects` is what the VFS reads external files through
(:class:`cloudfs.vfs.external.ExternalObjects`) and what ``ConnectManager`` HEADs and
lists with.  For each data store it keeps one obstore ``S3Store`` built from the store's
configuration and its secret key, opened (decrypted) only in memory; the client is
rebuilt when the store's ``key_id`` changes (a rekey), which it re-reads at most every
:data:`REFRESH_SECONDS`, and at once after an access-denied answer.

Reads are signed ranged GETs with ``If-Match: <linked ETag>``: an object overwritten since
it was linked answers 412 and a deleted one 404, and both become an
:class:`~cloudfs.errors.IntegrityError` naming the object — no byte of another version
is ever returned.  The ETag of the answer is compared as well, for servers that ignore
``If-Match``.  HTTP links are read with ranged GETs through ``urllib`` in a worker
thread, pinned the same way when the server gave an ETag at link time.

Errors never carry a secret: obstore's messages name the bucket and key only, and ours
are built from the non-secret configuration.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import obstore
from obstore.store import S3Store

from cloudfs.connect.models import DataStoreInfo, S3DataStoreConfig
from cloudfs.errors import (
    IntegrityError,
    ObjectNotFoundError,
    StoreAccessDeniedError,
    StoreError,
    StorePreconditionError,
)
from cloudfs.meta.connect import ConnectMetaStore, DataStoreRecord, ExternalLink
from cloudfs.store.translate import translate
from cloudfs.vfs.names import Cipher

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

__all__ = [
    "REFRESH_SECONDS",
    "LinkedObjects",
    "ObjectInfo",
    "StoreSettings",
    "key_context",
    "secret_context",
]

REFRESH_SECONDS = 2.0
HTTP_TIMEOUT = 30.0


def secret_context(name: str) -> bytes:
    return b"connect/store-secret\n" + name.encode()


def key_context(store_id: int | None) -> bytes:
    return b"connect/object-key\n" + str(store_id or 0).encode()


@dataclass(frozen=True)
class StoreSettings:
    """The non-secret part of a data store's configuration, as stored (JSON)."""

    access_key: str
    bucket_name: str
    region: str
    endpoint: str
    url_expiration_minutes: int
    use_virtual_addressing: bool

    @classmethod
    def of(cls, config: S3DataStoreConfig) -> StoreSettings:
        return cls(
            config.access_key,
            config.bucket_name,
            config.region,
            config.endpoint,
            config.url_expiration_minutes,
            config.use_virtual_addressing,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StoreSettings:
        return cls(**json.loads(text))

    def info(self, record: DataStoreRecord, secret_key: str = "") -> DataStoreInfo:
        from cloudfs.connect.models import DataStoreKind, DataStoreRekeyState

        return DataStoreInfo(
            name=record.name,
            access_key=self.access_key,
            secret_key=secret_key,
            bucket_name=self.bucket_name,
            region=self.region,
            endpoint=self.endpoint,
            url_expiration_minutes=self.url_expiration_minutes,
            use_virtual_addressing=self.use_virtual_addressing,
            kind=DataStoreKind(record.kind),
            key_id=record.key_id,
            rekey_state=list(DataStoreRekeyState)[record.rekey_state],
        )

    def where(self, key: str = "") -> str:
        at = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket_name}/{key}{at}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


@dataclass
class _Client:
    record: DataStoreRecord
    settings: StoreSettings
    native: S3Store
    checked: float


def _native_s3(settings: StoreSettings, secret_key: str) -> S3Store:
    config: dict[str, Any] = {
        "region": settings.region,
        "virtual_hosted_style_request": settings.use_virtual_addressing,
        "access_key_id": settings.access_key,
        "secret_access_key": secret_key,
    }
    if settings.endpoint:
        url = urlsplit(settings.endpoint.rstrip("/"))
        if settings.use_virtual_addressing:
            url = url._replace(netloc=f"{settings.bucket_name}.{url.netloc}")
        config["endpoint"] = urlunsplit(url)
    client: ClientConfig = {
        "allow_http": settings.endpoint.startswith("http://"),
        "connect_timeout": timedelta(seconds=2),
        "timeout": timedelta(seconds=60),
        "read_timeout": timedelta(seconds=10),
    }
    retry: RetryConfig = {
        "max_retries": 3,
        "retry_timeout": timedelta(seconds=10),
        "backoff": {
            "init_backoff": timedelta(seconds=0.1),
            "max_backoff": timedelta(seconds=2),
            "base": 2,
        },
    }
    return S3Store(
        settings.bucket_name,
        config=config,  # type: ignore[arg-type]
        client_options=client,
        retry_config=retry,
    )


class LinkedObjects:
    """Owned by the VFS's event loop; the only place a store's secret is ever opened."""

    def __init__(self, meta: ConnectMetaStore, cipher: Cipher) -> None:
        self.meta = meta
        self.cipher = cipher
        self._clients: dict[int, _Client] = {}
        self.requests = 0  # requests sent to buckets and URLs (tests count them)

    # -- secrets and keys ---------------------------------------------------------------
    def seal_secret(self, name: str, secret_key: str) -> bytes:
        return self.cipher.seal_secret(secret_context(name), secret_key.encode())

    def open_secret(self, record: DataStoreRecord) -> str:
        return self.cipher.open_secret(secret_context(record.name), record.secret).decode()

    def seal_key(self, store_id: int | None, key: str) -> bytes:
        return self.cipher.seal_secret(key_context(store_id), key.encode())

    def open_key(self, link: ExternalLink) -> str:
        return self.cipher.open_secret(key_context(link.store_id), link.object_key).decode()

    # -- clients ------------------------------------------------------------------------
    async def client(self, store_id: int, *, fresh: bool = False) -> _Client:
        """The S3 client of a store, rebuilt after a rekey."""
        cached = self._clients.get(store_id)
        now = time.monotonic()
        if cached is not None and not fresh and now - cached.checked < REFRESH_SECONDS:
            return cached
        record = await self.meta.get_data_store_by_id(store_id)
        if record is None:
            raise RuntimeError(f"data store {store_id} no longer exists")
        if cached is not None and cached.record.key_id == record.key_id:
            cached.checked = now
            return cached
        settings = StoreSettings.from_json(record.config)
        made = _Client(record, settings, _native_s3(settings, self.open_secret(record)), now)
        self._clients[store_id] = made
        return made

    def forget(self, store_id: int) -> None:
        self._clients.pop(store_id, None)

    # -- S3 -----------------------------------------------------------------------------
    async def head(self, store_id: int, key: str) -> ObjectInfo:
        """Size and ETag of an object: ``ObjectNotFoundError``, ``StoreAccessDeniedError``."""
        client = await self.client(store_id)
        self.requests += 1
        try:
            meta = await obstore.head_async(client.native, key)
        except Exception as e:
            raise translate(e, store=client.settings.where(), op="head", key=key) from e
        return ObjectInfo(key, int(meta["size"]), str(meta["e_tag"] or ""))

    async def list(self, store_id: int, prefix: str) -> AsyncIterator[list[ObjectInfo]]:
        """Every object under ``prefix``, a page (up to 1,000) at a time."""
        client = await self.client(store_id)
        where = client.settings.where(prefix)
        directory = prefix.rstrip("/").rpartition("/")[0] if not prefix.endswith("/") else prefix
        try:
            stream = obstore.list(client.native, directory or None, chunk_size=1000)
            async for batch in stream:
                self.requests += 1
                yield [
                    ObjectInfo(m["path"], int(m["size"]), str(m["e_tag"] or ""))
                    for m in batch
                    if m["path"].startswith(prefix)
                ]
        except StoreError:
            raise
        except Exception as e:
            raise translate(e, store=where, op="list", key=prefix) from e

    async def link(self, ino: int) -> ExternalLink | None:
        return await self.meta.get_external(ino)

    async def read_range(self, link: ExternalLink, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        key = self.open_key(link)
        if link.store_id is None:
            return await asyncio.to_thread(_http_range, key, link.etag, start, length)
        try:
            return await self._s3_range(link, key, start, length, fresh=False)
        except StoreAccessDeniedError:  # rekeyed elsewhere since we built the client?
            return await self._s3_range(link, key, start, length, fresh=True)

    async def _s3_range(
        self, link: ExternalLink, key: str, start: int, length: int, *, fresh: bool
    ) -> bytes:
        assert link.store_id is not None
        client = await self.client(link.store_id, fresh=fresh)
        where = client.settings.where(key)
        self.requests += 1
        try:
            result = await obstore.get_async(
                client.native,
                key,
                options={"range": (start, start + length), "if_match": link.etag or None},
            )
            data = bytes(await result.bytes_async())
            etag = result.meta["e_tag"]
        except (ObjectNotFoundError, StorePreconditionError) as e:
            raise _changed(where, link) from e
        except Exception as e:
            error = translate(e, store=where, op="read", key=key)
            if isinstance(error, ObjectNotFoundError | StorePreconditionError):
                raise _changed(where, link) from e
            raise error from e
        if link.etag and etag and etag != link.etag:
            raise _changed(where, link)
        return data


def _changed(where: str, link: ExternalLink) -> IntegrityError:
    return IntegrityError(
        f"external object {where} changed or was deleted since it was linked (ETag "
        f"{link.etag}); relink it (cloudfs connect link / import) to read the new version"
    )


# -- HTTP links ------------------------------------------------------------------------------
def _shown(url: str) -> str:
    """A URL for messages: without its query (a presigned URL's signature)."""
    return urlsplit(url)._replace(query="", fragment="").geturl()


def http_head(url: str) -> ObjectInfo:
    """Size and ETag of an HTTP(S) resource (``RuntimeError`` if it cannot be read).

    A one-byte ranged GET rather than a HEAD: a presigned URL is signed for GET only.
    """
    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            etag = response.headers.get("ETag") or ""
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if response.status != 206:
                total = response.headers.get("Content-Length", "")
    except (urllib.error.URLError, OSError) as e:
        if isinstance(e, urllib.error.HTTPError):
            e.close()  # it holds the response (and its socket)
        raise RuntimeError(
            f"cannot read {_shown(url)}: {e} (for a presigned URL: expired or altered?)"
        ) from None
    if not total.isdigit():
        raise RuntimeError(f"{_shown(url)} gave no size: pass size=")
    return ObjectInfo(url, int(total), etag)


def _http_range(url: str, etag: str, start: int, length: int) -> bytes:
    headers = {"Range": f"bytes={start}-{start + length - 1}"}
    if etag:
        headers["If-Match"] = etag
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            got = response.headers.get("ETag")
            if etag and got and got != etag:
                raise _http_changed(url)
            body: bytes = response.read()
            if response.status == 200:  # the server ignored the range
                body = body[start : start + length]
            return body
    except urllib.error.HTTPError as e:
        e.close()  # it holds the response (and its socket)
        if e.code in (404, 410, 412):
            raise _http_changed(url) from None
        raise IntegrityError(f"cannot read {_shown(url)}: HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        if isinstance(e, IntegrityError):
            raise
        raise IntegrityError(f"cannot read {_shown(url)}: {e}") from None


def _http_changed(url: str) -> IntegrityError:
    return IntegrityError(
        f"linked URL {_shown(url)} changed or is gone since it was linked; "
        "update it with update_http_file_url"
    )
